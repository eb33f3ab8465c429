"""The image's native module edsig (C in our 32-bit MicroPython runtime) against reference libraries:
Ed25519 against OpenSSL (the `cryptography` package), SHA-512 and PBKDF2-HMAC-SHA256 against hashlib,
secp128r1 ECDSA (NXP originality) against python-ecdsa.  Ed25519: byte for byte on random keys and messages, and the
same yes or no on crafted signatures (S >= L, small-order and non-canonical points, flipped bits)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import run_micropython

L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19

# One line in, one line out: "sign SEED MSG" -> "PUB SIG", "check PUB SIG MSG" -> "1"/"0",
# "sha SIZE MSG" -> the digest of MSG fed SIZE bytes at a time, "pbkdf PASS SALT ITER DKLEN" -> the key
SCRIPT = """
import sys, edsig, binascii
u, h = binascii.unhexlify, binascii.hexlify
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == 'sign':
        seed, msg = u(w[1]), u(w[2]) if len(w) > 2 else b''
        print(h(edsig.public_key(seed)).decode(), h(edsig.sign(seed, msg)).decode())
    elif w[0] == 'check':
        pub, sig, msg = u(w[1]), u(w[2]), u(w[3]) if len(w) > 3 else b''
        d = edsig.sha512(sig[:32]); d.update(pub); d.update(msg)
        print(1 if edsig.check(pub, sig, d.digest()) else 0)
    elif w[0] == 'orig':
        print(1 if edsig.secp128r1_verify(u(w[1]), u(w[2]), u(w[3])) else 0)
    elif w[0] == 'pbkdf':
        p, s = (b'' if x == '-' else u(x) for x in w[1:3])
        print(h(edsig.pbkdf2_sha256(p, s, int(w[3]), int(w[4]))).decode())
    else:
        size, msg = int(w[1]), u(w[2]) if len(w) > 2 else b''
        s = edsig.sha512()
        for i in range(0, len(msg), size):
            s.update(memoryview(msg)[i:i + size])
        print(h(s.digest()).decode())
