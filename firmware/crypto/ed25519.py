"""Ed25519 signatures (RFC 8032 section 5.1) in pure Python integers.

The device signs card credentials with its own key; verify() is used to
check a card read back (and any credential shown in verify mode).  Extended
twisted-Edwards coordinates, no secret-dependent branches in the group law.
Multiples of the base point B (signing, the public key, half of a verify) add
precomputed points: the scalar in 64 signed radix-16 digits, digit i picking
|e_i| * 16**i * B from ed25519_base.TABLE (48 KB, frozen into flash: no heap),
so 64 mixed additions instead of ~380 general ones.  The public key a verify
checks against gets a comb of its own, kept for the next verify (_comb_table),
with a doubling formula of its own.  Zero digits are skipped, so the
time depends on the scalar: fine for a device that signs its own credentials,
not for a signing oracle under remote timing attack.
"""

from firmware.crypto.ed25519_base import TABLE
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


def _double(p):
    """2p (dbl-2008-hwcd for a = -1): 4 squarings and 4 multiplications, against 9 for _add."""
    x1, y1, z1, _ = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    xy = x1 + y1
    e = h - xy * xy % _P  # -E
    g = a - b  # -G
    f = c + g  # -F
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _madd(p, off, negate, table=TABLE):
    """p + the table's point at byte offset off (negated if asked): Z2 = 1, so 7 multiplications.
    A table point is 96 bytes: y + x, y - x, 2dxy (affine, little-endian)."""
    x1, y1, z1, t1 = p
    yp = int.from_bytes(table[off : off + 32], "little")
    ym = int.from_bytes(table[off + 32 : off + 64], "little")
    k = int.from_bytes(table[off + 64 : off + 96], "little")
    if negate:  # -(x, y) = (-x, y): y + x and y - x swap, 2dxy changes sign
        yp, ym, k = ym, yp, _P - k
    a = (y1 - x1) * ym % _P
    b = (y1 + x1) * yp % _P
    c = t1 * k % _P
    d = 2 * z1
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul_base(s):
    """s * B.  B has order L, so s is reduced first: under 2**253, 64 digits in [-8, 8)."""
    s %= _L
    q = (0, 1, 1, 0)
    carry = 0
    for i in range(64):
        v = (s & 15) + carry
        s >>= 4
        carry = (v + 8) >> 4
        v -= carry << 4
        if v > 0:
            q = _madd(q, (i * 8 + v - 1) * 96, False)
        elif v < 0:
            q = _madd(q, (i * 8 - v - 1) * 96, True)
    return q


def _comb_table(p, out):
    """A Lim-Lee comb for p into out (15 * 96 bytes): the 15 non-empty sums of p, 2**64 p,
    2**128 p, 2**192 p, affine, as 96-byte table entries.  Then [k]p is 63 doublings and at most
    64 mixed additions (_mul_comb), against 252 doublings and 63 general additions.

    Made in the card step, the device's fullest heap: so each sum's X, Y, Z goes to out as
    bytes (96 bytes, against 290 for a point of int objects) and is made affine there, in place;
    only the four teeth and the sums still to be added to stay points (about 3 KB at most)."""
    teeth = [p]
    for _ in range(3):
        q = teeth[-1]
        for _ in range(64):
            q = _double(q)
        teeth.append(q)
    live = {1: teeth[0], 2: teeth[1], 4: teeth[2], 8: teeth[3]}  # the sums a later sum adds to
    for i in range(1, 16):
        low = i & -i
        q = live[i] if i == low else _add(live[i ^ low], live[low])
        if i in (6, 10, 12, 14):
            live[i] = q
        _put(out, (i - 1) * 96, q)
    teeth = live = q = None
    # one inversion for all 15 (Montgomery's trick): prefix products of Z, the last inverted,
    # then a walk back; the prefixes are kept as bytes too
    prefix = bytearray(15 * 32)
    acc = 1
    for i in range(15):
        acc = acc * _int(out, i * 96 + 64) % _P
        prefix[i * 32 : i * 32 + 32] = acc.to_bytes(32, "little")
    inv = _inv(acc)
    for i in range(14, -1, -1):
        at = i * 96
        x, y, z = _int(out, at), _int(out, at + 32), _int(out, at + 64)
        zi = inv * _int(prefix, (i - 1) * 32) % _P if i else inv
        inv = inv * z % _P
        x, y = x * zi % _P, y * zi % _P
        out[at : at + 32] = ((y + x) % _P).to_bytes(32, "little")
        out[at + 32 : at + 64] = ((y - x) % _P).to_bytes(32, "little")
        out[at + 64 : at + 96] = (2 * _D * x * y % _P).to_bytes(32, "little")
    return out


