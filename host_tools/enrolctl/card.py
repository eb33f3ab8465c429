"""Verify a card image with standard host libraries only (cbor2, cryptography).

Proof that anyone can read our cards without our firmware: an independent
reading of the formats in firmware/card/credential.py and firmware/card/ndef.py.
A card image is the tag's memory, page by page (4 bytes a page): 540 bytes
for an NTAG215 (135 pages), 924 for an NTAG216 (231 pages), as the
simulator's wallet stores cards and as a phone app dumps them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from host_tools.registry.credential import CredentialError, verify_cose

from .errors import EnrolctlError

CC = {bytes.fromhex("e1103e00"): "NTAG215", bytes.fromhex("e1106d00"): "NTAG216"}
SIZES = {540: "NTAG215", 924: "NTAG216"}
EXTERNAL_TYPE = b"enrolment.example.org:cred"


class CardInvalid(EnrolctlError):
    """The card does not hold a valid credential; the message says why."""


@dataclass(frozen=True)
class CardCredential:
    uid: bytes
    tag: str
    kid: bytes
    claims: dict[int, object]


def uid_of(image: bytes) -> bytes:
    uid = image[0:3] + image[4:8]
    if image[3] != 0x88 ^ image[0] ^ image[1] ^ image[2] or image[8] != image[4] ^ image[5] ^ image[6] ^ image[7]:
        raise CardInvalid("UID check bytes (BCC) wrong: not a genuine NTAG image")
    return uid


def ndef_payload(user: bytes) -> bytes:
    i = 0
    while i < len(user):
        t = user[i]
        if t == 0x00:
            i += 1
            continue
        if t == 0xFE:
            break
        if i + 1 >= len(user):
            raise CardInvalid("truncated TLV")
        n, hdr = user[i + 1], 2
        if n == 0xFF:
            n, hdr = struct.unpack(">H", user[i + 2 : i + 4])[0], 4
        body = user[i + hdr : i + hdr + n]
        if len(body) != n:
            raise CardInvalid("TLV longer than the card")
        if t == 0x03:
            return record_payload(body)
        i += hdr + n
    raise CardInvalid("blank card: no NDEF message")


def record_payload(msg: bytes) -> bytes:
    if len(msg) < 3 or msg[0] & 0x07 != 0x04:
        raise CardInvalid("not ours: no external-type record")
    tlen = msg[1]
    if msg[0] & 0x10:
        plen, p = msg[2], 3
    else:
        plen, p = struct.unpack(">I", msg[2:6])[0], 6
    if bytes(msg[p : p + tlen]) != EXTERNAL_TYPE:
        raise CardInvalid("not ours: record type " + msg[p : p + tlen].decode(errors="replace"))
    if p + tlen + plen != len(msg):
        raise CardInvalid("NDEF record length mismatch")
    return bytes(msg[p + tlen :])


def load_trust(path: Path) -> dict[bytes, bytes]:
    """Trust list: {"keys": [{"kid": hex, "pub": hex}, ...]} (the registry signs and publishes it)."""
    try:
        doc = json.loads(path.read_text())
        return {bytes.fromhex(k["kid"]): bytes.fromhex(k["pub"]) for k in doc["keys"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EnrolctlError(f"cannot read trust list {path}: {e}") from e


def genuine_chip(uid: bytes, signature: bytes, public_keys: list[bytes]) -> bool:
    """The chip's originality signature (NXP AN11350: ECDSA on secp128r1, the 7-byte UID as the
    message integer, not hashed) verifies under one of public_keys (04 || x || y), checked with
    python-ecdsa, not the device's code."""
    from ecdsa import SECP128r1, BadSignatureError, VerifyingKey
    from ecdsa.util import sigdecode_string

    if len(signature) != 32 or len(uid) != 7:
        return False
    for pub in public_keys:
        try:
            if VerifyingKey.from_string(pub, curve=SECP128r1).verify_digest(signature, uid, sigdecode=sigdecode_string):
                return True
        except (BadSignatureError, ValueError, AssertionError):
            continue
    return False


def verify_image(image: bytes, trusted: dict[bytes, bytes]) -> CardCredential:
    tag = SIZES.get(len(image))
    if tag is None:
        raise CardInvalid(f"image is {len(image)} bytes: not an NTAG215/216 dump")
    if CC.get(bytes(image[12:16])) != tag:
        raise CardInvalid("capability container is not an NTAG215/216 NDEF one")
    uid = uid_of(image)
    try:
        verified = verify_cose(ndef_payload(image[16:]), trusted)
    except CredentialError as e:
        raise CardInvalid(str(e)) from e
    claims, kid = verified.raw, verified.kid
    if claims.get(-70003) != uid:
        raise CardInvalid("UID mismatch: credential copied to another card")
    return CardCredential(uid, tag, kid, claims)
