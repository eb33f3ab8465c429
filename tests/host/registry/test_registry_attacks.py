"""Issue 16: the registry as an outsider attacks it, on SQLite and PostgreSQL.  Every attack gets a
4xx with the one error shape {"error": ...}, never a 5xx, and the row count of every table is the
same before and after (or grows by exactly the genuine records sent alongside)."""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import cbor2
import httpx
import pytest
from fastapi.testclient import TestClient
from registrykit import HostDevice, Registry, http, make_registry, reg, serving  # noqa: F401 - fixtures
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from host_tools.registry import protocol
from host_tools.registry.client import RegistryClient
from host_tools.registry.keys import KeysError
from host_tools.registry.models import Conflict, Device, Event, Nonce, Record
from host_tools.registry.protocol import ACCEPTED, DUPLICATE, REJECTED

TABLES = (Record, Conflict, Nonce, Event, Device)



@pytest.fixture
def device(reg: Registry) -> HostDevice:
    return HostDevice(reg)


def rows(reg: Registry) -> dict[str, int]:
    with Session(reg.engine) as s:
        return {m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0) for m in TABLES}


def signer(http: TestClient, dev: HostDevice) -> RegistryClient:
    c = RegistryClient("https://testserver", dev.device_id, dev.secret)
    c.http = http
    return c


def refused(r: httpx.Response, status: int, words: str = "") -> None:
    assert r.status_code == status, (r.status_code, r.text)
    doc = r.json()
    assert set(doc) >= {"error"} and isinstance(doc["error"], str) and "detail" not in doc, doc
    assert words in doc["error"], doc


# ---- 1. headers are attacker bytes ------------------------------------------------
def test_hostile_signature_headers_answer_401_and_write_nothing(reg, http, device) -> None:
    key, envs = device.batch(1)
    body = protocol.encode_batch([key], envs)
    good = signer(http, device).signed_headers("POST", "/v1/batches", body)
    before = rows(reg)
    hostile = [
        {protocol.H_SIGNATURE: good[protocol.H_SIGNATURE][:-1] + "\xe9"},  # one non-ASCII byte
        {protocol.H_TIME: "9" * 5000},
        {protocol.H_TIME: "\xb2"},  # a superscript two: str.isdigit() says yes, int() says no
        {protocol.H_TIME: "-5"},
        {protocol.H_DEVICE: "d\xe9v"},
        {protocol.H_DEVICE: "x" * 500},
        {protocol.H_NONCE: "\xe9" * 32},
        {protocol.H_SIGNATURE: "A" * 64},  # upper-case hex is not the signature's form
    ]
    for over in hostile:
        headers = {k: v.encode("latin-1") for k, v in {**good, **over}.items()}
        r = http.post("/v1/batches", content=body, headers=headers)
        refused(r, 401)
    assert rows(reg) == before


def test_the_signature_covers_the_query_string(reg, http, device) -> None:
    key, envs = device.batch(1)
    body = protocol.encode_batch([key], envs)
    h = signer(http, device).signed_headers("POST", "/v1/batches", body)
    before = rows(reg)
    refused(http.post("/v1/batches?debug=1", content=body, headers=h), 401, "bad signature")
    assert rows(reg) == before
    # signed with its query, the same request is genuine
    h = signer(http, device).signed_headers("POST", "/v1/batches?x=1", body)
    r = http.post("/v1/batches?x=1", content=body, headers=h)
    assert r.status_code == 200, r.text


