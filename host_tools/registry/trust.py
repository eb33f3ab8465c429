"""The signed trust list: which device keys sign genuine cards.

  {"registry_id": ..., "issued": epoch s, "expires": epoch s, "keys": [{"kid": hex, "pub": hex,
   "device_id": ...}], "sig": hex Ed25519 over the canonical JSON (sorted keys, no spaces) of the
   other fields}
`enrolctl card verify --trust FILE` reads "keys"; a payout point checks "sig" with the
registry's trust public key first and refuses a list past its "expires" (verify_trust_list()):
a revoked device's key leaves the list, and an old copy must not keep trusting it.

The same list for a payout device (firmware/payout/trust.py), bytes it checks without JSON:
  "ETL1" | u8 n | registry_id (n ASCII bytes) | issued u32 BE | expires u32 BE | count u16 BE
  | count x (kid 8 | Ed25519 public key 32), sorted by kid | Ed25519 signature (64) over every byte before it
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519


def kid_of(pub: bytes) -> bytes:
    return hashlib.sha256(pub).digest()[:8]


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


TRUST_LIST_S = 7 * 86400  # a payout point fetches a fresh list at least weekly


def signed_trust_list(key: ed25519.Ed25519PrivateKey, registry_id: str, devices: list[tuple[str, bytes]]
                      ) -> dict[str, Any]:
    now = int(time.time())
    doc: dict[str, Any] = {
        "registry_id": registry_id, "issued": now, "expires": now + TRUST_LIST_S,
        "keys": [{"kid": kid_of(pub).hex(), "pub": pub.hex(), "device_id": dev} for dev, pub in devices],
    }
    doc["sig"] = key.sign(_canonical(doc)).hex()
    return doc


def verify_trust_list(pub: ed25519.Ed25519PublicKey, doc: dict[str, Any], now: float | None = None
                      ) -> dict[str, Any]:
    """The list's fields once its signature checks out; ValueError if it does not, or if the
    list has expired (or has no expiry)."""
    body = {k: v for k, v in doc.items() if k != "sig"}
    try:
        pub.verify(bytes.fromhex(str(doc.get("sig", ""))), _canonical(body))
    except (InvalidSignature, ValueError) as e:
        raise ValueError("trust list signature invalid") from e
    expires = body.get("expires")
    if type(expires) is not int or (time.time() if now is None else now) >= expires:
        raise ValueError("trust list expired: fetch a new one from the registry")
    return body


TRUST_BIN_MAGIC = b"ETL1"
MAX_TRUST_KEYS = 800  # 32 KB: what a payout device takes (firmware/payout/trust.py MAX_BYTES)


def signed_trust_bin(key: ed25519.Ed25519PrivateKey, registry_id: str, devices: list[tuple[str, bytes]],
                     now: int | None = None) -> bytes:
    """The binary trust list (module docstring), valid TRUST_LIST_S from now."""
    issued = int(time.time()) if now is None else now
    rid = registry_id.encode()
    if len(rid) > 64 or len(devices) > MAX_TRUST_KEYS:
        raise ValueError("registry id over 64 bytes or too many device keys for one trust list")
    entries = sorted((kid_of(pub), pub) for _, pub in devices)
    body = (TRUST_BIN_MAGIC + bytes((len(rid),)) + rid + struct.pack(">IIH", issued, issued + TRUST_LIST_S, len(entries))
            + b"".join(kid + pub for kid, pub in entries))
    return body + key.sign(body)


def verify_trust_bin(pub: ed25519.Ed25519PublicKey, data: bytes, registry_id: str, now: float | None = None
                     ) -> list[bytes]:
    """The card-signing keys of a binary trust list; ValueError if its signature, registry or
    expiry is wrong (as firmware/payout/trust.py refuses it)."""
    if len(data) < 4 + 1 + 10 + 64 or data[:4] != TRUST_BIN_MAGIC:
        raise ValueError("not a trust list")
    n = data[4]
    head = 5 + n + 10
    issued, expires, count = struct.unpack(">IIH", data[5 + n : head])
    if len(data) != head + 40 * count + 64:
        raise ValueError("trust list length wrong")
    try:
        pub.verify(data[-64:], data[:-64])
    except InvalidSignature as e:
        raise ValueError("trust list signature invalid") from e
    if data[5 : 5 + n] != registry_id.encode():
        raise ValueError("trust list of another registry")
    if (time.time() if now is None else now) >= expires:
        raise ValueError("trust list expired")
    return [data[head + 40 * i + 8 : head + 40 * i + 40] for i in range(count)]
