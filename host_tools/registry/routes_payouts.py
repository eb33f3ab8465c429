"""Payouts: a payout point's card + PIN checks and claims, the programmes, the payments of a month."""


import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import payouts, proposals, protocol
from .context import ERROR_SCHEMA, ERRORS, REASON, SIGNED_HEADERS, Context, err, read_body, run_in_thread
from .models import Device, Payment, Programme, Record
from .operators import Actor

CODE = r"^[a-z][a-z0-9_]{0,31}$"


class PayoutIn(BaseModel):
    credential: str = Field(max_length=2048, description="base64 of the card's COSE_Sign1 bytes")
    uid: str = Field(pattern=r"^[0-9a-fA-F]{14}$", description="the card's 7-byte UID, hex")
    pin_block: str = Field(pattern=r"^[0-9a-fA-F]{32}$", description="ISO 9564 format 4, under the payout point's PIN key")
    programme: str = Field(pattern=CODE)
    period: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", description="YYYY-MM, the month paid for (Cambodian time)")


class VerifyIn(BaseModel):
    credential: str = Field(max_length=2048, description="base64 of the card's COSE_Sign1 bytes")
    uid: str = Field(pattern=r"^[0-9a-fA-F]{14}$", description="the card's 7-byte UID, hex")
    pin_block: str = Field(pattern=r"^[0-9a-fA-F]{32}$",
                           description="ISO 9564 format 4 block under the payout point's PIN key, hex")


class ProgrammeIn(BaseModel):
    code: str = Field(pattern=CODE)
    name: str = Field(pattern=r"^[^\x00-\x1f\x7f]{1,64}$", description="printable: PostgreSQL refuses a NUL")
    amounts: dict[Annotated[str, Field(pattern=CODE)], Annotated[int, Field(gt=0, lt=10**12)]] = \
        Field(min_length=1, description="riel a month per beneficiary category")
    reason: str = Field("a new programme", pattern=REASON)


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    Registrar = Annotated[Actor, Depends(ctx.role("registrar"))]
    Reader = Annotated[Actor, Depends(ctx.role("registrar", "auditor"))]

    def _payout_point(request: Request, body: bytes) -> tuple[Device, str]:
        def work(s: Session) -> tuple[Device, str]:
            point, nonce = ctx.authenticate(s, request, body, "payout")
            s.flush()  # the nonce: a copy of this request racing it fails here, is redone, and is a replay
            s.expunge(point)
            return point, nonce

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    def _signed(point: Device, nonce: str, doc: dict[str, Any]) -> Response:
        out = json.dumps(doc).encode()
        sig = protocol.response_signature(ctx.device_secret(point), 200, nonce, out)
        return Response(out, media_type="application/json", headers={protocol.H_SIGNATURE: sig})

    @r.post("/v1/verify", openapi_extra={"parameters": SIGNED_HEADERS, "requestBody": {
        "required": True, "content": {"application/json": {"schema": VerifyIn.model_json_schema()}}}},
        responses={**ERRORS, 422: {"description": "not a verify request",
                                    "content": {"application/json": {"schema": ERROR_SCHEMA}}}})
    async def verify(request: Request) -> Response:
        """Card + PIN, asked by a payout point (its request signed as a device signs its batches);
        the answer is signed for it (the X-Signature header, as a batch's answer)."""
        body = await read_body(request)
        point, nonce = await run_in_thread(_payout_point, request, body)
        return _signed(point, nonce, await run_in_thread(_verify, point.device_id, body))

    def _verify(point_id: str, body: bytes) -> dict[str, Any]:
        try:
            req = VerifyIn.model_validate_json(body)
        except ValueError as e:
            raise err(422, "request body is not a verify request: " + str(e).splitlines()[0]) from None

        def work(s: Session) -> dict[str, Any]:
            return payouts.card_and_pin(s, ctx.keys, point_id, req.credential, req.uid, req.pin_block, time.time())[1]

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    @r.post("/v1/payouts", openapi_extra={"parameters": SIGNED_HEADERS, "requestBody": {
        "required": True, "content": {"application/json": {"schema": PayoutIn.model_json_schema()}}}},
        responses={**ERRORS, 422: {"description": "not a payout request",
                                    "content": {"application/json": {"schema": ERROR_SCHEMA}}}})
    async def payout(request: Request) -> Response:
        """A payout point's claim: card, PIN, the programme and period; paid once per person,
        programme and period (payouts.py).  The answer is signed for the payout point."""
        body = await read_body(request)
        point, nonce = await run_in_thread(_payout_point, request, body)
        try:
            req = PayoutIn.model_validate_json(body)
        except ValueError as e:
            raise err(422, "request body is not a payout request: " + str(e).splitlines()[0]) from None

        def work(s: Session) -> dict[str, Any]:
            return payouts.payout(s, ctx.keys, point.device_id, req)  # it commits; a lost race is redone

        return _signed(point, nonce, await run_in_thread(ctx.in_transaction, work))

    @r.post("/v1/admin/programmes", status_code=202)
    def add_programme(prog: ProgrammeIn, actor: Registrar) -> dict[str, Any]:
        """A programme added, or its amounts changed: proposed here, carried out when a second
        registrar approves (proposals.py)."""
        def work(s: Session) -> dict[str, Any]:
            old = s.get(Programme, prog.code)
            if old is not None and old.name == prog.name and old.amounts == dict(prog.amounts):
                raise err(409, f"programme {prog.code} exists with these amounts")
            p = proposals.propose(s, actor, "set-programme", prog.code,
                                  {"name": prog.name, "amounts": dict(prog.amounts),
                                   "was": old.amounts if old is not None else None}, prog.reason)
            return {"code": prog.code, "proposal": p.id, "status": "proposed"}

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    @r.get("/v1/admin/programmes")
    def list_programmes(_actor: Reader) -> list[dict[str, Any]]:
        with ctx.sessions() as s:
            return [{"code": p.code, "name": p.name, "amounts": p.amounts}
                    for p in s.scalars(select(Programme).order_by(Programme.code))]

    @r.get("/v1/admin/payments")
    def list_payments(programme: Annotated[str, Query(pattern=CODE)],
                      period: Annotated[str, Query(pattern=r"^[0-9]{4}-[0-9]{2}$")],
                      _actor: Reader) -> dict[str, Any]:
        """The payments of a programme and period, and the totals per payout point."""
        with ctx.sessions() as s:
            rows = s.execute(select(Payment, Record.credential_id).join(Record, Record.record_id == Payment.record_id)
                             .where(Payment.programme == programme, Payment.period == period)
                             .order_by(Payment.id)).all()
        payments = [{"receipt": p.receipt, "credential_id": cred, "amount": p.amount, "payout_point": p.payout_point,
                     "paid_at": p.paid_at.isoformat()} for p, cred in rows]
        totals: dict[str, dict[str, int]] = {}
        for p in payments:
            t = totals.setdefault(p["payout_point"], {"payments": 0, "amount": 0})
            t["payments"] += 1
            t["amount"] += p["amount"]
        return {"programme": programme, "period": period, "payments": payments, "totals": totals}

    return r