def test_refused_signatures_add_no_rows_and_are_rate_limited(reg, http, device) -> None:
    key, envs = device.batch(1)
    body = protocol.encode_batch([key], envs)
    before = rows(reg)
    statuses = []
    for _ in range(40):
        h = signer(http, device).signed_headers("POST", "/v1/batches", body)
        h[protocol.H_SIGNATURE] = "0" * 64
        statuses.append(http.post("/v1/batches", content=body, headers=h))
    assert rows(reg) == before  # not one event row each
    codes = [r.status_code for r in statuses]
    assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}, codes
    refused(statuses[-1], 429, "too many")
    assert 0 < int(statuses[-1].headers["retry-after"]) <= 61
    # another device at the same address (one carrier NAT) is not refused for it
    other = HostDevice(reg, "dev-neighbour")
    key, envs = other.batch(1)
    assert [r.result for r in signer(http, other).post_batch([key], envs)] == [ACCEPTED]
    # garbage from one address: refused cheaply once past the limit, nobody else's business
    junk = [http.post("/v1/batches", content=b"x", headers={protocol.H_DEVICE: "nobody", protocol.H_TIME: "1",
                                                             protocol.H_NONCE: "0" * 32,
                                                             protocol.H_SIGNATURE: "0" * 64})
            for _ in range(32)]
    assert [r.status_code for r in junk][-1] == 429 and rows(reg)["events"] == before["events"]


# ---- 2. records: every value checked, a bad one rejected alone ---------------------
def _doc(block: bytes, **fields: object) -> dict:
    base = {"given_name": "SOPHEAP", "family_name": "CHHUON", "sex": "F", "birth_date": "1987-06-14",
            "village_code": "02040101", "phone": "", "consent": True}
    base.update(fields)
    return {"v": 1, "officer_id": "OF0042", "created": {"t": int(time.time()), "clock": "synced"},
            "fields": base, "card": {"credential_id": ""}, "pin_block": block}


def _doc2(block: bytes, **fields: object) -> dict:
    """A schema 2 record (firmware/enrol/record.py): the category and a service number."""
    doc = _doc(block, category="veteran", service_no="20481733")
    doc["v"] = 2
    doc["fields"].update(fields)
    return doc


HOSTILE_RECORDS = {
    "bytes field": lambda rid, b: cbor2.dumps(_doc(b, given_name=b"SOPHEAP")),
    "tagged field": lambda rid, b: cbor2.dumps(_doc(b, family_name=cbor2.CBORTag(1, 5))),
    "set field": lambda rid, b: cbor2.dumps(_doc(b, village_code={"BF", "KAD"})),
    "NaN field": lambda rid, b: cbor2.dumps(_doc(b, phone=math.nan)),
    "NUL in a name": lambda rid, b: cbor2.dumps(_doc(b, given_name="AMI\x00NATA")),
    "created beyond 64 bits": lambda rid, b: cbor2.dumps({**_doc(b), "created": {"t": 1 << 70, "clock": "synced"}}),
    "negative created": lambda rid, b: cbor2.dumps({**_doc(b), "created": {"t": -1, "clock": "synced"}}),
    "a 10 000 character name": lambda rid, b: cbor2.dumps(_doc(b, given_name="A" * 10_000)),
    "unknown field": lambda rid, b: cbor2.dumps(_doc(b, religion="X")),
    "birth date 31 February": lambda rid, b: cbor2.dumps(_doc(b, birth_date="1987-02-31")),
    "birth in the future": lambda rid, b: cbor2.dumps(_doc(b, birth_date="2999-01-01")),
    "sex as a number": lambda rid, b: cbor2.dumps(_doc(b, sex=1)),
    "consent as 1": lambda rid, b: cbor2.dumps(_doc(b, consent=1)),
    "officer with a newline": lambda rid, b: cbor2.dumps({**_doc(b), "officer_id": "OF\n42"}),
    "version as 1.0": lambda rid, b: cbor2.dumps({**_doc(b), "v": 1.0}),
    "map keyed by integers": lambda rid, b: cbor2.dumps({**_doc(b), 7: "x"}),
    "not CBOR": lambda rid, b: b"\xff\xff\xff",
    "v1 with a category": lambda rid, b: cbor2.dumps(_doc(b, category="veteran")),
    "v2 without a category": lambda rid, b: cbor2.dumps({**_doc2(b), "fields": _doc(b)["fields"], "v": 2}),
    "v2 category in capitals": lambda rid, b: cbor2.dumps(_doc2(b, category="VETERAN")),
    "v2 category as a number": lambda rid, b: cbor2.dumps(_doc2(b, category=4)),
    "v2 category of 40 letters": lambda rid, b: cbor2.dumps(_doc2(b, category="v" * 40)),
    "v2 service number with a space": lambda rid, b: cbor2.dumps(_doc2(b, service_no="2048 1733")),
    "v2 service number of 30 digits": lambda rid, b: cbor2.dumps(_doc2(b, service_no="1" * 30)),
    "v2 village not 8 digits": lambda rid, b: cbor2.dumps(_doc2(b, village_code="BF-KAD-0412")),
    "version 3": lambda rid, b: cbor2.dumps({**_doc2(b), "v": 3}),
    "version as true": lambda rid, b: cbor2.dumps({**_doc2(b), "v": True}),
}


