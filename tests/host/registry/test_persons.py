"""One person, one payment (issue 28), on SQLite and PostgreSQL: the attacks that paid twice or
stopped someone's pension before persons existed, each tried again; the operator's decisions;
and `registry audit` finding breaches written into the database by hand."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from population import distinct
from registrykit import HostDevice, Registry, RegistryProcess, http, reg  # noqa: F401 - fixtures
from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from test_card_entries import OTHER_UID, claim_with
from test_payouts import PENSION, UID, Person, add_programme, client, op, paid, pay

from firmware.formats import card_payload
from host_tools.registry.audit import audit
from host_tools.registry.client import RegistryClient
from host_tools.registry.ingest import credential_id, full_credential_id, legacy_credential_id
from host_tools.registry.models import Payment, Record, RevokedCredential, Review
from host_tools.registry.payouts import current_period
from host_tools.registry.protocol import ACCEPTED


def setup(reg, http) -> tuple[HostDevice, HostDevice, HostDevice]:
    add_programme(http, reg)
    return HostDevice(reg), HostDevice(reg, "enrol-02"), HostDevice(reg, "pay-01", role="payout")


def reviews(http, reg, status: str = "open") -> list[dict]:
    r = http.get("/v1/admin/reviews", params={"status": status}, headers=op(reg))
    assert r.status_code == 200, r.text
    return r.json()


def decide(http, reg, review_id: int, decision: str) -> httpx.Response:
    """Proposed by one reviewer, approved by a second: the approval's answer (or the refusal of
    the proposal, which then has its status and reason)."""
    r = http.post(f"/v1/admin/reviews/{review_id}/decide", json={"decision": decision}, headers=op(reg))
    if r.status_code != 202:
        return r
    return http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "checked"},
                     headers=reg.checker())


def clean(reg: Registry) -> None:
    breaches, _ = audit(reg.engine, reg.keys.pin_key)
    assert breaches == []


def test_the_same_person_enrolled_on_two_devices_is_held_and_paid_once_when_an_operator_says_same(reg, http) -> None:
    a, b, point = setup(reg, http)
    who = distinct()
    first = Person(reg, http, a, fields=who)
    # the ordinary field duplicate: another team, SOKH for SOK, the day and month swapped
    second_fields = dict(who, family_name=who["family_name"] + "H", village_code="02040101")
    second = Person(reg, http, b, fields=second_fields, pin=b"7391")
    assert pay(http, point, second.claim(b"7391")) == {"result": "held", "credential_id": credential_id(second.rid),
                                                       "reason": "held for review at the registry"}
    assert pay(http, point, first.claim(b"2580"))["result"] == "paid"
    [review] = reviews(http, reg)
    assert review["kind"] == "duplicate" and review["score"] >= 820
    assert review["person"]["records"][0]["fields"]["family_name"] == second_fields["family_name"]
    assert review["other"]["records"][0]["credential_id"] == credential_id(first.rid)
    assert decide(http, reg, review["id"], "same").json()["decision"] == "same"
    again = pay(http, point, second.claim(b"7391"))  # one person now: this month is paid already
    assert again["result"] == "already paid" and again["payout_point"] == "pay-01"
    assert paid(reg) == 1
    assert decide(http, reg, review["id"], "different").status_code == 409  # decided already
    clean(reg)


def test_two_different_people_alike_are_each_paid_once_an_operator_says_different(reg, http) -> None:
    a, b, point = setup(reg, http)
    twin = distinct()
    first = Person(reg, http, a, fields=twin)
    # twins: the same family name, birth date and village, given names a letter apart
    second = Person(reg, http, b, fields=dict(twin, given_name=twin["given_name"][:-1] + "A"), pin=b"1357")
    [review] = reviews(http, reg)
    assert pay(http, point, second.claim(b"1357"))["result"] == "held"
    assert decide(http, reg, review["id"], "different").status_code == 200
    assert pay(http, point, first.claim(b"2580"))["result"] == "paid"
    assert pay(http, point, second.claim(b"1357"))["result"] == "paid"
    assert paid(reg) == 2
    clean(reg)


def test_the_reissue_window_cannot_pay_twice_even_with_everything_sent_at_once(reg, http) -> None:
    """The re-issued person's new record arrives before its card entry; the card entry and a
    claim on each card are then sent together, in several rounds: one payment a round's person."""
    a, _, point = setup(reg, http)
    url = reg.engine.url.render_as_string(hide_password=False)
    with RegistryProcess(reg, url) as server:
        import ssl

        base = f"https://127.0.0.1:{server.port}"
        ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
        with httpx.Client(base_url=base, verify=ctx, timeout=60) as c:
            for _ in range(3):
                who = distinct()
                old = Person(reg, c, a, fields=who)
                new = Person(reg, c, a, fields=who, pin=b"7391", card_entry=False)
                entry = card_payload(new.boot, new.seq, UID, credential_id(new.rid), credential_id(old.rid))

                def send(job: str) -> object:
                    with httpx.Client(base_url=base, verify=ctx, timeout=60) as cc:
                        if job == "card":
                            return client(cc, a).post_cards([entry])
                        person, pin = (old, b"2580") if job == "old" else (new, b"7391")
                        return pay_via(cc, point, person.claim(pin))

                with ThreadPoolExecutor(3) as pool:
                    answers = list(pool.map(send, ["old", "card", "new"]))
                results = [answers[0]["result"], answers[2]["result"]]  # type: ignore[index]
                assert results.count("paid") <= 1, answers
                # whatever the order, afterwards: the new card is the person's, paid once this month
                final = pay_via(c, point, new.claim(b"7391"))
                assert final["result"] in ("already paid", "paid"), final
    with Session(reg.engine) as s:
        assert len(s.scalars(select(Payment)).all()) == 3
    clean(reg)


