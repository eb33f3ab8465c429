"""The trail no one can quietly edit (issue 29): every operator act and payment is an event with
the operator's name, role and reason, hash-chained; `registry audit` and an offline check of the
export find an edited, deleted, moved or smuggled-in event, on SQLite and PostgreSQL.  The chain
is recomputed here from its written definition (events.py's docstring), not with events.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import enrolctl
from registrykit import HostDevice, Registry, http, reg  # noqa: F401 - fixtures
from sqlalchemy import text
from test_payouts import Person, add_programme, pay

from host_tools.registry.audit import audit


def _chain_of(lines: list[dict]) -> list[str]:
    """What is wrong with an exported chain, by the definition: hash(n) = SHA-256(hash(n-1) ||
    canonical JSON of the event's fields), hash(0) = 32 zero bytes, seq 1, 2, 3 ..."""
    wrong, prev = [], bytes(32)
    for n, e in enumerate(lines, 1):
        fields = {k: e[k] for k in ("seq", "at", "kind", "device_id", "operator", "role", "reason", "detail")}
        canon = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if e["seq"] != n or e["prev_hash"] != prev.hex() or hashlib.sha256(prev + canon).hexdigest() != e["hash"]:
            wrong.append(f"event {n}")
        prev = bytes.fromhex(e["hash"])
    return wrong


def _trail(reg: Registry, http) -> list[dict]:
    add_programme(http, reg)  # proposed by op-a, approved by op-b
    point = HostDevice(reg, "pay-01", role="payout")
    person = Person(reg, http, HostDevice(reg))
    assert pay(http, point, person.claim(b"2580"))["result"] == "paid"
    r = http.get("/v1/admin/events/export", headers=reg.operator("aud", ("auditor",)))
    assert r.status_code == 200
    return [json.loads(line) for line in r.text.splitlines()]


def _breaches(reg: Registry) -> list[str]:
    return [b.detail for b in audit(reg.engine, reg.keys.pin_key)[0] if b.check == "event-chain"]


def test_operator_acts_and_payments_are_chained_events_with_who_and_why(reg, http) -> None:
    lines = _trail(reg, http)
    assert _chain_of(lines) == [] and len(lines) >= 3
    acts = [(e["kind"], e["operator"], e["role"], e["reason"]) for e in lines if e["operator"]]
    assert ("proposed", "op-a", "registrar", "a new programme") in acts
    assert ("approved", "op-b", "registrar", "checked") in acts
    paid = [e for e in lines if e["kind"] == "paid"]
    assert len(paid) == 1 and "150000 riel" in paid[0]["detail"] and paid[0]["device_id"] == "pay-01"
    assert "SOPHEA" not in json.dumps(lines)  # no name in the trail: a person is a number there
    assert _breaches(reg) == []


def _sql(reg: Registry, statement: str) -> None:
    with reg.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_edited_event_is_found(reg, http) -> None:
    _trail(reg, http)
    _sql(reg, "UPDATE events SET detail = 'receipt X: 1 riel' WHERE kind = 'paid'")
    assert any("edited" in b for b in _breaches(reg)), _breaches(reg)


def test_a_deleted_event_is_found(reg, http) -> None:
    _trail(reg, http)
    _sql(reg, "DELETE FROM events WHERE kind = 'approved'")
    assert any("deleted" in b or "does not follow" in b for b in _breaches(reg)), _breaches(reg)


def test_moved_events_are_found(reg, http) -> None:
    _trail(reg, http)
    _sql(reg, "UPDATE events SET seq = -seq WHERE seq IN (1, 2)")
    _sql(reg, "UPDATE events SET seq = 3 + seq WHERE seq IN (-1, -2)")  # 1 -> 2, 2 -> 1
    assert _breaches(reg), "two events swapped went unnoticed"


def test_an_event_written_past_the_registry_is_found(reg, http) -> None:
    _trail(reg, http)
    _sql(reg, "INSERT INTO events (at, kind, device_id, detail) VALUES (CURRENT_TIMESTAMP, 'paid', NULL, 'x')")
    assert any("outside the chain" in b for b in _breaches(reg)), _breaches(reg)


def test_an_export_is_checked_offline(reg, http, tmp_path: Path) -> None:
    lines = _trail(reg, http)
    good = tmp_path / "trail.jsonl"
    good.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines))
    r = enrolctl("registry", "events", "verify", str(good))
    assert r.returncode == 0 and f"{len(lines)} events, one unbroken chain" in r.stdout, r.stdout + r.stderr
    head = r.stdout.split("head ")[-1].strip()
    assert head == f"{len(lines)}:{lines[-1]['hash']}"
    edited = [dict(e) for e in lines]
    edited[1]["reason"] = "someone else's reason"
    bad = tmp_path / "edited.jsonl"
    bad.write_text("".join(json.dumps(e) + "\n" for e in edited))
    r = enrolctl("registry", "events", "verify", str(bad))
    assert r.returncode == 1 and "edited" in r.stderr and "not intact" in r.stderr, r.stderr
    cut = tmp_path / "cut.jsonl"  # the newest events cut off: a valid shorter chain, but not the head written down
    cut.write_text("".join(json.dumps(e) + "\n" for e in lines[:-1]))
    assert enrolctl("registry", "events", "verify", str(cut)).returncode == 0
    r = enrolctl("registry", "events", "verify", str(cut), "--head", head)
    assert r.returncode == 1 and "cut short" in r.stderr, r.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    r = enrolctl("registry", "events", "verify", str(garbage))
    assert r.returncode == 1 and "not a JSON line" in r.stderr and len(r.stderr.strip().splitlines()) == 1
