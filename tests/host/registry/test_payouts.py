"""Payouts (issue 18): a programme pays an amount per beneficiary category each month; a payout
point's claim (card, PIN, programme, period) is paid exactly once per person, programme and
period, on SQLite and PostgreSQL, also when claims race; everything else is refused with its
reason and pays nothing."""

from __future__ import annotations

import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from population import distinct
from registrykit import HostDevice, Registry, RegistryProcess, approved, http, reg  # noqa: F401 - fixtures
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from host_tools.registry import pins
from host_tools.registry.client import RegistryClient
from host_tools.registry.ingest import credential_id
from host_tools.registry.models import Payment
from host_tools.registry.payouts import current_period

UID = bytes.fromhex("04a1b2c3d4e5f6")
PENSION = {"code": "veteran_pension", "name": "Veteran's pension", "amounts": {"veteran": 150000,
                                                                                "retired_civil_servant": 120000}}



def op(reg: Registry) -> dict[str, str]:
    """An operator with every role (registrykit: made in the database, signed in)."""
    return reg.operator()


def add_programme(http, reg: Registry, prog: dict = PENSION) -> None:
    """Proposed by one operator, approved by a second (dual control)."""
    approved(http, "POST", "/v1/admin/programmes", op(reg), reg.checker(), json=prog)


def client(http, dev: HostDevice) -> RegistryClient:
    c = RegistryClient("https://testserver", dev.device_id, dev.secret)
    c.http = http
    return c


class Person:
    """A synced record and its card (the device's own code under CPython): a person unlike any
    other (population.distinct) unless fields are given; the device's card entry synced too
    (a card pays only once it has arrived), unless card_entry=False."""

    def __init__(self, reg: Registry, http, device: HostDevice, fields: dict | None = None, pin: bytes = b"2580",
                 card_entry: bool = True, rid_prefix: bytes = b""):
        from firmware.crypto import seal
        from firmware.formats import card_payload

        key, envs = device.batch(1, pin=pin, fields=fields or distinct(), rid_prefix=rid_prefix)
        client(http, device).post_batch([key], envs)
        opened = seal.parse_record(envs[0])
        self.rid, self.boot, self.seq = opened.record_id, opened.boot, opened.seq
        self.card = device.credential(self.rid, UID, reg.keys.registry_id)
        if card_entry:
            client(http, device).post_cards([card_payload(self.boot, self.seq, UID, device.credential_id(self.rid))])
        self.account = pins.credential_account(device.credential_id(self.rid))
        self.zone = reg.keys.zone_key

    def claim(self, pin: bytes, programme: str = "veteran_pension", period: str | None = None,
              point: str = "pay-01") -> bytes:
        """The claim as payout point `point` makes it: the PIN block under that point's own key."""
        block = pins.encipher(pins.point_key(self.zone, point), pin, self.account, os.urandom(8))
        return json.dumps({"credential": base64.b64encode(self.card).decode(), "uid": UID.hex(),
                           "pin_block": block.hex(), "programme": programme,
                           "period": period or current_period(time.time())}).encode()


