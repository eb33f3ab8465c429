"""Batches in, one result per record out: open, validate, deduplicate, store (one transaction).

UNIQUE(record_id) is the rule that makes every retry safe:
  new id                      -> accepted, stored, a new receipt number
  same id, same bytes         -> duplicate, the original receipt number
  same id, other bytes        -> conflict: the new bytes go to the conflicts table, an event is logged
  cannot be opened or invalid -> rejected, with the reason (an event is logged)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import cbor2
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from firmware import formats

from . import pins
from .credential import UNDECODABLE
from .keys import RegistryKeys
from .models import Conflict, Event, Record, RevokedCredential
from .persons import file_records
from .protocol import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, Batch, record_id_of
from .unseal import SealError, open_record, pin_key, unwrap_key

# The fields each record schema requires, and those it may carry (firmware/enrol/record.py):
# v2 adds who the person is (the beneficiary category, and a service or pension number) and the
# official 8-digit village code.
FIELDS_REQUIRED = {
    1: ("given_name", "family_name", "sex", "birth_date", "village_code", "consent"),
    2: ("family_name", "given_name", "sex", "birth_date", "village_code", "category", "consent"),
}
FIELDS_ALLOWED = {
    1: {"given_name", "family_name", "sex", "birth_date", "village_code", "phone", "consent"},
    2: {"family_name", "given_name", "sex", "birth_date", "village_code", "phone", "category", "service_no",
        "consent"},
}


@dataclass(frozen=True)
class Result:
    record_id: bytes
    digest: bytes
    result: int
    receipt_no: int
    reason: str


def legacy_credential_id(record_id: bytes) -> str:
    """The legacy credential id a device writes on the card when its record's `card.credential_id`
    is "": the record id's first 40 bits in Crockford base32, XXXX-XXXX (firmware/card/writer.py).
    Not unique by itself: UNIQUE(records.credential_id) decides (a record whose legacy id is taken
    gets its full id, revoked: _credential_for)."""
    n = int.from_bytes(record_id[:5], "big")
    s = "".join(pins.CREDENTIAL_ALPHABET[(n >> (5 * i)) & 31] for i in range(7, -1, -1))
    return s[:4] + "-" + s[4:]


def full_credential_id(record_id: bytes) -> str:
    """All 128 bits of the record id (122 of them random: UUID4) in Crockford base32, 26 characters:
    the credential id a device writes into its record and on its card, unique because record ids
    are.  One definition, the firmware's (firmware/formats.py)."""
    return formats.credential_id(record_id)


credential_id = full_credential_id  # what a record of today's firmware carries