def _int(buf, at):
    return int.from_bytes(buf[at : at + 32], "little")


def _put(out, at, q):
    """A point's X, Y, Z (each reduced below p) into out at byte offset at."""
    out[at : at + 32] = (q[0] % _P).to_bytes(32, "little")
    out[at + 32 : at + 64] = (q[1] % _P).to_bytes(32, "little")
    out[at + 64 : at + 96] = (q[2] % _P).to_bytes(32, "little")


def _mul_comb(k, comb):
    """[k]p for k < 2**256 with p's _comb_table: bit b of each 64-bit quarter of k picks a sum."""
    q = (0, 1, 1, 0)
    for b in range(63, -1, -1):
        q = _double(q)
        i = ((k >> b) & 1) | ((k >> (b + 63)) & 2) | ((k >> (b + 126)) & 4) | ((k >> (b + 189)) & 8)
        if i:
            q = _madd(q, (i - 1) * 96, False, comb)
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
    return _encode(_mul_base(a))


# The last seed signed with: [seed, (a, prefix), public key].  One SHA-512 and one scalar
# multiplication per key, not per signature (the seed itself is in RAM anyway, in secrets).
_key_of = [None, None, None]


def sign(seed, msg, pub=None):
    """RFC 8032 5.1.6.  The public key is derived from the seed (once per seed, then kept), never
    taken on trust: a wrong one would reuse the nonce r with another k and give the key away.
    `pub`, if given, must be that key (ValueError otherwise)."""
    if _key_of[0] != bytes(seed):
        expanded = _expand(seed)
        _key_of[2] = _encode(_mul_base(expanded[0]))
        _key_of[1] = expanded
        _key_of[0] = bytes(seed)
    a, prefix = _key_of[1]
    if pub is not None and bytes(pub) != _key_of[2]:
        raise ValueError("ed25519: public key does not belong to the seed")
    pub = _key_of[2]
    r = _h(prefix, msg) % _L
    rs = _encode(_mul_base(r))
    k = _h(rs, pub, msg) % _L
    s = (r + k * a) % _L
    return rs + s.to_bytes(32, "little")


# The last public key verified against (a device checks its own cards' key, again and again) and
# its comb table, filled at its first verify (about 190 doublings, one inversion).  The table's
# 1.4 KB is taken here, at import, while the heap is in one piece: asked for at the first card
# check instead, a fragmented heap refused it (MemoryError, seen in make sim).
_point_of = [None]
_comb = bytearray(15 * 96)


def prepare(pub):
    """pub's comb table made now, for its verifies to come (False: pub is not a point).  The card
    step asks for it before the tap: made during the write, it was the step's heap peak (the
    card's bytes and the write's state live then) and a tenth of a second of the citizen's wait."""
    pub = bytes(pub)
    if _point_of[0] != pub:
        point = _decode(pub)
        if point is None:
            return False
        _point_of[0] = None  # a table half made (an error, MemoryError) is never taken for pub's
        _comb_table(point, _comb)
        _point_of[0] = pub
    return True


def verify(pub, msg, sig, msg_len=None):
    """True if sig is pub's signature of msg (RFC 8032 5.1.7, cofactorless check).  With msg_len,
    msg is a file open at the message's first byte: its msg_len bytes are hashed 256 at a time (a
    long message, a trust list, never whole in RAM).

    [S]B = R + [k]A is checked as encode([S]B - [k]A) == R's 32 bytes: an inversion instead of
    decoding R (a square root), and a non-canonical R (y >= p, or x = 0 with the sign bit set)
    fails the byte comparison as RFC 8032's decoding refuses it."""
    if len(sig) != 64 or len(pub) != 32:
        return False
    pub = bytes(pub)
    if not prepare(pub):
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    rs = bytes(sig[:32])
    if msg_len is None:
        k = _h(rs, pub, msg) % _L
    else:
        h = sha512()
        h.update(rs)
        h.update(pub)
        chunk = bytearray(256)
        left = msg_len
        while left > 0:
            got = msg.readinto(chunk) if left >= 256 else msg.readinto(memoryview(chunk)[:left])
            if not got:
                return False  # shorter than it said
            h.update(memoryview(chunk)[:got])
            left -= got
        k = int.from_bytes(h.digest(), "little") % _L
    x, y, z, t = _mul_comb(k, _comb)
    return _encode(_add(_mul_base(s), (_P - x, y, z, _P - t))) == rs