def pay(http, point: HostDevice, body: bytes) -> dict:
    """POST /v1/payouts signed by the payout point; the answer's signature checked."""
    from host_tools.registry import protocol

    c = client(http, point)
    headers = dict(c.signed_headers("POST", "/v1/payouts", body), **{"content-type": "application/json"})
    r = http.post("/v1/payouts", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers[protocol.H_SIGNATURE] == protocol.response_signature(point.secret, 200,
                                                                           headers[protocol.H_NONCE], r.content)
    return r.json()


def paid(reg: Registry) -> int:
    with Session(reg.engine) as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


def setup(reg, http) -> tuple[HostDevice, HostDevice, HostDevice]:
    add_programme(http, reg)
    return HostDevice(reg), HostDevice(reg, "pay-01", role="payout"), HostDevice(reg, "pay-02", role="payout")


def test_a_veteran_is_paid_once_and_a_second_claim_says_when_and_where(reg, http) -> None:
    device, point, other = setup(reg, http)
    veteran = Person(reg, http, device)  # record.typical_fields(): a veteran
    first = pay(http, point, veteran.claim(b"2580"))
    assert first["result"] == "paid" and first["amount"] == 150000 and len(first["receipt"]) == 10
    again = pay(http, other, veteran.claim(b"2580", point="pay-02"))  # the same month, at another payout point
    assert again["result"] == "already paid" and again["payout_point"] == "pay-01"
    assert again["receipt"] == first["receipt"] and again["paid_at"]
    assert paid(reg) == 1
    listing = http.get("/v1/admin/payments", params={"programme": "veteran_pension",
                                                     "period": current_period(time.time())}, headers=op(reg)).json()
    assert [p["receipt"] for p in listing["payments"]] == [first["receipt"]]
    assert listing["totals"] == {"pay-01": {"payments": 1, "amount": 150000}}


def test_wrong_pins_pay_nothing_and_three_lock_the_card(reg, http) -> None:
    device, point, _ = setup(reg, http)
    veteran = Person(reg, http, device)
    assert pay(http, point, veteran.claim(b"1111")) == {"result": "wrong", "credential_id": credential_id(veteran.rid),
                                                        "tries_left": 2}
    assert pay(http, point, veteran.claim(b"1112"))["tries_left"] == 1
    assert pay(http, point, veteran.claim(b"1113"))["result"] == "locked"
    assert pay(http, point, veteran.claim(b"2580"))["result"] == "locked"  # even the right one, once locked
    assert paid(reg) == 0


def test_each_bad_claim_is_refused_with_its_reason_and_pays_nothing(reg, http) -> None:
    device, point, _ = setup(reg, http)
    veteran = Person(reg, http, device)
    from firmware.enrol import record

    citizen = Person(reg, http, device, fields=dict(record.typical_fields(), category="citizen", service_no=""))
    assert pay(http, point, citizen.claim(b"2580")) == {"result": "not entitled",
                                                        "credential_id": credential_id(citizen.rid),
                                                        "category": "citizen"}
    assert pay(http, point, veteran.claim(b"2580", programme="rice_aid")) == {"result": "unknown programme",
                                                                              "programme": "rice_aid"}
    assert pay(http, point, veteran.claim(b"2580", period="2001-01"))["result"] == "wrong period"
    foreign = Person(reg, http, device)
    foreign.card = device.credential(foreign.rid, UID, "another-registry")
    assert pay(http, point, foreign.claim(b"2580"))["reason"] == "issued for another registry"
    copied = Person(reg, http, device)
    copied.card = device.credential(copied.rid, bytes.fromhex("04000000000000"), reg.keys.registry_id)
    assert pay(http, point, copied.claim(b"2580"))["result"] == "invalid"  # the card's UID is not this one
    wrong_key = Person(reg, http, device)
    wrong_key.zone = os.urandom(16)  # a PIN block under another key is a wrong PIN
    assert pay(http, point, wrong_key.claim(b"2580"))["result"] == "wrong"
    # a PIN block another payout point made (its key, not this one's): wrong, too
    assert pay(http, point, veteran.claim(b"2580", point="pay-02"))["result"] == "wrong"
    assert paid(reg) == 0
    # a replayed request: its nonce is spent
    body = veteran.claim(b"2580")
    c = client(http, point)
    headers = dict(c.signed_headers("POST", "/v1/payouts", body), **{"content-type": "application/json"})
    assert http.post("/v1/payouts", content=body, headers=headers).json()["result"] == "paid"
    replay = http.post("/v1/payouts", content=body, headers=headers)
    assert replay.status_code == 401 and "nonce" in replay.json()["error"]
    # a revoked payout point, the operator token, an enrolment device: 403
    assert http.post("/v1/admin/devices/pay-01/revoke", headers=op(reg)).status_code == 200
    for who in (point, device):
        b = veteran.claim(b"2580")
        r = http.post("/v1/payouts", content=b, headers=client(http, who).signed_headers("POST", "/v1/payouts", b))
        assert r.status_code == 403, r.text
    r = http.post("/v1/payouts", content=veteran.claim(b"2580"), headers={**op(reg), "content-type": "application/json"})
    assert r.status_code == 403
    # garbage bodies, signed: 422, never 5xx
    other = HostDevice(reg, "pay-03", role="payout")
    for junk in (b"{", b"[]", b'{"programme": "X"}', json.dumps({**json.loads(body), "period": "2026-1"}).encode()):
        r = http.post("/v1/payouts", content=junk, headers=client(http, other).signed_headers("POST", "/v1/payouts",
                                                                                              junk))
        assert r.status_code == 422 and "error" in r.json(), r.text
    assert paid(reg) == 1


def test_a_revoked_credential_pays_nothing(reg, http) -> None:
    device, point, _ = setup(reg, http)
    lost = Person(reg, http, device)
    cred = credential_id(lost.rid)
    r = http.post(f"/v1/admin/credentials/{cred}/revoke", params={"reason": "card lost"}, headers=op(reg))
    assert r.status_code == 200
    assert pay(http, point, lost.claim(b"2580")) == {"result": "revoked", "credential_id": cred,
                                                     "reason": "card lost"}
    assert pay(http, point, lost.claim(b"0000"))["result"] == "revoked"  # no PIN guess counted either
    assert paid(reg) == 0
    assert http.post("/v1/admin/credentials/AAAA-BBBB/revoke", headers=op(reg)).status_code == 404
    assert http.post(f"/v1/admin/credentials/{cred}/revoke", params={"reason": "<script>"},
                     headers=op(reg)).status_code == 422


def test_bad_programmes_are_refused(reg, http) -> None:
    for bad in ({**PENSION, "code": "Veteran Pension"}, {**PENSION, "amounts": {}},
                {**PENSION, "amounts": {"veteran": -5}}, {**PENSION, "amounts": {"VETERAN": 5}}, {"code": "x"},
                {**PENSION, "name": "pension\x00"}, {**PENSION, "name": ""}):  # a NUL: PostgreSQL's 5xx before
        r = http.post("/v1/admin/programmes", json=bad, headers=op(reg))
        assert r.status_code == 422, (bad, r.text)
    add_programme(http, reg)
    assert http.post("/v1/admin/programmes", json=PENSION, headers=op(reg)).status_code == 409
    assert http.get("/v1/admin/programmes", headers=op(reg)).json() == [PENSION]


def test_racing_claims_for_one_person_pay_once_on_either_database(reg, http) -> None:
    """Eight payout points claim for the same veteran at the same moment, through the TLS server:
    one is paid, seven answer already paid."""
    import ssl

    device, _, _ = setup(reg, http)
    veteran = Person(reg, http, device)
    points = [HostDevice(reg, f"pay-r{i}", role="payout") for i in range(8)]
    url = reg.engine.url.render_as_string(hide_password=False)
    with RegistryProcess(reg, url) as server:
        base = f"https://127.0.0.1:{server.port}"
        ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())

        def claim(point: HostDevice) -> dict:
            with httpx.Client(base_url=base, verify=ctx, timeout=60) as c:
                return pay(c, point, veteran.claim(b"2580", point=point.device_id))

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(claim, points))
    results = sorted(a["result"] for a in answers)
    assert results == ["already paid"] * 7 + ["paid"], results
    assert len({a["receipt"] for a in answers}) == 1 and paid(reg) == 1


