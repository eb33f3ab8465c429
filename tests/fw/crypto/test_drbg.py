"""HMAC_DRBG (SP 800-90A 10.1.2) against NIST CAVP's known answers, and the device's random
source (crypto/rng.py): one DRBG, a seed file replaced at each start and reseed, no output twice."""

import binascii

from fwtest import raises, tmpdir

from firmware.crypto import rng
from firmware.crypto.drbg import DrbgError, HmacDrbg


def h(s):
    return binascii.unhexlify(s.replace(" ", ""))


# CAVP DRBGVS HMAC_DRBG.rsp (no reseed): [SHA-256] [PredictionResistance = False]
# [EntropyInputLen = 256] [NonceLen = 128] [PersonalizationStringLen = 0] [AdditionalInputLen = 0]
# [ReturnedBitsLen = 1024], COUNT = 0, with the file's intermediate Key and V values
ENTROPY = h("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488")
NONCE = h("659ba96c601dc69fc902940805ec0ca8")
RETURNED = h("e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89"
             "d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1"
             "07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668"
             "961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8")


def test_cavp_hmac_drbg_sha256_count_0_state_by_state():
    d = HmacDrbg(ENTROPY, NONCE)
    assert d.key == h("302a4aba78412ab36940f4be7b940a0c728542b8b81d95b801a57b3797f9dd6e")  # INSTANTIATE
    assert d.v == h("e75855f93b971ac468d200992e211960202d53cf08852ef86772d6490bfb53f9")
    d.generate(128)  # GENERATE (FIRST CALL): its bits are not the answer
    assert d.key == h("911bf7cbda4387a172a1a3daf6c9fa8e17c4bfef69cc7eff1341e7eef88d2811")
    assert d.v == h("bfbdcf455d5c82acafc59f339ce57126ff70b67aef910fa25db7617818faeafe")
    assert d.generate(128) == RETURNED  # GENERATE (SECOND CALL): ReturnedBits
    assert d.key == h("6dd2cd5b1edba4b620d195ce26ad6845b063211d11e591432de37a3ad793f66c")
    assert d.v == h("6b94e773e3469353a1ca8face76b238c5919d62a150a7dfc589ffa11c30b5b94")


def test_generate_in_pieces_is_not_the_same_as_at_once_and_reseed_changes_the_stream():
    a, b = HmacDrbg(ENTROPY, NONCE), HmacDrbg(ENTROPY, NONCE)
    whole = a.generate(64)
    assert b.generate(32) == whole[:32] and b.generate(32) != whole[32:]  # each call updates Key, V
    c, d = HmacDrbg(ENTROPY, NONCE), HmacDrbg(ENTROPY, NONCE)
    d.reseed(bytes(32))
    assert c.generate(32) != d.generate(32)
    e = HmacDrbg(ENTROPY, NONCE)
    assert e.generate(16, b"extra") != HmacDrbg(ENTROPY, NONCE).generate(16)  # additional input counts


def test_too_little_entropy_and_too_large_requests_are_refused():
    with raises(DrbgError):
        HmacDrbg(bytes(31))
    d = HmacDrbg(ENTROPY)
    with raises(DrbgError):
        d.reseed(bytes(16))
    with raises(DrbgError):
        d.generate(65537)
    assert d.generate(0) == b""


def test_the_device_source_keeps_a_fresh_seed_file_and_never_repeats():
    data = tmpdir()
    rng.start(data, "dev-0001", 7)
    with open(data + rng.SEED_FILE, "rb") as f:
        first = f.read()
    assert len(first) == rng.SEED_LEN
    drawn = [rng.random_bytes(16) for _ in range(20)]
    assert len(set(drawn)) == 20 and first not in drawn
    rng.reseed(lambda n: bytes(n))  # even a source that gives zeros only adds to the state
    with open(data + rng.SEED_FILE, "rb") as f:
        second = f.read()
    assert second != first and rng.random_bytes(16) not in drawn
    rng.start(data, "dev-0001", 8)  # the next power-on reads the seed file and replaces it
    with open(data + rng.SEED_FILE, "rb") as f:
        assert f.read() not in (first, second)


def test_device_keys_mix_the_laptops_entropy_and_write_the_first_seed_file():
    from firmware.store import secrets

    data = tmpdir()
    keys = secrets.generate_keys(data, bytes(range(32)))
    assert len({keys["hmac_secret"], keys["ed25519_seed"], keys["card_key"]}) == 3
    with open(data + rng.SEED_FILE, "rb") as f:
        assert len(f.read()) == rng.SEED_LEN
    with raises(secrets.SecretsError):
        secrets.generate_keys(data, bytes(32))  # never regenerated in place
