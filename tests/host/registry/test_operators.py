"""No single insider (issue 29), on SQLite and PostgreSQL: named operators who sign in, roles
checked route by route, two operators for every act that creates money, and what an insider
alone tries (a rogue device, records pushed over USB, approving their own act) paying nothing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import struct
import time
import urllib.parse

import pytest
from registrykit import HostDevice, Registry, http, reg  # noqa: F401 - fixtures
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from test_payouts import PENSION, Person, add_programme, client, pay

from host_tools.registry.ingest import credential_id
from host_tools.registry.models import Operator, OperatorToken, Proposal

PASSWORD = "correct horse battery"


def bootstrap(http, reg: Registry, name: str = "ada") -> None:
    r = http.post("/v1/admin/bootstrap", json={"name": name, "password": PASSWORD},
                  headers={"Authorization": "Bearer " + reg.keys.operator_token})
    assert r.status_code == 201, r.text


def sign_in(http, name: str, password: str = PASSWORD, code: str | None = None) -> dict[str, str]:
    r = http.post("/v1/auth/login", json={"name": name, "password": password, "code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def add(http, admin: dict[str, str], name: str, roles: list[str], second_factor: bool = False,
        checker: dict[str, str] | None = None) -> dict:
    """An operator added (an account that can act on money: proposed by `admin`, approved by
    `checker`, a second administrator)."""
    r = http.post("/v1/admin/operators", json={"name": name, "password": "first " + PASSWORD, "roles": roles,
                                               "second_factor": second_factor}, headers=admin)
    assert r.status_code == (202 if checker else 201), r.text
    if checker:
        a = http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "met them"},
                      headers=checker)
        assert a.status_code == 200, a.text
    return r.json()


def first_day(http, name: str, code: str | None = None) -> dict[str, str]:
    h = sign_in(http, name, "first " + PASSWORD, code)
    assert http.get("/v1/admin/proposals", headers=h).status_code == 403  # their own password first
    r = http.post("/v1/auth/password", json={"current": "first " + PASSWORD, "new": PASSWORD}, headers=h)
    assert r.status_code == 200, r.text
    return h


def test_the_shared_token_makes_the_first_administrator_and_then_nothing(reg, http) -> None:
    shared = {"Authorization": "Bearer " + reg.keys.operator_token}
    assert http.get("/v1/admin/devices", headers=shared).status_code == 401  # not an operator's token
    wrong = http.post("/v1/admin/bootstrap", json={"name": "eve", "password": PASSWORD},
                      headers={"Authorization": "Bearer " + "x" * 43})
    assert wrong.status_code == 401
    bootstrap(http, reg)
    again = http.post("/v1/admin/bootstrap", json={"name": "eve", "password": PASSWORD}, headers=shared)
    assert again.status_code == 409 and "retired" in again.json()["error"]
    for method, path in (("GET", "/v1/admin/devices"), ("GET", "/v1/admin/operators"), ("GET", "/v1/admin/events")):
        assert http.request(method, path, headers=shared).status_code == 401
    with Session(reg.engine) as s:
        assert [o.name for o in s.scalars(select(Operator))] == ["ada"]
    admin = sign_in(http, "ada")
    assert http.get("/v1/auth/me", headers=admin).json() == {"name": "ada", "roles": ["administrator"]}


def test_one_administrator_alone_cannot_make_the_two_operators_dual_control_needs(reg, http) -> None:
    bootstrap(http, reg)
    ada = sign_in(http, "ada")
    r = http.post("/v1/admin/operators", json={"name": "reg-a", "password": "first " + PASSWORD,
                                               "roles": ["registrar"]}, headers=ada)
    assert r.status_code == 409 and "second administrator" in r.json()["error"]
    add(http, ada, "bo", ["administrator"])
    bo = first_day(http, "bo")
    # from now on an account that can act on money takes two administrators
    r = http.post("/v1/admin/operators", json={"name": "reg-a", "password": "first " + PASSWORD,
                                               "roles": ["registrar"]}, headers=ada)
    assert r.status_code == 202 and r.json()["proposal"]
    assert http.post("/v1/auth/login", json={"name": "reg-a", "password": "first " + PASSWORD}).status_code == 401
    own = http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "x"}, headers=ada)
    assert own.status_code == 403
    [listed] = http.get("/v1/admin/proposals", headers=bo).json()
    assert listed["kind"] == "add-operator" and set(listed["payload"]) == {"name", "roles", "must_change"}
    assert http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "met her"},
                     headers=bo).status_code == 200
    first_day(http, "reg-a")
    # nor can one administrator take over such an account by setting its password
    r = http.post("/v1/admin/operators/reg-a/password", json={"password": "known to ada " + PASSWORD,
                                                               "reason": "forgot"}, headers=ada)
    assert r.status_code == 200 and r.json()["proposal"]
    assert http.post("/v1/auth/login", json={"name": "reg-a", "password": PASSWORD}).status_code == 200
    add(http, ada, "aud", ["auditor"])  # reads only: at once
    assert http.post("/v1/admin/operators/ada/disable", json={"reason": "self"}, headers=ada).status_code == 409


def test_sign_in_refusals_say_nothing_about_which_names_exist_and_lock(reg, http) -> None:
    bootstrap(http, reg)
    answers = []
    for name in ("ada", "nobody"):
        for _ in range(5):
            r = http.post("/v1/auth/login", json={"name": name, "password": "wrong password!"})
            answers.append((r.status_code, r.json()["error"]))
        locked = http.post("/v1/auth/login", json={"name": name, "password": PASSWORD})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0, locked.text
        answers.append((locked.status_code, locked.json()["error"]))
    assert answers[:6] == answers[6:]  # a name that exists and one that does not: the same answers
    assert len({a for a in answers if a[0] == 401}) == 1


def test_tokens_expire_are_revoked_and_die_with_a_disabled_operator(reg, http) -> None:
    bootstrap(http, reg)
    ada = sign_in(http, "ada")
    add(http, ada, "bo", ["administrator"])
    bo = first_day(http, "bo")
    add(http, ada, "aud", ["auditor"])
    aud = first_day(http, "aud")
    assert http.get("/v1/admin/events", headers=aud).status_code == 200
    other = sign_in(http, "aud")
    assert http.post("/v1/auth/logout", headers=other).status_code == 200
    assert http.get("/v1/admin/events", headers=other).status_code == 401
    with Session(reg.engine) as s:  # a day passes
        s.execute(update(OperatorToken).values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        s.commit()
    r = http.get("/v1/admin/events", headers=aud)
    assert r.status_code == 401 and "expired" in r.json()["error"]
    aud = sign_in(http, "aud")
    bo = sign_in(http, "bo")
    assert http.post("/v1/admin/operators/aud/disable", json={"reason": "left"}, headers=bo).status_code == 200
    r = http.get("/v1/admin/events", headers=aud)
    assert r.status_code == 401 and "disabled" in r.json()["error"]
    assert http.post("/v1/auth/login", json={"name": "aud", "password": PASSWORD}).status_code == 401


def _totp(secret_b32: str, at: float) -> str:
    """RFC 6238 (HMAC-SHA1, 30 s, 6 digits), written from the RFC: the registry's pyotp is not the oracle."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10**6)


