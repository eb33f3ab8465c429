"""CPython stand-in for the firmware image's native module `edsig` (host tests only).

The device's edsig is C (host_tools/runtime/usermod/edsig/modedsig.c); the firmware tests that run
under CPython get this instead, as cryptolib.py stands in for MicroPython's AES.  It is RFC 8032's
own Python (section 6, the reference implementation: extended coordinates, recover_x, the
cofactorless check [S]B = R + [k]A compared as encodings), with hashlib's SHA-512.  The C module is
checked against OpenSSL in the MicroPython runtime (tests/fw/crypto/test_ed25519.py runs there too,
and tests/host/interop/test_edsig_openssl.py).
"""

import hashlib


def secp128r1_verify(msg, sig, key):
    """python-ecdsa's ECDSA on secp128r1, the message integer unhashed (as NXP signs a UID)."""
    from ecdsa import SECP128r1, BadSignatureError, VerifyingKey
    from ecdsa.util import sigdecode_string

    if len(sig) != 32 or len(key) != 33 or key[0] != 4 or len(msg) > 16:
        return False
    try:
        vk = VerifyingKey.from_string(bytes(key[1:]), curve=SECP128r1)
        return vk.verify_digest(bytes(sig), bytes(msg), sigdecode=sigdecode_string, allow_truncate=False)
    except (BadSignatureError, ValueError, AssertionError):
        return False


def pbkdf2_sha256(password, salt, iterations, dklen=32):
    return hashlib.pbkdf2_hmac("sha256", bytes(password), bytes(salt), iterations, dklen)

sha512 = hashlib.sha512

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_Q = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f, g * h, f * g, e * h)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p, q):
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(p):
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _h(*parts):
    return int.from_bytes(sha512(b"".join(bytes(p) for p in parts)).digest(), "little")


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("Ed25519 seed must be 32 bytes")
    h = sha512(bytes(seed)).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    return _compress(_mul(_expand(seed)[0], _G))


def sign(seed, msg, given=None):
    a, prefix = _expand(seed)
    pub = _compress(_mul(a, _G))
    if given is not None and bytes(given) != pub:
        raise ValueError("ed25519: public key does not belong to the seed")
    r = _h(prefix, msg) % _Q
    rs = _compress(_mul(r, _G))
    s = (r + _h(rs, pub, msg) * a) % _Q
    return rs + int.to_bytes(s, 32, "little")


def check(pub, sig, digest):
    if len(digest) != 64:
        raise ValueError("Ed25519 digest must be 64 bytes")
    if len(pub) != 32 or len(sig) != 64:
        return False
    a = _decompress(bytes(pub))
    s = int.from_bytes(sig[32:], "little")
    if a is None or s >= _Q:
        return False
    k = int.from_bytes(digest, "little") % _Q
    minus_ka = _mul(k, a)
    minus_ka = (_P - minus_ka[0], minus_ka[1], minus_ka[2], _P - minus_ka[3])
    return _compress(_add(_mul(s, _G), minus_ka)) == bytes(sig[:32])
