"""Card + PIN, and a payment made exactly once per person, programme and period.

card_and_pin() is the check of both /v1/verify and /v1/payouts: the credential (signature of a
trusted enrolment device, this registry's, the card's UID, not expired), the person's record,
the card (not revoked, not replaced: once the device's card entry is synced, the one UID the
record's card has; cards.py), and the PIN, whose failure count decides in one conditional UPDATE ... RETURNING, atomic on
SQLite and PostgreSQL: a burst of wrong PINs in parallel cannot each read the same count.

pay() records the payment in the same transaction as the PIN's reset.  UNIQUE(record_id,
programme, period) makes a second claim, even one racing the first, "already paid".  A re-issue
gives the same person a new record and credential and revokes the old one in the same
transaction (cards.py): what the old credentials were paid in the period counts for the new one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import os
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import pins
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
    trusted = {kid_of(d.ed25519_pub): (d.device_id, d.ed25519_pub)  # card-signing keys only
               for d in s.scalars(select(Device).where(Device.revoked.is_(False), Device.role == "enrolment"))}
    try:
        claims = check_credential(cose, trusted, bytes.fromhex(uid_hex), int(now), keys.registry_id)
    except CredentialError as e:
        return None, {"result": "invalid", "reason": str(e)}
    rec = s.scalars(select(Record).where(Record.credential_id == claims.credential_id,
                                         Record.device_id == claims.device_id)).first()
    if rec is None:
        return None, {"result": "unknown", "reason": "no synced record for this credential yet"}
    revoked = s.get(RevokedCredential, rec.credential_id)
    if revoked is not None:  # before the PIN: a revoked card is not worth a guess
        return None, {"result": "revoked", "credential_id": rec.credential_id, "reason": revoked.reason}
    if rec.card_uid is not None and rec.card_uid != bytes.fromhex(uid_hex):
        # a second card with this credential (written before a power cut, then another one): the
        # device's card entry names the one it verified, and no other pays
        return None, {"result": "revoked", "credential_id": rec.credential_id,
                      "reason": "another card was issued for this credential"}
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


MAX_REISSUES = 16  # how far back a chain of re-issues is followed (a person re-issued more often is odd)


def _same_person(s: Session, rec: Record) -> list[bytes]:
    """The record ids of rec and of the records whose credentials re-issues replaced by it."""
    ids = [rec.record_id]
    creds = [rec.credential_id]
    for _ in range(MAX_REISSUES):
        older = list(s.scalars(select(RevokedCredential.credential_id)
                               .where(RevokedCredential.replaced_by.in_(creds))))
        if not older:
            break
        creds = older
        ids.extend(s.scalars(select(Record.record_id).where(Record.credential_id.in_(older))))
    return ids


def _already(s: Session, rec: Record, programme: str, period: str) -> dict[str, Any] | None:
    paid = s.scalars(select(Payment).where(Payment.record_id.in_(_same_person(s, rec)),
                                           Payment.programme == programme, Payment.period == period)).first()
    if paid is None:
        return None
    at = paid.paid_at if paid.paid_at.tzinfo else paid.paid_at.replace(tzinfo=dt.timezone.utc)  # SQLite: naive UTC
    return {"result": "already paid", "credential_id": rec.credential_id, "paid_at": at.isoformat(),
            "paid_s": int(at.timestamp()),  # for a device, which has no date parser
            "payout_point": paid.payout_point, "receipt": paid.receipt, "amount": paid.amount}


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
    seen = _already(s, rec, prog.code, req.period)
    if seen is not None:
        s.commit()
        return seen
    pay = Payment(record_id=rec.record_id, programme=prog.code, period=req.period, amount=int(amount),
                  payout_point=point_id, receipt=_receipt())
    s.add(pay)
    try:
        s.commit()
    except IntegrityError:  # a claim for the same person in the same period committed first
        s.rollback()
        seen = _already(s, rec, prog.code, req.period)
        if seen is None:
            raise
        return seen
    return {"result": "paid", "credential_id": rec.credential_id, "amount": pay.amount, "receipt": pay.receipt,
            "programme": prog.code, "period": req.period, "given_name": answer["given_name"]}
