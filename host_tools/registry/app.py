"""The reference registry: an ASGI app (FastAPI) over SQLAlchemy.  Protocol: protocol.py.

Device endpoints are signed with the device's HMAC secret (see protocol.py), and a device has
one role: an enrolment device pushes batches, a payout point verifies card + PIN.  Operator
endpoints (admin) take the operator bearer token, which can never verify a PIN; a device's
signature can never administer.  A principal on a route not of its role: 403.  Every error
is JSON {"error": reason} with a 4xx/5xx status, and nothing is written for a
refused request.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import cbor2
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import limits, payouts, persons, protocol
from .cards import CardResult, bind_cards
from .db import write_lock
from .ingest import KeyCache, ingest
from .keys import RegistryKeys
from .models import Conflict, Device, Event, Nonce, Payment, Person, Programme, Record, Review, RevokedCredential
from .trust import kid_of, signed_trust_bin, signed_trust_list

WINDOW_S = 300  # a signed request's timestamp must be within 5 minutes of the registry's clock
_RETRIES = 8  # concurrent batches racing on the same record id: redo the transaction
_DEVICE_ID = re.compile(protocol.DEVICE_ID_RE)
_TIME = re.compile(protocol.TIME_RE)
_NONCE = re.compile(protocol.NONCE_RE)
_SIGNATURE = re.compile(protocol.SIGNATURE_RE)
log = logging.getLogger("registry")


def _target(request: Request) -> str:
    """The request target as the client sent it (path and query): what the signature covers."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def _retryable(e: Exception) -> bool:
    """A conflict with a concurrent transaction, which a redo resolves."""
    if isinstance(e, IntegrityError):
        return True
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    if code in ("40001", "40P01"):  # PostgreSQL: serialization failure, deadlock
        return True
    return "database is locked" in str(getattr(e, "orig", e))


