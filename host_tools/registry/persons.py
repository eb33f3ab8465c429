"""Persons: who the registry's records are about, and the decisions that join them.

Every accepted record is filed under a person inside the ingest's transaction (file_record):
  no likely match among the persons sharing one of its blocking keys  -> a new active person
  a likely match (matching.score >= HOLD_AT)                           -> a new person, held by a
                                                                          "duplicate" review per match
A held person is stored and listed, never paid, until an operator decides each review that holds
it: "same" merges it into the other person (one person, one payment per period), "different"
lets it go.  A re-issue the registry cannot accept by itself (cards.py) opens a "reissue" review.

Concurrency: the match must see every person filed before it, also one filed by another registry
process a moment ago.  SQLite takes the write lock for the whole transaction (db.write_lock);
PostgreSQL takes a transaction-scoped advisory lock per blocking key, in sorted order, before it
looks: two records that could match share a key, so the second waits for the first to commit and
then sees it (READ COMMITTED reads what committed before each statement).
A person's row is locked (SELECT ... FOR UPDATE) by a payment and by a merge, so a claim never
races the merge that joins its person to another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from . import matching
from .models import Event, MatchKey, Person, Record, RevokedCredential, Review, utcnow

MAX_CANDIDATES = 200  # persons scored for one record at most (a block that large is a common name in one year)


class DecisionError(ValueError):
    """An operator's decision that cannot be taken; the message says why."""


@dataclass(frozen=True)
class Filed:
    person_id: int
    held_by: list[tuple[int, int]]  # (other person, score) of each review opened


def _advisory_locks(s: Session, keys: Iterable[str]) -> None:
    if s.get_bind().dialect.name != "postgresql":
        return  # SQLite: the transaction holds the database's write lock (db.write_lock)
    ids = sorted({int.from_bytes(hashlib.sha256(b"match:" + k.encode()).digest()[:8], "big", signed=True)
                  for k in keys})
    if ids:  # one statement, taken in sorted order (a deadlock, should two orders meet, is redone)
        s.execute(select(*(func.pg_advisory_xact_lock(n) for n in ids)))


def lock(s: Session, person_id: int) -> Person | None:
    """The person's row, locked until the transaction ends (PostgreSQL; SQLite's write lock covers it)."""
    # populate_existing: the row as locked, not as this session read it before it waited
    return s.scalars(select(Person).where(Person.id == person_id).with_for_update()
                     .execution_options(populate_existing=True)).first()


def survivor(s: Session, person_id: int) -> int:
    """The person a (possibly merged) person is now: merges re-point, so one step is enough."""
    p = s.get(Person, person_id)
    return p.merged_into if p is not None and p.merged_into is not None else person_id


def group(s: Session, person_id: int) -> list[int]:
    """The person and every person merged into it (whose old payments count for it)."""
    return [person_id, *s.scalars(select(Person.id).where(Person.merged_into == person_id))]


def holds(s: Session, person_id: int) -> list[Review]:
    return list(s.scalars(select(Review).where(Review.person_id == person_id, Review.status == "open")
                          .order_by(Review.id)))


def file_record(s: Session, record_row_id: int, fields: Mapping[str, Any]) -> Filed:
    """File one just-inserted record (file_records for a batch)."""
    return file_records(s, [(record_row_id, fields)])[0]


def file_records(s: Session, items: list[tuple[int, Mapping[str, Any]]]) -> list[Filed]:
    """File just-inserted records (row id, fields), in order, each under a new person, held if it
    looks like someone known, a person filed earlier in the same batch included.  A handful of
    statements a batch, not a record: the locks, the candidates with their records, the persons,
    the records' person ids, the keys."""
    if not items:
        return []
    keysets = [matching.keys(f) for _, f in items]
    wanted = set().union(*keysets)
    _advisory_locks(s, wanted)
    by_key: dict[str, set[int]] = {}
    known: dict[int, list[Mapping[str, Any]]] = {}  # surviving candidate person -> its records' fields
    if wanted:
        for k, pid in s.execute(select(MatchKey.key, MatchKey.person_id).where(MatchKey.key.in_(wanted))
                                .limit(MAX_CANDIDATES * len(items))):
            by_key.setdefault(k, set()).add(pid)
    listed = set().union(*by_key.values()) if by_key else set()
    now_as: dict[int, int] = {}
    if listed:
        # one statement, one snapshot: a merge committing meanwhile moves the records and sets
        # merged_into at once, so each candidate's records are found under one id or the other
        # (joined on the person as it is now; no OR, so the index on records.person_id serves)
        current = func.coalesce(Person.merged_into, Person.id)
        for pid, owner, other in s.execute(select(Person.id, Record.person_id, Record.fields)
                                           .join(Record, Record.person_id == current)
                                           .where(Person.id.in_(listed))):
            now_as[pid] = owner
            known.setdefault(owner, []).append(other)
    ids = list(s.scalars(insert(Person).returning(Person.id, sort_by_parameter_order=True),
                         [{"status": "active"} for _ in items]))
    s.execute(update(Record), [{"id": row_id, "person_id": pid} for (row_id, _), pid in zip(items, ids)])
    s.execute(insert(MatchKey), [{"key": k, "person_id": pid} for ks, pid in zip(keysets, ids) for k in sorted(ks)])
    filed: list[Filed] = []
    earlier: dict[str, list[int]] = {}  # key -> positions in this batch filed before
    for i, ((_, fields), ks) in enumerate(zip(items, keysets)):
        scored: dict[int, int] = {}
        persons_here = {now_as[p] for k in ks for p in by_key.get(k, ()) if p in now_as}
        for pid in sorted(persons_here)[:MAX_CANDIDATES]:
            for other in known[pid]:
                sc = matching.score(fields, other)
                if sc >= matching.HOLD_AT and sc > scored.get(pid, -1):
                    scored[pid] = sc
        for j in sorted({j for k in ks for j in earlier.get(k, ())}):
            sc = matching.score(fields, items[j][1])
            if sc >= matching.HOLD_AT and sc > scored.get(ids[j], -1):
                scored[ids[j]] = sc
        for k in ks:
            earlier.setdefault(k, []).append(i)
        held = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
        for other_id, sc in held:
            s.add(Review(kind="duplicate", person_id=ids[i], other_id=other_id, score=sc,
                         detail=f"likely the same person as person {other_id} (score {sc}/1000)"))
        if held:
            s.add(Event(kind="person-held", device_id=None,
                        detail=f"person {ids[i]}: {len(held)} likely duplicate(s), held for review"))
        filed.append(Filed(ids[i], held))
    return filed


