"""Ed25519 and SHA-512 against RFC 8032 section 7.1 and FIPS 180-4 vectors, on both runtimes."""

import binascii

from firmware.crypto import ed25519
from firmware.crypto.ed25519 import sha512


def h(s):
    return binascii.unhexlify(s.replace(" ", ""))


def test_sha512_fips_vectors():
    assert sha512(b"abc").digest() == h(
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    assert sha512(b"").digest() == h(
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
    long = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
    assert sha512(long).digest() == h(
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909")
    s = sha512()
    s.update(long[:50])
    s.update(long[50:])
    assert s.digest() == sha512(long).digest()



def test_sha512_any_split_into_updates_gives_the_one_shot_digest():
    # 1,000 bytes of "a" (digest from OpenSSL's SHA-512) fed in pieces across block boundaries
    data = b"a" * 1000
    one_shot = sha512(data).digest()
    assert one_shot == h(
        "67ba5535a46e3f86dbfbed8cbbaf0125c76ed549ff8b0b9e03e0c88cf90fa634"
        "fa7b12b47d77b694de488ace8d9a65967dc96df599727d3292a8d9d447709c97")
    for size in (1, 7, 64, 127, 128, 129, 300):
        s = sha512()
        for i in range(0, len(data), size):
            s.update(memoryview(data)[i : i + size])  # a view, as a caller slicing a buffer passes
        assert s.digest() == one_shot, size
    s = sha512(data[:200])
    assert s.digest() == sha512(data[:200]).digest()  # digest() leaves the hasher usable
    s.update(data[200:])
    assert s.digest() == one_shot

RFC8032 = [
    # (secret key, public key, message, signature): RFC 8032 7.1 TEST 1, 2, 3
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


def test_rfc8032_test_vectors_sign_and_verify():
    for sk, pk, msg, sig in RFC8032:
        assert ed25519.public_key(h(sk)) == h(pk)
        assert ed25519.sign(h(sk), h(msg)) == h(sig)
        assert ed25519.verify(h(pk), h(msg), h(sig))


def test_tampered_signatures_and_keys_are_rejected():
    sk, pk, msg, sig = RFC8032[2]
    sig, pk, msg = bytearray(h(sig)), h(pk), h(msg)
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert not ed25519.verify(pk, msg, bad)
    assert not ed25519.verify(pk, msg + b"\x00", sig)
    assert not ed25519.verify(h(RFC8032[0][1]), msg, sig)
    assert not ed25519.verify(pk, msg, sig[:63])
    high_s = sig[:32] + (int.from_bytes(sig[32:], "little") + 2**252 + 27742317777372353535851937790883648493).to_bytes(32, "little")
    assert not ed25519.verify(pk, msg, high_s)  # S >= L is malleable: refused
    assert not ed25519.verify(b"\xff" * 32, msg, sig)  # not a point


def test_sign_derives_the_public_key_and_refuses_a_wrong_one():
    """A wrong `pub` would reuse the nonce with another challenge and leak the key: refused."""
    from fwtest import raises

    seed = bytes(range(32))
    pub = ed25519.public_key(seed)
    sig = ed25519.sign(seed, b"msg")
    assert sig == ed25519.sign(seed, b"msg", pub) and ed25519.verify(pub, b"msg", sig)
    with raises(ValueError, match="does not belong"):
        ed25519.sign(seed, b"msg", ed25519.public_key(bytes(32)))
    other = bytes(range(1, 33))  # a second seed: its own key, not the first one's kept one
    assert ed25519.verify(ed25519.public_key(other), b"msg", ed25519.sign(other, b"msg"))
