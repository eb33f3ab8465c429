"""The device's Ed25519 against the reference: its precomputed base-point table is what the
generator makes (and so cannot drift), every entry is the point it claims to be by the firmware's
own group law, and signatures and keys equal those of the `cryptography` library (OpenSSL)."""

from __future__ import annotations

import os
import random

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware.crypto import ed25519
from firmware.crypto.ed25519_base import TABLE
from host_tools.enrolctl import ed25519_table


def test_the_checked_in_table_is_the_generated_one() -> None:
    assert ed25519_table.TARGET.read_text() == ed25519_table.module_source()
    assert TABLE == ed25519_table.table_bytes() and len(TABLE) == 64 * 8 * 96


def mul_ref(s: int, p: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """[s]p by plain double-and-add with the unified addition: the reference the fast paths meet."""
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = ed25519._add(q, p)
        p = ed25519._add(p, p)
        s >>= 1
    return q


def _niels(point: tuple[int, int, int, int]) -> bytes:
    x, y, z, _ = point
    zi = pow(z, ed25519._P - 2, ed25519._P)
    x, y = x * zi % ed25519._P, y * zi % ed25519._P
    p = ed25519._P
    return b"".join(v.to_bytes(32, "little") for v in ((y + x) % p, (y - x) % p, 2 * ed25519._D * x * y % p))


def test_every_sampled_entry_is_its_multiple_of_the_base_point() -> None:
    rng = random.Random(7)
    picks = [(0, 1), (0, 8), (63, 1), (63, 8)] + [(rng.randrange(64), rng.randrange(1, 9)) for _ in range(20)]
    for i, j in picks:
        off = (i * 8 + j - 1) * 96
        assert TABLE[off : off + 96] == _niels(mul_ref(j * 16**i, ed25519._B)), (i, j)


def test_keys_and_signatures_equal_openssl_for_random_keys_and_messages() -> None:
    for n in range(40):
        seed, msg = os.urandom(32), os.urandom(n * 7)
        ref = Ed25519PrivateKey.from_private_bytes(seed)
        pub = ref.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert ed25519.public_key(seed) == pub
        sig = ed25519.sign(seed, msg)
        assert sig == ref.sign(msg)  # Ed25519 is deterministic: byte for byte
        assert ed25519.verify(pub, msg, sig)
        assert not ed25519.verify(pub, msg + b"\x00", sig)


def test_fixed_base_and_comb_multiplication_agree_with_the_reference_for_any_scalar() -> None:
    rng = random.Random(11)
    scalars = [0, 1, 15, 16, 17, ed25519._L - 1, ed25519._L, ed25519._L + 1, (1 << 256) - 1,
               (1 << 64) - 1, 1 << 64, 1 << 128, (1 << 192) + 1, 1 << 255]  # the comb's quarter edges
    scalars += [rng.randrange(1 << 256) for _ in range(30)]
    a = ed25519._decode(ed25519.public_key(os.urandom(32)))
    assert a is not None
    comb = ed25519._comb_table(a, bytearray(15 * 96))
    for s in scalars:
        assert ed25519._equal(ed25519._mul_base(s), mul_ref(s % ed25519._L, ed25519._B)), s
        assert ed25519._equal(ed25519._mul_comb(s, comb), mul_ref(s, a)), s


def test_non_canonical_r_encodings_are_refused_as_rfc8032_decoding_refuses_them() -> None:
    seed, msg = os.urandom(32), b"credential"
    pub, sig = ed25519.public_key(seed), ed25519.sign(seed, msg)
    p = ed25519._P
    # the neutral element (0, 1) written as y = p + 1, and as x = 0 with the sign bit set
    for r in ((p + 1).to_bytes(32, "little"), (1 | (1 << 255)).to_bytes(32, "little")):
        assert not ed25519.verify(pub, msg, r + sig[32:])
    y = int.from_bytes(sig[:32], "little")
    assert not ed25519.verify(pub, msg, (y ^ (1 << 255)).to_bytes(32, "little") + sig[32:])  # -R
    assert ed25519.verify(pub, msg, sig)
