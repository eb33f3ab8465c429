"""secp128r1 in Python integers, for the simulator's NTAG factory (nxp_signer.py) and the tests of
the group law: it runs under MicroPython too.  The device checks signatures in C (firmware/crypto/
originality.py over the image's edsig module); this is the signing side NXP's factory has.
Jacobian coordinates with one inversion at the end."""

from firmware.crypto.originality import A, B, G, N, P  # noqa: F401 - G, N: the signer's

def _inv(x, m):
    return pow(x, m - 2, m)  # m is prime


def _double(pt):
    x, y, z = pt
    if y == 0 or z == 0:
        return (0, 1, 0)
    yy = y * y % P
    s = 4 * x * yy % P
    zz = z * z % P
    m = (3 * x * x + A * zz * zz) % P
    x3 = (m * m - 2 * s) % P
    return (x3, (m * (s - x3) - 8 * yy * yy) % P, 2 * y * z % P)


def _add(p1, p2):
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    if u1 == u2:
        return _double(p1) if s1 == s2 else (0, 1, 0)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return (x3, (r * (v - x3) - s1 * hhh) % P, h * z1 * z2 % P)


def mul(k, pt):
    """k * pt for an affine point; the result in Jacobian coordinates."""
    acc = (0, 1, 0)
    add = (pt[0], pt[1], 1)
    while k:
        if k & 1:
            acc = _add(acc, add)
        add = _double(add)
        k >>= 1
    return acc


def affine(pt):
    x, y, z = pt
    if z == 0:
        return None
    zi = _inv(z, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def on_curve(pt):
    x, y = pt
    return (y * y - (x * x * x + A * x + B)) % P == 0


def public_point(key):
    """An uncompressed SEC 1 key (04 || X || Y, 33 bytes) as a point; ValueError if it is not one."""
    if len(key) != 33 or key[0] != 4:
        raise ValueError("not an uncompressed secp128r1 key")
    pt = (int.from_bytes(key[1:17], "big"), int.from_bytes(key[17:33], "big"))
    if not on_curve(pt):
        raise ValueError("key not on secp128r1")
    return pt


def mul2(k1, p1, k2, p2):
    """k1 * p1 + k2 * p2 in one pass over the bits (Shamir's trick): 128 doublings, not 256."""
    j1 = (p1[0], p1[1], 1)
    j2 = (p2[0], p2[1], 1)
    both = _add(j1, j2)
    acc = (0, 1, 0)
    for i in range(127, -1, -1):  # k1, k2 < N < 2**128 (MicroPython's int has no bit_length)
        acc = _double(acc)
        b1 = (k1 >> i) & 1
        b2 = (k2 >> i) & 1
        if b1 and b2:
            acc = _add(acc, both)
        elif b1:
            acc = _add(acc, j1)
        elif b2:
            acc = _add(acc, j2)
    return acc
