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
  otherwise                                                -> accepted: the UID is bound; a
                                                              re-issue (_reissue) revokes the old
                                                              credential, replaced_by the new one,
                                                              and joins the two records' persons,
                                                              or holds the new person for review
Every answer is final on the device: a card entry is never retried for ever.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from firmware.formats_host import card_fields

from . import matching, persons
from .models import Event, Record, RevokedCredential, Review
from .pins import CREDENTIAL_ALPHABET
from .protocol import ACCEPTED, DUPLICATE, REJECTED

# the legacy XXXX-XXXX, or the full 26-character id (ingest.full_credential_id)
CREDENTIAL_RE = re.compile(f"[{CREDENTIAL_ALPHABET}]{{4}}-[{CREDENTIAL_ALPHABET}]{{4}}|[{CREDENTIAL_ALPHABET}]{{26}}")


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


def _reissue(s: Session, device_id: str, rec: Record, old: str, new: str) -> tuple[bool, str]:
    """The card of `rec` replaced credential `old`: (changed, reason for the device).  Accepted
    (old revoked, replaced by new; the two records one person) only when the registry can tell
    it is the same person by itself: the old credential's record was made by this same device
    and its identity fields agree (matching.same_identity: names after romanisation folding, in
    either order, birth date, sex), which is what the device had in hand when its supervisor
    confirmed the re-issue (the person before them, and the card's record on its own flash).
    Anything else (an unknown credential, another device's person, other identity fields, a
    credential already re-issued or revoked) revokes nothing and holds the new record's person
    for an operator: one device can never silently stop another person's card."""
    old_rec = s.scalars(select(Record).where(Record.credential_id == old)).first()
    new_pid = persons.survivor(s, rec.person_id) if rec.person_id is not None else None
    if new_pid is None:
        return False, "record has no person"
    prior = s.get(RevokedCredential, old)
    if prior is not None and prior.replaced_by == new:
        return False, ""  # recorded already
    already = s.scalars(select(Review.id).where(Review.kind == "reissue", Review.old_credential == old,
                                                Review.new_credential == new)).first()
    if already is not None:
        return False, "re-issue held for review"
    old_pid = persons.survivor(s, old_rec.person_id) if old_rec is not None and old_rec.person_id is not None else None
    why = ""
    if old_rec is None:
        why = f"replaces credential {old}, unknown here"
    elif prior is not None and prior.replaced_by is not None:
        why = f"credential {old} was re-issued as {prior.replaced_by} already"
    elif old_pid == new_pid:
        why = ""
    elif old_rec.device_id != device_id:
        why = f"replaces credential {old} of device {old_rec.device_id}"
    elif not matching.same_identity(rec.fields, old_rec.fields):
        why = f"replaces credential {old} of a record with other identity fields"
    if why:
        persons.open_review(s, "reissue", new_pid, old_pid, f"re-issue held: {why}", old, new)
        s.add(Event(kind="card-held", device_id=device_id, detail=f"credential {new}: {why}"))
        return True, "re-issue held for review"
    if old_pid is not None and old_pid != new_pid:
        persons.merge(s, new_pid, old_pid, f"re-issue of {old} as {new} by {device_id}")  # locks both
    elif old_pid is not None:
        persons.lock(s, old_pid)  # a claim on the old card waits, then sees it revoked
    return persons.revoke_replaced(s, device_id, old, new), ""


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
        # by credential (unique), then the device and position must match
        rec = s.scalars(select(Record).where(Record.credential_id == cred)).first()
        if rec is not None and (rec.device_id != device_id or rec.boot != boot or rec.seq != seq):
            rec = None
        if rec is None:
            out.append(_rejected(payload, digest, f"no stored record {boot}/{seq} of this device holds {cred}"))
            continue
        changed = rec.card_uid != uid
        if changed:
            if rec.card_uid is not None:
                s.add(Event(kind="card-replaced", device_id=device_id,
                            detail=f"credential {cred}: bound to another card's UID"))
            rec.card_uid = uid
        reason = ""
        if old:
            replaced, reason = _reissue(s, device_id, rec, old, cred)
            changed = replaced or changed
        out.append(CardResult(boot, seq, digest, ACCEPTED if changed else DUPLICATE, reason))
    return out