def test_a_second_factor_is_asked_at_every_sign_in(reg, http) -> None:
    bootstrap(http, reg)
    ada = sign_in(http, "ada")
    add(http, ada, "bo", ["administrator"])
    bo = first_day(http, "bo")
    uri = add(http, ada, "rev", ["reviewer"], second_factor=True, checker=bo)["totp_uri"]
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    no_code = http.post("/v1/auth/login", json={"name": "rev", "password": "first " + PASSWORD})
    assert no_code.status_code == 401
    wrong = http.post("/v1/auth/login", json={"name": "rev", "password": "first " + PASSWORD,
                                              "code": "%06d" % ((int(_totp(secret, time.time())) + 1) % 10**6)})
    assert wrong.status_code == 401
    first_day(http, "rev", code=_totp(secret, time.time()))
    with Session(reg.engine) as s:
        assert secret.encode() not in bytes(s.scalars(select(Operator.totp_secret).where(Operator.name == "rev")).one())


# every operator route, and the roles it accepts (the table, written here, not read from the app)
ADMIN = {"administrator"}
REGISTRAR, REVIEWER, AUDITOR = {"registrar"}, {"reviewer"}, {"auditor"}
ANY = ADMIN | REGISTRAR | REVIEWER | AUDITOR
ROUTES = [
    ("GET", "/v1/admin/operators", ADMIN | AUDITOR), ("POST", "/v1/admin/operators", ADMIN),
    ("POST", "/v1/admin/operators/{name}/disable", ADMIN), ("POST", "/v1/admin/operators/{name}/password", ADMIN),
    ("GET", "/v1/admin/devices", REGISTRAR | AUDITOR), ("POST", "/v1/admin/devices", REGISTRAR),
    ("POST", "/v1/admin/devices/{device_id}/revoke", REGISTRAR),
    ("POST", "/v1/admin/devices/{device_id}/batches", REGISTRAR),
    ("GET", "/v1/admin/programmes", REGISTRAR | AUDITOR), ("POST", "/v1/admin/programmes", REGISTRAR),
    ("GET", "/v1/admin/payments", REGISTRAR | AUDITOR),
    ("GET", "/v1/admin/reviews", REVIEWER | AUDITOR), ("POST", "/v1/admin/reviews/{review_id}/decide", REVIEWER),
    ("GET", "/v1/admin/persons/{person_id}", REVIEWER | AUDITOR),
    ("POST", "/v1/admin/persons/{person_id}/merge", REVIEWER),
    ("POST", "/v1/admin/credentials/{credential_id}/revoke", REVIEWER | REGISTRAR),
    ("POST", "/v1/admin/credentials/{credential_id}/unlock", REVIEWER),
    ("POST", "/v1/admin/credentials/{credential_id}/restore", REVIEWER),
    ("GET", "/v1/admin/conflicts", REVIEWER | AUDITOR), ("GET", "/v1/admin/records", AUDITOR),
    ("GET", "/v1/admin/proposals", ANY), ("POST", "/v1/admin/proposals/{proposal_id}/approve", ANY),
    ("POST", "/v1/admin/proposals/{proposal_id}/refuse", ANY),
    ("GET", "/v1/admin/events", ADMIN | AUDITOR), ("GET", "/v1/admin/events/export", ADMIN | AUDITOR),
    ("GET", "/v1/auth/me", ANY), ("POST", "/v1/auth/password", ANY), ("POST", "/v1/auth/logout", ANY),
]
FILL = {"{name}": "nobody", "{device_id}": "nodev", "{review_id}": "999", "{person_id}": "999",
        "{credential_id}": "AAAA-BBBB", "{proposal_id}": "999"}