def test_a_bad_record_is_rejected_with_its_reason_and_the_good_ones_stored(reg, http, device) -> None:
    good = lambda rid, b: cbor2.dumps(_doc(b))  # noqa: E731
    good2 = lambda rid, b: cbor2.dumps(_doc2(b))  # noqa: E731
    names = list(HOSTILE_RECORDS)
    makers = [good] + [HOSTILE_RECORDS[n] for n in names] + [good2]
    key, envs = device.batch_of(makers)
    before = rows(reg)
    receipts = signer(http, device).post_batch([key], envs)
    got = [r.result for r in receipts]
    assert got == [ACCEPTED] + [REJECTED] * len(names) + [ACCEPTED], list(zip(["good"] + names + ["good"], got))
    assert all(r.reason for r in receipts[1:-1])
    after = rows(reg)
    assert after["records"] == before["records"] + 2
    # the export stays valid JSON: nothing stored that JSON cannot say
    r = http.get("/v1/admin/records", headers=reg.operator())
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [(d["v"], d["category"], d["fields"]["given_name"]) for d in lines] == [(1, None, "SOPHEAP"),
                                                                                  (2, "veteran", "SOPHEAP")]
    # sent again, the batch gets the same answers: the device's outbox moves on
    receipts = signer(http, device).post_batch([key], envs)
    assert [r.result for r in receipts] == [DUPLICATE] + [REJECTED] * len(names) + [DUPLICATE]


# ---- 3. one error shape, an OpenAPI document a fuzzer can use ------------------------
def test_every_error_has_one_shape(reg, http) -> None:
    refused(http.get("/v1/nothing-here"), 404)
    refused(http.put("/v1/health"), 405)
    op = {**reg.operator(), "content-type": "application/json"}
    point = signer(http, HostDevice(reg, "pay-01", role="payout"))
    for body in (b"{not json", b"[]", b'{"credential": 5}'):  # signed, and still not a verify request
        refused(http.post("/v1/verify", content=body, headers=point.signed_headers("POST", "/v1/verify", body)), 422)
    refused(http.post("/v1/verify", content=b"{}", headers=op), 403)  # the operator verifies no PIN
    refused(http.post("/v1/admin/devices", content=b'{"device_id": 5}', headers=op), 422)
    before = rows(reg)
    for bad_id in ("%00", "a%00b", "x" * 40, "%C3%A9"):  # NUL: PostgreSQL would refuse it
        refused(http.post(f"/v1/admin/devices/{bad_id}/revoke", headers=op), 422)
        refused(http.post(f"/v1/admin/devices/{bad_id}/batches", content=b"EBT1", headers=op), 422)
    refused(http.post("/v1/admin/devices/..%2F..%2Fetc/revoke", headers=op), 404)  # no such route
    refused(http.post("/v1/admin/devices/nobody/revoke", headers=op), 404)
    refused(http.get("/v1/admin/events?limit=%00", headers=op), 422)
    assert rows(reg) == before