class FailureLimiter:
    """Refused requests, counted in memory (no row each: anyone can send them).

    Keys: (source address, device id) for a wrong signature; the source address alone for a
    malformed header or an unknown device id.  Past LIMIT failures in WINDOW_S seconds a key is
    answered 429 with Retry-After before any database or HMAC work, until its window has passed.
    A genuine device is never refused for what others send, even from behind the same address
    (a carrier's NAT), unless someone there signs wrongly under its own device id."""

    LIMIT = 30
    WINDOW_S = 60
    KEYS_MAX = 100_000  # memory bound: the oldest windows are forgotten first

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, ...], tuple[float, int]] = {}  # key -> (window start, failures)

    def failed(self, *key: str) -> None:
        now = time.monotonic()
        with self._lock:
            start, n = self._seen.get(key, (now, 0))
            if now - start > self.WINDOW_S:
                start, n = now, 0
            self._seen[key] = (start, n + 1)
            if n + 1 == self.LIMIT:
                log.warning("refused requests: %d in %d s from %s", self.LIMIT, self.WINDOW_S, "/".join(key))
            if len(self._seen) > self.KEYS_MAX:
                for old in sorted(self._seen, key=lambda k: self._seen[k][0])[: self.KEYS_MAX // 10]:
                    del self._seen[old]

    def blocked(self, *key: str) -> int:
        """Seconds to wait (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            start, n = self._seen.get(key, (now, 0))
        if n >= self.LIMIT and now - start <= self.WINDOW_S:
            return int(self.WINDOW_S - (now - start)) + 1
        return 0


class ApiError(HTTPException):
    pass


_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": why, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    for code, why in ((400, "malformed body"), (401, "not signed, or signed wrongly"), (403, "device revoked"),
                      (408, "body not sent in time"), (413, "body too large"), (429, "too many refused requests"),
                      (503, "database unavailable"))}
_SIGNED_HEADERS = [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                   for name in ("X-Enrol-Device", "X-Enrol-Time", "X-Enrol-Nonce", "X-Enrol-Signature")]
_BATCH_OPENAPI: dict[str, Any] = {
    "parameters": _SIGNED_HEADERS,
    "requestBody": {"required": True, "description": "EBT1 batch (protocol.py)",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary",
                                                                          "maxLength": 65536}}}},
}


# a device id in a path: checked like the header before it reaches the database (a NUL in it
# would make PostgreSQL refuse the query: a 5xx for a client's bytes)
DeviceIdPath = Annotated[str, PathParam(pattern="^" + protocol.DEVICE_ID_RE + "$")]


def _err(status: int, reason: str, **extra: Any) -> ApiError:
    return ApiError(status, detail={"error": reason, **extra})


def _too_many(wait_s: int) -> ApiError:
    return ApiError(429, detail={"error": "too many refused requests: wait"}, headers={"Retry-After": str(wait_s)})


class DeviceIn(BaseModel):
    device_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    hmac_secret: str = Field(pattern=r"^[0-9a-f]{64}$")
    ed25519_pub: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: str = Field("enrolment", pattern=r"^(enrolment|payout)$",
                      description="enrolment (pushes records, signs cards) or payout (verifies card + PIN)")


class PayoutIn(BaseModel):
    credential: str = Field(max_length=2048, description="base64 of the card's COSE_Sign1 bytes")
    uid: str = Field(pattern=r"^[0-9a-fA-F]{14}$", description="the card's 7-byte UID, hex")
    pin_block: str = Field(pattern=r"^[0-9a-fA-F]{32}$", description="ISO 9564 format 4, under the payout point's PIN key")
    programme: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    period: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", description="YYYY-MM, the month paid for (Cambodian time)")


class ProgrammeIn(BaseModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(pattern=r"^[^\x00-\x1f\x7f]{1,64}$", description="printable: PostgreSQL refuses a NUL")
    amounts: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")], Annotated[int, Field(gt=0, lt=10**12)]] = \
        Field(min_length=1, description="riel a month per beneficiary category")


class DecisionIn(BaseModel):
    decision: str = Field(pattern=r"^(same|different)$",
                          description="same: one person (merged, paid once a period); different: two people")


class MergeIn(BaseModel):
    into: int = Field(gt=0, lt=2**62, description="the person this one is the same as")


# a credential id in a path: the legacy XXXX-XXXX or the full 26 characters (ingest.py)
CredentialPath = Annotated[str, PathParam(pattern=r"^([0-9A-Z]{4}-[0-9A-Z]{4}|[0-9A-Z]{26})$")]


class VerifyIn(BaseModel):
    credential: str = Field(max_length=2048, description="base64 of the card's COSE_Sign1 bytes")
    uid: str = Field(pattern=r"^[0-9a-fA-F]{14}$", description="the card's 7-byte UID, hex")
    pin_block: str = Field(pattern=r"^[0-9a-fA-F]{32}$",
                           description="ISO 9564 format 4 block under the payout point's PIN key, hex")


def create_app(keys: RegistryKeys, engine: Engine) -> FastAPI:
    app = FastAPI(title="Enrolment registry", version="1")
    app.add_middleware(limits.RequestLimits, operator_token=keys.operator_token)
    sessions = sessionmaker(engine, expire_on_commit=False)
    cache = KeyCache()
    counter = {"batches": 0}
    limiter = FailureLimiter()
    app.state.engine = engine
    app.state.limiter = limiter

    def device_secret(device: Device) -> bytes:
        return keys.open_device_secret(device.device_id, device.hmac_secret)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own, and the router's 404 and 405
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail).lower()}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_req: Request, exc: Exception) -> JSONResponse:
        # the type only: an exception's text can hold SQL parameters, that is personal data
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"invalid request: {where}: {first.get('msg', '')}"}, status_code=422)

    @app.exception_handler(DBAPIError)  # the database failed (down, full, its schema broken)
    async def _db_down(_req: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        return JSONResponse({"error": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})

    def operator(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
        expected = "Bearer " + keys.operator_token
        if authorization is None and request.headers.get(protocol.H_DEVICE):
            raise _err(403, "a device or payout point cannot administer the registry")
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise _err(401, "operator token missing or wrong")

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        with sessions() as s:
            s.execute(select(1))
        return {"ok": True, "database": engine.dialect.name, "registry_id": keys.registry_id}

    @app.get("/v1/time")
    def server_time() -> dict[str, int]:
        return {"time": int(time.time())}

    async def _body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > protocol.MAX_BATCH_BYTES):
            raise _err(413, f"body over {protocol.MAX_BATCH_BYTES} bytes")
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > protocol.MAX_BATCH_BYTES:
                raise _err(413, f"body over {protocol.MAX_BATCH_BYTES} bytes")
        if declared is not None and len(chunks) != int(declared):
            raise _err(400, "body shorter than its Content-Length")
        return bytes(chunks)

    def _authenticate(s: Session, request: Request, body: bytes, role: str = "enrolment") -> tuple[Device, str]:
        h = request.headers
        if h.get("authorization") and not h.get(protocol.H_DEVICE):
            raise _err(403, "the operator token administers the registry: it cannot push records or verify a PIN")
        dev_id, ts, nonce, sig = (h.get(protocol.H_DEVICE), h.get(protocol.H_TIME), h.get(protocol.H_NONCE),
                                  h.get(protocol.H_SIGNATURE))
        if not dev_id or not ts or not nonce or not sig:
            raise _err(401, "request is not signed (device, time, nonce and signature headers needed)")
        source = request.client.host if request.client else "?"

        def refuse(reason: str, *key: str) -> ApiError:
            wait = limiter.blocked(*key)
            limiter.failed(*key)
            return _too_many(wait) if wait else _err(401, reason)

        if not (_DEVICE_ID.fullmatch(dev_id) and _TIME.fullmatch(ts) and _NONCE.fullmatch(nonce)
                and _SIGNATURE.fullmatch(sig)):
            raise refuse("malformed device, nonce, time or signature header", source)
        wait = limiter.blocked(source, dev_id)  # the cheap refusal, before any lookup or HMAC
        if wait:
            raise _too_many(wait)
        device = s.get(Device, dev_id)
        if device is None:
            raise refuse("unknown device", source)
        secret = device_secret(device)
        expected = protocol.request_signature(secret, request.method, _target(request), dev_id, ts, nonce, body)
        if not hmac.compare_digest(expected, sig):
            raise refuse("bad signature", source, dev_id)
        if device.revoked:
            raise _err(403, "device revoked")
        if device.role != role:
            raise _err(403, f"{dev_id} is a {device.role} device: this is for a {role} device")
        now = int(time.time())
        if abs(now - int(ts)) > WINDOW_S:
            raise _err(401, "timestamp outside the window", time=now)
        if s.get(Nonce, (dev_id, nonce)) is not None:
            raise _err(401, "nonce reused (replay)")
        s.add(Nonce(device_id=dev_id, nonce=nonce, ts=int(ts)))
        return device, nonce

    @app.post("/v1/batches", response_class=Response, openapi_extra=_BATCH_OPENAPI,
              responses={200: {"content": {"application/cbor": {}}, "description": "one result per record and per card entry"},
                         **_ERRORS})
    async def batches(request: Request) -> Response:
        body = await _body(request)
        return await run_in_thread(_store_batch, request, body)

    def _in_transaction(work: Callable[[Session], Any]) -> Any:
        """Run work(session) and commit; redo it when a concurrent transaction got there first:
        a batch that stored one of the same record ids (UNIQUE(record_id), raised at the insert's
        flush or at commit), a copy of the same request (its nonce), a PostgreSQL serialization
        failure or deadlock, SQLite's lock.  The redo then answers "duplicate" or "replay"."""
        for attempt in range(_RETRIES):
            with sessions() as s:
                try:
                    write_lock(s)  # SQLite: serializable (a match, a payment read before they write)
                    out = work(s)
                    s.commit()
                    return out
                except (IntegrityError, OperationalError) as e:
                    s.rollback()
                    if attempt == _RETRIES - 1 or not _retryable(e):
                        raise
            time.sleep(0.01 * (attempt + 1))
        raise RuntimeError("unreachable")

    def _store_batch(request: Request, body: bytes) -> Response:
        def work(s: Session) -> tuple[Device, str, list[Any], list[CardResult]]:
            device, nonce = _authenticate(s, request, body)
            try:
                batch = protocol.parse_batch(body)
            except protocol.BatchFormatError as e:
                raise _err(400, str(e)) from e
            results = ingest(s, keys, cache, device.device_id, batch)
            return device, nonce, results, bind_cards(s, device.device_id, batch.cards)

        device, nonce, results, cards = _in_transaction(work)
        counter["batches"] += 1
        if counter["batches"] % 256 == 0:
            _prune_nonces()
        secret = device_secret(device)
        doc = {"time": int(time.time()), "results": [
            [r.record_id, r.result, r.receipt_no,
             protocol.receipt_mac(secret, r.record_id, r.result, r.receipt_no, r.digest),
             protocol.short_reason(r.reason)] for r in results],
            "cards": [[c.boot, c.seq, c.result, protocol.card_mac(secret, c.digest, c.result),
                       protocol.short_reason(c.reason)] for c in cards]}
        out = cbor2.dumps(doc, canonical=True)  # the device decoder wants deterministic CBOR
        sig = protocol.response_signature(secret, 200, nonce, out)
        return Response(out, media_type="application/cbor", headers={protocol.H_SIGNATURE: sig})

    def _prune_nonces() -> None:
        with sessions() as s:
            s.execute(delete(Nonce).where(Nonce.ts < int(time.time()) - 2 * WINDOW_S))
            s.commit()

    def _card_signers() -> list[tuple[str, bytes]]:
        with sessions() as s:
            return [(d.device_id, d.ed25519_pub) for d in s.scalars(select(Device).where(Device.revoked.is_(False),
                                                                                         Device.role == "enrolment")
                                                                     .order_by(Device.device_id))]

    @app.get("/v1/trust")
    def trust() -> dict[str, Any]:
        return signed_trust_list(keys.trust_key, keys.registry_id, _card_signers())

    @app.get("/v1/trust.bin", response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "the trust list in bytes, for payout devices (trust.py)"}})
    def trust_bin() -> Response:
        try:
            data = signed_trust_bin(keys.trust_key, keys.registry_id, _card_signers())
        except ValueError as e:  # more enrolment devices than a payout device takes: the operator's to fix
            raise _err(503, f"trust list not servable: {e}") from None
        return Response(data, media_type="application/octet-stream")

    @app.post("/v1/verify", openapi_extra={"parameters": _SIGNED_HEADERS, "requestBody": {
        "required": True, "content": {"application/json": {"schema": VerifyIn.model_json_schema()}}}},
        responses={**_ERRORS, 422: {"description": "not a verify request",
                                     "content": {"application/json": {"schema": _ERROR_SCHEMA}}}})
    async def verify(request: Request) -> Response:
        """Card + PIN, asked by a payout point (its request signed as a device signs its batches);
        the answer is signed for it (the X-Signature header, as a batch's answer)."""
        import json

        body = await _body(request)
        point, nonce = await run_in_thread(_payout_point, request, body)
        doc = await run_in_thread(_verify, point.device_id, body)
        out = json.dumps(doc).encode()
        sig = protocol.response_signature(device_secret(point), 200, nonce, out)
        return Response(out, media_type="application/json", headers={protocol.H_SIGNATURE: sig})

    def _payout_point(request: Request, body: bytes) -> tuple[Device, str]:
        def work(s: Session) -> tuple[Device, str]:
            point, nonce = _authenticate(s, request, body, "payout")
            s.flush()  # the nonce: a copy of this request racing it fails here, is redone, and is a replay
            s.expunge(point)
            return point, nonce

        return _in_transaction(work)  # type: ignore[no-any-return]

    def _verify(point_id: str, body: bytes) -> dict[str, Any]:
        try:
            req = VerifyIn.model_validate_json(body)
        except ValueError as e:
            raise _err(422, "request body is not a verify request: " + str(e).splitlines()[0]) from None
        def work(s: Session) -> dict[str, Any]:
            return payouts.card_and_pin(s, keys, point_id, req.credential, req.uid, req.pin_block, time.time())[1]

        return _in_transaction(work)  # type: ignore[no-any-return]

    @app.post("/v1/payouts", openapi_extra={"parameters": _SIGNED_HEADERS, "requestBody": {
        "required": True, "content": {"application/json": {"schema": PayoutIn.model_json_schema()}}}},
        responses={**_ERRORS, 422: {"description": "not a payout request",
                                     "content": {"application/json": {"schema": _ERROR_SCHEMA}}}})
    async def payout(request: Request) -> Response:
        """A payout point's claim: card, PIN, the programme and period; paid once per person,
        programme and period (payouts.py).  The answer is signed for the payout point."""
        import json

        body = await _body(request)
        point, nonce = await run_in_thread(_payout_point, request, body)
        try:
            req = PayoutIn.model_validate_json(body)
        except ValueError as e:
            raise _err(422, "request body is not a payout request: " + str(e).splitlines()[0]) from None

        def work(s: Session) -> dict[str, Any]:
            return payouts.payout(s, keys, point.device_id, req)  # it commits; a lost race is redone

        out = json.dumps(await run_in_thread(_in_transaction, work)).encode()
        sig = protocol.response_signature(device_secret(point), 200, nonce, out)
        return Response(out, media_type="application/json", headers={protocol.H_SIGNATURE: sig})

    @app.post("/v1/admin/programmes", dependencies=[Depends(operator)], status_code=201)
    def add_programme(prog: ProgrammeIn) -> dict[str, Any]:
        with sessions() as s:
            if s.get(Programme, prog.code) is not None:
                raise _err(409, f"programme {prog.code} exists")
            s.add(Programme(code=prog.code, name=prog.name, amounts=dict(prog.amounts)))
            s.add(Event(kind="programme-added", device_id=None,
                        detail=f"{prog.code}: " + ", ".join(f"{c} {a}" for c, a in sorted(prog.amounts.items()))))
            s.commit()
        return {"code": prog.code, "added": True}

    @app.get("/v1/admin/programmes", dependencies=[Depends(operator)])
    def list_programmes() -> list[dict[str, Any]]:
        with sessions() as s:
            return [{"code": p.code, "name": p.name, "amounts": p.amounts}
                    for p in s.scalars(select(Programme).order_by(Programme.code))]

    @app.get("/v1/admin/payments", dependencies=[Depends(operator)])
    def list_payments(programme: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")],
                      period: Annotated[str, Query(pattern=r"^[0-9]{4}-[0-9]{2}$")]) -> dict[str, Any]:
        """The payments of a programme and period, and the totals per payout point."""
        with sessions() as s:
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

    @app.post("/v1/admin/credentials/{credential_id}/revoke", dependencies=[Depends(operator)])
    def revoke_credential(credential_id: CredentialPath,
                          reason: Annotated[str, Query(pattern=r"^[A-Za-z0-9 ,.'-]{1,64}$")] = "revoked"
                          ) -> dict[str, Any]:
        """The card pays nothing any more (lost, stolen, replaced), audited."""
        with sessions() as s:
            if s.scalars(select(Record.id).where(Record.credential_id == credential_id)).first() is None:
                raise _err(404, f"no record for credential {credential_id}")
            if s.get(RevokedCredential, credential_id) is None:
                s.add(RevokedCredential(credential_id=credential_id, reason=reason))
                s.add(Event(kind="credential-revoked", device_id=None, detail=f"credential {credential_id}: {reason}"))
            s.commit()
        return {"credential_id": credential_id, "revoked": True}

    @app.post("/v1/admin/credentials/{credential_id}/unlock", dependencies=[Depends(operator)])
    def unlock(credential_id: CredentialPath) -> dict[str, Any]:
        """Clear a card's PIN lock (the person came with their ID to an office), audited."""
        with sessions() as s:
            recs = s.scalars(select(Record).where(Record.credential_id == credential_id)).all()
            if not recs:
                raise _err(404, f"no record for credential {credential_id}")
            for rec in recs:
                s.execute(update(Record).where(Record.id == rec.id).values(pin_failures=0))
            s.add(Event(kind="pin-unlocked", device_id=recs[0].device_id,
                        detail=f"credential {credential_id} unlocked by the operator"))
            s.commit()
        return {"credential_id": credential_id, "unlocked": True}

    @app.post("/v1/admin/devices", dependencies=[Depends(operator)], status_code=201)
    def add_device(dev: DeviceIn) -> dict[str, Any]:
        with sessions() as s:
            if s.get(Device, dev.device_id) is not None:
                raise _err(409, f"device {dev.device_id} is already registered")
            s.add(Device(device_id=dev.device_id,
                         hmac_secret=keys.seal_device_secret(dev.device_id, bytes.fromhex(dev.hmac_secret)),
                         ed25519_pub=bytes.fromhex(dev.ed25519_pub), revoked=False, role=dev.role))
            s.add(Event(kind="device-added", device_id=dev.device_id, detail="registered as " + dev.role))
            s.commit()
        return {"device_id": dev.device_id, "registered": True}

    @app.get("/v1/admin/devices", dependencies=[Depends(operator)])
    def list_devices() -> list[dict[str, Any]]:
        with sessions() as s:
            counts = dict(s.execute(select(Record.device_id, func.count()).group_by(Record.device_id)).all())
            return [{"device_id": d.device_id, "role": d.role, "revoked": d.revoked,
                     "records": counts.get(d.device_id, 0),
                     "registered_at": d.registered_at.isoformat(), "kid": kid_of(d.ed25519_pub).hex()}
                    for d in s.scalars(select(Device).order_by(Device.device_id))]

    @app.post("/v1/admin/devices/{device_id}/revoke", dependencies=[Depends(operator)])
    def revoke(device_id: DeviceIdPath) -> dict[str, Any]:
        with sessions() as s:
            dev = s.get(Device, device_id)
            if dev is None:
                raise _err(404, f"no device {device_id}")
            dev.revoked = True
            s.add(Event(kind="device-revoked", device_id=device_id, detail="revoked by operator"))
            s.commit()
        return {"device_id": device_id, "revoked": True}

    @app.post("/v1/admin/devices/{device_id}/batches", dependencies=[Depends(operator)],
              openapi_extra={"requestBody": _BATCH_OPENAPI["requestBody"]}, responses=_ERRORS)
    async def push_batch(device_id: DeviceIdPath, request: Request) -> dict[str, Any]:
        """Records pulled from a device over USB (`enrolctl records push`): the same ingest and
        exactly-once rules as the device's own sync, on the operator's authority."""
        body = await _body(request)
        return await run_in_thread(_push, device_id, body)

    def _push(device_id: str, body: bytes) -> dict[str, Any]:
        try:
            batch = protocol.parse_batch(body)
        except protocol.BatchFormatError as e:
            raise _err(400, str(e)) from e
        def work(s: Session) -> tuple[list[Any], list[CardResult]]:
            device = s.get(Device, device_id)
            if device is None:
                raise _err(404, f"no device {device_id}")
            if device.revoked:
                raise _err(403, "device revoked")
            results = ingest(s, keys, cache, device_id, batch)
            cards = bind_cards(s, device_id, batch.cards)
            s.add(Event(kind="records-pushed", device_id=device_id,
                        detail=f"{len(results)} records, {len(cards)} cards over USB"))
            return results, cards

        results, cards = _in_transaction(work)
        return {"results": [{"record_id": r.record_id.hex(), "result": protocol.RESULT_NAMES[r.result],
                             "receipt_no": r.receipt_no, "reason": r.reason} for r in results],
                "cards": [{"boot": c.boot, "seq": c.seq, "result": protocol.RESULT_NAMES[c.result],
                           "reason": c.reason} for c in cards]}

    @app.get("/v1/admin/records", dependencies=[Depends(operator)], response_class=StreamingResponse,
             responses={200: {"content": {"application/x-ndjson": {}}, "description": "one record per line"},
                        **_ERRORS})
    def export() -> StreamingResponse:
        """Every stored record as JSON lines (streamed: the registry never holds them all in RAM)."""
        import json

        def lines() -> Iterator[bytes]:
            with sessions() as s:
                for r in s.scalars(select(Record).order_by(Record.id).execution_options(yield_per=500)):
                    yield (json.dumps({"receipt_no": r.id, "v": r.schema, "category": r.category,
                                       "record_id": r.record_id.hex(), "device_id": r.device_id,
                                       "boot": r.boot, "seq": r.seq, "credential_id": r.credential_id,
                                       "officer_id": r.officer_id, "created": r.created_t,
                                       "clock_synced": r.clock_synced, "fields": r.fields}) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/v1/admin/conflicts", dependencies=[Depends(operator)])
    def conflicts() -> list[dict[str, Any]]:
        with sessions() as s:
            return [{"record_id": c.record_id.hex(), "device_id": c.device_id, "digest": c.digest.hex(),
                     "received_at": c.received_at.isoformat()} for c in s.scalars(select(Conflict))]

    @app.get("/v1/admin/reviews", dependencies=[Depends(operator)])
    def reviews(status: Annotated[str, Query(pattern=r"^(open|same|different|all)$")] = "open",
                limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        """Decisions waiting for an operator (or taken): each names the person it holds and the
        person it may be, with both persons' records side by side."""
        with sessions() as s:
            q = select(Review).order_by(Review.id).limit(limit)
            if status != "all":
                q = q.where(Review.status == status)
            out = []
            for r in s.scalars(q):
                out.append({"id": r.id, "kind": r.kind, "status": r.status, "score": r.score, "detail": r.detail,
                            "opened_at": r.opened_at.isoformat(), "person": _person(s, r.person_id),
                            "other": _person(s, r.other_id) if r.other_id is not None else None})
            return out

    def _person(s: Session, person_id: int) -> dict[str, Any]:
        p = s.get(Person, person_id)
        recs = s.scalars(select(Record).where(Record.person_id == persons.survivor(s, person_id)).order_by(Record.id))
        return {"id": person_id, "status": p.status if p else "unknown", "merged_into": p.merged_into if p else None,
                "held": bool(persons.holds(s, person_id)),
                "records": [{"receipt_no": r.id, "record_id": r.record_id.hex(), "device_id": r.device_id,
                             "credential_id": r.credential_id, "fields": r.fields} for r in recs]}

    @app.post("/v1/admin/reviews/{review_id}/decide", dependencies=[Depends(operator)])
    def decide(review_id: Annotated[int, PathParam(gt=0, lt=2**62)], body: DecisionIn) -> dict[str, Any]:
        """Same person (merged: one payment a period for both cards) or different people."""
        def work(s: Session) -> dict[str, Any]:
            try:
                return persons.decide(s, review_id, body.decision)
            except LookupError as e:
                raise _err(404, str(e)) from None
            except persons.DecisionError as e:
                raise _err(409, str(e)) from None

        return _in_transaction(work)  # type: ignore[no-any-return]

    @app.get("/v1/admin/persons/{person_id}", dependencies=[Depends(operator)])
    def person(person_id: Annotated[int, PathParam(gt=0, lt=2**62)]) -> dict[str, Any]:
        with sessions() as s:
            if s.get(Person, person_id) is None:
                raise _err(404, f"no person {person_id}")
            return _person(s, person_id)

    @app.post("/v1/admin/persons/{person_id}/merge", dependencies=[Depends(operator)])
    def merge(person_id: Annotated[int, PathParam(gt=0, lt=2**62)], body: MergeIn) -> dict[str, Any]:
        """Two persons found to be one after all (no review open between them)."""
        def work(s: Session) -> dict[str, Any]:
            if s.get(Person, person_id) is None or s.get(Person, body.into) is None:
                raise _err(404, "no such person")
            try:
                return {"person": persons.merge(s, person_id, body.into, "an operator's merge")}
            except persons.DecisionError as e:
                raise _err(409, str(e)) from None

        return _in_transaction(work)  # type: ignore[no-any-return]

    @app.get("/v1/admin/events", dependencies=[Depends(operator)])
    def events(limit: int = 200) -> list[dict[str, Any]]:
        with sessions() as s:
            rows = s.scalars(select(Event).order_by(Event.id.desc()).limit(max(1, min(limit, 5000))))
            return [{"at": e.at.isoformat(), "kind": e.kind, "device_id": e.device_id, "detail": e.detail}
                    for e in rows]

    def openapi() -> dict[str, Any]:
        """FastAPI's document with the error shape this app really answers: {"error": reason}
        for 422 too (FastAPI would describe its own {"detail": [...]}), and 401 on operator routes."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for path, ops in doc.get("paths", {}).items():
                for op in ops.values():
                    responses = op.setdefault("responses", {})
                    if "422" in responses:
                        responses["422"] = {"description": "invalid request",
                                            "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
                    if limits.operator_route(path):
                        responses.setdefault("401", _ERRORS[401])
            for name in ("HTTPValidationError", "ValidationError"):
                doc.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def run_in_thread(fn: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
