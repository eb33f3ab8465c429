"""The host end of the simulator's bridge (CPython only): the wire format of firmware/board_sim.py.

The device process (the frozen firmware in our 32-bit MicroPython) connects to a
loopback port and sends one request at a time; `serve()` answers each with what
the emulated hardware does.  The codes are firmware/bridge_wire.py's, the one definition both ends import.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Protocol

# the wire's codes, defined once for both ends (re-exported: bridge.ST_BAD, bridge.HEADER ...)
from firmware.bridge_wire import (OP_I2C_WRITE, OP_I2C_READ, OP_PIN_SET, OP_PIN_GET, OP_POLL, OP_LIGHT_SLEEP,
                                 OP_DEEP_SLEEP, OP_BATTERY, OP_WLAN, OP_SCREEN, OP_CPU_HZ, ST_OK, ST_NODEV, ST_EIO,
                                 ST_BAD, PIN_NFC_IRQ, PIN_NFC_RSTPDN, PIN_ROW0, PIN_COL0, POLL_OFF,
                                 POLL_MEM_REPORT, WLAN_ACTIVE, WLAN_CONNECT, WLAN_STATUS, WLAN_ISCONNECTED,
                                 WLAN_DISCONNECT, HEADER, MAX_PAYLOAD, MAX_ANSWER)  # noqa: F401


class Refused(Exception):
    """A request the hardware answers with an error status (ST_NODEV, ST_EIO, ST_BAD)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Hardware(Protocol):
    def handle(self, op: int, now_ms: int, payload: bytes) -> bytes: ...


def _recv_exactly(conn: socket.socket, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = conn.recv(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def listen() -> socket.socket:
    """A listening socket on a free loopback port (its number goes to the device in ENROL_SIM_BRIDGE)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv


def serve(conn: socket.socket, hw: Hardware, alive: Callable[[], bool] = lambda: True) -> str:
    """Answer the device's requests until it goes; returns why ('closed', 'bad frame', 'stopped')."""
    if conn.family in (socket.AF_INET, socket.AF_INET6):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one small message each way
    while alive():
        head = _recv_exactly(conn, HEADER)
        if head is None:
            return "closed"
        op, n, now = struct.unpack("<BHI", head)
        if n > MAX_PAYLOAD:
            return "bad frame"
        payload = _recv_exactly(conn, n) if n else b""
        if payload is None:
            return "closed"  # the device died mid-frame (a power cut): nothing to answer
        try:
            status, body = ST_OK, hw.handle(op, now, payload)
        except Refused as e:
            status, body = e.status, b""
        if len(body) > MAX_ANSWER:  # the device could not take it: refused, the stream stays aligned
            status, body = ST_BAD, b""
        try:
            conn.sendall(struct.pack("<BH", status, len(body)) + body)
        except OSError:
            return "closed"
    return "stopped"
