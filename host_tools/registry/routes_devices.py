"""Enrolment devices and payout points as the registrars see them: register (active only once a
second registrar approves), list, revoke, and records pushed over USB (payable only once a second
registrar approves the push)."""


from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import proposals, protocol
from .cards import CardResult, bind_cards
from .context import BATCH_OPENAPI, ERRORS, REASON, Context, DeviceIdPath, err, read_body, run_in_thread
from .ingest import ingest
from .models import Device, Record
from .operators import Actor, OperatorError, event
from .trust import kid_of


class DeviceIn(BaseModel):
    device_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    hmac_secret: str = Field(pattern=r"^[0-9a-f]{64}$")
    ed25519_pub: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: str = Field("enrolment", pattern=r"^(enrolment|payout)$",
                      description="enrolment (pushes records, signs cards) or payout (verifies card + PIN)")
    reason: str = Field("provisioned", pattern=REASON)


def register(s: Session, keys: Any, actor: Actor, device_id: str, secret: bytes, pub: bytes, role: str,
             reason: str) -> int:
    """A device or payout point registered inactive, its activation proposed (for a second
    registrar); returns the proposal.  OperatorError 409 if the id is taken."""
    if s.get(Device, device_id) is not None:
        raise OperatorError(409, f"device {device_id} is already registered")
    s.add(Device(device_id=device_id, hmac_secret=keys.seal_device_secret(device_id, secret), ed25519_pub=pub,
                 revoked=False, role=role, active=False))
    event(s, actor, "device-added", "registered as " + role, reason, device_id=device_id)
    s.flush()
    return proposals.propose(s, actor, "activate-device", device_id, {"role": role}, reason).id


def revoke_device(s: Session, actor: Actor, device_id: str, reason: str) -> None:
    """One registrar may stop a device (it creates no money).  OperatorError 404 if unknown."""
    dev = s.get(Device, device_id)
    if dev is None:
        raise OperatorError(404, f"no device {device_id}")
    dev.revoked = True
    event(s, actor, "device-revoked", "revoked", reason, device_id=device_id)


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    Registrar = Annotated[Actor, Depends(ctx.role("registrar"))]
    Reader = Annotated[Actor, Depends(ctx.role("registrar", "auditor"))]

    @r.post("/v1/admin/devices", status_code=201)
    def add_device(dev: DeviceIn, actor: Registrar) -> dict[str, Any]:
        """Registered, not active: its activation is proposed, for a second registrar to approve."""
        def work(s: Session) -> dict[str, Any]:
            proposal = register(s, ctx.keys, actor, dev.device_id, bytes.fromhex(dev.hmac_secret),
                                bytes.fromhex(dev.ed25519_pub), dev.role, dev.reason)
            return {"device_id": dev.device_id, "registered": True, "active": False, "proposal": proposal}

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    @r.get("/v1/admin/devices")
    def list_devices(_actor: Reader) -> list[dict[str, Any]]:
        with ctx.sessions() as s:
            counts = dict(s.execute(select(Record.device_id, func.count()).group_by(Record.device_id)).all())
            return [{"device_id": d.device_id, "role": d.role, "revoked": d.revoked, "active": d.active,
                     "records": counts.get(d.device_id, 0),
                     "registered_at": d.registered_at.isoformat(), "kid": kid_of(d.ed25519_pub).hex()}
                    for d in s.scalars(select(Device).order_by(Device.device_id))]

    @r.post("/v1/admin/devices/{device_id}/revoke")
    def revoke(device_id: DeviceIdPath, actor: Registrar,
               reason: Annotated[str, Query(pattern=REASON)] = "revoked") -> dict[str, Any]:
        """One registrar may stop a device (it creates no money)."""
        ctx.in_transaction(lambda s: revoke_device(s, actor, device_id, reason))
        return {"device_id": device_id, "revoked": True}

    @r.post("/v1/admin/devices/{device_id}/batches", openapi_extra={"requestBody": BATCH_OPENAPI["requestBody"]},
            responses=ERRORS)
    async def push_batch(device_id: DeviceIdPath, request: Request, actor: Registrar,
                         reason: Annotated[str, Query(pattern=REASON)] = "pulled over USB") -> dict[str, Any]:
        """Records pulled from a device over USB (`enrolctl records push`): the same ingest and
        exactly-once rules as the device's own sync, on an operator's authority, so the records it
        stores pay nothing until a second registrar approves the push (the answer names the proposal)."""
        body = await read_body(request)
        return await run_in_thread(_push, device_id, body, actor, reason)  # type: ignore[no-any-return]

    def _push(device_id: str, body: bytes, actor: Actor, reason: str) -> dict[str, Any]:
        try:
            batch = protocol.parse_batch(body)
        except protocol.BatchFormatError as e:
            raise err(400, str(e)) from e

        def work(s: Session) -> tuple[list[Any], list[CardResult], int | None]:
            device = s.get(Device, device_id)
            if device is None:
                raise err(404, f"no device {device_id}")
            if device.revoked:
                raise err(403, "device revoked")
            results = ingest(s, ctx.keys, ctx.cache, device_id, batch)
            stored = [x.record_id for x in results if x.result == protocol.ACCEPTED]
            proposal = None
            if stored:
                p = proposals.propose(s, actor, "push-records", device_id,
                                      {"record_ids": [rid.hex() for rid in stored]}, reason)
                s.execute(update(Record).where(Record.record_id.in_(stored)).values(proposal_id=p.id))
                proposal = p.id
            cards = bind_cards(s, device_id, batch.cards)
            event(s, actor, "records-pushed", f"{len(stored)} records stored, {len(cards)} cards, over USB"
                  + (f": proposal {proposal}" if proposal else ""), reason, device_id=device_id)
            return results, cards, proposal

        results, cards, proposal = ctx.in_transaction(work)
        return {"results": [{"record_id": x.record_id.hex(), "result": protocol.RESULT_NAMES[x.result],
                             "receipt_no": x.receipt_no, "reason": x.reason} for x in results],
                "cards": [{"boot": c.boot, "seq": c.seq, "result": protocol.RESULT_NAMES[c.result],
                           "reason": c.reason} for c in cards],
                "proposal": proposal}

    return r
