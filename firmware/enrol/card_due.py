"""The card step of the last saved record, kept across a power cut.

The sealed record cannot be read back on the device (it is sealed to the registry), but
the card needs the person's given name and the record id.  So right after a save the app
keeps them in card_due.bin until the card is verified or the officer chooses "card
later"; after a power cut the next login resumes at the card step.  The file is
encrypted and authenticated (AES-256-CBC, then HMAC-SHA256) under keys derived from the
device's card key, so the name is never in clear on flash; written atomically.
    "CD1" || iv[16] || ciphertext || hmac[32]     plaintext: CBOR [boot, seq, record_id, iat, given_name]
A file that does not authenticate or parse is reported and removed: the record itself is
safe in the journal and stays in "cards due".
"""

import os

from firmware import cbor
from firmware.crypto import aes_cbc
from firmware.crypto.hmac_sha256 import compare_digest, hmac_sha256
from firmware.store import fsutil

NAME = "/card_due.bin"
MAGIC = b"CD1"
_MAC = 32


class CardDueError(ValueError):
    pass


def _keys(card_key):
    return hmac_sha256(card_key, b"card-due enc"), hmac_sha256(card_key, b"card-due mac")


def save(data_dir, card_key, boot, seq, record_id, iat, given_name):
    enc, mac = _keys(card_key)
    iv = os.urandom(16)
    body = MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps([boot, seq, bytes(record_id), iat, given_name]))
    fsutil.write_atomic(data_dir + NAME, body + hmac_sha256(mac, body))


def load(data_dir, card_key):
    """(boot, seq, record_id, iat, given_name), None when no card step is due; CardDueError if damaged."""
    raw = fsutil.read_file(data_dir + NAME)
    if raw is None:
        return None
    if len(raw) < len(MAGIC) + 16 + 16 + _MAC or raw[:3] != MAGIC:
        raise CardDueError("card_due.bin: not ours")
    enc, mac = _keys(card_key)
    body = raw[:-_MAC]
    if not compare_digest(hmac_sha256(mac, body), raw[-_MAC:]):
        raise CardDueError("card_due.bin: does not authenticate")
    try:
        doc = cbor.loads(aes_cbc.decrypt(enc, body[3:19], body[19:]))
        boot, seq, record_id, iat, name = doc
        if not (isinstance(boot, int) and isinstance(seq, int) and isinstance(record_id, bytes)
                and len(record_id) == 16 and isinstance(iat, int) and isinstance(name, str)):
            raise ValueError("fields")
    except (ValueError, TypeError) as e:
        raise CardDueError("card_due.bin: " + str(e))
    return boot, seq, record_id, iat, name


def clear(data_dir):
    fsutil.remove(data_dir + NAME)
