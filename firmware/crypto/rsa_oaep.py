"""RSA-OAEP encryption with SHA-256 and MGF1-SHA-256, empty label (RFC 8017 section 7.1.1).

Public-key operation only (pow(m, e, n)): the device wraps record keys to the
registry's public key and can never unwrap them.
"""

import hashlib

from firmware.crypto import rng

H_LEN = 32
# SHA-256 of the empty label (e3b0c442...), written out: a literal is kept in flash (a test checks it)
_EMPTY_LABEL_HASH = b"\xe3\xb0\xc4\x42\x98\xfc\x1c\x14\x9a\xfb\xf4\xc8\x99\x6f\xb9\x24\x27\xae\x41\xe4\x64\x9b\x93\x4c\xa4\x95\x99\x1b\x78\x52\xb8\x55"


class RsaPublicKey:
    """n as bytes (big-endian modulus, k bytes), e as int."""

    def __init__(self, n_bytes, e=65537):
        if len(n_bytes) < 128 or n_bytes[0] == 0:
            raise ValueError("modulus must be at least 1024 bits without leading zeros")
        if e < 3 or e % 2 == 0:
            raise ValueError("bad public exponent")
        self.k = len(n_bytes)
        self.n = int.from_bytes(n_bytes, "big")
        self.e = e


def mgf1(seed, length):
    out = bytearray()
    counter = 0
    while len(out) < length:
        h = hashlib.sha256(seed)
        h.update(counter.to_bytes(4, "big"))
        out.extend(h.digest())
        counter += 1
    return out[:length]


def _xor_into(dst, mask):
    for i in range(len(dst)):
        dst[i] ^= mask[i]


def encrypt(pub, message, seed=None):
    """RSAES-OAEP-ENCRYPT; returns k bytes.  `seed` only for known-answer tests."""
    k = pub.k
    m_len = len(message)
    if m_len > k - 2 * H_LEN - 2:
        raise ValueError("message too long for this key")
    db = bytearray(k - H_LEN - 1)
    db[:H_LEN] = _EMPTY_LABEL_HASH
    db[len(db) - m_len - 1] = 0x01
    db[len(db) - m_len :] = message
    if seed is None:
        seed = rng.random_bytes(H_LEN)
    masked_seed = bytearray(seed)
    _xor_into(db, mgf1(seed, len(db)))
    _xor_into(masked_seed, mgf1(db, H_LEN))
    em = bytearray(k)
    em[1 : 1 + H_LEN] = masked_seed
    em[1 + H_LEN :] = db
    c = pow(int.from_bytes(em, "big"), pub.e, pub.n)
    return c.to_bytes(k, "big")
