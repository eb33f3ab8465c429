"""Crypto primitives against published vectors (RFC 4231, NIST SP 800-38A), on both runtimes."""

import binascii

from fwtest import raises
from firmware.crypto import aes_cbc, rsa_oaep, seal
from firmware.crypto.hmac_sha256 import HMAC, compare_digest, hmac_sha256


def h(s):
    return binascii.unhexlify(s.replace(" ", ""))


def test_hmac_rfc4231_case_1_2_and_6():
    assert hmac_sha256(b"\x0b" * 20, b"Hi There") == h(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    assert hmac_sha256(b"Jefe", b"what do ya want for nothing?") == h(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    # case 6: a 131-byte key is hashed first
    assert hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First") == h(
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_hmac_streaming_equals_one_shot():
    m = HMAC(b"key")
    m.update(b"part one, ")
    m.update(b"part two")
    assert m.digest() == hmac_sha256(b"key", b"part one, part two")


def test_hmac_digest_twice_gives_the_same_mac_and_update_after_it_is_refused():
    h = HMAC(b"key", b"msg")
    first = h.digest()
    assert h.digest() == first == hmac_sha256(b"key", b"msg")  # MicroPython's sha256 finalises once
    with raises(ValueError, match="after digest"):
        h.update(b"more")


def test_compare_digest():
    assert compare_digest(b"abc", b"abc")
    assert not compare_digest(b"abc", b"abd")
    assert not compare_digest(b"abc", b"ab")


def test_aes256_cbc_nist_sp800_38a_f25():
    key = h("603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4")
    iv = h("000102030405060708090a0b0c0d0e0f")
    pt = h("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51")
    ct = aes_cbc.encrypt(key, iv, pt)
    assert len(ct) == 48  # two blocks and a full PKCS#7 padding block
    assert ct[:32] == h("f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d")
    assert aes_cbc.decrypt(key, iv, ct) == pt


def test_aes_padding_lengths_round_trip():
    key = bytes(range(32))
    iv = bytes(16)
    for n in (0, 1, 15, 16, 17, 31, 32, 100):
        msg = bytes((i * 7) & 0xFF for i in range(n))
        ct = aes_cbc.encrypt(key, iv, msg)
        assert len(ct) == aes_cbc.padded_len(n) and len(ct) % 16 == 0 and len(ct) > n
        assert aes_cbc.decrypt(key, iv, ct) == msg


def test_aes_bad_ciphertext_is_a_padding_error():
    key = bytes(32)
    with raises(aes_cbc.PaddingError):
        aes_cbc.decrypt(key, bytes(16), b"")
    with raises(aes_cbc.PaddingError):
        aes_cbc.decrypt(key, bytes(16), bytes(15))
    ct = aes_cbc.encrypt(key, bytes(16), b"hello")
    ct[-1] ^= 1  # garbles the whole last block: padding check fails
    with raises(aes_cbc.PaddingError):
        aes_cbc.decrypt(key, bytes(16), ct)


# Any odd 2048-bit modulus serves to test the encoding; the interop test in
# tests/host/interop/test_seal_interop.py decrypts with a real key made at test time.
FAKE_N = ((1 << 2047) + 0x1234567).to_bytes(256, "big")


def test_oaep_output_is_k_bytes_and_randomised():
    pub = rsa_oaep.RsaPublicKey(FAKE_N)
    a = rsa_oaep.encrypt(pub, b"\x11" * 32)
    b = rsa_oaep.encrypt(pub, b"\x11" * 32)
    assert len(a) == 256 and a != b
    assert rsa_oaep.encrypt(pub, b"x", seed=bytes(32)) == rsa_oaep.encrypt(pub, b"x", seed=bytes(32))


def test_oaep_refuses_too_long_message_and_bad_keys():
    pub = rsa_oaep.RsaPublicKey(FAKE_N)
    with raises(ValueError, "too long"):
        rsa_oaep.encrypt(pub, bytes(256 - 2 * 32 - 1))
    with raises(ValueError):
        rsa_oaep.RsaPublicKey(b"\x00" + FAKE_N[1:])
    with raises(ValueError):
        rsa_oaep.RsaPublicKey(FAKE_N[:64])
    with raises(ValueError):
        rsa_oaep.RsaPublicKey(FAKE_N, e=4)


def test_mgf1_length_and_prefix_property():
    a = rsa_oaep.mgf1(b"seed", 100)
    assert len(a) == 100
    assert rsa_oaep.mgf1(b"seed", 40) == a[:40]


def sealed(plaintext=b'{"given_name":"SOPHEAP"}', seq=7):
    batch = seal.BatchKey(rsa_oaep.RsaPublicKey(FAKE_N))
    rid = bytes(range(16))
    return batch, seal.seal_record(batch, "dev-0001", 3, seq, rid, plaintext)


def test_record_envelope_header_round_trips():
    batch, env = sealed()
    hdr = seal.parse_record(env)
    assert (hdr.device_id, hdr.boot, hdr.seq) == ("dev-0001", 3, 7)
    assert hdr.record_id == bytes(range(16))
    assert hdr.key_id == batch.key_id and len(hdr.key_id) == 8
    assert hdr.size == len(env)
    # layout: 6 + 8 (device id) + 36 fixed (boot, seq, record id, key id, length)
    #         + 32 ciphertext (24 bytes padded) + 16 tag + 4 CRC
    assert len(env) == 6 + 8 + 36 + 32 + 16 + 4
    kid, wrapped = seal.parse_key(batch.envelope())
    assert kid == batch.key_id and wrapped == batch.wrapped


def test_every_flipped_bit_of_an_envelope_is_detected():
    batch, env = sealed()
    for i in range(len(env)):
        for bit in (0x01, 0x80):
            bad = bytearray(env)
            bad[i] ^= bit
            with raises(seal.EnvelopeError):
                seal.parse_record(bad)
    key_env = batch.envelope()
    for i in range(0, len(key_env), 7):
        bad = bytearray(key_env)
        bad[i] ^= 0x04
        with raises(seal.EnvelopeError):
            seal.parse_key(bad)


def test_truncated_and_foreign_envelopes_are_refused():
    batch, env = sealed()
    for n in (0, 3, 6, 20, len(env) - 1):
        with raises(seal.EnvelopeError):
            seal.parse_record(env[:n])
    with raises(seal.EnvelopeError, "not a record"):
        seal.parse_record(b"XXXX" + env[4:])
    future = bytearray(env)
    future[4] = 2
    with raises(seal.EnvelopeError, "version"):
        seal.parse_record(future)


def test_batch_key_is_zeroed_by_wipe():
    batch, _ = sealed()
    batch.wipe()
    assert batch.key == bytearray(32)


def test_bad_seal_arguments():
    batch = seal.BatchKey(rsa_oaep.RsaPublicKey(FAKE_N))
    with raises(ValueError):
        seal.seal_record(batch, "", 1, 1, bytes(16), b"x")
    with raises(ValueError):
        seal.seal_record(batch, "d" * 33, 1, 1, bytes(16), b"x")
    with raises(ValueError):
        seal.seal_record(batch, "dev", 1, 1, bytes(15), b"x")
    for dev in ("d\u00e9v", "de v", "dev\x00", "a/b"):  # sealed once, refused by the registry for ever: refused here
        with raises(ValueError, match="ASCII"):
            seal.seal_record(batch, dev, 1, 1, bytes(16), b"x")
    for boot, seq in ((1 << 32, 1), (1, -1), (-1, 0), (1, 1 << 40)):  # MicroPython's struct would wrap them
        with raises(ValueError, match="out of range"):
            seal.seal_record(batch, "dev", boot, seq, bytes(16), b"x")
