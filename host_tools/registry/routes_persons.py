"""Persons and review: held duplicates, persons, merges, a card's credential revoked, unlocked or
restored, conflicts, the records export.  What makes someone payable (a decision, a merge, an
unlock, a restore) is proposed here and carried out by a second reviewer (proposals.py)."""


import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import persons, proposals
from .context import ERRORS, REASON, Context, CredentialPath, RowId, err
from .models import Conflict, Person, Record, Review, RevokedCredential
from .operators import Actor, event


class DecisionIn(BaseModel):
    decision: str = Field(pattern=r"^(same|different)$",
                          description="same: one person (merged, paid once a period); different: two people")
    reason: str = Field("reviewed", pattern=REASON)


class MergeIn(BaseModel):
    into: int = Field(gt=0, lt=2**62, description="the person this one is the same as")
    reason: str = Field("the same person", pattern=REASON)


class ReasonIn(BaseModel):
    reason: str = Field(pattern=REASON)


def person_view(s: Session, person_id: int) -> dict[str, Any]:
    p = s.get(Person, person_id)
    recs = s.scalars(select(Record).where(Record.person_id == persons.survivor(s, person_id)).order_by(Record.id))
    return {"id": person_id, "status": p.status if p else "unknown", "merged_into": p.merged_into if p else None,
            "held": bool(persons.holds(s, person_id)),
            "records": [{"receipt_no": r.id, "record_id": r.record_id.hex(), "device_id": r.device_id,
                         "credential_id": r.credential_id, "fields": r.fields, "category": r.category,
                         "officer_id": r.officer_id, "created": r.created_t, "clock_synced": r.clock_synced,
                         "pending_push": proposals.pending_push(s, r.proposal_id)} for r in recs]}


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    Reviewer = Annotated[Actor, Depends(ctx.role("reviewer"))]
    Reader = Annotated[Actor, Depends(ctx.role("reviewer", "auditor"))]
    Auditor = Annotated[Actor, Depends(ctx.role("auditor"))]
    Stopper = Annotated[Actor, Depends(ctx.role("reviewer", "registrar"))]

    def propose(actor: Actor, kind: str, subject: str, payload: dict[str, Any], reason: str) -> dict[str, Any]:
        def work(s: Session) -> dict[str, Any]:
            p = proposals.propose(s, actor, kind, subject, payload, reason)
            return {"proposal": p.id, "status": "proposed", "kind": kind, "subject": subject}

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    @r.get("/v1/admin/reviews")
    def reviews(_actor: Reader, status: Annotated[str, Query(pattern=r"^(open|same|different|all)$")] = "open",
                limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        """Decisions waiting for a reviewer (or taken): each names the person it holds and the
        person it may be, with both persons' records side by side."""
        with ctx.sessions() as s:
            q = select(Review).order_by(Review.id).limit(limit)
            if status != "all":
                q = q.where(Review.status == status)
            return [{"id": x.id, "kind": x.kind, "status": x.status, "score": x.score, "detail": x.detail,
                     "opened_at": x.opened_at.isoformat(), "person": person_view(s, x.person_id),
                     "other": person_view(s, x.other_id) if x.other_id is not None else None}
                    for x in s.scalars(q)]

    @r.post("/v1/admin/reviews/{review_id}/decide", status_code=202)
    def decide(review_id: RowId, body: DecisionIn, actor: Reviewer) -> dict[str, Any]:
        """Same person (merged: one payment a period for both cards) or different people:
        proposed; a second reviewer's approval carries it out."""
        with ctx.sessions() as s:
            review = s.get(Review, review_id)
            if review is None:
                raise err(404, f"no review {review_id}")
            if review.status != "open":
                raise err(409, f"review {review_id} was decided already ({review.status})")
        return propose(actor, "review-decision", str(review_id), {"decision": body.decision}, body.reason)

    @r.get("/v1/admin/persons/{person_id}")
    def person(person_id: RowId, _actor: Reader) -> dict[str, Any]:
        with ctx.sessions() as s:
            if s.get(Person, person_id) is None:
                raise err(404, f"no person {person_id}")
            return person_view(s, person_id)

    @r.post("/v1/admin/persons/{person_id}/merge", status_code=202)
    def merge(person_id: RowId, body: MergeIn, actor: Reviewer) -> dict[str, Any]:
        """Two persons found to be one after all: proposed, for a second reviewer."""
        with ctx.sessions() as s:
            if s.get(Person, person_id) is None or s.get(Person, body.into) is None:
                raise err(404, "no such person")
            if persons.survivor(s, person_id) == persons.survivor(s, body.into):
                raise err(409, "these persons are one person already")
        return propose(actor, "merge-persons", str(person_id), {"into": body.into}, body.reason)

    def _credential_known(credential_id: str) -> None:
        with ctx.sessions() as s:
            if s.scalars(select(Record.id).where(Record.credential_id == credential_id)).first() is None:
                raise err(404, f"no record for credential {credential_id}")

    @r.post("/v1/admin/credentials/{credential_id}/revoke")
    def revoke_credential(credential_id: CredentialPath, actor: Stopper,
                          reason: Annotated[str, Query(pattern=r"^[A-Za-z0-9 ,.'-]{1,64}$")] = "revoked"
                          ) -> dict[str, Any]:
        """The card pays nothing any more (lost, stolen, replaced): one operator may stop money."""
        def work(s: Session) -> dict[str, Any]:
            if s.scalars(select(Record.id).where(Record.credential_id == credential_id)).first() is None:
                raise err(404, f"no record for credential {credential_id}")
            if s.get(RevokedCredential, credential_id) is None:
                s.add(RevokedCredential(credential_id=credential_id, reason=reason))
                event(s, actor, "credential-revoked", f"credential {credential_id}", reason)
            return {"credential_id": credential_id, "revoked": True}

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    @r.post("/v1/admin/credentials/{credential_id}/unlock", status_code=202)
    def unlock(credential_id: CredentialPath, actor: Reviewer, body: ReasonIn | None = None) -> dict[str, Any]:
        """Clear a card's PIN lock (the person came with their ID to an office): proposed."""
        _credential_known(credential_id)
        return propose(actor, "unlock-pin", credential_id, {}, body.reason if body else "the person came to the office")

    @r.post("/v1/admin/credentials/{credential_id}/restore", status_code=202)
    def restore(credential_id: CredentialPath, body: ReasonIn, actor: Reviewer) -> dict[str, Any]:
        """A revoked card pays again (found after being reported lost): proposed."""
        _credential_known(credential_id)
        with ctx.sessions() as s:
            if s.get(RevokedCredential, credential_id) is None:
                raise err(409, f"credential {credential_id} is not revoked")
        return propose(actor, "restore-credential", credential_id, {}, body.reason)

    @r.get("/v1/admin/conflicts")
    def conflicts(_actor: Reader) -> list[dict[str, Any]]:
        with ctx.sessions() as s:
            return [{"record_id": c.record_id.hex(), "device_id": c.device_id, "digest": c.digest.hex(),
                     "received_at": c.received_at.isoformat()} for c in s.scalars(select(Conflict))]

    @r.get("/v1/admin/records", response_class=StreamingResponse,
           responses={200: {"content": {"application/x-ndjson": {}}, "description": "one record per line"}, **ERRORS})
    def export(_actor: Auditor) -> StreamingResponse:
        """Every stored record as JSON lines (streamed: the registry never holds them all in RAM)."""
        def lines() -> Iterator[bytes]:
            with ctx.sessions() as s:
                for x in s.scalars(select(Record).order_by(Record.id).execution_options(yield_per=500)):
                    yield (json.dumps({"receipt_no": x.id, "v": x.schema, "category": x.category,
                                       "record_id": x.record_id.hex(), "device_id": x.device_id,
                                       "boot": x.boot, "seq": x.seq, "credential_id": x.credential_id,
                                       "officer_id": x.officer_id, "created": x.created_t,
                                       "clock_synced": x.clock_synced, "fields": x.fields}) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return r
