"""The registry's trail, hash-chained: each event holds the hash of the one before it.

An event's hash is SHA-256 over the previous event's hash and the event's canonical text:

    hash(n) = SHA-256( hash(n-1) || JSON({"seq", "at", "kind", "device_id", "operator", "role",
                                          "reason", "detail"}) )

with hash(0) = 32 zero bytes, JSON sorted by key, no spaces, UTF-8, `at` as UTC ISO 8601 with
microseconds.  `seq` counts 1, 2, 3 ... without gaps.  Deleting an event leaves a gap, editing one
breaks its hash, reordering breaks the links: `registry audit` (check_chain) finds all three, and
an export (`/v1/admin/events/export`, one JSON object per line) is checked offline the same way.
Cutting the tail leaves a valid shorter chain: the head `registry audit` prints (seq and hash) is
what an auditor writes down to find that later.

Every event is chained when its session flushes (a `before_flush` hook), under a lock that orders
appends: on PostgreSQL a transaction advisory lock (held to commit, so taken as late as possible),
on SQLite the database's one write lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .models import Event

GENESIS = bytes(32)
_LOCK_KEY = 0x0E7E_C4A1  # the advisory lock that orders appends (PostgreSQL)
CHAIN = True  # the bench turns it off to measure what chaining costs; nothing else does


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers (its fields as the export writes them)."""
    doc = {k: fields.get(k) for k in ("seq", "at", "kind", "device_id", "operator", "role", "reason", "detail")}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fields_of(e: Event) -> dict[str, Any]:
    return {"seq": e.seq, "at": _utc(e.at).isoformat(timespec="microseconds"), "kind": e.kind,
            "device_id": e.device_id, "operator": e.operator, "role": e.role, "reason": e.reason,
            "detail": e.detail}


def link(prev_hash: bytes, fields: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical(fields)).digest()


def head(s: Session) -> tuple[int, bytes]:
    """(seq, hash) of the newest chained event; (0, GENESIS) for none."""
    row = s.execute(select(Event.seq, Event.hash).where(Event.seq.is_not(None))
                    .order_by(Event.seq.desc()).limit(1)).first()
    return (int(row[0]), bytes(row[1])) if row else (0, GENESIS)


def _chain_new(s: Session, _ctx: Any, _instances: Any) -> None:
    new = [o for o in s.new if isinstance(o, Event) and o.seq is None]
    if not new or not CHAIN:
        return
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    seq, prev = head(s)
    for e in new:
        e.at = _utc(e.at or dt.datetime.now(dt.timezone.utc))
        seq += 1
        e.seq = seq
        e.prev_hash = prev
        e.hash = prev = link(prev, fields_of(e))


sa_event.listen(Session, "before_flush", _chain_new)


def chain_existing(s: Session) -> int:
    """Chain events written before the chain existed (migration 0009), in the order they were
    written; returns how many."""
    seq, prev = head(s)
    n = 0
    for e in s.scalars(select(Event).where(Event.seq.is_(None)).order_by(Event.id)):
        e.at = _utc(e.at)
        seq += 1
        n += 1
        e.seq = seq
        e.prev_hash = prev
        e.hash = prev = link(prev, fields_of(e))
    return n


def check_chain(rows: Iterable[dict[str, Any]]) -> tuple[list[str], int, bytes]:
    """Walk events in seq order (dicts of fields_of() plus "prev_hash" and "hash" as hex);
    returns (what is wrong, the head's seq, its hash)."""
    wrong: list[str] = []
    expect_seq, prev = 1, GENESIS
    for row in rows:
        seq = row.get("seq")
        if seq != expect_seq:
            wrong.append(f"event {seq}: expected event {expect_seq} here (one deleted, inserted or moved)")
            expect_seq = seq if isinstance(seq, int) else expect_seq
        if row.get("prev_hash") != prev.hex():
            wrong.append(f"event {seq}: does not follow the event before it")
        if link(bytes.fromhex(row.get("prev_hash") or "00" * 32), row).hex() != row.get("hash"):
            wrong.append(f"event {seq}: its content does not match its hash (edited)")
        prev = bytes.fromhex(row["hash"]) if isinstance(row.get("hash"), str) and len(row["hash"]) == 64 else prev
        expect_seq += 1
    return wrong, expect_seq - 1, prev


def export_rows(s: Session) -> Iterator[dict[str, Any]]:
    """Every chained event as the export writes it, in chain order (streamed)."""
    q = select(Event).where(Event.seq.is_not(None)).order_by(Event.seq).execution_options(yield_per=1000)
    for e in s.scalars(q):
        yield {**fields_of(e), "prev_hash": bytes(e.prev_hash or b"").hex(), "hash": bytes(e.hash or b"").hex()}


def unchained(s: Session) -> int:
    """Events with no place in the chain (inserted by hand past the hook)."""
    from sqlalchemy import func

    return int(s.scalar(select(func.count()).select_from(Event).where(Event.seq.is_(None))) or 0)