def test_the_binary_trust_list_is_the_one_the_device_checks(reg, http, tmp_path: Path) -> None:
    """GET /v1/trust.bin, checked by the registry's own verify_trust_bin and by the payout device's
    firmware/payout/trust.py (under CPython): the enrolment devices' keys, never a payout point's,
    a revoked device's key gone."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from firmware.payout.trust import TrustList
    from host_tools.registry.trust import kid_of, verify_trust_bin

    device, point, _ = setup(reg, http)
    gone = HostDevice(reg, "dev-gone")
    assert http.post("/v1/admin/devices/dev-gone/revoke", headers=op(reg)).status_code == 200
    r = http.get("/v1/trust.bin")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    trust_pub = reg.keys.trust_key.public_key()
    keys = verify_trust_bin(trust_pub, r.content, reg.keys.registry_id)
    assert keys == [device.pub]
    with pytest.raises(ValueError, match="another registry"):
        verify_trust_bin(trust_pub, r.content, "another-registry")
    with pytest.raises(ValueError, match="expired"):
        verify_trust_bin(trust_pub, r.content, reg.keys.registry_id, now=time.time() + 8 * 86400)
    (tmp_path / "trust.bin").write_bytes(r.content)
    raw_pub = trust_pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
    on_device = TrustList(str(tmp_path), raw_pub, reg.keys.registry_id, lambda: int(time.time()))
    assert on_device.load() and on_device.count == 1
    assert on_device.get(kid_of(device.pub)) == device.pub
    assert on_device.get(kid_of(gone.pub)) is None and on_device.get(kid_of(point.pub)) is None


def test_the_devices_pin_block_is_the_registrys(reg) -> None:
    """A payout device's format-4 block (firmware/crypto/pin_block.py, run here under CPython)
    deciphers at the registry under that point's key and the credential's account, and under no
    other point's."""
    from firmware.crypto import pin_block

    for i in range(50):
        rid = os.urandom(16)
        cred = credential_id(rid)
        assert pin_block.credential_account(cred) == pins.credential_account(cred)
        key = pins.point_key(reg.keys.zone_key, "pay-01")
        pin = b"%04d" % (i * 197 % 10000) if i % 2 else b"%06d" % (i * 7919)
        block = pin_block.encipher_account(key, bytearray(pin), pin_block.credential_account(cred))
        assert pins.decipher(key, block, pins.credential_account(cred)) == pin
        with pytest.raises(pins.PinBlockError):
            pins.decipher(pins.point_key(reg.keys.zone_key, "pay-02"), block, pins.credential_account(cred))