def pay_via(c: httpx.Client, point: HostDevice, body: bytes) -> dict:
    cl = RegistryClient(str(c.base_url), point.device_id, point.secret)
    headers = dict(cl.signed_headers("POST", "/v1/payouts", body), **{"content-type": "application/json"})
    r = c.post("/v1/payouts", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_one_device_cannot_cancel_another_devices_person(reg, http) -> None:
    a, intruder, point = setup(reg, http)
    victim = Person(reg, http, a)
    thief = Person(reg, http, intruder, pin=b"0000", card_entry=False)  # someone else entirely
    entry = card_payload(thief.boot, thief.seq, UID, credential_id(thief.rid), credential_id(victim.rid))
    [(_, _, result, why)] = client(http, intruder).post_cards([entry])
    assert result == ACCEPTED and why == "re-issue held for review"
    with Session(reg.engine) as s:
        assert s.get(RevokedCredential, credential_id(victim.rid)) is None
    assert pay(http, point, victim.claim(b"2580"))["result"] == "paid"  # the victim's pension goes on
    assert pay(http, point, thief.claim(b"0000"))["result"] == "held"
    [review] = reviews(http, reg)
    assert review["kind"] == "reissue" and "of device dev-host" in review["detail"]
    clean(reg)


def test_a_reissue_by_the_enrolling_device_of_a_revoked_or_already_replaced_card_is_held(reg, http) -> None:
    a, _, point = setup(reg, http)
    who = distinct()
    old = Person(reg, http, a, fields=who)
    first = Person(reg, http, a, fields=who, card_entry=False)
    second = Person(reg, http, a, fields=who, card_entry=False)
    c = client(http, a)
    assert c.post_cards([card_payload(first.boot, first.seq, UID, credential_id(first.rid),
                                      credential_id(old.rid))])[0][2:] == (ACCEPTED, "")
    [(_, _, result, why)] = c.post_cards([card_payload(second.boot, second.seq, OTHER_UID, credential_id(second.rid),
                                                       credential_id(old.rid))])
    assert result == ACCEPTED and why == "re-issue held for review"
    with Session(reg.engine) as s:
        assert s.get(RevokedCredential, credential_id(old.rid)).replaced_by == credential_id(first.rid)
        held = s.scalars(select(Review).where(Review.kind == "reissue")).all()
        assert len(held) == 1, [(r.person_id, r.other_id, r.detail, r.status) for r in held]
        held = held[0]
        assert "re-issued as" in held.detail
    card = a.credential(second.rid, OTHER_UID, reg.keys.registry_id)
    assert pay(http, point, claim_with(second, card, OTHER_UID))["result"] == "held"
    clean(reg)


def test_merging_a_person_with_themselves_and_other_bad_decisions_have_their_answer(reg, http) -> None:
    a, _, _ = setup(reg, http)
    Person(reg, http, a)
    with Session(reg.engine) as s:
        pid = s.scalars(select(Record.person_id)).one()
    h = op(reg)
    assert http.post(f"/v1/admin/persons/{pid}/merge", json={"into": pid}, headers=h).status_code == 409
    assert http.post(f"/v1/admin/persons/{pid}/merge", json={"into": 999999}, headers=h).status_code == 404
    assert http.post(f"/v1/admin/persons/{pid}/merge", json={"into": "x"}, headers=h).status_code == 422
    assert decide(http, reg, 999999, "same").status_code == 404
    assert http.post("/v1/admin/reviews/1/decide", json={"decision": "maybe"}, headers=h).status_code == 422
    assert http.post("/v1/admin/reviews/0/decide", json={"decision": "same"}, headers=h).status_code == 422
    assert http.get("/v1/admin/reviews", params={"status": "x"}, headers=h).status_code == 422
    assert http.get("/v1/admin/reviews").status_code == 401  # the operator's only
    assert http.get(f"/v1/admin/persons/{pid}", headers=h).json()["records"][0]["credential_id"]


def test_a_legacy_credential_id_taken_by_another_record_names_only_one(reg, http) -> None:
    """Two record ids with the same first 40 bits: the legacy XXXX-XXXX ids would be one."""
    _, _, point = setup(reg, http)
    a, b = HostDevice(reg, "old-01", legacy=True), HostDevice(reg, "old-02", legacy=True)
    prefix = os.urandom(5)
    first = Person(reg, http, a, rid_prefix=prefix)
    second = Person(reg, http, b, rid_prefix=prefix, card_entry=False)
    assert a.credential_id(first.rid) == b.credential_id(second.rid) == legacy_credential_id(first.rid)
    with Session(reg.engine) as s:
        stored = s.scalars(select(Record.credential_id).where(Record.record_id == second.rid)).one()
        assert stored == full_credential_id(second.rid) and len(stored) == 26
        assert s.get(RevokedCredential, stored) is not None
    # the first person's card is theirs alone: revoking the second's does nothing to it
    assert http.post(f"/v1/admin/credentials/{stored}/revoke", headers=op(reg)).status_code == 200
    assert pay(http, point, first.claim(b"2580"))["result"] == "paid"
    # the second card (the legacy id, signed by device b) names the first record, of device a: unknown
    assert pay(http, point, second.claim(b"2580"))["result"] == "unknown"
    clean(reg)


def test_twenty_copies_of_one_signed_payout_request_pay_once_and_answer_replay(reg) -> None:
    import ssl

    from fastapi.testclient import TestClient

    from host_tools.registry.app import create_app

    http = TestClient(create_app(reg.keys, reg.engine), base_url="https://testserver")
    a, _, point = setup(reg, http)
    veteran = Person(reg, http, a)
    url = reg.engine.url.render_as_string(hide_password=False)
    with RegistryProcess(reg, url) as one, RegistryProcess(reg, url) as two:
        ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
        body = veteran.claim(b"2580")
        cl = RegistryClient("https://x", point.device_id, point.secret)
        headers = dict(cl.signed_headers("POST", "/v1/payouts", body), **{"content-type": "application/json"})

        def send(i: int) -> tuple[int, str]:
            port = (one if i % 2 else two).port
            with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=ctx, timeout=60) as c:
                r = c.post("/v1/payouts", content=body, headers=headers)
                return r.status_code, r.text

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(send, range(20)))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] + [401] * 19, answers
    assert [json.loads(t)["result"] for code, t in answers if code == 200] == ["paid"]
    assert all("replay" in t for code, t in answers if code == 401)
    assert paid(reg) == 1
    clean(reg)


