"""Card entries (issue 18 item 4), on SQLite and PostgreSQL: the registry binds a credential to
the UID of the card its device verified, so another card with the same credential pays nothing;
a re-issue revokes the credential it replaced, whose payments in the period count for the new
one; every malformed or foreign entry is rejected with its reason, and changes nothing."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
from registrykit import HostDevice, Registry, http, reg  # noqa: F401 - fixtures
from sqlalchemy import select
from sqlalchemy.orm import Session
from population import distinct
from test_payouts import PENSION, UID, Person, add_programme, client, op, paid, pay

from firmware.formats import card_payload
from host_tools.registry import pins
from host_tools.registry.ingest import credential_id
from host_tools.registry.models import Event, Record, RevokedCredential
from host_tools.registry.payouts import current_period
from host_tools.registry.protocol import ACCEPTED, DUPLICATE, REJECTED

OTHER_UID = bytes.fromhex("04ffeeddccbbaa")


def claim_with(person: Person, card: bytes, uid: bytes, pin: bytes = b"2580", point: str = "pay-01") -> bytes:
    block = pins.encipher(pins.point_key(person.zone, point), pin, person.account, os.urandom(8))
    return json.dumps({"credential": base64.b64encode(card).decode(), "uid": uid.hex(), "pin_block": block.hex(),
                       "programme": "veteran_pension", "period": current_period(time.time())}).encode()


def setup(reg, http) -> tuple[HostDevice, HostDevice]:
    add_programme(http, reg)
    return HostDevice(reg), HostDevice(reg, "pay-01", role="payout")


def test_a_card_entry_binds_the_credential_to_that_card_and_no_other_card_pays(reg, http) -> None:
    device, point = setup(reg, http)
    veteran = Person(reg, http, device, card_entry=False)  # record 1/1 of the device
    cred = credential_id(veteran.rid)
    first_card = device.credential(veteran.rid, OTHER_UID, reg.keys.registry_id)  # written, then a power cut
    entry = card_payload(1, 1, UID, cred)  # the card the device verified and journaled
    assert client(http, device).post_cards([entry]) == [(1, 1, ACCEPTED, "")]
    assert client(http, device).post_cards([entry]) == [(1, 1, DUPLICATE, "")]  # sent again: nothing new
    with Session(reg.engine) as s:
        assert s.scalar(select(Record.card_uid).where(Record.record_id == veteran.rid)) == UID
    other = pay(http, point, claim_with(veteran, first_card, OTHER_UID))  # genuine signature, the other card
    assert other == {"result": "revoked", "credential_id": cred, "reason": "another card was issued for this credential"}
    assert pay(http, point, veteran.claim(b"2580"))["result"] == "paid"  # the bound card pays
    assert paid(reg) == 1


def test_a_reissue_revokes_the_old_credential_and_its_payment_counts_for_the_new_one(reg, http) -> None:
    device, point = setup(reg, http)
    who = distinct()
    old = Person(reg, http, device, fields=who)  # 1/1: paid this month with the old card
    assert pay(http, point, old.claim(b"2580"))["result"] == "paid"
    # 1/2: re-enrolled (the same person, as the device's officer typed them again); a supervisor
    # confirmed writing over the card: held as a likely duplicate until its card entry arrives
    new = Person(reg, http, device, fields=who, pin=b"7391", card_entry=False)
    old_cred, new_cred = credential_id(old.rid), credential_id(new.rid)
    assert pay(http, point, new.claim(b"7391"))["result"] == "unknown"  # its card entry has not arrived
    assert client(http, device).post_cards([card_payload(1, 2, UID, new_cred, old_cred)]) == [(1, 2, ACCEPTED, "")]
    refused = pay(http, point, old.claim(b"2580"))
    assert refused["result"] == "revoked" and refused["reason"] == f"re-issued as {new_cred}"
    again = pay(http, point, new.claim(b"7391"))  # the same person, the same month
    assert again["result"] == "already paid" and again["payout_point"] == "pay-01"
    assert paid(reg) == 1
    with Session(reg.engine) as s:
        row = s.get(RevokedCredential, old_cred)
        assert row is not None and row.replaced_by == new_cred
        events = [e.detail for e in s.scalars(select(Event).where(Event.kind == "credential-revoked"))]
    assert events == [f"credential {old_cred}: re-issued as {new_cred}"]
    # the same entry again (a power cut before the device wrote the answer): a duplicate, no second event
    assert client(http, device).post_cards([card_payload(1, 2, UID, new_cred, old_cred)]) == [(1, 2, DUPLICATE, "")]


def test_a_reissue_of_a_credential_unknown_here_revokes_nothing_and_holds_the_new_card(reg, http) -> None:
    device, point = setup(reg, http)
    other_device = HostDevice(reg, "enrol-02")
    who = distinct()
    new = Person(reg, http, device, fields=who, card_entry=False)
    key, envs = other_device.batch(1, fields=who)  # the old record, still on another device's flash
    from firmware.crypto import seal

    old_rid = seal.parse_record(envs[0]).record_id
    [(_, _, result, why)] = client(http, device).post_cards([card_payload(1, 1, UID, credential_id(new.rid),
                                                                          credential_id(old_rid))])
    assert result == ACCEPTED and why == "re-issue held for review"
    assert pay(http, point, new.claim(b"2580"))["result"] == "held"
    client(http, other_device).post_batch([key], envs)
    client(http, other_device).post_cards([card_payload(1, 1, OTHER_UID, credential_id(old_rid))])
    old_card = other_device.credential(old_rid, OTHER_UID, reg.keys.registry_id)
    old = Person.__new__(Person)
    old.rid, old.zone, old.account = old_rid, reg.keys.zone_key, pins.credential_account(credential_id(old_rid))
    # nothing revoked; the old record, arriving second, is a likely duplicate of the new: held too
    assert pay(http, point, claim_with(old, old_card, OTHER_UID))["result"] == "held"
    with Session(reg.engine) as s:
        assert s.scalars(select(RevokedCredential)).all() == []
    assert paid(reg) == 0


@pytest.mark.parametrize("entry, reason", [
    (b"\x00\x00\x00\x01", "card entry too short"),
    (b"\x00\x00\x00\x01\x00\x00\x00\x01\x63" + bytes(12), "card entry UID length 99"),
    (card_payload(1, 1, UID, "0ABC-DEF1")[:-2], "card entry credential id length 9"),
    (card_payload(1, 1, UID, "0ABC-DEF1") + b"\x00", "card entry credential id length 0"),
    (card_payload(1, 1, UID, "nota-cred"), "credential id malformed"),
    (card_payload(1, 1, UID, "0ABC-DEF1", "0ABC-DEF1"), "credential id malformed"),
    (card_payload(1, 1, UID, "0ABC-DEF1", "OILU-0000"), "credential id malformed"),
    (card_payload(1, 1, UID, b"\xff\xfe\xfd\xfc-\xff\xfe\xfd\xfc"), "utf-8"),
    (card_payload(7, 9, UID, "0ABC-DEF1"), "no stored record 7/9 of this device holds 0ABC-DEF1"),
    (card_payload(1, 1, UID, "0ABC-DEF1"), "no stored record 1/1 of this device holds 0ABC-DEF1"),
])
def test_bad_card_entries_are_rejected_with_their_reason_and_change_nothing(reg, http, entry, reason) -> None:
    device, _ = setup(reg, http)
    Person(reg, http, device, card_entry=False)
    [(_, _, result, why)] = client(http, device).post_cards([entry])
    assert result == REJECTED and reason in why
    with Session(reg.engine) as s:
        assert s.scalars(select(Record.card_uid)).all() == [None]
        assert s.scalars(select(RevokedCredential)).all() == []


def test_a_card_entry_for_another_devices_record_is_rejected(reg, http) -> None:
    device, _ = setup(reg, http)
    intruder = HostDevice(reg, "enrol-02")
    veteran = Person(reg, http, device, card_entry=False)
    [(_, _, result, why)] = client(http, intruder).post_cards([card_payload(1, 1, OTHER_UID,
                                                                            credential_id(veteran.rid))])
    assert result == REJECTED and "no stored record 1/1" in why


def test_card_batches_over_their_limit_or_from_a_payout_point_are_refused(reg, http) -> None:
    device, point = setup(reg, http)
    from host_tools.registry import protocol

    body = protocol.encode_batch([], [], [card_payload(1, i, UID, "0ABC-DEF1") for i in range(65)])
    c = client(http, device)
    r = http.post("/v1/batches", content=body, headers=c.signed_headers("POST", "/v1/batches", body))
    assert r.status_code == 400 and "65 cards" in r.text
    body = protocol.encode_batch([], [], [card_payload(1, 1, UID, "0ABC-DEF1")])
    p = client(http, point)
    assert http.post("/v1/batches", content=body, headers=p.signed_headers("POST", "/v1/batches", body)).status_code == 403