def test_every_operator_route_refuses_a_role_it_does_not_name(reg, http) -> None:
    from host_tools.registry.limits import operator_route

    doc = http.get("/openapi.json").json()["paths"]
    served = {(m.upper(), path) for path, ops in doc.items() for m in ops if operator_route(path)}
    served.discard(("POST", "/v1/admin/bootstrap"))  # the shared token's, once
    assert served == {(m, p) for m, p, _ in ROUTES}, served ^ {(m, p) for m, p, _ in ROUTES}
    as_role = {role: reg.operator(role, (role,)) for role in ANY}
    for method, path, allowed in ROUTES:
        url = path
        for k, v in FILL.items():
            url = url.replace(k, v)
        if "payments" in url:
            url += "?programme=x&period=2026-01"
        for role, headers in as_role.items():
            if path == "/v1/auth/logout":
                continue  # it would end the session the next routes use; its role check is Anyone's
            r = http.request(method, url, headers=headers, json={})
            if role in allowed:
                assert r.status_code != 403 or "role" not in r.json()["error"], (role, method, path, r.text)
                assert r.status_code != 401, (role, method, path, r.text)
            else:
                assert r.status_code == 403 and "role" in r.json()["error"], (role, method, path, r.status_code)
    r = http.post("/v1/auth/logout", headers=as_role["auditor"])
    assert r.status_code == 200


