"""Issue 18's end: in the simulator, a veteran is enrolled and synced by the enrolment device,
then paid once by a payout point (the same frozen firmware provisioned in the payout role, at
the ESP32's heap, sharing the demo registry and the wallet of cards); a second claim in the same
month is refused, a copied card is refused on the device, three wrong PINs lock a card, and
without a network nothing is paid.  Both runs go through `enrolctl sim` as a user types it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import enrolctl
from registrykit import _free_port
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from host_tools.registry.models import Payment, Record

PAYOUT = [
    "0042A", "?PIN:", "2468A", "?HOME", "1", "?Tap the card",
    # the veteran's card, checked on the device; no network: nothing is paid
    "tap SOPHEA", "?Type your PIN", "w", "7391A", "?DO NOT PAY", "w",
    # the network back: asked again, paid
    "A", "?Type your PIN", "7391A", "?150,000 riel", "r", "A", "?Tap the card",
    # the same month again: already paid, here
    "tap SOPHEA", "?Type your PIN", "7391A", "?Paid ", "?HERE", "r", "A", "?Tap the card",
    # a copy of his card on a UID-changeable chip: refused on the device, before any PIN
    "clone", "?Not a genuine", "r",
    # three wrong PINs lock the retired civil servant's card
    "tap BOPHA", "?Type your PIN", "1111A", "?2 tries left", "1112A", "?1 try left", "1113A",
    "?Card locked", "r", "B", "?HOME", "q",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    state = tmp_path_factory.mktemp("sim") / "state"
    env = {**os.environ, "ENROL_SIM_PORT": str(_free_port()), "ENROL_SIM_LANG": "en"}
    enrolled = enrolctl("sim", "--state", str(state), "--demo", timeout=600, env=env)
    script = state.parent / "payout.txt"
    script.write_text("\n".join(PAYOUT) + "\n")
    paid = enrolctl("sim", "--state", str(state), "--role", "payout", "--script", str(script), timeout=600, env=env)
    (state.parent / "payout.log").write_text(paid.stdout + paid.stderr)  # what the screens showed, to read
    return state, enrolled, paid


def test_the_veteran_is_enrolled_and_synced_first(runs) -> None:
    _, enrolled, _ = runs
    assert enrolled.returncode == 0, enrolled.stdout[-3000:] + enrolled.stderr[-3000:]
    assert "the registry holds 3 records" in enrolled.stdout and "0 waiting to sync" in enrolled.stdout


def test_the_payout_point_pays_once_and_refuses_the_rest(runs) -> None:
    state, _, paid = runs
    out = paid.stdout
    assert paid.returncode == 0, out[-3000:] + paid.stderr[-3000:]
    assert "Traceback" not in out + paid.stderr and "MemoryError" not in out + paid.stderr
    for seen in ("DO NOT PAY", "150,000 riel", "Paid ", "HERE", "Not a genuine", "Card locked"):
        assert seen in out, seen
    assert "the registry holds 1 payments of veteran_pension this month" in out
    engine = create_engine(f"sqlite:///{state / 'registry' / 'registry.db'}")
    with Session(engine) as s:
        payments = list(s.scalars(select(Payment)))
        records = {r.record_id: r for r in s.scalars(select(Record))}
    engine.dispose()
    assert len(payments) == 1 and payments[0].amount == 150000
    veteran = records[payments[0].record_id]
    assert veteran.category == "veteran" and payments[0].payout_point.startswith("sim-pay-")
    locked = [r for r in records.values() if r.category == "retired_civil_servant"]
    assert [r.pin_failures for r in locked] == [3]  # locked at the registry: no PIN of hers is tried again
    assert veteran.pin_failures == 0


def test_the_enrolment_sync_bound_each_record_to_its_cards_uid(runs) -> None:
    """The frozen firmware's sync carried each card entry over TLS (issue 18 item 4): at the
    registry every record names the one card UID that pays for it."""
    state, _, _ = runs
    engine = create_engine(f"sqlite:///{state / 'registry' / 'registry.db'}")
    with Session(engine) as s:
        uids = [r.card_uid for r in s.scalars(select(Record))]
    engine.dispose()
    assert len(uids) == 3 and all(u is not None and len(u) == 7 for u in uids)
    assert len(set(uids)) == 3  # three cards, three UIDs


def test_the_payout_point_keeps_no_personal_data_or_pin(runs) -> None:
    """No record, no name, no PIN on its flash: its audit log says what happened, not to whom."""
    state, _, _ = runs
    flash = state / "payout"
    assert not (flash / "journal").exists() or not any((flash / "journal").iterdir())  # no records
    for path in flash.rglob("*"):
        if path.is_file():
            for name in (b"SOPHEA", b"BOPHA", b"CHHUON"):
                assert name not in path.read_bytes(), (path.name, name)
    lines = (flash / "audit" / "audit.log").read_text().splitlines()
    said = [line.split("|")[2:4] for line in lines]  # kind, detail (the rest: number, time, hash chain)
    assert ["payout", "paid veteran_pension"] in said and ["payout", "locked veteran_pension"] in said
    assert ["payout-error", "no network"] in said
    for kind, detail in said:
        for pin in ("7391", "4826", "1111", "1112", "1113"):
            assert pin not in detail, (kind, detail)
