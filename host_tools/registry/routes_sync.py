"""Devices and sync: health, the clock, an enrolment device's batches, the trust list."""


import time
from typing import Any

import cbor2
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import protocol
from .cards import CardResult, bind_cards
from .context import BATCH_OPENAPI, ERRORS, WINDOW_S, Context, err, read_body, run_in_thread
from .ingest import ingest
from .models import Device, Nonce
from .trust import signed_trust_bin, signed_trust_list


def card_signers(s: Session) -> list[tuple[str, bytes]]:
    """The enrolment devices whose cards are trusted: registered, approved by a second registrar,
    not revoked."""
    return [(d.device_id, d.ed25519_pub) for d in s.scalars(
        select(Device).where(Device.revoked.is_(False), Device.active.is_(True), Device.role == "enrolment")
        .order_by(Device.device_id))]


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get("/v1/health")
    def health() -> dict[str, Any]:
        with ctx.sessions() as s:
            s.execute(select(1))
        return {"ok": True, "database": ctx.engine.dialect.name, "registry_id": ctx.keys.registry_id}

    @r.get("/v1/time")
    def server_time() -> dict[str, int]:
        return {"time": int(time.time())}

    @r.post("/v1/batches", response_class=Response, openapi_extra=BATCH_OPENAPI,
            responses={200: {"content": {"application/cbor": {}}, "description": "one result per record and per card entry"},
                       **ERRORS})
    async def batches(request: Request) -> Response:
        """An enrolment device's records and card entries.  A device no second registrar has
        approved yet is heard (its records are kept, exactly once) but pays nothing."""
        body = await read_body(request)
        return await run_in_thread(_store_batch, request, body)

    def _store_batch(request: Request, body: bytes) -> Response:
        def work(s: Session) -> tuple[Device, str, list[Any], list[CardResult]]:
            device, nonce = ctx.authenticate(s, request, body)
            try:
                batch = protocol.parse_batch(body)
            except protocol.BatchFormatError as e:
                raise err(400, str(e)) from e
            results = ingest(s, ctx.keys, ctx.cache, device.device_id, batch)
            return device, nonce, results, bind_cards(s, device.device_id, batch.cards)

        device, nonce, results, cards = ctx.in_transaction(work)
        ctx.batches += 1
        if ctx.batches % 256 == 0:
            _prune_nonces()
        secret = ctx.device_secret(device)
        doc = {"time": int(time.time()), "results": [
            [x.record_id, x.result, x.receipt_no,
             protocol.receipt_mac(secret, x.record_id, x.result, x.receipt_no, x.digest),
             protocol.short_reason(x.reason)] for x in results],
            "cards": [[c.boot, c.seq, c.result, protocol.card_mac(secret, c.digest, c.result),
                       protocol.short_reason(c.reason)] for c in cards]}
        out = cbor2.dumps(doc, canonical=True)  # the device decoder wants deterministic CBOR
        sig = protocol.response_signature(secret, 200, nonce, out)
        return Response(out, media_type="application/cbor", headers={protocol.H_SIGNATURE: sig})

    def _prune_nonces() -> None:
        with ctx.sessions() as s:
            s.execute(delete(Nonce).where(Nonce.ts < int(time.time()) - 2 * WINDOW_S))
            s.commit()

    def _signers() -> list[tuple[str, bytes]]:
        with ctx.sessions() as s:
            return card_signers(s)

    @r.get("/v1/trust")
    def trust() -> dict[str, Any]:
        return signed_trust_list(ctx.keys.trust_key, ctx.keys.registry_id, _signers())

    @r.get("/v1/trust.bin", response_class=Response,
           responses={200: {"content": {"application/octet-stream": {}},
                            "description": "the trust list in bytes, for payout devices (trust.py)"}})
    def trust_bin() -> Response:
        try:
            data = signed_trust_bin(ctx.keys.trust_key, ctx.keys.registry_id, _signers())
        except ValueError as e:  # more enrolment devices than a payout device takes: the operator's to fix
            raise err(503, f"trust list not servable: {e}") from None
        return Response(data, media_type="application/octet-stream")

    return r
