"""HMAC-SHA256 (RFC 2104) on hashlib.sha256: MicroPython has no hmac module."""

import hashlib

BLOCK = 64
DIGEST = 32

# RFC 2104's pads, BLOCK bytes of 0x36 ("6") and of 0x5C ("\\"), written out: a literal is kept in
# flash, a computed one in the heap
_IPAD = b"6666666666666666666666666666666666666666666666666666666666666666"
_OPAD = b"\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\"


def _xor_pad(key, pad):
    out = bytearray(pad)
    for i in range(len(key)):
        out[i] ^= key[i]
    return out


class HMAC:
    """Streaming HMAC-SHA256: update() as data arrives, then digest() (as often as wanted: the MAC
    is kept; MicroPython's sha256 cannot be finalised twice).  update() after digest() is refused."""

    def __init__(self, key, msg=None):
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        self._outer_key = _xor_pad(key, _OPAD)
        self._inner = hashlib.sha256(_xor_pad(key, _IPAD))
        self._mac = None
        if msg is not None:
            self._inner.update(msg)

    def update(self, data):
        if self._mac is not None:
            raise ValueError("HMAC: update after digest")
        self._inner.update(data)

    def digest(self):
        if self._mac is None:
            outer = hashlib.sha256(self._outer_key)
            outer.update(self._inner.digest())
            self._mac = outer.digest()
            self._outer_key = None
        return self._mac


def hmac_sha256(key, msg):
    return HMAC(key, msg).digest()


def compare_digest(a, b):
    """Constant-time comparison of two MACs (no early exit on the first difference)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
