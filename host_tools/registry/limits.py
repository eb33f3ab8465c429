"""Bounds on what a request may cost before anyone knows who sent it (an ASGI middleware).

  * body size per route, refused from its Content-Length before a byte is read, and counted
    while it streams in (a chunked body has no Content-Length); the body is read here, whole
    and bounded, so no route reads more than its limit;
  * a read timeout per body chunk: a client that stops sending half-way does not keep its
    connection (and a worker thread) for minutes;
  * the operator's token checked before the body of an operator route is read: 100 MB of
    JSON without a token costs the registry nothing.
The concurrency limit and the keep-alive timeout are uvicorn's (serve.py).
"""

from __future__ import annotations

import asyncio
import hmac
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


def operator_route(path: str) -> bool:
    return path.startswith("/v1/admin/")  # /v1/verify is a payout point's, signed as a device signs


class RequestLimits:
    def __init__(self, app: ASGIApp, operator_token: str, chunk_timeout_s: float = CHUNK_TIMEOUT_S) -> None:
        self.app = app
        self.token = ("Bearer " + operator_token).encode()
        self.chunk_timeout_s = chunk_timeout_s

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
            if not hmac.compare_digest(given, self.token):
                await _answer(send, 401, "operator token missing or wrong")
                return
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


async def _answer(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
