"""The reference registry's API: signed batches, exactly-once storage, PIN verifiers, trust list,
admin endpoints, and a defined 4xx answer (with nothing written) for every bad request."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from pathlib import Path

import cbor2
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registrykit import HostDevice, Registry, make_registry
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from host_tools.registry import pins, protocol
from host_tools.registry.app import create_app
from host_tools.registry.client import ClientError, RegistryClient
from host_tools.registry.db import migrate
from host_tools.registry.models import Event, Nonce, Record
from host_tools.registry.protocol import ACCEPTED, CONFLICT, DUPLICATE, REJECTED
from host_tools.registry.trust import verify_trust_list


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return make_registry(tmp_path)


@pytest.fixture
def http(reg: Registry) -> TestClient:
    return TestClient(create_app(reg.keys, reg.engine), base_url="https://testserver")


@pytest.fixture
def device(reg: Registry) -> HostDevice:
    return HostDevice(reg)


def client_for(http: TestClient, dev: HostDevice) -> RegistryClient:
    c = RegistryClient("https://testserver", dev.device_id, dev.secret)
    c.http = http
    return c


def counts(reg: Registry) -> tuple[int, int, int]:
    with Session(reg.engine) as s:
        return (len(s.scalars(select(Record.id)).all()), len(s.scalars(select(Nonce.nonce)).all()),
                len(s.scalars(select(Event.id).where(Event.kind.in_(("conflict", "rejected")))).all()))


def op(reg: Registry) -> dict[str, str]:
    """An operator with every role (registrykit: made in the database, signed in)."""
    return reg.operator()


# ---- schema -----------------------------------------------------------------
def test_migrations_are_idempotent_and_record_ids_unique(reg: Registry) -> None:
    migrate(reg.engine)  # second time: nothing to do
    insp = inspect(reg.engine)
    assert {"devices", "records", "conflicts", "nonces", "events", "alembic_version"} <= set(insp.get_table_names())
    dev = HostDevice(reg)
    row = dict(record_id=b"\x01" * 16, device_id=dev.device_id, boot=1, seq=1, digest=bytes(32), envelope=b"x",
               credential_id="0000-0000", officer_id="o", created_t=1, clock_synced=True, fields={},
               pin_verifier=bytes(32), pin_failures=0)
    with Session(reg.engine) as s:
        s.add(Record(**row))
        s.commit()
        s.add(Record(**dict(row, seq=2)))
        with pytest.raises(IntegrityError):
            s.commit()


def test_migration_0002_keeps_the_v1_records_and_the_models_are_the_migrations(tmp_path: Path) -> None:
    """A registry made before schema 2 (revision 0001) with a record in it: upgraded, the record
    is schema 1 with no category; the tables then match the models exactly (alembic's own
    comparison), and the migration goes back down."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from host_tools.registry.db import alembic_config, make_engine
    from host_tools.registry.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO devices VALUES ('dev-1', x'00', x'00', 0, '2026-01-01')"))
        conn.execute(text("INSERT INTO records (record_id, device_id, boot, seq, digest, envelope, credential_id, "
                          "officer_id, created_t, clock_synced, fields, pin_verifier, pin_failures, received_at) "
                          "VALUES (x'01', 'dev-1', 1, 1, x'00', x'00', 'ABCD-EFGH', 'OF1', 5, 1, "
                          "'{\"given_name\": \"DARA\"}', x'00', 0, '2026-01-01')"))
    migrate(engine)
    with Session(engine) as s:
        old = s.scalars(select(Record)).one()
        assert (old.schema, old.category, old.fields) == (1, None, {"given_name": "DARA"})
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with engine.connect() as conn:  # as db.migrate upgrades: foreign keys off while tables are copied
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        cfg.attributes["connection"] = conn
        with conn.begin():
            command.downgrade(cfg, "0001")
        assert "category" not in [c["name"] for c in inspect(conn).get_columns("records")]
    engine.dispose()


