"""An enrolment device's card entries: bind each credential to its card's UID, and revoke the
credential a re-issue replaced.

A CARD item of a batch is the device journal's CARD payload (firmware/formats.py): the card of
record (boot, seq) of this device was written and verified; it has this UID and holds this
credential; and, for a re-issue a supervisor confirmed on the device, it held that old
credential before.  Records are stored before cards (ingest.py, the same transaction), so a
card may come in the batch of its record.
  malformed, or no stored record (boot, seq) of this device
  that holds this credential                               -> rejected, with the reason
  the UID already bound and the re-issue already recorded  -> duplicate
  otherwise                                                -> accepted: the UID is bound; the old
                                                              credential is revoked, replaced_by
                                                              the new one (the same person)
Every answer is final on the device: a card entry is never retried for ever.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from firmware.formats import card_fields

from .models import Event, Record, RevokedCredential
from .pins import CREDENTIAL_ALPHABET
from .protocol import ACCEPTED, DUPLICATE, REJECTED

CREDENTIAL_RE = re.compile(f"[{CREDENTIAL_ALPHABET}]{{4}}-[{CREDENTIAL_ALPHABET}]{{4}}")


@dataclass(frozen=True)
class CardResult:
    boot: int
    seq: int
    digest: bytes  # SHA-256 of the CARD payload as received: its receipt MAC covers it
    result: int
    reason: str


def _rejected(payload: bytes, digest: bytes, reason: str) -> CardResult:
    boot, seq = struct.unpack_from(">II", payload, 0) if len(payload) >= 8 else (0, 0)
    return CardResult(boot, seq, digest, REJECTED, reason)


def _revoke_replaced(s: Session, device_id: str, old: str, new: str) -> bool:
    """Revoke `old` as replaced by `new`; False if that was already recorded."""
    row = s.get(RevokedCredential, old)
    if row is None:
        s.add(RevokedCredential(credential_id=old, reason=f"re-issued as {new}", replaced_by=new))
        s.add(Event(kind="credential-revoked", device_id=device_id, detail=f"credential {old}: re-issued as {new}"))
        return True
    if row.replaced_by is None:  # revoked before (reported lost), now also known to be replaced
        row.replaced_by = new
        s.add(Event(kind="credential-replaced", device_id=device_id, detail=f"credential {old}: re-issued as {new}"))
        return True
    if row.replaced_by != new:  # the first re-issue stands: a credential has one successor
        s.add(Event(kind="card-refused", device_id=device_id,
                    detail=f"credential {old} was re-issued as {row.replaced_by} already, not as {new}"))
    return False


def bind_cards(s: Session, device_id: str, cards: list[bytes]) -> list[CardResult]:
    """Apply a batch's card entries inside the caller's transaction; results in request order."""
    out: list[CardResult] = []
    for payload in cards:
        digest = hashlib.sha256(payload).digest()
        try:
            boot, seq, uid, cred, old = card_fields(payload)
        except ValueError as e:
            out.append(_rejected(payload, digest, str(e)))
            continue
        if not CREDENTIAL_RE.fullmatch(cred) or (old and not CREDENTIAL_RE.fullmatch(old)) or old == cred:
            out.append(_rejected(payload, digest, "credential id malformed"))
            continue
        # by (credential, device): the indexed lookup, then the position must match
        rec = next((r for r in s.scalars(select(Record).where(Record.credential_id == cred,
                                                              Record.device_id == device_id))
                    if r.boot == boot and r.seq == seq), None)
        if rec is None:
            out.append(_rejected(payload, digest, f"no stored record {boot}/{seq} of this device holds {cred}"))
            continue
        changed = rec.card_uid != uid
        if changed:
            if rec.card_uid is not None:
                s.add(Event(kind="card-replaced", device_id=device_id,
                            detail=f"credential {cred}: bound to another card's UID"))
            rec.card_uid = uid
        if old:
            changed = _revoke_replaced(s, device_id, old, cred) or changed
        out.append(CardResult(boot, seq, digest, ACCEPTED if changed else DUPLICATE, ""))
    return out
