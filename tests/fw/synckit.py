"""A registry stand-in at the stream level, for sync client tests on both runtimes.

connect() hands the client a fake (reader, writer) pair; once the request is
written, the reply is made by a handler from the request bytes, the way the
real registry answers (host_tools/registry/protocol.py), or broken on purpose.
"""

import asyncio
import hashlib
import json
import struct

from firmware import cbor, formats
from firmware.crypto.hmac_sha256 import HMAC, hmac_sha256
from firmware.net import protocol
from storekit import DEVICE

SECRET = bytes(range(32))


class Secrets:
    device_id = DEVICE
    hmac_secret = SECRET


class FakeWriter:
    def __init__(self):
        self.data = bytearray()
        self.closed = False

    def write(self, b):
        self.data.extend(b)

    async def drain(self):
        await asyncio.sleep(0)  # as MicroPython's Stream.drain: it always yields to the loop

    def close(self):
        self.closed = True

    async def wait_closed(self):
        pass


class FakeReader:
    """Answers each complete request found in the writer's bytes, in turn (keep-alive);
    end of stream when the client has sent nothing more to answer."""

    def __init__(self, writer, make_reply):
        self.writer = writer
        self.make_reply = make_reply
        self.reply = b""
        self.pos = 0
        self.consumed = 0

    def _next_request(self):
        data = bytes(self.writer.data[self.consumed :])
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        length = 0
        for line in data[:end].split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if len(data) < end + 4 + length:
            return None
        self.consumed += end + 4 + length
        return data[: end + 4 + length]

    async def read(self, n):
        await asyncio.sleep(0)  # as MicroPython's Stream.read: it waits for the socket first
        if self.pos >= len(self.reply):
            raw = self._next_request()
            if raw is None:
                return b""
            self.reply = self.make_reply(raw)
            self.pos = 0
        chunk = self.reply[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


class Request:
    def __init__(self, raw):
        head, _, self.body = bytes(raw).partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.method, self.path = lines[0].split(" ")[:2]
        self.headers = {}
        for line in lines[1:]:
            k, v = line.split(": ", 1)
            self.headers[k.lower()] = v

    def items(self, which):
        """The payloads of one item type of a batch body."""
        out = []
        assert self.body[:4] == formats.BATCH_MAGIC
        off = 4
        while off < len(self.body):
            kind, n = struct.unpack(">BH", self.body[off : off + 3])
            if kind == which:
                out.append(self.body[off + 3 : off + 3 + n])
            off += 3 + n
        return out

    def records(self):
        """The RECORD envelopes of a batch body."""
        return self.items(formats.ITEM_RECORD)

    def cards(self):
        """The CARD entries of a batch body."""
        return self.items(formats.ITEM_CARD)

    def kinds(self):
        """The item types of a batch body, in order."""
        out = []
        off = 4
        while off < len(self.body):
            kind, n = struct.unpack(">BH", self.body[off : off + 3])
            out.append(kind)
            off += 3 + n
        return out


def http_reply(status, body=b"", headers=None):
    head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n" % (status, len(body))
    for k in headers or {}:
        head += k + ": " + headers[k] + "\r\n"
    return head.encode() + b"\r\n" + body


def receipt_mac(record_id, result, receipt_no, envelope):
    h = HMAC(SECRET, b"receipt")
    h.update(record_id)
    h.update(bytes((result,)))
    h.update(struct.pack(">Q", receipt_no))
    h.update(hashlib.sha256(envelope).digest())
    return h.digest()[:16]


def card_mac(entry, result):
    h = HMAC(SECRET, b"card")
    h.update(hashlib.sha256(entry).digest())
    h.update(bytes((result,)))
    return h.digest()[:16]


def signed(nonce, body, status=200):
    msg = "response\n%d\n%s\n%s" % (status, nonce, protocol.hexlify(hashlib.sha256(body).digest()))
    return protocol.hexlify(hmac_sha256(SECRET, msg.encode()))


def record_id_of(env):
    p = 6 + env[5] + 8
    return bytes(env[p : p + 16])


class FakeRegistry:
    """Answers like the registry; `results(req)` may be replaced to return other result rows."""

    def __init__(self, time_now=1_800_000_000):
        self.time_now = time_now
        self.requests = []
        self.reply_for = None  # optional: function(Request) -> raw reply bytes, overriding all
        self.result = 0
        self.card_result = 0
        self.card_rows = None  # optional: function(Request) -> the "cards" rows, overriding
        self.cards_seen = []  # every CARD entry received, in order
        self.stored = {}
        self.refuse_connect = False
        self.connections = 0

    def rows(self, req):
        out = []
        for env in req.records():
            rid = record_id_of(env)
            no = self.stored.setdefault(rid, len(self.stored) + 1)
            out.append([rid, self.result, no, receipt_mac(rid, self.result, no, env), ""])
        return out

    def card_answers(self, req):
        out = []
        for entry in req.cards():
            self.cards_seen.append(entry)
            boot, seq = struct.unpack(">II", entry[:8])
            out.append([boot, seq, self.card_result, card_mac(entry, self.card_result), ""])
        return out

    def answer(self, req):
        if self.reply_for is not None:
            return self.reply_for(req)
        return self.normal_answer(req)

    def normal_answer(self, req):
        if req.path == "/v1/time":
            return http_reply(200, json.dumps({"time": self.time_now}).encode())
        cards = self.card_rows(req) if self.card_rows is not None else self.card_answers(req)
        body = cbor.dumps({"time": self.time_now, "results": self.rows(req), "cards": cards})
        return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

    async def connect(self):
        if self.refuse_connect:
            raise OSError(111)
        self.connections += 1
        writer = FakeWriter()

        def make(raw):
            req = Request(raw)
            self.requests.append(req)
            return self.answer(req)

        return FakeReader(writer, make), writer
