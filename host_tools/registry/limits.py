"""Bounds on what a request may cost before anyone knows who sent it (an ASGI middleware).

  * body size per route, refused from its Content-Length before a byte is read, and counted
    while it streams in (a chunked body has no Content-Length); the body is read here, whole
    and bounded, so no route reads more than its limit;
  * a read timeout per body chunk: a client that stops sending half-way does not keep its
    connection (and a worker thread) for minutes;
  * an operator route without a bearer token is refused before its body is read: 100 MB of
    JSON without a token costs the registry nothing (the token itself is checked by the route's
    dependency, context.Context.role);
  * at most MAX_IN_FLIGHT requests being answered at once (503 past that): requests are counted,
    not connections, so connections that never send a request cannot crowd devices out (serve.py
    closes those, and bounds the connections one address may hold).
The keep-alive and header timeouts are serve.py's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SMALL_BODY = 16 * 1024  # every JSON route (a verify request is under 3 KB)
CHUNK_TIMEOUT_S = 10.0


def body_limit(path: str) -> int:
    if path == "/v1/batches" or (path.startswith("/v1/admin/devices/") and path.endswith("/batches")):
        return protocol.MAX_BATCH_BYTES
    return SMALL_BODY


MAX_IN_FLIGHT = 256


def operator_route(path: str) -> bool:
    """Routes an operator's bearer token opens (/v1/verify is a payout point's, signed as a device
    signs; /v1/auth/login is where the token comes from)."""
    return path.startswith("/v1/admin/") or (path.startswith("/v1/auth/") and path != "/v1/auth/login")


class RequestLimits:
    def __init__(self, app: ASGIApp, chunk_timeout_s: float = CHUNK_TIMEOUT_S,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.chunk_timeout_s = chunk_timeout_s
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = body_limit(path)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(send, 413, f"body over {limit} bytes")
            return
        if operator_route(path):
            given = headers.get(b"authorization", b"")
            if not given and headers.get(protocol.H_DEVICE.encode()):
                await _answer(send, 403, "a device or payout point cannot administer the registry")
                return
            if not given.startswith(b"Bearer ") or len(given) > 200:
                await _answer(send, 401, "operator token missing: sign in (enrolctl registry login)")
                return
        if self.in_flight >= self.max_in_flight:
            await _answer(send, 503, "registry busy: try again", retry_after=2)
            return
        self.in_flight += 1
        try:
            await self._bounded(scope, receive, send, limit)
        finally:
            self.in_flight -= 1

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        # the whole body, bounded, read here: the app then parses bytes it already has
        body = bytearray()
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.chunk_timeout_s)
            except asyncio.TimeoutError:
                await _answer(send, 408, f"body not sent within {self.chunk_timeout_s:g} s")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _answer(send, 413, f"body over {limit} bytes")
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)


async def _answer(send: Send, status: int, reason: str, retry_after: int | None = None) -> None:
    body = json.dumps({"error": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