def test_v1_and_v2_records_are_stored_with_their_schema_and_category(reg: Registry, http: TestClient,
                                                                     device: HostDevice) -> None:
    """A device of schema 2 (the category, the 8-digit village) beside one still writing schema 1."""
    from firmware.enrol import record

    v1 = {"given_name": "DARA", "family_name": "KEO", "sex": "M", "birth_date": "1950-01-01",
          "village_code": "BF-KAD-0412", "phone": "", "consent": True}

    def v1_record(rid: bytes, block: bytes) -> bytes:
        return cbor2.dumps({"v": 1, "officer_id": "OF0042", "created": {"t": int(time.time()), "clock": "synced"},
                            "fields": v1, "card": {"credential_id": ""}, "pin_block": block})

    key2, envs2 = device.batch(1)
    key1, envs1 = device.batch_of([v1_record])
    res = client_for(http, device).post_batch([key2, key1], envs2 + envs1)
    assert [r.result for r in res] == [ACCEPTED, ACCEPTED], [r.reason for r in res]
    with Session(reg.engine) as s:
        got = {r.schema: r for r in s.scalars(select(Record))}
    assert got[2].category == "veteran" and got[2].fields == dict(record.typical_fields())
    assert got[1].category is None and got[1].fields == v1


# ---- batches ----------------------------------------------------------------
def test_batch_accepted_then_duplicate_with_the_same_receipt(reg, http, device) -> None:
    key, envs = device.batch(5)
    c = client_for(http, device)
    first = c.post_batch([key], envs)
    assert [r.result for r in first] == [ACCEPTED] * 5
    again = c.post_batch([key], envs)
    assert [r.result for r in again] == [DUPLICATE] * 5
    assert [r.receipt_no for r in again] == [r.receipt_no for r in first]
    assert counts(reg)[0] == 5 and reg.duplicated() == 0
    with Session(reg.engine) as s:
        rec = s.scalars(select(Record)).first()
        assert rec.fields["given_name"] == "SOPHEAKTRA" and rec.clock_synced
        # the PIN is only a keyed verifier: neither the digits nor a plain hash of them
        assert rec.pin_verifier != hashlib.sha256(b"2580").digest()
        assert rec.pin_verifier == pins.verifier(reg.keys.pin_key, rec.record_id, b"2580")
        assert rec.envelope == b""  # the sealed bytes (the enrolment PIN block inside) are not kept


def test_same_id_other_bytes_is_a_conflict_kept_aside_once(reg, http, device) -> None:
    from firmware.crypto import seal

    key, envs = device.batch(2)
    c = client_for(http, device)
    c.post_batch([key], envs)
    hdr = seal.parse_record(envs[0])
    batch = seal.BatchKey(device.registry_pub)
    from firmware.crypto import pin_block
    from firmware.enrol import record

    block = pin_block.encipher(seal.pin_key(batch.key, hdr.record_id), bytearray(b"9999"), hdr.record_id)
    other = bytes(seal.seal_record(batch, device.device_id, 1, 1, hdr.record_id,
                                   record.encode("OF0042", 5, False, record.typical_fields(), "", block)))
    for _ in range(2):
        res = c.post_batch([bytes(batch.envelope())], [other])
        assert [r.result for r in res] == [CONFLICT]
    assert reg.conflicts() == 1 and counts(reg)[0] == 2