class KeyCache:
    """Unwrapped batch keys by key envelope hash: one RSA decryption per segment, not per batch."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._keys: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()

    def unwrap(self, keys: RegistryKeys, env: bytes) -> tuple[bytes, bytes]:
        h = hashlib.sha256(env).digest()
        hit = self._keys.get(h)
        if hit is not None:
            self._keys.move_to_end(h)
            return hit
        hit = unwrap_key(keys.rsa_private, env)
        self._keys[h] = hit
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return hit


RECORD_SCHEMAS = (1, 2)  # the record schemas this registry reads (a device writes one of them)

# Every value a record may carry, by type and range, checked before the transaction: a record
# that fails is `rejected` with the reason and the rest of its batch is stored (the device then
# moves on instead of retrying one bad record for ever).  Ranges are wider than the device's own
# validators (firmware/enrol/schema.py), which will change (Khmer names), but bounded.
_TOP_KEYS = {"v", "officer_id", "created", "fields", "card", "pin_block"}
_OFFICER = re.compile(r"[A-Za-z0-9._-]{1,32}")
_VILLAGE = {1: re.compile(r"[A-Za-z0-9._-]{1,32}"), 2: re.compile(r"[0-9]{8}")}
_CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SERVICE_NO = re.compile(r"(?:[0-9A-Z]{1,24})?")
_PHONE = re.compile(r"(?:[0-9]{8,15})?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_CREDENTIAL = re.compile(r"[0-9A-Z-]{1,32}")
NAME_MAX = 64
CREATED_MAX = 1 << 33  # seconds: past the year 2200; an unsynced clock counts from 0


def _text(value: Any, what: str, longest: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    if not 0 < len(value) <= longest:
        raise ValueError(f"{what} is empty or over {longest} characters")
    if not value.isprintable():  # Unicode's "other" and separators but the space: C speed, per record
        raise ValueError(f"{what} holds a control, format or unassigned character")
    return value


def _birth_date(value: Any, now: float) -> str:
    m = _DATE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError("birth_date is not YYYY-MM-DD")
    try:
        born = dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError("birth_date is not a calendar date") from None
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    if born.year < 1880 or born > today + dt.timedelta(days=1):
        raise ValueError("birth_date out of range")
    return value


def validate(doc: Any, now: float | None = None) -> dict[str, Any]:
    """The record map (schema v1 or v2, firmware/enrol/record.py) or ValueError with the reason."""
    now = time.time() if now is None else now
    v = doc.get("v") if isinstance(doc, dict) else None
    if type(v) is not int or v not in RECORD_SCHEMAS:
        raise ValueError("not a version 1 or 2 enrolment record")
    if any(not isinstance(k, str) or k not in _TOP_KEYS for k in doc):
        raise ValueError("unknown key in the record")
    fields, created, officer = doc.get("fields"), doc.get("created"), doc.get("officer_id")
    if not isinstance(officer, str) or not _OFFICER.fullmatch(officer):
        raise ValueError("officer_id missing or malformed")
    if not isinstance(created, dict) or set(created) != {"t", "clock"} \
            or type(created["t"]) is not int or not 0 <= created["t"] < CREATED_MAX \
            or created["clock"] not in ("synced", "unsynced"):
        raise ValueError("created missing or malformed")
    if not isinstance(fields, dict) or any(k not in fields for k in FIELDS_REQUIRED[v]):
        raise ValueError("fields incomplete")
    if any(not isinstance(k, str) or k not in FIELDS_ALLOWED[v] for k in fields):
        raise ValueError("unknown field")
    if fields["consent"] is not True:
        raise ValueError("no consent recorded")
    _text(fields["given_name"], "given_name", NAME_MAX)
    _text(fields["family_name"], "family_name", NAME_MAX)
    if fields["sex"] not in ("F", "M", "X") or not isinstance(fields["sex"], str):
        raise ValueError("sex is not F, M or X")
    _birth_date(fields["birth_date"], now)
    if not isinstance(fields["village_code"], str) or not _VILLAGE[v].fullmatch(fields["village_code"]):
        raise ValueError("village_code malformed")
    if v >= 2:
        if not isinstance(fields["category"], str) or not _CATEGORY.fullmatch(fields["category"]):
            raise ValueError("category malformed")
        service = fields.get("service_no", "")
        if not isinstance(service, str) or not _SERVICE_NO.fullmatch(service):
            raise ValueError("service_no is not empty or 1-24 digits and capitals")
    phone = fields.get("phone", "")
    if not isinstance(phone, str) or not _PHONE.fullmatch(phone):
        raise ValueError("phone is not empty or 8-15 digits")
    card = doc.get("card")
    if card is not None:
        if not isinstance(card, dict) or set(card) - {"credential_id"} \
                or not isinstance(card.get("credential_id", ""), str) \
                or not _CREDENTIAL.fullmatch(card.get("credential_id") or "-"):
            raise ValueError("card malformed")
    block = doc.get("pin_block")
    if not isinstance(block, bytes) or len(block) != 16:
        raise ValueError("pin_block missing or not 16 bytes")
    return doc


def _prepare(keys: RegistryKeys, cache: KeyCache, device_id: str, batch: Batch
             ) -> tuple[list[Result | None], list[dict[str, Any]], list[str]]:
    """Open every record; returns per-position (Result for rejected, None for storable), the rows, and reasons."""
    batch_keys: dict[bytes, bytes] = {}
    key_errors: list[str] = []
    for k in batch.keys:
        try:
            key_id, key = cache.unwrap(keys, k)
            batch_keys[key_id] = key
        except SealError as e:
            key_errors.append(str(e))
    early: list[Result | None] = []
    rows: list[dict[str, Any]] = []
    for env in batch.records:
        digest = hashlib.sha256(env).digest()
        try:
            opened = open_record(env, batch_keys)
            if opened.device_id != device_id:
                raise SealError(f"record of device {opened.device_id}, sent by {device_id}")
            doc = validate(cbor2.loads(opened.plaintext))
            pin = pins.decipher(pin_key(batch_keys[opened.key_id], opened.record_id), doc["pin_block"],
                                pins.record_account(opened.record_id))
        except (SealError, *UNDECODABLE) as e:
            reason = str(e) or type(e).__name__
            if key_errors and "unknown batch key" in reason:
                reason += " (" + key_errors[0] + ")"
            early.append(Result(record_id_of(env), digest, REJECTED, 0, reason))
            continue
        created = doc["created"]
        written = (doc.get("card") or {}).get("credential_id") or ""
        if written and written != full_credential_id(opened.record_id):
            early.append(Result(opened.record_id, digest, REJECTED, 0, "card.credential_id is not this record's"))
            continue
        rows.append({
            "record_id": opened.record_id, "device_id": device_id, "boot": opened.boot, "seq": opened.seq,
            # the envelope itself is not kept: its digest decides duplicate or conflict, and what
            # it holds is stored opened; kept, it would let the RSA key recover the PIN block
            "digest": digest, "envelope": b"",
            "credential_id": written or legacy_credential_id(opened.record_id),
            "officer_id": doc["officer_id"], "created_t": created["t"],
            "clock_synced": created["clock"] == "synced",
            "fields": {k: v for k, v in doc["fields"].items()}, "schema": doc["v"],
            "category": doc["fields"].get("category"),
            "pin_verifier": pins.verifier(keys.pin_key, opened.record_id, pin), "pin_failures": 0,
        })
        early.append(None)
    return early, rows, key_errors


def _credential_for(s: Session, device_id: str, fresh: list[dict[str, Any]]) -> None:
    """A legacy credential id already taken (by a stored record or one earlier in the batch) would
    name two people: the record is stored under its full id instead, revoked, so the card that
    carries the legacy id pays nothing and the person is given a new card."""
    wanted = [r["credential_id"] for r in fresh]
    taken = set(s.scalars(select(Record.credential_id).where(Record.credential_id.in_(wanted))))
    for row in fresh:
        if row["credential_id"] in taken:
            full = full_credential_id(row["record_id"])
            s.add(RevokedCredential(credential_id=full,
                                    reason="credential id collided with another record's: issue a new card"))
            s.add(Event(kind="credential-collision", device_id=device_id,
                        detail=f"record {row['record_id'].hex()}: credential {row['credential_id']} taken, "
                               f"stored as {full}"))
            row["credential_id"] = full
        taken.add(row["credential_id"])


def ingest(session: Session, keys: RegistryKeys, cache: KeyCache, device_id: str, batch: Batch) -> list[Result]:
    """Store a batch inside the caller's transaction; results in request order."""
    early, rows, _ = _prepare(keys, cache, device_id, batch)
    ids = [r["record_id"] for r in rows]
    known: dict[bytes, tuple[int, bytes]] = {}
    if ids:
        for rid, rno, dig in session.execute(select(Record.record_id, Record.id, Record.digest)
                                             .where(Record.record_id.in_(ids))):
            known[bytes(rid)] = (rno, bytes(dig))
    fresh: list[dict[str, Any]] = []
    planned: dict[bytes, bytes] = {}  # record ids new in this batch -> digest
    outcome: list[tuple[int, bytes] | None] = []
    for row in rows:
        rid, dig = row["record_id"], row["digest"]
        if rid in known:
            outcome.append((DUPLICATE if known[rid][1] == dig else CONFLICT, rid))
        elif rid in planned:
            outcome.append((DUPLICATE if planned[rid] == dig else CONFLICT, rid))
        else:
            planned[rid] = dig
            fresh.append(row)
            outcome.append((ACCEPTED, rid))
    if fresh:
        _credential_for(session, device_id, fresh)
        for rno, rid in session.execute(insert(Record).returning(Record.id, Record.record_id), fresh):
            known[bytes(rid)] = (rno, planned[bytes(rid)])
        # in the batch's order: a later record of the batch is matched against an earlier one too
        file_records(session, [(known[row["record_id"]][0], row["fields"]) for row in fresh])
    results: list[Result] = []
    it = iter(zip(rows, outcome))
    for pre in early:
        if pre is not None:
            session.add(Event(kind="rejected", device_id=device_id,
                              detail=f"record {pre.record_id.hex()}: {pre.reason}"))
            results.append(pre)
            continue
        row, (status, rid) = next(it)  # type: ignore[misc]
        if status == CONFLICT:
            seen = session.scalar(select(Conflict.id).where(Conflict.record_id == rid,
                                                            Conflict.digest == row["digest"]).limit(1))
            if seen is None:  # the same conflicting bytes sent again are not a new conflict
                session.add(Conflict(record_id=rid, device_id=device_id, digest=row["digest"],
                                     envelope=row["envelope"]))
                session.add(Event(kind="conflict", device_id=device_id,
                                  detail=f"record {rid.hex()}: other bytes under a known id, quarantined"))
            results.append(Result(rid, row["digest"], CONFLICT, 0, "same record id, other bytes"))
        else:
            results.append(Result(rid, row["digest"], status, known[rid][0], ""))
    return results
