"""A payout device's requests to the registry, over one TLS connection (net/http.py):

  GET  /v1/time        the registry's time, when the clock has not been set this power-on
                       (the period paid for is the month in Cambodia)
  GET  /v1/trust.bin   a fresh trust list (payout/trust.py checks it)
  POST /v1/payouts     {"credential": base64 COSE, "uid": hex, "pin_block": hex, "programme",
                       "period": "YYYY-MM"}, signed as an enrolment device signs its batches
                       (net/protocol.py); the answer's signature binds it to this request's nonce

claim() returns what the screen needs, as a tuple whose first item is the result:
  ("paid", amount, receipt)            ("already paid", when (epoch s), payout point, receipt)
  ("wrong", tries left)  ("locked",)  ("revoked",)  ("invalid", reason)  ("unknown",)
  ("held",): the person waits for a decision at the registry (a likely duplicate, a re-issue)
  ("not entitled",)  ("unknown programme",)  ("wrong period", the registry's period)
ClaimError: nothing is known to be paid (no network, refused, an answer not the registry's).
"""

import asyncio
import hashlib
import json

from firmware.clock import local_date
from firmware.net import http, protocol

TIMEOUT_S = 30
PATH_PAYOUTS = "/v1/payouts"
PATH_TRUST = "/v1/trust.bin"
PATH_TIME = "/v1/time"
MAX_ANSWER = 1024  # a claim's answer is under 400 bytes


class ClaimError(Exception):
    """The claim got no valid answer; the message is short enough for the screen."""


def period_of(t):
    """The month paid for: YYYY-MM in Cambodia."""
    y, m, _ = local_date(t)
    return "%04d-%02d" % (y, m)


def _text(doc, key, n):
    v = doc.get(key)
    return v[:n] if isinstance(v, str) else ""


def _int(doc, key):
    v = doc.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < (1 << 53) else None


def read_answer(doc):
    """The claim's answer as claim() returns it; ClaimError if it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("result"), str):
        raise ClaimError("answer garbled")
    r = doc["result"]
    if r == "paid":
        amount = _int(doc, "amount")
        if amount is None or not _text(doc, "receipt", 16):
            raise ClaimError("answer garbled")
        return (r, amount, _text(doc, "receipt", 16))
    if r == "already paid":
        return (r, _int(doc, "paid_s") or 0, _text(doc, "payout_point", 32), _text(doc, "receipt", 16))
    if r == "wrong":
        left = _int(doc, "tries_left")
        return (r, 0 if left is None else min(left, 9))
    if r == "wrong period":
        return (r, _text(doc, "period", 7))
    if r == "invalid":
        return (r, _text(doc, "reason", 60))
    if r in ("locked", "revoked", "unknown", "held", "not entitled", "unknown programme"):
        return (r,)
    raise ClaimError("answer garbled")


class PayoutClient:
    def __init__(self, secrets, clock, connect, host, max_answer):
        self.device_id = secrets.device_id
        self.secret = secrets.hmac_secret
        self.clock = clock
        self.conn = http.Connection(connect, host, max_answer)  # made at power-on: one 2 KB buffer, kept

    async def _request(self, method, path, headers, body, max_answer, sink=None):
        try:
            return await asyncio.wait_for(
                self.conn.request(method, path, headers, len(body) if body else 0,
                                  (lambda w: _write(w, body)) if body else None, max_answer, sink), TIMEOUT_S)
        except asyncio.TimeoutError:
            self.conn.close()
            raise ClaimError("no answer in " + str(TIMEOUT_S) + " s")
        except http.HttpError as e:
            raise ClaimError(str(e))

    def close(self):
        self.conn.close()

    async def fix_time(self):
        reply = await self._request("GET", PATH_TIME, {}, None, 256)
        try:
            t = json.loads(bytes(reply.body))["time"] if reply.status == 200 else None
        except (ValueError, KeyError, TypeError):
            t = None
        if not self.clock.fix(t):
            raise ClaimError("no time from the registry")

    async def trust_list(self, path, max_bytes):
        """The registry's current trust list, streamed into the file at path (payout/trust.py
        checks it there)."""
        with open(path, "wb") as f:
            reply = await self._request("GET", PATH_TRUST, {}, None, max_bytes, f.write)
        if reply.status != 200:
            raise ClaimError("trust list: HTTP " + str(reply.status))

    def claim_body(self, credential, uid, programme, period, block):
        import binascii

        return json.dumps({"credential": binascii.b2a_base64(credential).decode().strip(),
                           "uid": protocol.hexlify(uid), "pin_block": protocol.hexlify(block),
                           "programme": programme, "period": period}).encode()

    async def claim(self, credential, uid, programme, block):
        """One claim for the current month; its answer (module docstring)."""
        if not self.clock.synced:
            await self.fix_time()
        body = self.claim_body(credential, uid, programme, period_of(self.clock.now()), block)
        headers, nonce = protocol.signed_headers(self.secret, self.device_id, self.clock.now(), PATH_PAYOUTS,
                                                 hashlib.sha256(body).digest(), "application/json")
        reply = await self._request("POST", PATH_PAYOUTS, headers, body, MAX_ANSWER)
        if reply.status != 200:
            if reply.status == 401:
                self.clock.synced = False  # a clock out of the window: the registry's time first, next time
            raise ClaimError("registry refused: HTTP " + str(reply.status))
        if not protocol.response_ok(self.secret, 200, nonce, reply.body, reply.headers.get("x-enrol-signature")):
            raise ClaimError("answer signature wrong")
        try:
            doc = json.loads(bytes(reply.body))
        except ValueError:
            raise ClaimError("answer garbled")
        return read_answer(doc)


async def _write(writer, body):
    writer.write(body)
    await writer.drain()