def test_bad_records_are_rejected_one_by_one_with_a_reason(reg, http, device) -> None:
    key, envs = device.batch(6)
    fkey, foreign = HostDevice(reg, "dev-other").batch(1)
    tampered = bytearray(envs[1])
    tampered[-25] ^= 1  # a tag byte; the CRC is fixed up so that only the MAC can notice
    import zlib

    tampered[-4:] = struct.pack(">I", zlib.crc32(tampered[:-4]))
    _, unknown_key = device.batch(1)  # its KEY is not sent
    ckey, no_consent = device.batch(1, fields={"given_name": "A", "family_name": "B", "sex": "F",
                                            "birth_date": "2000-01-01", "village_code": "02040101",
                                            "category": "citizen", "consent": False})
    res = client_for(http, device).post_batch([key, fkey, ckey], [envs[0], bytes(tampered), foreign[0], unknown_key[0],
                                                     no_consent[0], b"ERC1\x01garbage"])
    assert [r.result for r in res] == [ACCEPTED, REJECTED, REJECTED, REJECTED, REJECTED, REJECTED]
    reasons = [r.reason for r in res[1:]]
    assert "tag" in reasons[0] and "device" in reasons[1] and "unknown batch key" in reasons[2]
    assert "consent" in reasons[3] and reasons[4]
    assert counts(reg)[0] == 1 and counts(reg)[2] == 5


def test_a_batch_of_rejected_records_is_answered_within_the_devices_reply_buffer(reg, http, device) -> None:
    """Each rejected row carries its reason; in the answer it is cut to MAX_REASON bytes, so
    a device's whole batch of them fits the 4 KB the device reads (the full reason is an event)."""
    from firmware.sync.client import BATCH_RECORDS, MAX_ANSWER

    key, envs = device.batch(BATCH_RECORDS)
    tampered = []
    for env in envs:
        t = bytearray(env)
        t[-25] ^= 1  # a tag byte, the CRC fixed up: rejected by the MAC, with a reason
        import zlib

        t[-4:] = struct.pack(">I", zlib.crc32(t[:-4]))
        tampered.append(bytes(t))
    long_reason = "\u17a2" * 70  # Khmer: three bytes a character, cut on a character
    from host_tools.registry import ingest

    real = ingest.Result

    def longer(rid, digest, result, no, reason):  # the longest a reason could be, from any check
        return real(rid, digest, result, no, reason + long_reason if reason else reason)

    ingest.Result = longer
    try:
        r = _signed_post(http, device, protocol.encode_batch([key], tampered))
    finally:
        ingest.Result = real
    assert r.status_code == 200, r.text
    rows = cbor2.loads(r.content)["results"]
    assert len(rows) == BATCH_RECORDS and {row[1] for row in rows} == {REJECTED}
    assert all(0 < len(row[4].encode()) <= protocol.MAX_REASON for row in rows)
    assert len(r.content) <= MAX_ANSWER


def _signed_post(http: TestClient, dev: HostDevice, body: bytes, **over: str):
    c = client_for(http, dev)
    headers = c.signed_headers("POST", "/v1/batches", body)
    headers.update(over)
    return http.post("/v1/batches", content=body, headers=headers)


def test_request_authentication_failures_write_nothing(reg, http, device) -> None:
    key, envs = device.batch(1)
    body = protocol.encode_batch([key], envs)
    c = client_for(http, device)
    before = counts(reg)
    cases = [
        ({}, 401, "not signed", {protocol.H_SIGNATURE: ""}),
        ({}, 401, "bad signature", {protocol.H_SIGNATURE: "0" * 64}),
        ({}, 401, "malformed", {protocol.H_NONCE: "xyz"}),
        ({}, 401, "unknown device", {protocol.H_DEVICE: "nobody"}),
    ]
    for _, status, reason, over in cases:
        r = _signed_post(http, device, body, **over)
        assert r.status_code == status and reason in r.json()["error"], (over, r.text)
    old = int(time.time()) - 3600
    h = c.signed_headers("POST", "/v1/batches", body, ts=old)
    r = http.post("/v1/batches", content=body, headers=h)
    assert r.status_code == 401 and "window" in r.json()["error"] and abs(r.json()["time"] - time.time()) < 5
    # the signature covers the body: a changed body with the old headers is refused
    h = c.signed_headers("POST", "/v1/batches", body)
    r = http.post("/v1/batches", content=body + b"\x02\x00\x01x", headers=h)
    assert r.status_code == 401
    assert counts(reg)[:2] == before[:2]
    # a replayed request (same nonce) is refused even though it is genuine
    h = c.signed_headers("POST", "/v1/batches", body)
    assert http.post("/v1/batches", content=body, headers=h).status_code == 200
    r = http.post("/v1/batches", content=body, headers=h)
    assert r.status_code == 401 and "replay" in r.json()["error"]
    # a revoked device is refused
    assert http.post(f"/v1/admin/devices/{device.device_id}/revoke", headers=op(reg)).status_code == 200
    r = _signed_post(http, device, body)
    assert r.status_code == 403 and r.json()["error"] == "device revoked"


