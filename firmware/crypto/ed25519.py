"""Ed25519 signatures (RFC 8032 section 5.1) in pure Python integers.

The device signs card credentials with its own key; verify() is used to
check a card read back (and any credential shown in verify mode).  Extended
twisted-Edwards coordinates, no secret-dependent branches in the group law;
the scalar ladder below is double-and-add (fine for a device that signs its
own credentials, not for a signing oracle under remote timing attack).
"""

from firmware.crypto.sha512 import sha512

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


class BadSignature(ValueError):
    pass


def _inv(x):
    return pow(x, _P - 2, _P)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, p):
    q = (0, 1, 1, 0)  # neutral element
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p, q):
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % _P == 0 and (y1 * z2 - y2 * z1) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * _inv(_D * y * y + 1) % _P
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


_BY = 4 * _inv(5) % _P
_BX = _recover_x(_BY, 0)
_B = (_BX, _BY, 1, _BX * _BY % _P)


def _encode(p):
    x, y, z, _ = p
    zi = _inv(z)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _h(*parts):
    h = sha512()
    for p in parts:
        h.update(p)
    return int.from_bytes(h.digest(), "little")


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("Ed25519 seed must be 32 bytes")
    h = sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    a, _ = _expand(seed)
    return _encode(_mul(a, _B))


_pub_of = [None, None]  # the last seed signed with and its public key: one scalar mult per key, not per sign


def sign(seed, msg, pub=None):
    """RFC 8032 5.1.6.  The public key is derived from the seed (once per seed, then kept), never
    taken on trust: a wrong one would reuse the nonce r with another k and give the key away.
    `pub`, if given, must be that key (ValueError otherwise)."""
    a, prefix = _expand(seed)
    if _pub_of[0] != bytes(seed):
        _pub_of[1] = _encode(_mul(a, _B))
        _pub_of[0] = bytes(seed)
    if pub is not None and bytes(pub) != _pub_of[1]:
        raise ValueError("ed25519: public key does not belong to the seed")
    pub = _pub_of[1]
    r = _h(prefix, msg) % _L
    rs = _encode(_mul(r, _B))
    k = _h(rs, pub, msg) % _L
    s = (r + k * a) % _L
    return rs + s.to_bytes(32, "little")


def verify(pub, msg, sig):
    """True if sig is pub's signature of msg (RFC 8032 5.1.7, cofactorless check)."""
    if len(sig) != 64 or len(pub) != 32:
        return False
    a = _decode(pub)
    r = _decode(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    k = _h(sig[:32], pub, msg) % _L
    return _equal(_mul(s, _B), _add(r, _mul(k, a)))
