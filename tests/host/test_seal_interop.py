"""The host's `cryptography` opens what the firmware sealed, under CPython and under MicroPython,
and refuses every flipped bit."""

from __future__ import annotations

import binascii
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import ROOT, run_micropython
from host_tools.registry.unseal import SealError, open_record, unwrap_key

PLAINTEXT = json.dumps({"v": 1, "fields": {"given_name": "AMINATA", "family_name": "TRAORE"}}).encode()


@pytest.fixture(scope="module")
def registry_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def n_bytes(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_numbers().n.to_bytes(256, "big")


SEAL_SCRIPT = """
import binascii
from firmware.crypto import rsa_oaep, seal
pub = rsa_oaep.RsaPublicKey(binascii.unhexlify({n!r}))
batch = seal.BatchKey(pub)
env = seal.seal_record(batch, 'dev-0042', 5, 11, bytes(range(16)), {pt!r})
print(binascii.hexlify(batch.envelope()).decode())
print(binascii.hexlify(env).decode())
"""


def seal_under_micropython(key: rsa.RSAPrivateKey) -> tuple[bytes, bytes]:
    script = "import sys\nsys.path[:0] = ['', '.frozen', 'lib']\n" + SEAL_SCRIPT.format(
        n=n_bytes(key).hex(), pt=PLAINTEXT)
    proc = run_micropython(["-c", script], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    key_hex, rec_hex = proc.stdout.split()
    return binascii.unhexlify(key_hex), binascii.unhexlify(rec_hex)


def seal_under_cpython(key: rsa.RSAPrivateKey) -> tuple[bytes, bytes]:
    from firmware.crypto import rsa_oaep, seal

    batch = seal.BatchKey(rsa_oaep.RsaPublicKey(n_bytes(key)))
    return batch.envelope(), bytes(seal.seal_record(batch, "dev-0042", 5, 11, bytes(range(16)), PLAINTEXT))


@pytest.mark.parametrize("sealer", [seal_under_cpython, seal_under_micropython], ids=["cpython", "micropython"])
def test_host_opens_firmware_sealed_record(registry_key, sealer) -> None:
    key_env, rec_env = sealer(registry_key)
    key_id, batch_key = unwrap_key(registry_key, key_env)
    opened = open_record(rec_env, {key_id: batch_key})
    assert opened.plaintext == PLAINTEXT
    assert (opened.device_id, opened.boot, opened.seq) == ("dev-0042", 5, 11)
    assert opened.record_id == bytes(range(16))


def test_every_flipped_bit_is_refused_by_the_host(registry_key) -> None:
    key_env, rec_env = seal_under_cpython(registry_key)
    key_id, batch_key = unwrap_key(registry_key, key_env)
    keys = {key_id: batch_key}
    for i in range(len(rec_env)):
        for bit in range(8):
            bad = bytearray(rec_env)
            bad[i] ^= 1 << bit
            with pytest.raises(SealError):
                open_record(bytes(bad), keys)


def test_tag_is_checked_even_when_the_crc_is_fixed_up(registry_key) -> None:
    """An attacker can recompute a CRC; the HMAC tag is what protects the record."""
    import struct
    import zlib

    key_env, rec_env = seal_under_cpython(registry_key)
    key_id, batch_key = unwrap_key(registry_key, key_env)
    bad = bytearray(rec_env)
    bad[-40] ^= 0x01  # inside the ciphertext
    bad[-4:] = struct.pack(">I", zlib.crc32(bytes(bad[:-4])))
    with pytest.raises(SealError, match="tag does not verify"):
        open_record(bytes(bad), {key_id: batch_key})


def test_other_registry_cannot_unwrap(registry_key) -> None:
    key_env, _ = seal_under_cpython(registry_key)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SealError, match="does not decrypt"):
        unwrap_key(other, key_env)


def test_record_under_unknown_batch_key_is_refused(registry_key) -> None:
    _, rec_env = seal_under_cpython(registry_key)
    with pytest.raises(SealError, match="unknown batch key"):
        open_record(rec_env, {})
