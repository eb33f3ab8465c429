"""The firmware's NTAG originality verifier (secp128r1, no hash) against an independent ECDSA
library (python-ecdsa), both ways, with keys and UIDs made at test time."""

from __future__ import annotations

import os

import pytest
from ecdsa import SECP128r1, SigningKey
from ecdsa.util import sigdecode_string, sigencode_string
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.crypto import originality
from host_tools.sim import secp128r1
from host_tools.sim.nxp_signer import FactorySigner


def test_curve_constants_match_the_library() -> None:
    c = SECP128r1
    assert (c.curve.p(), c.curve.a() % c.curve.p(), c.curve.b(), c.order) == (
        originality.P, originality.A, originality.B, originality.N)
    assert (c.generator.x(), c.generator.y()) == originality.G
    secp128r1.public_point(originality.NXP_NTAG21X)  # NXP's published key is a point on the curve


@settings(max_examples=25, deadline=None)
@given(uid=st.binary(min_size=7, max_size=7))
def test_library_signatures_verify_and_tampering_fails(uid: bytes) -> None:
    sk = SigningKey.generate(curve=SECP128r1)
    pub = b"\x04" + sk.get_verifying_key().to_string()
    sig = sk.sign_digest(uid, sigencode=sigencode_string, allow_truncate=False)
    assert originality.verify(uid, sig, pub)
    assert not originality.verify(bytes((uid[0] ^ 1,)) + uid[1:], sig, pub)
    assert not originality.verify(uid, sig[:16] + bytes((sig[16] ^ 1,)) + sig[17:], pub)
    other = b"\x04" + SigningKey.generate(curve=SECP128r1).get_verifying_key().to_string()
    assert not originality.verify(uid, sig, other)


def test_the_simulators_factory_signatures_verify_with_the_library() -> None:
    signer = FactorySigner()
    vk = SigningKey.generate(curve=SECP128r1).get_verifying_key().from_string(signer.public_key[1:],
                                                                             curve=SECP128r1)
    for _ in range(10):
        uid = b"\x04" + os.urandom(6)
        sig = signer.sign(uid)
        assert vk.verify_digest(sig, uid, sigdecode=sigdecode_string, allow_truncate=False)


@pytest.mark.parametrize("sig", [b"", bytes(32), b"\xff" * 32, bytes(31), bytes(16) + b"\x01" * 16])
def test_malformed_signatures_are_false_not_errors(sig: bytes) -> None:
    assert originality.verify(b"\x04" + bytes(6), sig) is False


def test_malformed_keys_are_refused() -> None:
    for key in (b"", b"\x02" + bytes(32), b"\x04" + bytes(32), originality.NXP_NTAG21X[:-1]):
        with pytest.raises(ValueError):
            secp128r1.public_point(key)
