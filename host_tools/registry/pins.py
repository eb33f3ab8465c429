"""PIN blocks in, keyed verifiers out: the registry never keeps a PIN or a plain hash of one.

ISO 9564-1 format 4 (AES): block = AES(K, AES(K, PIN field) XOR PAN field), as the
device makes it (firmware/crypto/pin_block.py).  Enrolment blocks are enciphered under
the record's PIN key (seal.pin_key), with the record id's first 6 bytes as a 12-digit
account number; a payout point enciphers with the credential's account number
(credential_account()), under its own PIN key: point_key(zone key, its id),
which `enrolctl device provision --role payout` gives that point alone (a payout point taken
apart yields no key that deciphers another point's blocks).
verifier = HMAC-SHA256(pin_key of the registry, "pin-verifier" || record_id || PIN digits):
a stolen database without the registry's key gives nothing to brute-force offline.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from firmware.formats import CREDENTIAL_ALPHABET  # Crockford base32, the device's (defined once)


class PinBlockError(ValueError):
    """Not a well-formed format 4 PIN block under this key and account."""


def record_account(record_id: bytes) -> str:
    return "%012d" % (int.from_bytes(record_id[:6], "big") % 10**12)




def credential_account(credential_id: str) -> str:
    """A payout point's account number: the credential id's digits and letters as a number."""
    digits = "".join(str(CREDENTIAL_ALPHABET.index(c)) for c in credential_id if c != "-")
    return "%012d" % (int(digits) % 10**12)


def point_key(zone_key: bytes, point_id: str) -> bytes:
    """The AES-128 key one payout point enciphers its PIN blocks under."""
    return hmac.new(zone_key, b"payout-point-pin\n" + point_id.encode(), hashlib.sha256).digest()[:16]


def _pan_field(account: str) -> bytes:
    nibs = [len(account) - 12] + [int(c) for c in account]
    nibs += [0] * (32 - len(nibs))
    return bytes((nibs[i] << 4) | nibs[i + 1] for i in range(0, 32, 2))


def _aes(key: bytes, block: bytes, decrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(block) + op.finalize()


def decipher(key: bytes, block: bytes, account: str) -> bytes:
    """The PIN digits (ASCII) of a format 4 block; PinBlockError if it does not parse."""
    if len(block) != 16:
        raise PinBlockError("PIN block must be 16 bytes")
    inter = _aes(key, block, decrypt=True)
    pan = _pan_field(account)
    field = _aes(key, bytes(a ^ b for a, b in zip(inter, pan)), decrypt=True)
    nibs = [n for b in field[:8] for n in (b >> 4, b & 15)]
    n = nibs[1]
    if nibs[0] != 4 or not 4 <= n <= 12 or any(d > 9 for d in nibs[2 : 2 + n]) \
            or any(f != 0xA for f in nibs[2 + n : 16]):
        raise PinBlockError("not a format 4 PIN block for this key and account")
    return bytes(48 + d for d in nibs[2 : 2 + n])


def encipher(key: bytes, pin: bytes, account: str, rnd: bytes) -> bytes:
    """For payout-point clients and tests (the device has its own, in firmware)."""
    nibs = [4, len(pin)] + [c - 48 for c in pin]
    nibs += [0xA] * (16 - len(nibs))
    field = bytes((nibs[i] << 4) | nibs[i + 1] for i in range(0, 16, 2)) + rnd
    inter = _aes(key, field, decrypt=False)
    return _aes(key, bytes(a ^ b for a, b in zip(inter, _pan_field(account))), decrypt=False)


def verifier(registry_pin_key: bytes, record_id: bytes, pin: bytes) -> bytes:
    return hmac.new(registry_pin_key, b"pin-verifier" + record_id + pin, hashlib.sha256).digest()