def _operators(reg: Registry) -> tuple[dict[str, str], dict[str, str]]:
    return reg.operator("maker", ("registrar", "reviewer")), reg.operator("checker", ("registrar", "reviewer"))


def test_a_rogue_device_pays_no_one_until_a_second_registrar_approves_it(reg, http) -> None:
    """The insider's path of the issue: register a device with a key of one's own, upload a record
    with a PIN one chose, sign its card: a genuine payout point pays nothing for it."""
    maker, checker = _operators(reg)
    add_programme(http, reg)
    point = HostDevice(reg, "pay-01", role="payout")
    rogue = HostDevice(reg, "rogue-01", register=False)
    r = http.post("/v1/admin/devices", json={"device_id": rogue.device_id, "hmac_secret": rogue.secret.hex(),
                                             "ed25519_pub": rogue.pub.hex()}, headers=maker)
    assert r.status_code == 201 and r.json()["active"] is False, r.text
    proposal = r.json()["proposal"]
    ghost = Person(reg, http, rogue, fields=None)  # its sync is heard: nothing is lost on the device
    assert rogue.device_id not in [k["device_id"] for k in http.get("/v1/trust").json()["keys"]]
    answer = pay(http, point, ghost.claim(b"2580"))
    assert answer["result"] == "invalid", answer
    own = http.post(f"/v1/admin/proposals/{proposal}/approve", json={"reason": "mine"}, headers=maker)
    assert own.status_code == 403 and "cannot approve" in own.json()["error"]
    assert pay(http, point, ghost.claim(b"2580"))["result"] == "invalid"
    ok = http.post(f"/v1/admin/proposals/{proposal}/approve", json={"reason": "device in hand"}, headers=checker)
    assert ok.status_code == 200, ok.text
    assert pay(http, point, ghost.claim(b"2580"))["result"] == "paid"  # the gate was the approval


def test_a_payout_point_claims_nothing_until_approved(reg, http) -> None:
    maker, checker = _operators(reg)
    add_programme(http, reg)
    enrol = HostDevice(reg)
    person = Person(reg, http, enrol)
    point = HostDevice(reg, "pay-02", role="payout", register=False)
    r = http.post("/v1/admin/devices", json={"device_id": point.device_id, "hmac_secret": point.secret.hex(),
                                             "ed25519_pub": point.pub.hex(), "role": "payout"}, headers=maker)
    body = person.claim(b"2580", point="pay-02")
    c = client(http, point)
    refused = http.post("/v1/payouts", content=body, headers=c.signed_headers("POST", "/v1/payouts", body))
    assert refused.status_code == 403 and "second registrar" in refused.json()["error"]
    http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "ok"}, headers=checker)
    assert pay(http, point, person.claim(b"2580", point="pay-02"))["result"] == "paid"


