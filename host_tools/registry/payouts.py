"""Card + PIN, and a payment made exactly once per person, programme and period.

card_and_pin() is the check of both /v1/verify and /v1/payouts: the credential (signature of a
trusted enrolment device, this registry's, the card's UID, not expired), the person's record,
the card (not revoked, not replaced: once the device's card entry is synced, the one UID the
record's card has; cards.py), and the PIN, whose failure count decides in one conditional UPDATE ... RETURNING, atomic on
SQLite and PostgreSQL: a burst of wrong PINs in parallel cannot each read the same count.

payout() records the payment in the same transaction as the PIN's reset, against the person
(persons.py), whose row it locks: UNIQUE(person, programme, period) makes a second claim, even
one racing the first on another registry process, "already paid", and what any card of the
person (or of a person merged into it) was paid in the period counts.  A card pays only once
the registry has its issuing device's card entry (cards.py), which says whether it re-issued
another card: before that a re-issued person's new card could be paid beside the old one.
A person held for review (a likely duplicate, a re-issue no one has confirmed) pays nothing.
The caller runs payout() in a serializable transaction (db.write_lock) and redoes it on a
conflict (app.py); a payment's `proof` is an HMAC under the registry's PIN key made only here,
after the PIN was verified (`registry audit` checks it).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import os
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import persons, pins, proposals
from .credential import CredentialError, check_credential
from .keys import RegistryKeys
from .models import Device, Event, Payment, Programme, Record, RevokedCredential
from .trust import kid_of

PIN_TRIES = 3
CAMBODIA = dt.timezone(dt.timedelta(hours=7))
RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at a payout point


def current_period(now: float) -> str:
    """The month a payout point pays for: YYYY-MM in Cambodian time."""
    return dt.datetime.fromtimestamp(now, CAMBODIA).strftime("%Y-%m")


def card_and_pin(s: Session, keys: RegistryKeys, point_id: str, credential_b64: str, uid_hex: str,
                 pin_block_hex: str, now: float) -> tuple[Record | None, dict[str, Any]]:
    """(the person's record if card and PIN are right, else None; the answer).  The PIN block is
    under the asking payout point's key (pins.point_key).  PIN failures are counted in s: the
    caller commits whatever the answer."""
    try:
        cose = base64.b64decode(credential_b64, validate=True)
    except ValueError:
        return None, {"result": "invalid", "reason": "credential is not base64"}
    trusted = {kid_of(d.ed25519_pub): (d.device_id, d.ed25519_pub)  # card-signing keys only, of approved devices
               for d in s.scalars(select(Device).where(Device.revoked.is_(False), Device.active.is_(True),
                                                       Device.role == "enrolment"))}
    try:
        claims = check_credential(cose, trusted, bytes.fromhex(uid_hex), int(now), keys.registry_id)
    except CredentialError as e:
        return None, {"result": "invalid", "reason": str(e)}
    rec = s.scalars(select(Record).where(Record.credential_id == claims.credential_id)).first()
    if rec is None or rec.device_id != claims.device_id:
        return None, {"result": "unknown", "reason": "no synced record for this credential yet"}
    revoked = s.get(RevokedCredential, rec.credential_id)
    if revoked is not None:  # before the PIN: a revoked card is not worth a guess
        return None, {"result": "revoked", "credential_id": rec.credential_id, "reason": revoked.reason}
    if rec.card_uid is not None and rec.card_uid != bytes.fromhex(uid_hex):
        # a second card with this credential (written before a power cut, then another one): the
        # device's card entry names the one it verified, and no other pays
        return None, {"result": "revoked", "credential_id": rec.credential_id,
                      "reason": "another card was issued for this credential"}
    if rec.card_uid is None:  # its card entry (re-issue or not) has not reached the registry
        return None, {"result": "unknown", "credential_id": rec.credential_id,
                      "reason": "the card's issue has not reached the registry yet"}
    if proposals.pending_push(s, rec.proposal_id):  # pushed over USB: no second operator has approved it
        return None, {"result": "held", "credential_id": rec.credential_id,
                      "reason": "pushed by an operator: waiting for a second operator's approval"}
    if rec.person_id is None or persons.holds(s, persons.survivor(s, rec.person_id)):
        return None, {"result": "held", "credential_id": rec.credential_id,
                      "reason": "held for review at the registry"}
    if rec.pin_failures >= PIN_TRIES:
        return None, {"result": "locked", "credential_id": rec.credential_id}
    try:
        pin = pins.decipher(pins.point_key(keys.zone_key, point_id), bytes.fromhex(pin_block_hex),
                            pins.credential_account(rec.credential_id))
        ok = hmac.compare_digest(pins.verifier(keys.pin_key, rec.record_id, pin), rec.pin_verifier)
    except (pins.PinBlockError, ValueError):
        ok = False
    still_open = Record.id == rec.id, Record.pin_failures < PIN_TRIES
    if ok:
        if s.execute(update(Record).where(*still_open).values(pin_failures=0).returning(Record.id)).first() is None:
            return None, {"result": "locked", "credential_id": rec.credential_id}  # a burst got there first
        return rec, {"result": "ok", "credential_id": rec.credential_id, "given_name": claims.given_name}
    counted = s.execute(update(Record).where(*still_open).values(pin_failures=Record.pin_failures + 1)
                        .returning(Record.pin_failures)).first()
    if counted is None:
        return None, {"result": "locked", "credential_id": rec.credential_id}
    left = PIN_TRIES - counted[0]
    if left == 0:
        s.add(Event(kind="pin-locked", device_id=rec.device_id, detail=f"credential {rec.credential_id}"))
    return None, {"result": "locked" if left == 0 else "wrong", "credential_id": rec.credential_id,
                  "tries_left": left}


def _already(s: Session, rec: Record, person_id: int, programme: str, period: str) -> dict[str, Any] | None:
    paid = s.scalars(select(Payment).where(Payment.person_id.in_(persons.group(s, person_id)),
                                           Payment.programme == programme, Payment.period == period)
                     .order_by(Payment.id)).first()
    if paid is None:
        return None
    at = paid.paid_at if paid.paid_at.tzinfo else paid.paid_at.replace(tzinfo=dt.timezone.utc)  # SQLite: naive UTC
    return {"result": "already paid", "credential_id": rec.credential_id, "paid_at": at.isoformat(),
            "paid_s": int(at.timestamp()),  # for a device, which has no date parser
            "payout_point": paid.payout_point, "receipt": paid.receipt, "amount": paid.amount}


def proof(pin_key: bytes, receipt: str, record_id: bytes, person_id: int, programme: str, period: str,
          amount: int, point_id: str) -> bytes:
    """What only the PIN-checking path can write beside a payment (the registry's PIN key)."""
    msg = "\n".join(("payment", receipt, record_id.hex(), str(person_id), programme, period, str(amount), point_id))
    return hmac.new(pin_key, msg.encode(), "sha256").digest()


def _receipt() -> str:
    return "".join(RECEIPT_ALPHABET[b % len(RECEIPT_ALPHABET)] for b in os.urandom(10))


def payout(s: Session, keys: RegistryKeys, point_id: str, req: Any, now: float | None = None) -> dict[str, Any]:
    """A payout point's claim: check everything, pay once.  Commits s (or rolls it back on a
    race lost to another claim for the same person, which then answers "already paid")."""
    now = time.time() if now is None else now
    prog = s.get(Programme, req.programme)
    if prog is None:
        return {"result": "unknown programme", "programme": req.programme}
    if req.period != current_period(now):
        return {"result": "wrong period", "period": current_period(now)}
    rec, answer = card_and_pin(s, keys, point_id, req.credential, req.uid, req.pin_block, now)
    if rec is None:
        s.commit()  # the PIN failure counted
        return answer
    category = rec.category or "citizen"  # a schema 1 record says nothing: a citizen
    amount = prog.amounts.get(category)
    if not amount:
        s.commit()
        return {"result": "not entitled", "credential_id": rec.credential_id, "category": category}
    # the person's row locked: a merge of this person, or a claim on another of their cards,
    # waits for this transaction (PostgreSQL; SQLite's write lock is the whole database)
    first = persons.survivor(s, rec.person_id)  # type: ignore[arg-type]
    persons.lock(s, first)
    person_id = persons.survivor(s, first)  # merged into another while this claim waited for the lock
    if person_id != first:
        persons.lock(s, person_id)
    if persons.holds(s, person_id):
        s.commit()
        return {"result": "held", "credential_id": rec.credential_id, "reason": "held for review at the registry"}
    revoked = s.get(RevokedCredential, rec.credential_id, populate_existing=True)
    if revoked is not None:  # by a re-issue that committed while this claim waited for the person
        s.commit()
        return {"result": "revoked", "credential_id": rec.credential_id, "reason": revoked.reason}
    seen = _already(s, rec, person_id, prog.code, req.period)
    if seen is not None:
        s.commit()
        return seen
    receipt = _receipt()
    pay = Payment(record_id=rec.record_id, person_id=person_id, programme=prog.code, period=req.period,
                  amount=int(amount), payout_point=point_id, receipt=receipt,
                  proof=proof(keys.pin_key, receipt, rec.record_id, person_id, prog.code, req.period, int(amount),
                              point_id))
    s.add(pay)
    s.add(Event(kind="paid", device_id=point_id,
                detail=f"receipt {receipt}: {int(amount)} riel, {prog.code} {req.period}, person {person_id}"))
    s.commit()  # an IntegrityError here (a claim that got there first) is redone by the caller: "already paid"
    return {"result": "paid", "credential_id": rec.credential_id, "amount": pay.amount, "receipt": pay.receipt,
            "programme": prog.code, "period": req.period, "given_name": answer["given_name"]}