def test_malformed_and_oversized_bodies_are_4xx_json(reg, http, device) -> None:
    key, envs = device.batch(1)
    bad = [
        (b"", 400), (b"JUNK", 400), (b"EBT1", 400), (b"EBT1\x02\x00", 400), (b"EBT1\x02\xff\xffabc", 400),
        (b"EBT1\x09\x00\x01x", 400), (protocol.encode_batch([key], envs * 65), 400),
        (b"EBT1" + b"\x02\x00\x01x" * 30000, 413),
    ]
    before = counts(reg)
    for body, status in bad:
        r = _signed_post(http, device, body)
        assert r.status_code == status, (body[:20], r.text)
        assert "error" in r.json()
    assert counts(reg)[0] == before[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.binary(max_size=200).map(lambda b: b"EBT1" + b)))
def test_fuzzed_signed_bodies_never_store_or_crash(reg, http, device, body: bytes) -> None:
    r = _signed_post(http, device, body)
    assert r.status_code in (200, 400, 413)
    if r.status_code == 200:
        assert all(row[1] == REJECTED for row in cbor2.loads(r.content)["results"])
    assert counts(reg)[0] == 0


def test_answers_are_signed_for_the_request_nonce(reg, http, device) -> None:
    key, envs = device.batch(1)
    c = client_for(http, device)
    c.secret = os.urandom(32)  # a client that checks with the wrong secret refuses the answer
    with pytest.raises(ClientError):
        c.post_batch([key], envs)


# ---- verify (payout point) ------------------------------------------------------
def test_verify_card_and_pin_then_lock_after_three_wrong(reg, http, device) -> None:
    from firmware.crypto import seal

    key, envs = device.batch(1, pin=b"2580")
    client_for(http, device).post_batch([key], envs)
    rid = seal.parse_record(envs[0]).record_id
    uid = bytes.fromhex("04a1b2c3d4e5f6")
    cred = device.credential(rid, uid, reg.keys.registry_id)
    from firmware.formats import card_payload
    from host_tools.registry.ingest import credential_id

    account = pins.credential_account(credential_id(rid))
    point = client_for(http, HostDevice(reg, "pay-01", role="payout"))
    assert point.verify(cred, uid, bytes(16))["result"] == "unknown"  # the device's card entry has not arrived: no PIN is tried
    client_for(http, device).post_cards([card_payload(1, 1, uid, credential_id(rid))])

    def ask(pin: bytes, uid_hex: str = uid.hex(), cose: bytes = cred) -> dict:
        block = pins.encipher(pins.point_key(reg.keys.zone_key, "pay-01"), pin, account, os.urandom(8))
        return point.verify(cose, bytes.fromhex(uid_hex), block)  # the answer's signature checked

    assert ask(b"2580")["result"] == "ok"
    assert ask(b"1111") == {"result": "wrong", "credential_id": credential_id(rid), "tries_left": 2}
    assert ask(b"2580")["result"] == "ok"  # a right PIN resets the count
    assert ask(b"0000")["tries_left"] == 2 and ask(b"0001")["tries_left"] == 1
    assert ask(b"0002")["result"] == "locked"
    assert ask(b"2580")["result"] == "locked"  # even the right PIN, once locked
    assert ask(b"2580", uid_hex="04000000000000")["result"] == "invalid"  # copied to another card
    tampered = bytearray(cred)
    tampered[-70] ^= 1
    assert ask(b"2580", cose=bytes(tampered))["result"] == "invalid"
    other = device.credential(b"\x77" * 16, uid, reg.keys.registry_id)
    assert ask(b"2580", cose=other)["result"] == "unknown"
    r = http.post("/v1/verify", json={"credential": "", "uid": uid.hex(), "pin_block": "00" * 16})
    assert r.status_code == 401
    body = b'{"credential": "!!", "uid": "zz", "pin_block": "00"}'
    r = http.post("/v1/verify", content=body, headers=point.signed_headers("POST", "/v1/verify", body))
    assert r.status_code == 422 and "error" in r.json()


