"""NTAG originality check (secp128r1 ECDSA) on both runtimes: the simulator's group law (its
factory's), its signatures checked by the device's verify (C, edsig), tampering.
(tests/host/interop/test_originality_interop.py checks both against python-ecdsa.)"""

from firmware.crypto import originality as o
from host_tools.sim import secp128r1 as ec
from host_tools.sim.nxp_signer import FactorySigner


def test_group_law():
    assert ec.on_curve(ec.G)
    assert ec.affine(ec.mul(ec.N, ec.G)) is None  # n * G is the point at infinity
    a, b = 0x1234567890ABCDEF, 0xFEDCBA0987654321
    assert ec.affine(ec.mul(a + b, ec.G)) == ec.affine(ec._add(ec.mul(a, ec.G), ec.mul(b, ec.G)))
    q = ec.affine(ec.mul(b, ec.G))
    assert ec.affine(ec.mul2(a, ec.G, 7, q)) == ec.affine(ec.mul(a + 7 * b, ec.G))


def test_factory_signatures_verify_and_nothing_else_does():
    f = FactorySigner()
    uid = b"\x04\x51\x8d\xfa\xa9\x61\x80"
    sig = f.sign(uid)
    assert o.verify(uid, sig, f.public_key)
    assert not o.verify(uid, sig)  # not NXP's signature
    assert not o.verify(b"\x04\x51\x8d\xfa\xa9\x61\x81", sig, f.public_key)  # another UID
    assert not o.verify(uid, bytes(32), f.public_key)  # a clone's empty signature
    assert not o.verify(uid, sig[:31], f.public_key)


def test_a_uid_of_another_length_or_a_malformed_key_is_simply_not_genuine():
    signer = FactorySigner(0x1234567890ABCDEF1234567890ABCD)
    uid = bytes((4, 1, 2, 3, 4, 5, 6))
    sig = signer.sign(uid)
    assert o.verify(uid, sig, signer.public_key)
    for bad_uid in (uid[:4], uid + b"\x00", b""):
        assert not o.verify(bad_uid, sig, signer.public_key)
    for bad_key in (signer.public_key[:32], b"\x02" + signer.public_key[1:], b"\x04" + bytes(32), b""):
        assert not o.verify(uid, sig, bad_key)  # never an exception