def test_records_pushed_over_usb_pay_nothing_until_a_second_registrar_approves(reg, http) -> None:
    """The issue's second path: records pushed "on the operator's authority", with no device secret."""
    from host_tools.registry import protocol

    maker, checker = _operators(reg)
    add_programme(http, reg)
    point = HostDevice(reg, "pay-01", role="payout")
    device = HostDevice(reg)
    key, envs = device.batch(1)
    r = http.post(f"/v1/admin/devices/{device.device_id}/batches", content=protocol.encode_batch([key], envs),
                  headers=maker)
    assert r.status_code == 200 and r.json()["results"][0]["result"] == "accepted", r.text
    proposal = r.json()["proposal"]
    from firmware.crypto import seal
    from firmware.formats import card_payload

    from test_payouts import UID

    rid = seal.parse_record(envs[0]).record_id
    client(http, device).post_cards([card_payload(1, 1, UID, device.credential_id(rid))])
    ghost = Person.__new__(Person)  # the pushed record's card, as its device wrote it
    ghost.rid, ghost.card = rid, device.credential(rid, UID, reg.keys.registry_id)
    from host_tools.registry import pins

    ghost.account, ghost.zone = pins.credential_account(device.credential_id(rid)), reg.keys.zone_key
    held = pay(http, point, ghost.claim(b"2580"))
    assert held["result"] == "held" and "second operator" in held["reason"], held
    assert http.post(f"/v1/admin/proposals/{proposal}/approve", json={"reason": "x"},
                     headers=maker).status_code == 403
    assert http.post(f"/v1/admin/proposals/{proposal}/approve", json={"reason": "file checked"},
                     headers=checker).status_code == 200
    assert pay(http, point, ghost.claim(b"2580"))["result"] == "paid"


def test_a_proposal_expires_and_a_decided_one_cannot_be_decided_again(reg, http) -> None:
    maker, checker = _operators(reg)
    p = http.post("/v1/admin/programmes", json={**PENSION, "reason": "budget"}, headers=maker).json()["proposal"]
    with Session(reg.engine) as s:
        s.execute(update(Proposal).values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        s.commit()
    r = http.post(f"/v1/admin/proposals/{p}/approve", json={"reason": "late"}, headers=checker)
    assert r.status_code == 409 and "expired" in r.json()["error"]
    assert http.get("/v1/admin/programmes", headers=checker).json() == []
    assert [x["id"] for x in http.get("/v1/admin/proposals", params={"status": "expired"}, headers=checker).json()] \
        == [p]
    q = http.post("/v1/admin/programmes", json={**PENSION, "reason": "budget"}, headers=maker).json()["proposal"]
    r = http.post(f"/v1/admin/proposals/{q}/refuse", json={"reason": "no budget letter"}, headers=checker)
    assert r.status_code == 200
    for who in (checker, maker):
        r = http.post(f"/v1/admin/proposals/{q}/approve", json={"reason": "x"}, headers=who)
        assert r.status_code in (403, 409), r.text
    r = http.post(f"/v1/admin/proposals/{q}/approve", json={"reason": "x"}, headers=checker)
    assert r.status_code == 409 and "refused already by checker" in r.json()["error"]
    assert http.post("/v1/admin/proposals/999/approve", json={"reason": "x"}, headers=checker).status_code == 404
    assert http.post(f"/v1/admin/proposals/{q}/approve", json={"reason": "\x00"}, headers=checker).status_code == 422
    assert http.get("/v1/admin/programmes", headers=checker).json() == []
    # an operator disabled (left, or found out): what they proposed is not carried out
    q = http.post("/v1/admin/programmes", json={**PENSION, "reason": "budget"}, headers=maker).json()["proposal"]
    with Session(reg.engine) as s:
        s.execute(update(Operator).where(Operator.name == "maker").values(disabled=True))
        s.commit()
    r = http.post(f"/v1/admin/proposals/{q}/approve", json={"reason": "x"}, headers=checker)
    assert r.status_code == 409 and "disabled" in r.json()["error"]
    assert http.get("/v1/admin/programmes", headers=checker).json() == []


def test_a_restore_and_an_amount_change_need_two_reviewers_or_registrars(reg, http) -> None:
    maker, checker = _operators(reg)
    add_programme(http, reg)
    point = HostDevice(reg, "pay-01", role="payout")
    person = Person(reg, http, HostDevice(reg))
    cred = credential_id(person.rid)
    assert http.post(f"/v1/admin/credentials/{cred}/revoke", params={"reason": "reported lost"},
                     headers=maker).status_code == 200
    r = http.post(f"/v1/admin/credentials/{cred}/restore", json={"reason": "found"}, headers=maker)
    assert r.status_code == 202
    assert pay(http, point, person.claim(b"2580"))["result"] == "revoked"
    http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "card seen"}, headers=checker)
    change = http.post("/v1/admin/programmes", json={**PENSION, "amounts": {"veteran": 900000}, "reason": "raise"},
                       headers=maker)
    assert change.status_code == 202 and change.json()["status"] == "proposed"
    assert pay(http, point, person.claim(b"2580"))["amount"] == 150000  # the old amount until approved


