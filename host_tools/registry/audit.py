"""The money invariants, checked on a live database (`enrolctl registry audit`).

Each check is one query over the stored rows, written apart from the code that keeps the
invariant (payouts.py, persons.py, cards.py), so a bug there, a row written by hand or a second
registry process out of step shows up here as a breach:
  paid-twice          no person (with everyone merged into them) paid twice in a programme-period
  payment-no-person   every payment names a person (migration 0007 leaves a pre-person second one unnamed)
  payment-point       every payment was made at a payout point (role payout) that was not revoked
  payment-proof       every payment carries the HMAC only the PIN-checked path writes (with --keys)
  payment-revoked     no payment with a credential revoked before it was paid
  payment-held        no payment to a person while a review that holds them was open
  payment-no-card     no payment on a card whose card entry had not arrived (card_uid unset)
  record-no-person    every accepted record belongs to exactly one person, who is not merged away
  person-cycle        every merged person leads to a surviving person in one step
  credential-unique   no credential id names two records
  payment-unapproved  no payment on a card of a device no second registrar approved, or on a
                      record pushed over USB whose push no second registrar approved
  event-chain         the trail is one unbroken hash chain (events.py): no event edited, deleted
                      or moved, none outside it
A payment's amount is covered by its proof, so an amount changed by hand is a payment-proof breach.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .events import check_chain, export_rows, unchained
from .models import Device, Payment, Person, Proposal, Record, RevokedCredential, Review
from .payouts import proof


@dataclass(frozen=True)
class Breach:
    check: str
    detail: str


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def audit(engine: Engine, pin_key: bytes | None = None) -> tuple[list[Breach], dict[str, int]]:
    """(every breach found, counts of what was checked, and "head": the chain's newest hash, which
    an auditor writes down: a later audit whose chain no longer holds it was cut short)."""
    out: list[Breach] = []
    with Session(engine) as s:
        persons = {p.id: p for p in s.scalars(select(Person))}
        merged = {pid: p.merged_into for pid, p in persons.items() if p.merged_into is not None}
        for pid, into in merged.items():
            target = persons.get(into)
            if target is None or target.merged_into is not None or persons[pid].status != "merged":
                out.append(Breach("person-cycle", f"person {pid} merged into {into}, which is not a surviving person"))

        def root(pid: int) -> int:
            seen = set()
            while pid in merged and pid not in seen:
                seen.add(pid)
                pid = merged[pid]
            return pid

        records = {bytes(r.record_id): r for r in s.scalars(select(Record))}
        creds: dict[str, int] = defaultdict(int)
        for r in records.values():
            creds[r.credential_id] += 1
            if r.person_id is None or r.person_id not in persons:
                out.append(Breach("record-no-person", f"record {r.record_id.hex()} has no person"))
            elif persons[r.person_id].status != "active":
                out.append(Breach("record-no-person", f"record {r.record_id.hex()} belongs to merged person {r.person_id}"))
        for cred, n in creds.items():
            if n > 1:
                out.append(Breach("credential-unique", f"credential {cred} names {n} records"))

        points = {d.device_id: d for d in s.scalars(select(Device))}
        approvals = {p.id: p.status for p in s.scalars(select(Proposal))}
        revoked = {c.credential_id: _utc(c.at) for c in s.scalars(select(RevokedCredential))}
        holds: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
        for rv in s.scalars(select(Review)):
            if rv.status in ("open", "same", "different", "refused"):
                end = None if rv.status == "open" else (_utc(rv.decided_at) if rv.decided_at else None)
                holds[rv.person_id].append((_utc(rv.opened_at), end))
        paid: dict[tuple[int, str, str], list[str]] = defaultdict(list)
        payments = list(s.scalars(select(Payment).order_by(Payment.id)))
        for p in payments:
            at = _utc(p.paid_at)
            if p.person_id is None:
                out.append(Breach("payment-no-person", f"payment {p.receipt} names no person"))
            else:
                paid[(root(p.person_id), p.programme, p.period)].append(p.receipt)
            point = points.get(p.payout_point)
            if point is None or point.role != "payout":
                out.append(Breach("payment-point", f"payment {p.receipt} made by {p.payout_point}, not a payout point"))
            rec = records.get(bytes(p.record_id))
            if rec is None:
                out.append(Breach("payment-no-person", f"payment {p.receipt} names no stored record"))
                continue
            if pin_key is not None and p.person_id is not None and (p.proof is None or not hmac.compare_digest(
                    p.proof, proof(pin_key, p.receipt, bytes(p.record_id), p.person_id, p.programme, p.period,
                                   p.amount, p.payout_point))):
                out.append(Breach("payment-proof", f"payment {p.receipt} has no proof of a PIN check"))
            when = revoked.get(rec.credential_id)
            if when is not None and when < at:
                out.append(Breach("payment-revoked", f"payment {p.receipt} on credential {rec.credential_id}, "
                                                     f"revoked before it"))
            signer = points.get(rec.device_id)
            if signer is None or not signer.active:
                out.append(Breach("payment-unapproved", f"payment {p.receipt} on a card of {rec.device_id}, "
                                                        "a device no second registrar approved"))
            if rec.proposal_id is not None and approvals.get(rec.proposal_id) != "approved":
                out.append(Breach("payment-unapproved", f"payment {p.receipt} on a record pushed over USB "
                                                        f"(proposal {rec.proposal_id}) that no one approved"))
            if rec.card_uid is None:
                out.append(Breach("payment-no-card", f"payment {p.receipt} on credential {rec.credential_id}, "
                                                     "whose card entry never arrived"))
            if p.person_id is not None:
                for opened, closed in holds.get(p.person_id, []):
                    if opened <= at and (closed is None or at < closed):
                        out.append(Breach("payment-held", f"payment {p.receipt} to person {p.person_id} while held"))
                        break
        for (person, programme, period), receipts in paid.items():
            if len(receipts) > 1:
                out.append(Breach("paid-twice", f"person {person} paid {len(receipts)} times in {programme} "
                                                f"{period}: {', '.join(receipts)}"))
        wrong, seq, head = check_chain(export_rows(s))
        out += [Breach("event-chain", w) for w in wrong[:50]]
        if len(wrong) > 50:
            out.append(Breach("event-chain", f"... and {len(wrong) - 50} more"))
        loose = unchained(s)
        if loose:
            out.append(Breach("event-chain", f"{loose} event(s) outside the chain (written past the registry)"))
        counts = {"events": seq, "persons": sum(1 for p in persons.values() if p.status == "active"), "records": len(records),
                  "payments": len(payments), "open_reviews": sum(1 for v in holds.values() for _, c in v if c is None)}
    counts["head"] = head.hex()  # type: ignore[assignment]
    return out, counts
