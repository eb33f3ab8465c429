"""Likely duplicates (issue 28 item 3): the matcher's rules on the variations it is designed for,
each pair written out by hand, and its recall and false holds on a generated Battambang population
whose planted duplicates are the oracle (population.py).  The full 20,000-person figure is
`make bench` (bench_matching.py); here 3,000 people and 300 duplicates, through the registry's own
file_record on a database, in the order they arrive."""

from __future__ import annotations

import pytest
from population import population
from registrykit import reg  # noqa: F401 - fixture
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from host_tools.registry import matching
from host_tools.registry.models import Device, Record, Review
from host_tools.registry.persons import file_record

SOK_SOPHEA = {"family_name": "SOK", "given_name": "SOPHEA", "sex": "M", "birth_date": "1951-03-09",
              "village_code": "02040107", "service_no": ""}


@pytest.mark.parametrize("change, why", [
    ({"family_name": "SOKH"}, "aspirate written out"),
    ({"given_name": "SOPHIA"}, "vowel spelled another way"),
    ({"family_name": "SOPHEA", "given_name": "SOK"}, "family and given name swapped"),
    ({"given_name": "SOPHAE"}, "a typo"),
    ({"birth_date": "1915-03-09"}, "year digits transposed"),
    ({"birth_date": "1951-09-03"}, "day and month swapped"),
    ({"birth_date": "1951-03-08"}, "one digit wrong"),
    ({"village_code": "02040101"}, "another village of the commune"),
    ({"family_name": "SOKH", "village_code": "02040101"}, "two variations"),
])
def test_a_variation_of_one_person_is_held(change: dict, why: str) -> None:
    other = dict(SOK_SOPHEA, **change)
    assert matching.score(SOK_SOPHEA, other) >= matching.HOLD_AT, why
    assert matching.keys(SOK_SOPHEA) & matching.keys(other), why  # and blocking brings them together


@pytest.mark.parametrize("change, why", [
    ({"given_name": "DARA"}, "another given name"),
    ({"birth_date": "1960-01-01"}, "born nine years apart"),
    ({"family_name": "CHAN", "given_name": "VIBOL"}, "another person altogether"),
    ({"sex": "F", "given_name": "SOPHEAP", "birth_date": "1951-04-09"}, "a sister, a month apart"),
])
def test_someone_else_is_not_held(change: dict, why: str) -> None:
    assert matching.score(SOK_SOPHEA, dict(SOK_SOPHEA, **change)) < matching.HOLD_AT, why


@pytest.mark.parametrize("name, folded", [("SOKH", "SOK"), ("CHHUON", "CUN"), ("CHUON", "CUN"), ("SOPHIA", "SOPEA"),
                                          ("VANNA", "VANA"), ("SREY", "SREI"), ("CHHOEURN", "CEUN"), ("sok-h", "SOK")])
def test_the_romanisation_folds_are_as_written_down(name: str, folded: str) -> None:
    assert matching.norm(name) == folded


def test_recall_and_false_holds_on_a_generated_population(reg) -> None:
    people, planted = population(3000, 300, seed=28)
    with Session(reg.engine) as s:
        s.add(Device(device_id="dev-gen", hmac_secret=b"\0" * 32, ed25519_pub=b"\0" * 32, role="enrolment"))
        s.flush()
        row_ids = []
        for i, fields in enumerate(people):
            rid = i.to_bytes(16, "big")
            row_ids.append(s.execute(insert(Record).returning(Record.id).values(
                record_id=rid, device_id="dev-gen", boot=1, seq=i, digest=bytes(32), envelope=b"",
                credential_id=f"G{i:08d}", officer_id="OF1", created_t=0, clock_synced=True, fields=fields,
                schema=2, category=fields["category"], pin_verifier=bytes(32), pin_failures=0)).scalar_one())
            file_record(s, row_ids[-1], fields)
        s.commit()
        held_rows = set(s.scalars(select(Record.id).where(Record.person_id.in_(
            select(Review.person_id).where(Review.status == "open")))))
        reviews = int(s.scalar(select(func.count()).select_from(Review)) or 0)
    duplicate_rows = {row_ids[p.index] for p in planted}
    recall = len(duplicate_rows & held_rows) / len(duplicate_rows)
    genuine = set(row_ids) - duplicate_rows
    false_hold = len(genuine & held_rows) / len(genuine)
    print(f"recall {recall:.3f}, false holds {false_hold:.4f}, {reviews} reviews")
    assert recall >= 0.95
    assert false_hold <= 0.01
