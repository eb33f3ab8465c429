"""ISO 9564-1 format 4 PIN block (AES, 16 bytes).

  PIN field (16 bytes): nibbles  4 | N | PIN digits | A-fill to nibble 16 | 8 random bytes
  PAN field (16 bytes): nibbles  M | account digits (12 here) | 0-fill      (M = digits - 12)
  block = AES(K, AES(K, PIN field) XOR PAN field)
K is the record's PIN key: HMAC-SHA256(batch key, "pin" || record_id)[:16]
(crypto/seal.py), so only the registry, which unwraps the batch key, can
decipher it; the account number is the record id's first 6 bytes as 12
decimal digits (account_digits()).  The block is sealed inside the record.

A payout device enciphers under its own PIN key (payout.json) with the card credential's
account number (credential_account()); the block goes to the registry over TLS and is never
kept (host_tools/registry/pins.py deciphers both).
"""

import cryptolib

from firmware.crypto import rng
from firmware.crypto.wipe import wipe
from firmware.formats import CREDENTIAL_ALPHABET  # formats.credential_id's

_MODE_ECB = 1


def account_digits(record_id):
    n = int.from_bytes(record_id[:6], "big") % 1000000000000
    return "%012d" % n


def credential_account(credential_id):
    """A payout's account number: the credential id's characters as their base32 values in
    decimal, the last 12 digits (host_tools/registry/pins.credential_account)."""
    digits = ""
    for c in credential_id:
        if c != "-":
            i = CREDENTIAL_ALPHABET.find(c)
            if i < 0:
                raise ValueError("credential id")
            digits += str(i)
    return "%012d" % (int(digits) % 1000000000000)


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
    """The 16-byte format 4 block of an enrolment.  The caller wipes `pin` afterwards."""
    return encipher_account(key, pin, account_digits(record_id), rnd)


def encipher_account(key, pin, digits, rnd=None):
    """The 16-byte format 4 block for a 12-digit account number.  The caller wipes `pin`."""
    field = pin_field(pin, rnd)
    inter = bytearray(16)
    cryptolib.aes(key, _MODE_ECB).encrypt(field, inter)
    wipe(field)
    pan = pan_field(digits)
    for i in range(16):
        inter[i] ^= pan[i]
    block = bytearray(16)
    cryptolib.aes(key, _MODE_ECB).encrypt(inter, block)
    return bytes(block)
