"""What every router shares: the keys, the database sessions, the refusal counters, the error
shape, the transaction runner, and the principals a route names (an operator in a role, a device,
a payout point).  Routers: routes_*.py; the app that wires them: app.py."""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import HTTPException, Request
from fastapi import Path as PathParam
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import operators, protocol
from .db import write_lock
from .ingest import KeyCache
from .keys import RegistryKeys
from .models import Device, Nonce
from .operators import Actor, OperatorError, SignInGuard

WINDOW_S = 300  # a signed request's timestamp must be within 5 minutes of the registry's clock
_RETRIES = 8  # concurrent batches racing on the same record id: redo the transaction
_DEVICE_ID = re.compile(protocol.DEVICE_ID_RE)
_TIME = re.compile(protocol.TIME_RE)
_NONCE = re.compile(protocol.NONCE_RE)
_SIGNATURE = re.compile(protocol.SIGNATURE_RE)
log = logging.getLogger("registry")

# a device id in a path: checked like the header before it reaches the database (a NUL in it
# would make PostgreSQL refuse the query: a 5xx for a client's bytes)
DeviceIdPath = Annotated[str, PathParam(pattern="^" + protocol.DEVICE_ID_RE + "$")]
# a credential id in a path: the legacy XXXX-XXXX or the full 26 characters (ingest.py)
CredentialPath = Annotated[str, PathParam(pattern=r"^([0-9A-Z]{4}-[0-9A-Z]{4}|[0-9A-Z]{26})$")]
RowId = Annotated[int, PathParam(gt=0, lt=2**62)]
REASON = r"^[^\x00-\x1f\x7f]{1,200}$"  # an operator's reason: printable, one line


class ApiError(HTTPException):
    pass


def err(status: int, reason: str, **extra: Any) -> ApiError:
    return ApiError(status, detail={"error": reason, **extra})


def too_many(wait_s: int) -> ApiError:
    return ApiError(429, detail={"error": "too many refused requests: wait"}, headers={"Retry-After": str(wait_s)})


def from_operator_error(e: OperatorError) -> ApiError:
    headers = {"Retry-After": str(e.retry_after)} if e.retry_after else None
    return ApiError(e.status, detail={"error": e.reason}, headers=headers)


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


