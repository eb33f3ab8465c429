"""Dual control (maker-checker): an act that can create or move money is proposed by one operator
and carried out only when a different operator, holding the role the act needs, approves it.

Kinds, the role that proposes and approves them, and what approval does:
  activate-device    registrar  the device or payout point becomes active: its cards are trusted,
                                its records payable, its claims accepted
  push-records       registrar  the records an operator pushed over USB become payable
  review-decision    reviewer   a held duplicate answered "same" (merged) or "different" (both payable)
  merge-persons      reviewer   two persons joined into one
  unlock-pin         reviewer   a card's PIN tries reset
  restore-credential reviewer   a revoked credential pays again
  set-programme      registrar  a programme added, or its amounts changed
  add-operator       administrator  an account that can act on money (administrator, registrar,
                                    reviewer) made
  reset-password     administrator  such an account's password set by an administrator

A proposal expires after TTL_S; it can be refused (by anyone holding its role, the proposer too:
that withdraws it) with a reason.  The proposer can never approve it.  Approving and carrying out
are one transaction: if the act is no longer possible (the review was decided meanwhile) nothing
changes and the proposal stays open for a refusal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import operators, persons
from .models import Device, Operator, Programme, Proposal, Record, RevokedCredential
from .operators import Actor, OperatorError, event

TTL_S = 72 * 3600
SECRET = ("password_hash", "totp_secret")  # in an account's proposal: never listed
ROLE = {"activate-device": "registrar", "push-records": "registrar", "set-programme": "registrar",
        "review-decision": "reviewer", "merge-persons": "reviewer", "unlock-pin": "reviewer",
        "restore-credential": "reviewer", "add-operator": "administrator", "reset-password": "administrator"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def propose(s: Session, by: Actor, kind: str, subject: str, payload: dict[str, Any], reason: str) -> Proposal:
    if ROLE[kind] not in by.roles:
        raise OperatorError(403, f"proposing {kind} needs the {ROLE[kind]} role")
    same = s.scalars(select(Proposal).where(Proposal.kind == kind, Proposal.subject == subject,
                                            Proposal.status == "open")).first()
    if same is not None and _utc(same.expires_at) > _now() and kind != "push-records":
        raise OperatorError(409, f"proposal {same.id} for {subject} is open already: approve or refuse it")
    p = Proposal(kind=kind, subject=subject, payload=payload, reason=reason, proposed_by=by.name, status="open",
                 expires_at=_now() + dt.timedelta(seconds=TTL_S))
    s.add(p)
    s.flush()
    event(s, Actor(by.name, ROLE[kind], by.roles), "proposed", f"proposal {p.id}: {kind} {subject}", reason)
    return p


def _open(s: Session, proposal_id: int, by: Actor) -> Proposal:
    p = s.get(Proposal, proposal_id, with_for_update=True)
    if p is None:
        raise OperatorError(404, f"no proposal {proposal_id}")
    if ROLE[p.kind] not in by.roles:
        raise OperatorError(403, f"deciding {p.kind} needs the {ROLE[p.kind]} role")
    if p.status == "open" and _utc(p.expires_at) <= _now():
        p.status = "expired"
        return p
    if p.status != "open":
        raise OperatorError(409, f"proposal {proposal_id} was {p.status} already"
                                 + (f" by {p.decided_by}" if p.decided_by else ""))
    return p


def approve(s: Session, proposal_id: int, by: Actor, reason: str) -> dict[str, Any]:
    p = _open(s, proposal_id, by)
    if p.status == "expired":
        raise OperatorError(409, f"proposal {proposal_id} expired unapproved; propose it again")
    if p.proposed_by == by.name:
        raise OperatorError(403, "the operator who proposed an act cannot approve it: a second operator must")
    proposer = s.scalars(select(Operator).where(Operator.name == p.proposed_by)).first()
    if proposer is None or proposer.disabled:
        raise OperatorError(409, f"proposal {proposal_id}'s proposer {p.proposed_by} was disabled: refuse it")
    out = _carry_out(s, p)
    p.status, p.decided_by, p.decided_at, p.decision_reason = "approved", by.name, _now(), reason
    event(s, Actor(by.name, ROLE[p.kind], by.roles), "approved",
          f"proposal {p.id}: {p.kind} {p.subject}, proposed by {p.proposed_by}", reason)
    return {"proposal": p.id, "status": "approved", **out}


def refuse(s: Session, proposal_id: int, by: Actor, reason: str) -> dict[str, Any]:
    p = _open(s, proposal_id, by)
    if p.status == "expired":
        raise OperatorError(409, f"proposal {proposal_id} expired; nothing to refuse")
    p.status, p.decided_by, p.decided_at, p.decision_reason = "refused", by.name, _now(), reason
    event(s, Actor(by.name, ROLE[p.kind], by.roles), "refused", f"proposal {p.id}: {p.kind} {p.subject}", reason)
    return {"proposal": p.id, "status": "refused"}


def listing(s: Session, status: str, limit: int) -> list[dict[str, Any]]:
    q = select(Proposal).order_by(Proposal.id).limit(limit)
    now = _now()
    out = []
    for p in s.scalars(q if status == "all" else q.where(Proposal.status == ("open" if status == "expired"
                                                                                else status))):
        shown = "expired" if p.status == "open" and _utc(p.expires_at) <= now else p.status
        if status not in ("all", shown):
            continue
        shown_payload = {k: v for k, v in p.payload.items() if k not in SECRET}
        out.append({"id": p.id, "kind": p.kind, "subject": p.subject, "payload": shown_payload, "reason": p.reason,
                    "role": ROLE.get(p.kind), "proposed_by": p.proposed_by, "status": shown,
                    "created_at": _utc(p.created_at).isoformat(), "expires_at": _utc(p.expires_at).isoformat(),
                    "decided_by": p.decided_by, "decision_reason": p.decision_reason})
    return out


def pending_push(s: Session, proposal_id: int | None) -> bool:
    """A USB-pushed record whose push no second operator has approved yet."""
    if proposal_id is None:
        return False
    p = s.get(Proposal, proposal_id)
    return p is None or p.status != "approved"


def _carry_out(s: Session, p: Proposal) -> dict[str, Any]:
    """Do what the proposal says (in the approver's transaction).  OperatorError 409 if it can no
    longer be done: nothing changes."""
    kind, subject, pay = p.kind, p.subject, p.payload
    if kind == "activate-device":
        dev = s.get(Device, subject)
        if dev is None or dev.revoked:
            raise OperatorError(409, f"device {subject} is gone or revoked: refuse this proposal")
        dev.active = True
        return {"device_id": subject, "active": True}
    if kind == "push-records":
        n = s.scalar(select(Record.id).where(Record.proposal_id == p.id).limit(1))
        return {"device_id": subject, "records": len(pay.get("record_ids", [])), "stored": n is not None}
    if kind == "review-decision":
        try:
            return persons.decide(s, int(subject), str(pay["decision"]))
        except LookupError as e:
            raise OperatorError(409, str(e)) from None
        except persons.DecisionError as e:
            raise OperatorError(409, str(e)) from None
    if kind == "merge-persons":
        try:
            return {"person": persons.merge(s, int(subject), int(pay["into"]), f"proposal {p.id}")}
        except persons.DecisionError as e:
            raise OperatorError(409, str(e)) from None
    if kind == "unlock-pin":
        n = s.execute(update(Record).where(Record.credential_id == subject).values(pin_failures=0)).rowcount
        if not n:
            raise OperatorError(409, f"no record for credential {subject}")
        return {"credential_id": subject, "unlocked": True}
    if kind == "restore-credential":
        row = s.get(RevokedCredential, subject)
        if row is None:
            raise OperatorError(409, f"credential {subject} is not revoked")
        if row.replaced_by is not None:
            raise OperatorError(409, f"credential {subject} was replaced by {row.replaced_by}: a re-issued card "
                                     "stays revoked (the person's new card pays)")
        s.delete(row)
        return {"credential_id": subject, "restored": True}
    if kind == "set-programme":
        prog = s.get(Programme, subject)
        if prog is None:
            s.add(Programme(code=subject, name=pay["name"], amounts=dict(pay["amounts"])))
        else:
            prog.name, prog.amounts = pay["name"], dict(pay["amounts"])
        return {"code": subject, "amounts": pay["amounts"]}
    if kind == "add-operator":
        operators.create(s, pay)
        return {"operator": subject, "roles": pay["roles"]}
    if kind == "reset-password":
        operators.set_password(s, pay)
        return {"operator": subject, "must_change_password": pay["must_change"]}
    raise OperatorError(409, f"unknown proposal kind {kind}")