def open_review(s: Session, kind: str, person_id: int, other_id: int | None, detail: str,
                old_credential: str | None = None, new_credential: str | None = None) -> Review:
    review = Review(kind=kind, person_id=person_id, other_id=other_id, score=0, detail=detail[:200],
                    old_credential=old_credential, new_credential=new_credential)
    s.add(review)
    s.add(Event(kind="person-held", device_id=None, detail=f"person {person_id}: {detail}"[:500]))
    return review


def merge(s: Session, person_id: int, into_id: int, why: str) -> int:
    """Join person_id into into_id (both resolved to survivors); returns the survivor.  Locks both
    rows in id order (no deadlock with a payment, which locks one)."""
    a, b = survivor(s, person_id), survivor(s, into_id)
    if a == b:
        raise DecisionError("a person cannot be merged with themselves")
    for pid in sorted((a, b)):
        lock(s, pid)
    a, b = survivor(s, a), survivor(s, b)  # a merge that committed while this one waited
    if a == b:
        raise DecisionError("these persons are one person already")
    s.execute(update(Person).where(Person.merged_into == a).values(merged_into=b))
    s.execute(update(Person).where(Person.id == a).values(status="merged", merged_into=b))
    s.execute(update(Record).where(Record.person_id == a).values(person_id=b))
    s.execute(update(MatchKey).where(MatchKey.person_id == a, MatchKey.key.not_in(
        select(MatchKey.key).where(MatchKey.person_id == b).scalar_subquery())).values(person_id=b))
    s.execute(delete(MatchKey).where(MatchKey.person_id == a))  # keys b had already
    # reviews between the two are answered by the merge; the rest of a's follow it to b
    now = utcnow()
    s.execute(update(Review).where(Review.status == "open", ((Review.person_id == a) & (Review.other_id == b))
                                   | ((Review.person_id == b) & (Review.other_id == a)))
              .values(status="same", decided_at=now))
    # b is held from now on by what held a (opened_at moves: b was payable until this merge)
    s.execute(update(Review).where(Review.status == "open", Review.person_id == a).values(person_id=b, opened_at=now))
    s.execute(update(Review).where(Review.status == "open", Review.other_id == a).values(other_id=b))
    s.add(Event(kind="persons-merged", device_id=None, detail=f"person {a} merged into person {b}: {why}"[:500]))
    return b


def revoke_replaced(s: Session, device_id: str | None, old: str, new: str) -> bool:
    """Revoke `old` as replaced by `new` (the same person's next card); False if already recorded."""
    row = s.get(RevokedCredential, old)
    if row is None:
        s.add(RevokedCredential(credential_id=old, reason=f"re-issued as {new}"[:64], replaced_by=new))
        s.add(Event(kind="credential-revoked", device_id=device_id, detail=f"credential {old}: re-issued as {new}"))
        return True
    if row.replaced_by is None:  # revoked before (reported lost), now also known to be replaced
        row.replaced_by = new
        s.add(Event(kind="credential-replaced", device_id=device_id, detail=f"credential {old}: re-issued as {new}"))
        return True
    return False


def decide(s: Session, review_id: int, decision: str) -> dict[str, Any]:
    """An operator's answer to an open review: "same" (merge) or "different"."""
    review = s.get(Review, review_id)
    if review is None:
        raise LookupError(f"no review {review_id}")
    if review.status != "open":
        raise DecisionError(f"review {review_id} was decided already ({review.status})")
    if decision == "same":
        if review.other_id is None:
            raise DecisionError("this review names no other person to merge with; answer 'different' or merge by hand")
        if survivor(s, review.person_id) == survivor(s, review.other_id):
            # joined meanwhile (a re-issue's card entry, another review, or a merge that committed while
            # this review was being opened on another process): the answer stands, nothing to merge
            survivor_id = survivor(s, review.person_id)
        else:
            survivor_id = merge(s, review.person_id, review.other_id, f"review {review_id}")
        review.status, review.decided_at = "same", dt.datetime.now(dt.timezone.utc)
        if review.kind == "reissue" and review.old_credential and review.new_credential:
            revoke_replaced(s, None, review.old_credential, review.new_credential)
        return {"review": review_id, "decision": "same", "person": survivor_id}
    if decision == "different":
        review.status, review.decided_at = "different", dt.datetime.now(dt.timezone.utc)
        s.add(Event(kind="review-decided", device_id=None,
                    detail=f"review {review_id}: person {review.person_id} is not person {review.other_id}"))
        return {"review": review_id, "decision": "different", "person": review.person_id}
    raise DecisionError("a decision is 'same' or 'different'")