def test_one_reviewer_alone_neither_releases_nor_merges_a_held_person(reg, http) -> None:
    from population import distinct

    maker, checker = _operators(reg)
    add_programme(http, reg)
    point = HostDevice(reg, "pay-01", role="payout")
    a, b = HostDevice(reg, "enrol-01"), HostDevice(reg, "enrol-02")
    twin = distinct()
    first = Person(reg, http, a, fields=twin)
    second = Person(reg, http, b, fields=dict(twin, given_name=twin["given_name"][:-1] + "A"), pin=b"1357")
    [review] = http.get("/v1/admin/reviews", headers=maker).json()
    r = http.post(f"/v1/admin/reviews/{review['id']}/decide", json={"decision": "different", "reason": "twins"},
                  headers=maker)
    assert r.status_code == 202
    assert pay(http, point, second.claim(b"1357"))["result"] == "held"  # proposed is not decided
    merge = http.post(f"/v1/admin/persons/{review['person']['id']}/merge",
                      json={"into": review["other"]["id"], "reason": "one man"}, headers=maker)
    assert merge.status_code == 202
    assert pay(http, point, first.claim(b"2580"))["result"] == "paid"
    assert http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "ok"},
                     headers=maker).status_code == 403
    assert http.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "two ID cards seen"},
                     headers=checker).status_code == 200
    assert pay(http, point, second.claim(b"1357"))["result"] == "paid"
    # the merge proposed meanwhile would now make one of two people who were both paid: its
    # approval is refused by the state (nothing changes), and it is refused with a reason
    late = http.post(f"/v1/admin/proposals/{merge.json()['proposal']}/refuse", json={"reason": "they are twins"},
                     headers=checker)
    assert late.status_code == 200


def test_migration_0009_keeps_devices_active_and_chains_the_old_events(tmp_path) -> None:
    """A registry of revision 0008 (one shared token, events unchained): upgraded, its devices are
    still active (they were registered under the old rules), its old events are the chain's first,
    in the order they were written, and the audit finds the chain whole."""
    from alembic import command
    from sqlalchemy import text as sql

    from host_tools.registry.audit import audit
    from host_tools.registry.db import alembic_config, make_engine, migrate
    from host_tools.registry.events import export_rows
    from host_tools.registry.models import Device

    tmp_path.chmod(0o700)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        conn.execute(sql("INSERT INTO devices (device_id, hmac_secret, ed25519_pub, revoked, registered_at, role) "
                         "VALUES ('dev-1', x'00', x'00', 0, '2026-01-01', 'enrolment')"))
        for n, kind in enumerate(("device-added", "conflict", "pin-unlocked")):
            conn.execute(sql("INSERT INTO events (at, kind, device_id, detail) VALUES (:at, :k, 'dev-1', :d)"),
                         {"at": f"2026-01-0{n + 1} 10:00:00", "k": kind, "d": f"old event {n}"})
    migrate(engine)
    with Session(engine) as s:
        assert s.get(Device, "dev-1").active is True
        rows = list(export_rows(s))
    assert [(r["seq"], r["kind"]) for r in rows] == [(1, "device-added"), (2, "conflict"), (3, "pin-unlocked")]
    breaches, counts = audit(engine)
    assert breaches == [] and counts["events"] == 3
    engine.dispose()