def test_the_audit_finds_each_breach_written_by_hand(reg, http) -> None:
    a, b, point = setup(reg, http)
    one = Person(reg, http, a)
    assert pay(http, point, one.claim(b"2580"))["result"] == "paid"
    two = Person(reg, http, b, card_entry=False)
    clean(reg)
    period = current_period(time.time())
    with Session(reg.engine) as s:
        pid_one = s.scalars(select(Record.person_id).where(Record.record_id == one.rid)).one()
        pid_two = s.scalars(select(Record.person_id).where(Record.record_id == two.rid)).one()
        # an insider's rows: person two paid without a PIN check, on a card never issued, by an
        # enrolment device; and person one merged into two by hand, so two is paid twice
        s.execute(insert(Payment).values(record_id=two.rid, person_id=pid_two, programme="veteran_pension",
                                         period=period, amount=150000, payout_point="dev-host", receipt="HANDMADE01"))
        from host_tools.registry.models import Person as PersonRow

        s.execute(PersonRow.__table__.update().where(PersonRow.id == pid_one).values(status="merged",
                                                                                     merged_into=pid_two))
        s.commit()
    breaches, _ = audit(reg.engine, reg.keys.pin_key)
    found = {x.check for x in breaches}
    assert {"payment-proof", "payment-point", "payment-no-card", "paid-twice", "record-no-person"} <= found, breaches


def test_a_reissue_of_a_held_persons_card_stays_held_until_an_operator_decides(reg, http) -> None:
    """The old card's person is itself a likely duplicate waiting for review: the re-issue joins
    that person (same device, same identity) and so waits with them; nothing is paid until the
    review is decided, then once."""
    a, b, point = setup(reg, http)
    who = distinct()
    Person(reg, http, b, fields=who, pin=b"1111")  # enrolled first by another team
    old = Person(reg, http, a, fields=dict(who, village_code="02040101"))  # held: likely the same person
    assert pay(http, point, old.claim(b"2580"))["result"] == "held"
    new = Person(reg, http, a, fields=dict(who, village_code="02040101"), pin=b"7391", card_entry=False)
    c = client(http, a)
    assert c.post_cards([card_payload(new.boot, new.seq, OTHER_UID, credential_id(new.rid),
                                      credential_id(old.rid))])[0][2] == ACCEPTED
    card = a.credential(new.rid, OTHER_UID, reg.keys.registry_id)
    assert pay(http, point, claim_with(new, card, OTHER_UID, pin=b"7391"))["result"] == "held"
    waiting = reviews(http, reg)  # the duplicate reviews (the old record's, the new one's), now one person's
    assert waiting and all(r["kind"] == "duplicate" for r in waiting)
    # the operator checks the ID: the same person as the first team's; one "same" answers both
    assert decide(http, reg, waiting[0]["id"], "same").status_code == 200
    assert reviews(http, reg) == []
    assert pay(http, point, claim_with(new, card, OTHER_UID, pin=b"7391"))["result"] == "paid"
    assert pay(http, point, old.claim(b"2580"))["result"] == "revoked"  # replaced by the new card
    assert paid(reg) == 1
    clean(reg)
