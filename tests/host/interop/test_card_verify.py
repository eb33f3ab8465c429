"""Anyone can read our cards: the host verifier (cbor2 + cryptography) checks what the firmware wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware.card import credential, ndef
from host_tools.enrolctl.card import CardInvalid, verify_image

UID = bytes.fromhex("04a1b2c3d4e5f6")


def ntag215(uid: bytes, user: bytes) -> bytes:
    """A 135-page NTAG215 image: UID with BCC bytes, lock bytes, CC E1 10 3E 00, user memory."""
    img = bytearray(540)
    img[0:3] = uid[0:3]
    img[3] = 0x88 ^ uid[0] ^ uid[1] ^ uid[2]
    img[4:8] = uid[3:7]
    img[8] = uid[3] ^ uid[4] ^ uid[5] ^ uid[6]
    img[12:16] = bytes.fromhex("e1103e00")
    img[16 : 16 + len(user)] = user
    return bytes(img)


@pytest.fixture(scope="module")
def keys():
    sk = Ed25519PrivateKey.generate()
    seed = sk.private_bytes_raw()
    pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return seed, pub


def card(keys, uid=UID, name="SOPHEAP"):
    seed, pub = keys
    cose = credential.issue(seed, pub, "reg-kh", "K7QX-M2PD-41", name, "dev-0001", uid, 1767225600, 1924992000)
    return ntag215(uid, ndef.tlv(ndef.record(cose)))


def test_host_verifier_accepts_a_firmware_credential(keys) -> None:
    seed, pub = keys
    cred = verify_image(card(keys), {credential.key_id(pub): pub})
    assert cred.tag == "NTAG215" and cred.uid == UID and cred.claims[-70001] == "SOPHEAP"


def test_host_verifier_refuses_tampering_copies_and_strangers(keys) -> None:
    seed, pub = keys
    trust = {credential.key_id(pub): pub}
    good = card(keys)
    name_at = good.index(b"SOPHEAP")
    tampered = bytearray(good)
    tampered[name_at] = ord("B")
    with pytest.raises(CardInvalid, match="tampered"):
        verify_image(bytes(tampered), trust)
    copied = ntag215(bytes.fromhex("04999999999999"), good[16:])
    with pytest.raises(CardInvalid, match="UID mismatch"):
        verify_image(copied, trust)
    with pytest.raises(CardInvalid, match="untrusted"):
        verify_image(good, {})
    with pytest.raises(CardInvalid, match="blank"):
        verify_image(ntag215(UID, b""), trust)
    with pytest.raises(CardInvalid, match="500 bytes: not an NTAG215"):
        verify_image(good[:500], trust)
    bad_bcc = bytearray(good)
    bad_bcc[3] ^= 1
    with pytest.raises(CardInvalid, match="BCC"):
        verify_image(bytes(bad_bcc), trust)


def test_enrolctl_card_verify_cli(keys, tmp_path: Path) -> None:
    seed, pub = keys
    (tmp_path / "card.bin").write_bytes(card(keys))
    (tmp_path / "trust.json").write_text(json.dumps({"keys": [{"kid": credential.key_id(pub).hex(), "pub": pub.hex()}]}))
    enrolctl = Path(sys.executable).parent / "enrolctl"
    ok = subprocess.run([str(enrolctl), "card", "verify", str(tmp_path / "card.bin"), "--trust", str(tmp_path / "trust.json")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "VALID NTAG215" in ok.stdout and "SOPHEAP" in ok.stdout
    (tmp_path / "trust.json").write_text(json.dumps({"keys": []}))
    bad = subprocess.run([str(enrolctl), "card", "verify", str(tmp_path / "card.bin"), "--trust", str(tmp_path / "trust.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip() == "enrolctl: signed by an untrusted key"
    missing = subprocess.run([str(enrolctl), "card", "verify", str(tmp_path / "nope.bin"), "--trust", "x"],
                             capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
