"""Open sealed records with the registry's private key (format: firmware/crypto/seal.py).

An independent implementation of the envelope format on the host side, with
the `cryptography` package doing RSA-OAEP, HMAC and AES: if the firmware and
this module disagree about a single byte, the tests say so.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from hmac import compare_digest as hmac_compare

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC

KEY_MAGIC = b"EKY1"
RECORD_MAGIC = b"ERC1"
VERSION = 1
TAG_LEN = 16


class SealError(ValueError):
    """The bytes are not a record this registry can open; the message says why."""


@dataclass(frozen=True)
class Opened:
    device_id: str
    boot: int
    seq: int
    record_id: bytes
    key_id: bytes
    plaintext: bytes


def _check_crc(env: bytes, what: str) -> None:
    if len(env) < 4 or struct.unpack(">I", env[-4:])[0] != zlib.crc32(env[:-4]):
        raise SealError(f"{what} CRC mismatch")


def unwrap_key(private_key: rsa.RSAPrivateKey, key_env: bytes) -> tuple[bytes, bytes]:
    """(key_id, batch key) from a KEY envelope."""
    if len(key_env) < 19 or key_env[:4] != KEY_MAGIC or key_env[4] != VERSION:
        raise SealError("not a version 1 key envelope")
    _check_crc(key_env, "key envelope")
    (wlen,) = struct.unpack_from(">H", key_env, 13)
    if len(key_env) != 15 + wlen + 4:
        raise SealError("key envelope length mismatch")
    key_id, wrapped = key_env[5:13], key_env[15 : 15 + wlen]
    if hashlib.sha256(wrapped).digest()[:8] != key_id:
        raise SealError("key id does not match the wrapped key")
    try:
        key = private_key.decrypt(wrapped, OAEP(mgf=MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    except ValueError as e:
        raise SealError("wrapped key does not decrypt with this registry key") from e
    if len(key) != 32:
        raise SealError("wrapped key is not 32 bytes")
    return key_id, key


def _hmac(key: bytes, data: bytes) -> bytes:
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def pin_key(batch_key: bytes, record_id: bytes) -> bytes:
    """The AES-128 key of the record's PIN block (firmware/crypto/seal.py pin_key)."""
    return _hmac(batch_key, b"pin" + record_id)[:16]


def open_record(env: bytes, batch_keys: dict[bytes, bytes]) -> Opened:
    """Verify and decrypt a RECORD envelope; batch_keys maps key_id -> unwrapped batch key."""
    if len(env) < 6 or env[:4] != RECORD_MAGIC or env[4] != VERSION:
        raise SealError("not a version 1 record envelope")
    _check_crc(env, "record envelope")
    dlen = env[5]
    p = 6 + dlen
    if not 1 <= dlen <= 32 or len(env) < p + 36 + TAG_LEN + 4:
        raise SealError("truncated record envelope")
    boot, seq = struct.unpack_from(">II", env, p)
    record_id, key_id = env[p + 8 : p + 24], env[p + 24 : p + 32]
    (ct_len,) = struct.unpack_from(">I", env, p + 32)
    ct_start = p + 36
    if ct_len == 0 or ct_len % 16 or len(env) != ct_start + ct_len + TAG_LEN + 4:
        raise SealError("record envelope length mismatch")
    batch_key = batch_keys.get(bytes(key_id))
    if batch_key is None:
        raise SealError("record sealed under an unknown batch key")
    enc_key = _hmac(batch_key, b"enc" + record_id)
    mac_key = _hmac(batch_key, b"mac" + record_id)
    iv = _hmac(batch_key, b"iv" + record_id)[:16]
    tag_at = ct_start + ct_len
    if not hmac_compare(_hmac(mac_key, env[:tag_at])[:TAG_LEN], env[tag_at : tag_at + TAG_LEN]):
        raise SealError("record tag does not verify (tampered or wrong key)")
    dec = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = dec.update(env[ct_start:tag_at]) + dec.finalize()
    unpad = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpad.update(padded) + unpad.finalize()
    except ValueError as e:
        raise SealError("bad padding") from e
    try:
        device_id = env[6 : 6 + dlen].decode("ascii")
    except UnicodeDecodeError as e:
        raise SealError("device id is not ASCII") from e
    return Opened(device_id, boot, seq, bytes(record_id), bytes(key_id), plaintext)
