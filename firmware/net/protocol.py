"""The sync protocol, device side (registry side and full description: host_tools/registry/protocol.py).

  request signature  hex HMAC-SHA256(secret, METHOD\\nPATH\\ndevice\\ntime\\nnonce\\nhex(SHA-256(body)))
  answer signature   hex HMAC-SHA256(secret, "response\\n" status "\\n" nonce "\\n" hex(SHA-256(body)))
  batch body         formats.BATCH_MAGIC, then items: type u8 (formats.ITEM_*), length u16 BE, payload
  answer body        CBOR {"time": s, "results": [[record_id, result, receipt_no, mac, reason], ...],
                           "cards": [[boot, seq, result, card mac, reason], ...]}
  receipt mac        HMAC-SHA256(secret, "receipt" || record_id || result u8 || receipt_no u64 BE
                                 || SHA-256(record envelope))[:16]
  card mac           HMAC-SHA256(secret, "card" || SHA-256(CARD payload) || result u8)[:16]
"""

import binascii
import hashlib
import struct

from firmware import formats
from firmware.crypto.hmac_sha256 import HMAC, compare_digest, hmac_sha256

RESULTS = (formats.ACCEPTED, formats.DUPLICATE, formats.CONFLICT, formats.REJECTED)


def hexlify(b):
    return binascii.hexlify(b).decode()


def request_signature(secret, method, path, device_id, ts, nonce, body_sha256):
    h = HMAC(secret)
    for part in (method, path, device_id, ts, nonce):
        h.update(part.encode())
        h.update(b"\n")
    h.update(hexlify(body_sha256).encode())
    return hexlify(h.digest())


def signed_headers(secret, device_id, now, path, body_sha256, content_type):
    """(the headers of a signed POST, its nonce): device, time, a fresh nonce, the signature."""
    from firmware.crypto import rng

    ts = str(now)
    nonce = hexlify(rng.random_bytes(16))
    return {
        "Content-Type": content_type,
        "X-Enrol-Device": device_id,
        "X-Enrol-Time": ts,
        "X-Enrol-Nonce": nonce,
        "X-Enrol-Signature": request_signature(secret, "POST", path, device_id, ts, nonce, body_sha256),
    }, nonce


def response_ok(secret, status, nonce, body, signature):
    if not isinstance(signature, str) or len(signature) != 64:
        return False
    msg = "response\n" + str(status) + "\n" + nonce + "\n" + hexlify(hashlib.sha256(body).digest())
    return compare_digest(hexlify(hmac_sha256(secret, msg.encode())).encode(), signature.encode())


def receipt_ok(secret, record_id, result, receipt_no, digest, mac):
    if not isinstance(mac, bytes) or len(mac) != 16:
        return False
    h = HMAC(secret, b"receipt")
    h.update(record_id)
    h.update(bytes((result,)))
    h.update(struct.pack(">Q", receipt_no))
    h.update(digest)
    return compare_digest(h.digest()[:16], mac)


def card_receipt_ok(secret, digest, result, mac):
    if not isinstance(mac, bytes) or len(mac) != 16:
        return False
    h = HMAC(secret, b"card")
    h.update(digest)
    h.update(bytes((result,)))
    return compare_digest(h.digest()[:16], mac)


def item_header(kind, n):
    return struct.pack(">BH", kind, n)


def unhex(s):
    return binascii.unhexlify(s)
