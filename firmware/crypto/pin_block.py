"""ISO 9564-1 format 4 PIN block (AES, 16 bytes).

  PIN field (16 bytes): nibbles  4 | N | PIN digits | A-fill to nibble 16 | 8 random bytes
  PAN field (16 bytes): nibbles  M | account digits (12 here) | 0-fill      (M = digits - 12)
  block = AES(K, AES(K, PIN field) XOR PAN field)
K is the record's PIN key: HMAC-SHA256(batch key, "pin" || record_id)[:16]
(crypto/seal.py), so only the registry, which unwraps the batch key, can
decipher it; the account number is the record id's first 6 bytes as 12
decimal digits (account_digits()).  The block is sealed inside the record.
"""

import cryptolib

from firmware.crypto import rng
from firmware.crypto.wipe import wipe

_MODE_ECB = 1


def account_digits(record_id):
    n = int.from_bytes(record_id[:6], "big") % 1000000000000
    return "%012d" % n


def _nibbles_to_bytes(nibs):
    out = bytearray(len(nibs) // 2)
    for i in range(len(out)):
        out[i] = (nibs[2 * i] << 4) | nibs[2 * i + 1]
    return out


def pin_field(pin, rnd=None):
    """pin: ASCII digits (bytes/bytearray, 4-12)."""
    n = len(pin)
    if not 4 <= n <= 12:
        raise ValueError("PIN length")
    nibs = bytearray(16)
    nibs[0] = 4
    nibs[1] = n
    for i in range(n):
        d = pin[i] - 48
        if not 0 <= d <= 9:
            raise ValueError("PIN digits")
        nibs[2 + i] = d
    for i in range(2 + n, 16):
        nibs[i] = 0xA
    field = _nibbles_to_bytes(nibs) + (rnd if rnd is not None else rng.random_bytes(8))
    wipe(nibs)
    return field


def pan_field(digits):
    m = len(digits) - 12
    nibs = bytearray(32)
    nibs[0] = m
    for i, ch in enumerate(digits):
        nibs[1 + i] = ord(ch) - 48
    return _nibbles_to_bytes(nibs)


def encipher(key, pin, record_id, rnd=None):
    """The 16-byte format 4 block.  The caller wipes `pin` afterwards."""
    field = pin_field(pin, rnd)
    inter = bytearray(16)
    cryptolib.aes(key, _MODE_ECB).encrypt(field, inter)
    wipe(field)
    pan = pan_field(account_digits(record_id))
    for i in range(16):
        inter[i] ^= pan[i]
    block = bytearray(16)
    cryptolib.aes(key, _MODE_ECB).encrypt(inter, block)
    return bytes(block)