def test_the_openapi_document_describes_every_body(http) -> None:
    doc = http.get("/openapi.json").json()
    batch = doc["paths"]["/v1/batches"]["post"]
    assert batch["requestBody"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert {p["name"] for p in batch["parameters"]} >= {"X-Enrol-Device", "X-Enrol-Signature"}
    push = doc["paths"]["/v1/admin/devices/{device_id}/batches"]["post"]
    assert "application/octet-stream" in push["requestBody"]["content"]
    export = doc["paths"]["/v1/admin/records"]["get"]["responses"]["200"]["content"]
    assert list(export) == ["application/x-ndjson"]
    assert batch["responses"]["401"]["content"]["application/json"]["schema"]["required"] == ["error"]
    # every error response it describes has the shape the app answers with
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and '"detail"' not in text
    assert doc["paths"]["/v1/verify"]["post"]["responses"]["422"]["content"]["application/json"]["schema"][
        "required"] == ["error"]
    assert "401" in doc["paths"]["/v1/admin/events"]["get"]["responses"]


# ---- 4. bodies bounded before they are read ---------------------------------------------
def test_a_huge_body_without_a_token_is_refused_before_it_is_read(reg, http) -> None:
    sent = {"bytes": 0}

    def hundred_mb():
        for _ in range(100 * 16):
            sent["bytes"] += 65536
            yield b" " * 65536

    refused(http.post("/v1/admin/devices", content=hundred_mb(), headers={"content-type": "application/json"}), 401)
    op = {**reg.operator(), "content-type": "application/json"}
    r = http.post("/v1/admin/devices", content=b"{" + b" " * 200_000 + b"}", headers=op)
    refused(r, 413)
    # chunked (no Content-Length), with the token: counted while it streams, stopped at the limit
    sent["bytes"] = 0
    refused(http.post("/v1/admin/devices", content=hundred_mb(), headers=op), 413)
    # a payout point's route: 16 KB at most, counted while it streams, before any signature is checked
    sent["bytes"] = 0
    refused(http.post("/v1/verify", content=hundred_mb(), headers={"content-type": "application/json"}), 413)


def _raw_request(url: str, ca: Path, head: bytes, body_part: bytes, wait_s: float) -> bytes:
    host, port = url.split("//")[1].split(":")
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((host, int(port)), timeout=wait_s) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(head + body_part)
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
        return out


def test_over_tls_a_declared_huge_or_half_sent_body_is_answered_not_waited_for(reg) -> None:
    ca = reg.keys_dir / "ca.pem"
    with serving(reg) as url:
        head = (b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000000\r\n\r\n")
        started = time.monotonic()
        out = _raw_request(url, ca, head, b"{", 20)
        assert out.startswith(b"HTTP/1.1 413") or out.startswith(b"HTTP/1.1 401"), out[:80]
        assert time.monotonic() - started < 10
        # a signed-route body that stops half-way: the registry gives up on it after its read timeout
        head = b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        started = time.monotonic()
        out = _raw_request(url, ca, head, b"EBT1", 30)
        assert out.startswith(b"HTTP/1.1 408"), out[:80]
        assert b'"error"' in out and time.monotonic() - started < 25


# ---- 5. concurrency: copies and duplicates answer, never 500 ------------------------
def test_parallel_copies_of_one_signed_request_store_once(reg, device) -> None:
    key, envs = device.batch(3)
    body = protocol.encode_batch([key], envs)
    with serving(reg) as url:
        c = RegistryClient(url, device.device_id, device.secret, str(reg.keys_dir / "ca.pem"))
        h = c.signed_headers("POST", "/v1/batches", body)
        answers: list[httpx.Response] = []

        def send() -> None:
            answers.append(c.http.post("/v1/batches", content=body, headers=h))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # and concurrent, differently signed batches of the same records
        answers2: list[httpx.Response] = []

        def send_again() -> None:
            answers2.append(c.http.post("/v1/batches", content=body,
                                        headers=c.signed_headers("POST", "/v1/batches", body)))

        threads = [threading.Thread(target=send_again) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        c.close()
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [401] * 7, [r.text for r in answers]
    assert all("replay" in r.json()["error"] for r in answers if r.status_code == 401)
    assert [r.status_code for r in answers2] == [200] * 8, [r.text for r in answers2]
    for r in answers2:
        assert [x[1] for x in cbor2.loads(r.content)["results"]] == [DUPLICATE] * 3
    assert rows(reg)["records"] == 3


# ---- 6. secrets at rest, the credential's issuer -----------------------------------------
def test_device_secrets_are_stored_sealed_and_bound_to_their_device(reg, device) -> None:
    with Session(reg.engine) as s:
        stored = bytes(s.get(Device, device.device_id).hmac_secret)
    assert device.secret not in stored and len(stored) == 62
    assert reg.keys.open_device_secret(device.device_id, stored) == device.secret
    with pytest.raises(KeysError):
        reg.keys.open_device_secret("dev-other", stored)  # copied onto another device's row


def test_a_credential_issued_for_another_registry_is_invalid(reg, http, device) -> None:
    from firmware.crypto import seal

    key, envs = device.batch(1)
    signer(http, device).post_batch([key], envs)
    rid = seal.parse_record(envs[0]).record_id
    uid = bytes.fromhex("04a1b2c3d4e5f6")
    cred = device.credential(rid, uid, "another-registry")
    point = signer(http, HostDevice(reg, "pay-01", role="payout"))
    assert point.verify(cred, uid, bytes(16)) == {"result": "invalid", "reason": "issued for another registry"}


def test_credentials_of_garbage_cbor_are_invalid_not_500(reg, http) -> None:
    point = signer(http, HostDevice(reg, "pay-01", role="payout"))
    for cose in (b"\x9f" * 1000, b"\xd2\x84" + b"\xa1\x80\x00" * 3, os.urandom(300), b"\xbf\x80\x01\xff"):
        assert point.verify(cose, bytes.fromhex("04a1b2c3d4e5f6"), bytes(16))["result"] == "invalid"


# ---- 7. logs: never a name, a birth date or a phone number -------------------------------
def test_the_server_log_holds_no_personal_data(reg, device, monkeypatch, tmp_path) -> None:
    from registrykit import RegistryProcess

    monkeypatch.setenv("ENROL_REGISTRY_LOG_LEVEL", "info")
    person = {"given_name": "ZYGMUNTA", "family_name": "QWERTYSON", "birth_date": "1931-07-19",
              "phone": "85512345678"}
    good = lambda rid, b: cbor2.dumps(_doc(b, **person))  # noqa: E731
    bad = lambda rid, b: cbor2.dumps(_doc(b, **{**person, "given_name": "ZYGMUNTA\x00"}))  # noqa: E731
    db_url = str(reg.engine.url.render_as_string(hide_password=False))
    log_file = tmp_path / "server.log"
    with RegistryProcess(reg, db_url, log=log_file) as server:
        url = f"https://127.0.0.1:{server.port}"
        with RegistryClient(url, device.device_id, device.secret, str(reg.keys_dir / "ca.pem")) as c:
            key, envs = device.batch_of([good, bad, good])
            assert [r.result for r in c.post_batch([key], envs)] == [ACCEPTED, REJECTED, ACCEPTED]
            # the database fails under a batch: the error is logged, its parameters are not.  The
            # table comes back afterwards: the PostgreSQL server is shared by the test process
            with reg.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE records RENAME TO records_gone")
            try:
                key, envs = device.batch_of([good])
                body = protocol.encode_batch([key], envs)
                r = c.http.post("/v1/batches", content=body, headers=c.signed_headers("POST", "/v1/batches", body))
                assert r.status_code == 503 and r.json() == {"error": "database unavailable"}, r.text
            finally:
                with reg.engine.begin() as conn:
                    conn.exec_driver_sql("ALTER TABLE records_gone RENAME TO records")
    log = log_file.read_text(errors="replace")
    assert "POST /v1/batches" in log and "database unavailable" in log  # the whole log is really there
    for value in person.values():
        assert value not in log, value
    assert "1931" not in log and "ZYGMUNTA" not in log.upper()


def test_half_sent_headers_lose_their_connection(tmp_path) -> None:
    """The server as `enrolctl registry serve` runs it: a request whose headers never end is closed
    after serve.HEADER_TIMEOUT_S, at the first request and after an answer on a kept-alive
    connection; complete requests on one connection still work."""
    from registrykit import RegistryProcess

    from host_tools.registry.serve import HEADER_TIMEOUT_S

    reg = make_registry(tmp_path)
    ca = reg.keys_dir / "ca.pem"
    with RegistryProcess(reg, f"sqlite:///{tmp_path / 'registry.db'}") as server:
        url = f"https://127.0.0.1:{server.port}"
        started = time.monotonic()
        out = _raw_request(url, ca, b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nX-Enrol", b"", 3 * HEADER_TIMEOUT_S)
        waited = time.monotonic() - started
        assert out == b"" and HEADER_TIMEOUT_S - 1 < waited < 2 * HEADER_TIMEOUT_S, (out, waited)
        started = time.monotonic()
        out = _raw_request(url, ca, b"GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/ti", b"", 3 * HEADER_TIMEOUT_S)
        assert out.startswith(b"HTTP/1.1 200") and out.count(b"HTTP/1.1") == 1, out
        assert time.monotonic() - started < 2 * HEADER_TIMEOUT_S
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca))) as c:
            assert [c.get(url + "/v1/time").status_code for _ in range(3)] == [200, 200, 200]


# ---- 5. a burst of wrong PINs ----------------------------------------------------------
def test_a_parallel_burst_of_wrong_pins_locks_after_three_on_either_database(reg, device, tmp_path) -> None:
    """20 wrong PINs at once from 20 connections: exactly three are counted as wrong (the third
    locks the card), the rest answer locked, and the right PIN then answers locked too.  Before the
    counter was one UPDATE, SQLite evaluated all 20 and left the count at 2."""
    import base64
    import os
    import ssl
    from concurrent.futures import ThreadPoolExecutor

    from registrykit import RegistryProcess

    from firmware.crypto import seal
    from firmware.formats import card_payload
    from host_tools.registry import pins
    from host_tools.registry.ingest import credential_id

    url = reg.engine.url.render_as_string(hide_password=False)
    with RegistryProcess(reg, url) as server:
        base = f"https://127.0.0.1:{server.port}"
        ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
        key, envs = device.batch(1, pin=b"2580")
        with httpx.Client(base_url=base, verify=ctx) as c:
            cl = RegistryClient(base, device.device_id, device.secret)
            cl.http = c
            cl.post_batch([key], envs)
            rid = seal.parse_record(envs[0]).record_id
            uid = bytes.fromhex("04a1b2c3d4e5f6")
            cl.post_cards([card_payload(1, 1, uid, credential_id(rid))])  # the card's issue reached the registry
        cose = base64.b64encode(device.credential(rid, uid, reg.keys.registry_id)).decode()
        account = pins.credential_account(credential_id(rid))

        point = HostDevice(reg, "pay-01", role="payout")

        def ask(pin: bytes) -> dict:
            block = pins.encipher(pins.point_key(reg.keys.zone_key, "pay-01"), pin, account, os.urandom(8))
            with httpx.Client(base_url=base, verify=ctx, timeout=60) as c:
                cl = RegistryClient(base, point.device_id, point.secret)
                cl.http = c
                return cl.verify(base64.b64decode(cose), uid, block)

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(ask, [b"%04d" % (1000 + i) for i in range(20)]))
        results = sorted(a["result"] for a in answers)
        assert results.count("wrong") == 2 and results.count("locked") == 18, results
        assert sorted(a.get("tries_left") for a in answers if "tries_left" in a) == [0, 1, 2]
        assert ask(b"2580")["result"] == "locked"
    with Session(reg.engine) as s:
        assert s.scalars(select(Record.pin_failures)).one() == 3
        assert len(s.scalars(select(Event).where(Event.kind == "pin-locked")).all()) == 1