def target(request: Request) -> str:
    """The request target as the client sent it (path and query): what the signature covers."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


@dataclass
class Context:
    keys: RegistryKeys
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)
    cache: KeyCache = field(default_factory=KeyCache)
    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    guard: SignInGuard = field(default_factory=SignInGuard)
    batches: int = 0

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def device_secret(self, device: Device) -> bytes:
        return self.keys.open_device_secret(device.device_id, device.hmac_secret)

    def in_transaction(self, work: Callable[[Session], Any]) -> Any:
        """Run work(session) and commit; redo it when a concurrent transaction got there first:
        a batch that stored one of the same record ids (UNIQUE(record_id), raised at the insert's
        flush or at commit), a copy of the same request (its nonce), a PostgreSQL serialization
        failure or deadlock, SQLite's lock.  The redo then answers "duplicate" or "replay".
        An OperatorError from the work is the client's answer: nothing is committed."""
        for attempt in range(_RETRIES):
            with self.sessions() as s:
                try:
                    write_lock(s)  # SQLite: serializable (a match, a payment read before they write)
                    out = work(s)
                    s.commit()
                    return out
                except OperatorError as e:
                    s.rollback()
                    raise from_operator_error(e) from None
                except (IntegrityError, OperationalError) as e:
                    s.rollback()
                    if attempt == _RETRIES - 1 or not _retryable(e):
                        raise
            time.sleep(0.01 * (attempt + 1))
        raise RuntimeError("unreachable")

    def sign_in(self, source: str, name: str, password: str, code: str | None,
                ttl_s: int = operators.TOKEN_TTL_S) -> tuple[str, Any, Any]:
        """operators.sign_in for the API and the console alike: refused at once (429) past the
        refusals one source address may make; a refusal is committed (the trail has it) and
        counted against the address.  ApiError 401/429 when refused."""
        wait = self.limiter.blocked("sign-in", source)
        if wait:
            raise too_many(wait)
        with self.sessions() as s:
            write_lock(s)  # SQLite: the token and the chained event written under the one write lock
            try:
                token, expires, op = operators.sign_in(s, self.keys, self.guard, name, password, code, ttl_s)
            except OperatorError as e:
                s.commit()  # the refusal's event
                if e.status == 401:
                    self.limiter.failed("sign-in", source)
                raise from_operator_error(e) from None
            s.commit()
            s.expunge(op)
            return token, expires, op

    # --- principals -------------------------------------------------------------------------

    def role(self, *accepted: str) -> Callable[[Request], Actor]:
        """A FastAPI dependency: the signed-in operator, acting in the first of `accepted` they
        hold (401 without a valid token, 403 without one of the roles)."""

        def operator(request: Request) -> Actor:
            given = request.headers.get("authorization") or ""
            if not given and request.headers.get(protocol.H_DEVICE):
                raise err(403, "a device or payout point cannot administer the registry")
            if not given.startswith("Bearer ") or len(given) > 200:
                raise err(401, "operator token missing: sign in (enrolctl registry login)")
            return self.actor_for(given[7:], accepted, own_password=request.url.path.startswith("/v1/auth/"))

        return operator

    def actor_for(self, token: str, accepted: tuple[str, ...], own_password: bool = False) -> Actor:
        """The operator a token stands for, acting in the first of `accepted` they hold (ApiError
        401/403 otherwise).  own_password: a route where one whose password was set by someone
        else may go (to change it)."""
        if hmac.compare_digest(token.encode(), self.keys.operator_token.encode()):
            raise err(401, "the registry's shared token only makes the first administrator "
                           "(enrolctl registry operator add --bootstrap); sign in as a named operator")
        with self.sessions() as s:
            try:
                op, h = operators.principal(s, token)
            except OperatorError as e:
                raise from_operator_error(e) from None
        roles = operators.roles_of(op)
        if op.must_change and not own_password:
            raise err(403, f"{op.name} must choose their own password first (enrolctl registry operator passwd)")
        used = next((r for r in accepted if r in roles), None)
        if used is None:
            raise err(403, f"this needs the {' or '.join(accepted)} role; {op.name} is {', '.join(roles)}")
        return Actor(op.name, used, roles, h)

    def authenticate(self, s: Session, request: Request, body: bytes, role: str = "enrolment") -> tuple[Device, str]:
        """The device (or payout point) that signed this request, its nonce recorded."""
        h = request.headers
        if h.get("authorization") and not h.get(protocol.H_DEVICE):
            raise err(403, "an operator's token administers the registry: it cannot push records or verify a PIN")
        dev_id, ts, nonce, sig = (h.get(protocol.H_DEVICE), h.get(protocol.H_TIME), h.get(protocol.H_NONCE),
                                  h.get(protocol.H_SIGNATURE))
        if not dev_id or not ts or not nonce or not sig:
            raise err(401, "request is not signed (device, time, nonce and signature headers needed)")
        source = request.client.host if request.client else "?"
        limiter = self.limiter

        def refuse(reason: str, *key: str) -> ApiError:
            wait = limiter.blocked(*key)
            limiter.failed(*key)
            return too_many(wait) if wait else err(401, reason)

        if not (_DEVICE_ID.fullmatch(dev_id) and _TIME.fullmatch(ts) and _NONCE.fullmatch(nonce)
                and _SIGNATURE.fullmatch(sig)):
            raise refuse("malformed device, nonce, time or signature header", source)
        wait = limiter.blocked(source, dev_id)  # the cheap refusal, before any lookup or HMAC
        if wait:
            raise too_many(wait)
        device = s.get(Device, dev_id)
        if device is None:
            raise refuse("unknown device", source)
        secret = self.device_secret(device)
        expected = protocol.request_signature(secret, request.method, target(request), dev_id, ts, nonce, body)
        if not hmac.compare_digest(expected, sig):
            raise refuse("bad signature", source, dev_id)
        if device.revoked:
            raise err(403, "device revoked")
        if device.role != role:
            raise err(403, f"{dev_id} is a {device.role} device: this is for a {role} device")
        if role == "payout" and not device.active:
            raise err(403, "payout point not active yet: a second registrar must approve it")
        now = int(time.time())
        if abs(now - int(ts)) > WINDOW_S:
            raise err(401, "timestamp outside the window", time=now)
        if s.get(Nonce, (dev_id, nonce)) is not None:
            raise err(401, "nonce reused (replay)")
        s.add(Nonce(device_id=dev_id, nonce=nonce, ts=int(ts)))
        return device, nonce


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > protocol.MAX_BATCH_BYTES):
        raise err(413, f"body over {protocol.MAX_BATCH_BYTES} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > protocol.MAX_BATCH_BYTES:
            raise err(413, f"body over {protocol.MAX_BATCH_BYTES} bytes")
    if declared is not None and len(chunks) != int(declared):
        raise err(400, "body shorter than its Content-Length")
    return bytes(chunks)


async def run_in_thread(fn: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": why, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for code, why in ((400, "malformed body"), (401, "not signed, or signed wrongly"), (403, "device revoked"),
                      (408, "body not sent in time"), (413, "body too large"), (429, "too many refused requests"),
                      (503, "database unavailable"))}
SIGNED_HEADERS = [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                  for name in ("X-Enrol-Device", "X-Enrol-Time", "X-Enrol-Nonce", "X-Enrol-Signature")]
BATCH_OPENAPI: dict[str, Any] = {
    "parameters": SIGNED_HEADERS,
    "requestBody": {"required": True, "description": "EBT1 batch (protocol.py)",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary",
                                                                          "maxLength": 65536}}}},
}
