"""The payout device's claim to the registry, against a registry stand-in at the stream level
(synckit): the request is signed as the registry checks it, and an answer that is not the
registry's (a wrong signature, an error status, garbage, too large) pays nothing: ClaimError.
The trust list streams to flash through the 2 KB reply buffer."""

import asyncio
import hashlib
import json

from fwtest import raises, tmpdir
from synckit import SECRET, FakeReader, FakeWriter, Request, Secrets, http_reply, signed
from firmware.crypto import rng
from firmware.payout import client
from firmware.net import protocol

NOW = 1796000000
COSE = b"\xd2\x84" + bytes(150)
UID = bytes.fromhex("04a1b2c3d4e5f6")


class Clock:
    def __init__(self):
        self.synced = True
        self.fixed = None

    def now(self):
        return NOW

    def fix(self, t):
        self.fixed = t
        self.synced = isinstance(t, int)
        return self.synced


def claim_with(answer, status=200, sign=True, clock=None):
    """Claim once against a stand-in whose answer is answer(request) (bytes); (result or error, request)."""
    rng.random_bytes(1)
    seen = []

    def reply(raw):
        req = Request(raw)
        seen.append(req)
        body = answer(req)
        sig = signed(req.headers["x-enrol-nonce"], body) if sign else "0" * 64
        return http_reply(status, body, {"X-Enrol-Signature": sig})

    async def connect():
        w = FakeWriter()
        return FakeReader(w, reply), w

    c = client.PayoutClient(Secrets, clock or Clock(), connect, "registry.test", client.MAX_ANSWER)
    try:
        out = asyncio.run(c.claim(COSE, UID, "veteran_pension", bytes(range(16))))
    except client.ClaimError as e:
        out = e
    return out, seen


def paid(req):
    return json.dumps({"result": "paid", "amount": 150000, "receipt": "K7MQ2XHC9P"}).encode()


def test_a_signed_claim_and_its_signed_answer():
    out, (req,) = claim_with(paid)
    assert out == ("paid", 150000, "K7MQ2XHC9P")
    body = json.loads(req.body)
    assert body["uid"] == "04a1b2c3d4e5f6" and body["pin_block"] == protocol.hexlify(bytes(range(16)))
    assert body["programme"] == "veteran_pension" and body["period"] == "2026-11"
    h = req.headers
    assert req.path == "/v1/payouts" and h["x-enrol-time"] == str(NOW)
    assert h["x-enrol-signature"] == protocol.request_signature(SECRET, "POST", "/v1/payouts", Secrets.device_id,
                                                                  h["x-enrol-time"], h["x-enrol-nonce"],
                                                                  hashlib.sha256(req.body).digest())


def test_an_answer_not_the_registrys_pays_nothing():
    out, _ = claim_with(paid, sign=False)
    assert isinstance(out, client.ClaimError) and "signature" in str(out)
    for status in (500, 403, 429):
        out, _ = claim_with(lambda r: b'{"error": "x"}', status=status)
        assert isinstance(out, client.ClaimError) and str(status) in str(out)
    for junk in (b"", b"{", b"[1, 2]", b'{"result": "paid", "amount": -1, "receipt": "R"}', b"\xff" * 40):
        out, _ = claim_with(lambda r, j=junk: j)
        assert isinstance(out, client.ClaimError), (junk, out)
    out, _ = claim_with(lambda r: b"x" * 5000)  # larger than any answer: refused, not read into RAM
    assert isinstance(out, client.ClaimError) and "too large" in str(out)


def test_a_refused_timestamp_fetches_the_registrys_time_next():
    clock = Clock()
    out, _ = claim_with(lambda r: b'{"error": "timestamp outside the window"}', status=401, clock=clock)
    assert isinstance(out, client.ClaimError) and not clock.synced


def test_the_trust_list_streams_to_flash():
    data = bytes(i * 7 % 256 for i in range(9000))  # larger than the 2 KB reply buffer

    def reply(raw):
        assert Request(raw).path == "/v1/trust.bin"
        return http_reply(200, data)

    async def connect():
        w = FakeWriter()
        return FakeReader(w, reply), w

    c = client.PayoutClient(Secrets, Clock(), connect, "registry.test", client.MAX_ANSWER)
    path = tmpdir() + "/trust.tmp"
    asyncio.run(c.trust_list(path, 32 * 1024))
    with open(path, "rb") as f:
        assert f.read() == data
    c.close()
    with raises(client.ClaimError, "too large"):
        asyncio.run(c.trust_list(path, 4096))


def test_a_credential_id_no_block_can_be_formed_for_sends_nothing_and_the_pin_is_wiped():
    from firmware.tasks.payout import PayoutTask

    class S:
        pin_key = bytes(16)

    class Board:
        def console(self, m):
            pass

    said = []
    task = PayoutTask(Board(), S, Clock(), None, None, None, lambda *a: said.append(a))
    pin = bytearray(b"7391")
    task.start_claim(COSE, UID, "OOOO-????", "veteran_pension", pin)  # not Crockford base32
    assert said == [("pay_failed", "card id unusable")] and task.task is None
    assert pin == bytearray(4)