def test_no_credential_of_one_role_works_for_another(reg, http, device) -> None:
    """The operator token administers and never verifies; a payout point verifies and never
    pushes records or administers; an enrolment device pushes records and never verifies.
    Wrong role: 403, on every route; nothing written."""
    point = client_for(http, HostDevice(reg, "pay-01", role="payout"))
    enrolment = client_for(http, device)
    key, envs = device.batch(1)
    batch = protocol.encode_batch([key], envs)
    verify = b'{"credential": "", "uid": "04a1b2c3d4e5f6", "pin_block": "' + b"00" * 16 + b'"}'
    admin = [("GET", "/v1/admin/devices", b""), ("GET", "/v1/admin/records", b""),
             ("GET", "/v1/admin/conflicts", b""), ("GET", "/v1/admin/events", b""),
             ("POST", "/v1/admin/devices", b"{}"), ("POST", f"/v1/admin/devices/{device.device_id}/revoke", b""),
             ("POST", f"/v1/admin/devices/{device.device_id}/batches", batch),
             ("POST", "/v1/admin/programmes", b"{}"), ("GET", "/v1/admin/programmes", b""),
             ("GET", "/v1/admin/payments?programme=x&period=2026-01", b""),
             ("POST", "/v1/admin/credentials/AAAA-BBBB/unlock", b"")]
    for method, path, body in admin:  # a payout point's or a device's signature administers nothing
        for who in (point, enrolment):
            r = http.request(method, path, content=body, headers=who.signed_headers(method, path, body))
            assert r.status_code == 403 and "cannot administer" in r.json()["error"], (path, r.text)
    r = http.post("/v1/verify", content=verify, headers={**op(reg), "content-type": "application/json"})
    assert r.status_code == 403 and "cannot push records or verify a PIN" in r.json()["error"]
    r = http.post("/v1/batches", content=batch, headers=op(reg))
    assert r.status_code == 403
    r = http.post("/v1/verify", content=verify, headers=enrolment.signed_headers("POST", "/v1/verify", verify))
    assert r.status_code == 403 and "enrolment device" in r.json()["error"]
    r = http.post("/v1/batches", content=batch, headers=point.signed_headers("POST", "/v1/batches", batch))
    assert r.status_code == 403 and "payout device" in r.json()["error"]
    pay = b'{"credential": "", "uid": "04a1b2c3d4e5f6", "pin_block": "' + b"00" * 16 + b'", "programme": "x", ' \
          b'"period": "2026-01"}'
    r = http.post("/v1/payouts", content=pay, headers=enrolment.signed_headers("POST", "/v1/payouts", pay))
    assert r.status_code == 403 and "enrolment device" in r.json()["error"]
    r = http.post("/v1/payouts", content=pay, headers={**op(reg), "content-type": "application/json"})
    assert r.status_code == 403
    assert counts(reg)[0] == 0  # no record stored by any of them
    # a payout point's key signs no card: it is not on the trust list
    trust = http.get("/v1/trust").json()
    assert [k["device_id"] for k in trust["keys"]] == [device.device_id]
    devs = {d["device_id"]: d["role"] for d in http.get("/v1/admin/devices", headers=op(reg)).json()}
    assert devs == {device.device_id: "enrolment", "pay-01": "payout"}


