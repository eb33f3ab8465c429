"""The sync protocol on the wire, registry side (the device side is firmware/net/protocol.py).

Request authentication (every device request):
  headers  X-Enrol-Device: device id   X-Enrol-Time: epoch seconds
           X-Enrol-Nonce: 32 hex digits (16 random bytes, never reused)
           X-Enrol-Signature: hex HMAC-SHA256(device secret, S)
  S = METHOD "\n" TARGET "\n" device "\n" time "\n" nonce "\n" hex(SHA-256(body))
  TARGET is the request target as sent: the path, and "?" and the query string if there is
  one, so neither can be changed on the way (the device sends no query: TARGET = its path).
Response authentication (2xx answers to signed requests):
  X-Enrol-Signature: hex HMAC-SHA256(secret, "response\n" status "\n" nonce "\n" hex(SHA-256(body)))
  so an answer is bound to the request it answers and cannot be replayed.

Batch body (POST /v1/batches, application/octet-stream), binary so the wire
costs little more than the sealed bytes themselves:
  "EBT1" then items: type u8 (1 KEY envelope, 2 RECORD envelope, 3 CARD entry), length u16 BE,
  payload.  A RECORD's batch key (its key id) must come in a KEY item of the same body.  A CARD
  item is the device journal's CARD payload (firmware/formats.py): the card of record (boot, seq)
  was written and verified, with its UID and, for a re-issue, the credential id it replaced.
  Records are stored before cards, so a card may come in the batch of its record.
Batch answer (application/cbor):
  {"time": server epoch s, "results": [[record_id (16 bytes), result, receipt_no, mac (16 bytes),
   reason (text)], ...], "cards": [[boot, seq, result, card mac (16 bytes), reason], ...]}
  both in request order; result 0 accepted, 1 duplicate, 2 conflict, 3 rejected.
  mac = HMAC-SHA256(secret, "receipt" || record_id || result u8 || receipt_no u64 BE
                    || SHA-256(record envelope as received))[:16]
  card mac = HMAC-SHA256(secret, "card" || SHA-256(CARD payload as received) || result u8)[:16]
  receipt_no is the registry's number for the stored record; a duplicate gets the
  original's, so the same record always has the same receipt.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from firmware.formats import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, RESULT_NAMES  # noqa: F401
from firmware.formats import BATCH_MAGIC, ITEM_CARD, ITEM_KEY, ITEM_RECORD  # noqa: F401 - the batch format, defined once
from firmware.formats_host import record_id_of as _record_id_of

H_DEVICE = "x-enrol-device"
H_TIME = "x-enrol-time"
H_NONCE = "x-enrol-nonce"
H_SIGNATURE = "x-enrol-signature"
# the headers' own formats, checked before anything else (a header is attacker bytes)
DEVICE_ID_RE = r"[A-Za-z0-9._-]{1,32}"
TIME_RE = r"[0-9]{1,12}"
NONCE_RE = r"[0-9a-f]{32}"
SIGNATURE_RE = r"[0-9a-f]{64}"

MAX_BATCH_RECORDS = 64
MAX_BATCH_CARDS = 64
MAX_BATCH_BYTES = 64 * 1024
# A reason in an answer row, in UTF-8 bytes (the whole reason is in the event log).  Bounded so
# that a batch of rejected records still answers within the device's reply buffer
# (firmware/sync/client.py MAX_ANSWER, 2 KB): a batch of 16 rows, each at most 47 bytes plus this.
MAX_REASON = 64


def short_reason(reason: str) -> str:
    """reason cut to MAX_REASON bytes of UTF-8, never inside a character."""
    return reason.encode()[:MAX_REASON].decode("utf-8", "ignore")

# the result codes and the envelope's clear header are the firmware's (firmware/formats.py)


class BatchFormatError(ValueError):
    """The body is not a well-formed batch; the message says where."""


@dataclass(frozen=True)
class Batch:
    keys: list[bytes]
    records: list[bytes]
    cards: list[bytes] = field(default_factory=list)


def signing_string(method: str, path: str, device_id: str, ts: str, nonce: str, body: bytes) -> bytes:
    return "\n".join((method.upper(), path, device_id, ts, nonce, hashlib.sha256(body).hexdigest())).encode()


def request_signature(secret: bytes, method: str, path: str, device_id: str, ts: str, nonce: str,
                      body: bytes) -> str:
    return hmac.new(secret, signing_string(method, path, device_id, ts, nonce, body), hashlib.sha256).hexdigest()


def response_signature(secret: bytes, status: int, nonce: str, body: bytes) -> str:
    msg = f"response\n{status}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def receipt_mac(secret: bytes, record_id: bytes, result: int, receipt_no: int, digest: bytes) -> bytes:
    msg = b"receipt" + record_id + bytes((result,)) + struct.pack(">Q", receipt_no) + digest
    return hmac.new(secret, msg, hashlib.sha256).digest()[:16]


def card_mac(secret: bytes, digest: bytes, result: int) -> bytes:
    return hmac.new(secret, b"card" + digest + bytes((result,)), hashlib.sha256).digest()[:16]


def record_id_of(env: bytes) -> bytes:
    """The record id from a RECORD envelope's clear header (16 zero bytes if it has none), so that
    even a record that does not open gets an answer the device can match."""
    rid: bytes = _record_id_of(env)
    return rid


def parse_batch(body: bytes) -> Batch:
    if len(body) > MAX_BATCH_BYTES:
        raise BatchFormatError(f"batch of {len(body)} bytes is over {MAX_BATCH_BYTES}")
    if body[:4] != BATCH_MAGIC:
        raise BatchFormatError("not a batch (magic EBT1 missing)")
    keys: list[bytes] = []
    records: list[bytes] = []
    cards: list[bytes] = []
    off = 4
    while off < len(body):
        if off + 3 > len(body):
            raise BatchFormatError(f"truncated item header at byte {off}")
        kind, n = body[off], struct.unpack_from(">H", body, off + 1)[0]
        off += 3
        if n == 0 or off + n > len(body):
            raise BatchFormatError(f"item at byte {off - 3} claims {n} bytes, body has {len(body) - off}")
        if kind == ITEM_KEY:
            keys.append(body[off : off + n])
        elif kind == ITEM_RECORD:
            records.append(body[off : off + n])
        elif kind == ITEM_CARD:
            cards.append(body[off : off + n])
        else:
            raise BatchFormatError(f"unknown item type {kind} at byte {off - 3}")
        off += n
    if not records and not cards:
        raise BatchFormatError("batch holds no records and no cards")
    if len(records) > MAX_BATCH_RECORDS:
        raise BatchFormatError(f"batch holds {len(records)} records, at most {MAX_BATCH_RECORDS}")
    if len(cards) > MAX_BATCH_CARDS:
        raise BatchFormatError(f"batch holds {len(cards)} cards, at most {MAX_BATCH_CARDS}")
    return Batch(keys, records, cards)


def encode_batch(keys: Sequence[bytes], records: Sequence[bytes], cards: Sequence[bytes] = ()) -> bytes:
    """The body the device streams (for host clients: `records push`, tests, benches)."""
    out = bytearray(BATCH_MAGIC)
    for kind, items in ((ITEM_KEY, keys), (ITEM_RECORD, records), (ITEM_CARD, cards)):
        for item in items:
            out += struct.pack(">BH", kind, len(item)) + item
    return bytes(out)
