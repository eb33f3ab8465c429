"""A fault-injecting HTTPS proxy on loopback, between the device and the registry.

It terminates TLS with a certificate from the registry's own CA (the device's
pinned CA, so the device accepts it like the registry), reads each request
whole, and then, by a seeded schedule, does one of:
  pass               forward, return the answer
  drop_request       close the connection, forward nothing
  drop_response      forward (the registry commits), close without answering
  duplicate          forward twice, return the first answer (the second is a replay)
  delay              close without answering, forward the request later, after the next one
                     (the registry sees requests out of order)
  reset              forward, send half the answer, then a TCP reset
  truncate_request   forward only half the body, then close the upstream side
  truncate_response  forward, send half the answer, then close
  error500           forward (committed), answer 500
  error503           answer 503 with Retry-After: 1, forward nothing
  garbage            forward (committed), answer 200 with random bytes
on_forward(n) is called before the n-th forward (tests kill the registry there).
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

FAULTS = ("drop_request", "drop_response", "duplicate", "delay", "reset", "truncate_request",
          "truncate_response", "error500", "error503", "garbage")


class FaultProxy:
    def __init__(self, upstream_port: int, cert: Path, key: Path, ca_pem: bytes, fault_rate: float = 0.3,
                 seed: int = 1, faults: tuple[str, ...] = FAULTS) -> None:
        self.upstream_port = upstream_port
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(str(cert), str(key))
        self.client_ctx = ssl.create_default_context(cadata=ca_pem.decode())
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.faults = faults
        self.stats: Counter[str] = Counter()
        self.forwards = 0
        self.on_forward: Callable[[int], None] | None = None
        self.held: list[bytes] = []
        self.schedule: list[str] = []  # faults to use first, in order, before the random ones
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # ---- lifecycle -------------------------------------------------------
    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            # a short TLS shutdown: like common servers, close soon after close_notify instead of
            # waiting 30 s for the device's own close_notify
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.server_ctx, ssl_shutdown_timeout=0.5))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    # ---- plumbing --------------------------------------------------------
    async def _read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        return head + body

    async def _forward(self, request: bytes, cut_body: bool = False) -> bytes:
        """Send one request upstream on a connection of its own and read the answer to its end."""
        line_end = request.index(b"\r\n") + 2
        request = request[:line_end] + b"Connection: close\r\n" + request[line_end:]
        self.forwards += 1
        if self.on_forward is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_forward, self.forwards)
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", self.upstream_port, ssl=self.client_ctx, server_hostname="127.0.0.1"), 10)
        except (OSError, asyncio.TimeoutError):
            return b""
        try:
            if cut_body:
                body_at = request.index(b"\r\n\r\n") + 4
                request = request[: body_at + (len(request) - body_at) // 2]
            w.write(request)
            await w.drain()
            if cut_body:
                return b""
            return await asyncio.wait_for(r.read(), 30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return b""
        finally:
            w.transport.abort()  # no TLS close handshake: a half-sent request would hold it 30 s

    def _choose(self) -> str:
        if self.schedule:
            return self.schedule.pop(0)
        if self.rng.random() < self.fault_rate:
            return self.rng.choice(self.faults)
        return "pass"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(self._read_request(reader), 30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            writer.close()
            return
        fault = self._choose() if b" /v1/batches " in request.split(b"\r\n", 1)[0] else "pass"
        self.stats[fault] += 1
        held, self.held = self.held, []
        answer = b""
        try:
            if fault == "drop_request":
                pass
            elif fault == "delay":
                self.held = held + [request]
                held = []
            elif fault == "error503":
                answer = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
            elif fault == "truncate_request":
                await self._forward(request, cut_body=True)
            else:
                answer = await self._forward(request)
                if fault == "duplicate":
                    await self._forward(request)
                elif fault == "drop_response":
                    answer = b""
                elif fault == "error500":
                    answer = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
                elif fault == "garbage":
                    junk = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(1, 600)))
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(junk), junk)
                elif fault in ("reset", "truncate_response"):
                    answer = answer[: len(answer) // 2]
            for old in held:  # requests delayed earlier reach the registry now, out of order
                await self._forward(old)
            if answer:
                writer.write(answer)
                await writer.drain()
            if fault == "reset":
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
        except (OSError, ssl.SSLError):
            pass
        writer.close()