# ---- trust list, admin, health ----------------------------------------------------
def test_trust_list_is_signed_and_drops_revoked_devices(reg, http, device) -> None:
    other = HostDevice(reg, "dev-b")
    doc = http.get("/v1/trust").json()
    body = verify_trust_list(reg.keys.trust_key.public_key(), doc)
    assert {k["device_id"] for k in body["keys"]} == {device.device_id, other.device_id}
    assert {k["pub"] for k in body["keys"]} == {device.pub.hex(), other.pub.hex()}
    doc["keys"][0]["pub"] = "00" * 32
    with pytest.raises(ValueError):
        verify_trust_list(reg.keys.trust_key.public_key(), doc)
    http.post("/v1/admin/devices/dev-b/revoke", headers=op(reg))
    assert [k["device_id"] for k in http.get("/v1/trust").json()["keys"]] == [device.device_id]
    # it expires: a copy kept past a week (a revoked device still on it) is refused
    fresh = http.get("/v1/trust").json()
    assert fresh["expires"] - fresh["issued"] == 7 * 86400
    verify_trust_list(reg.keys.trust_key.public_key(), fresh, now=fresh["expires"] - 1)
    with pytest.raises(ValueError, match="expired"):
        verify_trust_list(reg.keys.trust_key.public_key(), fresh, now=fresh["expires"])


