"""The host's `cryptography` opens what the firmware sealed, under CPython and under MicroPython,
and refuses every flipped bit."""

from __future__ import annotations

import binascii
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import ROOT, run_micropython
from host_tools.registry.unseal import SealError, open_record, unwrap_key

PLAINTEXT = json.dumps({"v": 1, "fields": {"given_name": "SOPHEAP", "family_name": "PHAL"}}).encode()


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


def test_pin_block_is_iso9564_format4_and_the_registry_recovers_the_pin(registry_key) -> None:
    """The registry unwraps the batch key, derives the PIN key and deciphers the block."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from firmware.crypto import pin_block, rsa_oaep, seal

    batch = seal.BatchKey(rsa_oaep.RsaPublicKey(n_bytes(registry_key)))
    rid = bytes(range(100, 116))
    block = pin_block.encipher(seal.pin_key(batch.key, rid), bytearray(b"739105"), rid)
    key_id, k = unwrap_key(registry_key, batch.envelope())
    pkey = hmac.new(k, b"pin" + rid, hashlib.sha256).digest()[:16]
    ecb = Cipher(algorithms.AES(pkey), modes.ECB())
    inter = ecb.decryptor().update(block)
    digits = str(int.from_bytes(rid[:6], "big") % 10**12).zfill(12)
    pan = bytes.fromhex("0" + digits + "0" * 19)
    field = ecb.decryptor().update(bytes(a ^ b for a, b in zip(inter, pan)))
    nibs = field[:8].hex()
    assert nibs[0] == "4" and nibs[1] == "6" and nibs[2:8] == "739105" and set(nibs[8:]) == {"a"}