"""


def edsig(lines: list[str]) -> list[str]:
    proc = run_micropython(["-c", SCRIPT], input="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == len(lines)
    return out


def openssl_verifies(pub: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def test_random_keys_and_messages_sign_byte_for_byte_as_openssl() -> None:
    cases = []
    for i in range(48):
        sk = Ed25519PrivateKey.generate()
        msg = os.urandom([0, 1, 63, 64, 111, 112, 127, 128, 129, 255, 300, 2000][i % 12])
        cases.append((sk, msg))
    out = edsig([f"sign {sk.private_bytes_raw().hex()} {msg.hex()}" for sk, msg in cases])
    for (sk, msg), line in zip(cases, out):
        pub, sig = line.split()
        assert pub == sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        assert sig == sk.sign(msg).hex()  # Ed25519 is deterministic: the same 64 bytes


def test_checks_give_openssls_answer_on_good_tampered_and_crafted_signatures() -> None:
    sk = Ed25519PrivateKey.generate()
    pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    msg = os.urandom(80)
    sig = sk.sign(msg)
    s = int.from_bytes(sig[32:], "little")
    identity = (1).to_bytes(32, "little")
    minus_one = (P - 1).to_bytes(32, "little")  # the point of order 2
    noncanon_identity = (P + 1).to_bytes(32, "little")  # y = 1 written as p + 1
    cases: list[tuple[bytes, bytes, bytes]] = [(pub, sig, msg), (pub, sig, msg + b"\0"), (pub, sig, msg[:-1])]
    for i in (0, 5, 31, 32, 40, 63):
        bad = bytearray(sig)
        bad[i] ^= 1 << (i % 8)
        cases.append((pub, bytes(bad), msg))
    cases += [
        (pub, sig[:32] + (s + L).to_bytes(32, "little"), msg),  # S >= L: malleable, refused
        (pub, sig[:32] + (L - 1).to_bytes(32, "little"), msg),
        (identity, identity + bytes(32), msg),  # small-order key, R = identity, S = 0
        (minus_one, identity + bytes(32), msg),
        (identity, noncanon_identity + bytes(32), msg),  # R not canonical
        (noncanon_identity, identity + bytes(32), msg),  # A not canonical
        (b"\xff" * 32, sig, msg),  # A not on the curve
        (pub, b"\xff" * 32 + sig[32:], msg),
    ]
    out = edsig([f"check {p.hex()} {g.hex()} {m.hex()}" for p, g, m in cases])
    got = [line == "1" for line in out]
    want = [openssl_verifies(p, g, m) for p, g, m in cases]
    assert want[0] and not any(want[1:9])  # the oracle itself: only the untouched signature holds
    assert got == want


@pytest.mark.parametrize("size", [1, 7, 111, 112, 128, 129, 1000])
def test_sha512_in_pieces_is_hashlibs(size: int) -> None:
    msgs = [b"", b"abc", os.urandom(111), os.urandom(112), os.urandom(127), os.urandom(128), os.urandom(4099)]
    out = edsig([f"sha {size} {m.hex()}" for m in msgs])
    assert out == [hashlib.sha512(m).hexdigest() for m in msgs]


def test_pbkdf2_sha256_is_hashlibs_and_rfc7914s() -> None:
    cases = [(b"passwd", b"salt", 1, 64), (b"Password", b"NaCl", 80000, 64),  # RFC 7914 section 11
             (b"2468", os.urandom(16), 4096, 32), (os.urandom(100), os.urandom(7), 3, 33),  # key > one block
             (b"", b"", 2, 1), (os.urandom(64), os.urandom(40), 17, 95)]
    out = edsig([f"pbkdf {p.hex() or '-'} {s.hex() or '-'} {n} {k}" for p, s, n, k in cases])
    assert out[0] == ("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                      "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
    assert out == [hashlib.pbkdf2_hmac("sha256", p, s, n, k).hex() for p, s, n, k in cases]


def ecdsa_verifies(uid: bytes, sig: bytes, key: bytes) -> bool:
    from ecdsa import SECP128r1, BadSignatureError, VerifyingKey
    from ecdsa.errors import MalformedPointError
    from ecdsa.util import sigdecode_string

    if len(key) != 33 or key[0] != 4:
        return False
    try:
        vk = VerifyingKey.from_string(key[1:], curve=SECP128r1)
        return bool(vk.verify_digest(sig, uid, sigdecode=sigdecode_string, allow_truncate=False))
    except (BadSignatureError, MalformedPointError, ValueError, AssertionError):
        return False


def test_secp128r1_originality_checks_give_python_ecdsas_answer() -> None:
    from ecdsa import SECP128r1, SigningKey
    from ecdsa.util import sigencode_string

    n = SECP128r1.order
    p = SECP128r1.curve.p()
    nxp = bytes.fromhex("04494E1A386D3D3CFE3DC10E5DE68A499B1C202DB5B132393E89ED19FE5BE8BC61")
    cases: list[tuple[bytes, bytes, bytes]] = []
    for _ in range(24):
        sk = SigningKey.generate(curve=SECP128r1)
        key = b"\x04" + sk.get_verifying_key().to_string()
        uid = b"\x04" + os.urandom(6)
        sig = sk.sign_digest(uid, sigencode=sigencode_string, allow_truncate=False)
        r, s = int.from_bytes(sig[:16], "big"), int.from_bytes(sig[16:], "big")
        cases += [(uid, sig, key), (uid[:-1] + bytes((uid[-1] ^ 1,)), sig, key),
                  (uid, sig[:20] + bytes((sig[20] ^ 0x10,)) + sig[21:], key),
                  (uid, sig[:16] + (n - s).to_bytes(16, "big"), key)]  # -s: another valid ECDSA signature
        cases.append((uid, sig, nxp))
    r0, s0 = cases[0][1][:16], cases[0][1][16:]
    uid0, key0 = cases[0][0], cases[0][2]
    cases += [(uid0, bytes(16) + s0, key0), (uid0, r0 + bytes(16), key0),  # r = 0, s = 0
              (uid0, n.to_bytes(16, "big") + s0, key0), (uid0, r0 + n.to_bytes(16, "big"), key0),  # = n
              (uid0, cases[0][1], key0[:17] + bytes(16)),  # not on the curve
              (uid0, cases[0][1], b"\x04" + p.to_bytes(16, "big") + key0[17:]),  # x = p
              (uid0, cases[0][1], b"\x02" + key0[1:]), (uid0, cases[0][1], key0[:32])]
    out = edsig([f"orig {u.hex()} {g.hex()} {k.hex()}" for u, g, k in cases])
    want = [ecdsa_verifies(u, g, k) for u, g, k in cases]
    assert sum(want) == 48  # the oracle: each key's signature and its -s twin, nothing else
    assert [line == "1" for line in out] == want