def test_admin_endpoints(reg, http, device) -> None:
    assert http.get("/v1/admin/devices").status_code == 401
    assert http.get("/v1/admin/devices", headers={"Authorization": "Bearer wrong"}).status_code == 401
    new = {"device_id": "dev-new", "hmac_secret": "ab" * 32, "ed25519_pub": "cd" * 32}
    assert http.post("/v1/admin/devices", json=new, headers=op(reg)).status_code == 201
    r = http.post("/v1/admin/devices", json=new, headers=op(reg))
    assert r.status_code == 409 and "already" in r.json()["error"]
    r = http.post("/v1/admin/devices", json=dict(new, device_id="bad id!"), headers=op(reg))
    assert r.status_code == 422 and "device_id" in r.json()["error"]
    assert http.post("/v1/admin/devices/none/revoke", headers=op(reg)).status_code == 404
    key, envs = device.batch(3)
    client_for(http, device).post_batch([key], envs)
    devs = {d["device_id"]: d for d in http.get("/v1/admin/devices", headers=op(reg)).json()}
    assert devs[device.device_id]["records"] == 3 and devs["dev-new"]["records"] == 0
    lines = http.get("/v1/admin/records", headers=op(reg)).text.splitlines()
    assert len(lines) == 3 and '"given_name": "SOPHEAKTRA"' in lines[0]
    assert any(e["kind"] == "device-added" for e in http.get("/v1/admin/events", headers=op(reg)).json())
    assert http.get("/v1/health").json()["ok"] is True
    assert abs(http.get("/v1/time").json()["time"] - time.time()) < 5
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/batches", "/v1/verify", "/v1/trust", "/v1/time"} <= set(paths)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0007_files_existing_records_under_persons(request, tmp_path: Path, database: str) -> None:
    """A registry of revision 0006 with: a record paid this month, re-issued (its credential replaced
    by a second record's, which was paid the same month too: the old double payment), and a third
    record whose legacy credential id is the first's.  Upgraded: the re-issue chain is one person,
    the third another, under its full id, revoked; the second payment keeps no person and is logged,
    and `registry audit` lists it."""
    from alembic import command
    from sqlalchemy import text

    from host_tools.registry.audit import audit
    from host_tools.registry.db import alembic_config, make_engine
    from host_tools.registry.ingest import full_credential_id
    from host_tools.registry.models import Event, Payment, Person, RevokedCredential

    if database == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        engine = make_engine(request.getfixturevalue("pg_url"))
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    cfg = alembic_config()
    r1, r2, r3 = b"\x01" * 16, b"\x02" * 16, b"\x01" * 5 + b"\x03" * 11
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.execute(text("INSERT INTO devices (device_id, hmac_secret, ed25519_pub, revoked, registered_at, role) "
                          "VALUES ('dev-1', :z, :z, false, '2026-01-01', 'enrolment'), "
                          "('pay-1', :z, :z, false, '2026-01-01', 'payout')"), {"z": b"\0"})
        for rid, cred in ((r1, "0G0G-0G0G"), (r2, "0R0R-0R0R"), (r3, "0G0G-0G0G")):
            conn.execute(text("INSERT INTO records (record_id, device_id, boot, seq, digest, envelope, credential_id, "
                              "officer_id, created_t, clock_synced, fields, schema, pin_verifier, pin_failures, "
                              "received_at) VALUES (:rid, 'dev-1', 1, :seq, :z, :z, :cred, 'OF1', 5, true, :f, 2, :z, 0, "
                              "'2026-01-01')"),
                         {"rid": rid, "seq": rid[-1], "cred": cred, "z": b"\0",
                          "f": '{"family_name": "SOK", "given_name": "DARA", "birth_date": "1950-01-01"}'})
        conn.execute(text("INSERT INTO revoked_credentials (credential_id, reason, at, replaced_by) "
                          "VALUES ('0G0G-0G0G', 're-issued', '2026-01-02', '0R0R-0R0R')"))
        conn.execute(text("INSERT INTO programmes (code, name, amounts, created_at) "
                          "VALUES ('p', 'P', '{\"veteran\": 1}', '2026-01-01')"))
        for rid, receipt in ((r1, "R1"), (r2, "R2")):
            conn.execute(text("INSERT INTO payments (record_id, programme, period, amount, payout_point, receipt, "
                              "paid_at) VALUES (:rid, 'p', '2026-01', 1, 'pay-1', :r, '2026-01-01')"),
                         {"rid": rid, "r": receipt})
    migrate(engine)
    with Session(engine) as s:
        person = {bytes(r.record_id): r.person_id for r in s.scalars(select(Record))}
        assert person[r1] == person[r2] != person[r3] and None not in person.values()
        assert len(s.scalars(select(Person)).all()) == 2
        third = s.scalars(select(Record).where(Record.record_id == r3)).one()
        assert third.credential_id == full_credential_id(r3)
        assert s.get(RevokedCredential, third.credential_id) is not None
        assert {bytes(r.envelope) for r in s.scalars(select(Record))} == {b""}  # migration 0008: none kept
        payments = {p.receipt: p.person_id for p in s.scalars(select(Payment))}
        assert payments == {"R1": person[r1], "R2": None}
        assert [e.kind for e in s.scalars(select(Event).where(Event.kind == "overpayment"))] == ["overpayment"]
    breaches, _ = audit(engine)
    assert {b.check for b in breaches} >= {"payment-no-person"}
    engine.dispose()


def test_a_sqlite_database_anywhere_is_its_owners_alone(tmp_path: Path) -> None:
    """--db outside the key directory: the file and its WAL are created 0600 (names, phones), in a
    directory made 0700; a directory others can enter is refused, with what to do."""
    import os
    import stat

    from host_tools.registry.db import PlaceError, make_engine
    from host_tools.registry.serve import ServeError, build_app

    path = tmp_path / "elsewhere" / "deeper" / "registry.db"
    old = os.umask(0o022)  # a usual umask would make it 0644
    try:
        open_dir = tmp_path / "shared"
        open_dir.mkdir()
        with pytest.raises(PlaceError, match="chmod 700"):
            make_engine(f"sqlite:///{open_dir / 'registry.db'}")
        assert not (open_dir / "registry.db").exists()
        reg = make_registry(tmp_path / "k")
        with pytest.raises(ServeError, match="other users"):
            build_app(reg.keys_dir, f"sqlite:///{open_dir / 'registry.db'}")
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wal = path.with_name("registry.db-wal")
    assert not wal.exists() or stat.S_IMODE(wal.stat().st_mode) == 0o600
    engine.dispose()
