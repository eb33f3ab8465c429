"""Card credential (COSE_Sign1 / Ed25519) and its NDEF TLV wrapping: exact bytes, and every refusal."""

import binascii

from fwtest import raises
from firmware import cbor
from firmware.card import credential, ndef
from firmware.crypto import ed25519

SEED = binascii.unhexlify("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
PUB = binascii.unhexlify("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
UID = b"\x04\x11\x22\x33\x44\x55\x66"
TRUST = {credential.key_id(PUB): PUB}


def issue(**over):
    args = dict(seed=SEED, pub=PUB, registry_id="reg-kh", credential_id="K7QX-M2PD-41", given_name="SOPHEAP",
                device_id="dev-0001", uid=UID, iat=1767225600, exp=1924992000)
    args.update(over)
    return credential.issue(**args)


def test_structure_is_the_documented_cose_sign1():
    raw = issue()
    assert raw[0] == 0xD2  # CBOR tag 18
    obj = cbor.loads(raw)
    protected, unprotected, payload, sig = obj.value
    assert cbor.loads(protected) == {1: -8, 4: credential.key_id(PUB)}
    assert unprotected == {} and len(sig) == 64
    claims = cbor.loads(payload)
    assert claims == {1: "reg-kh", 2: "K7QX-M2PD-41", 4: 1924992000, 6: 1767225600, -70001: "SOPHEAP",
                      -70002: "dev-0001", -70003: UID}
    assert ed25519.verify(PUB, cbor.dumps(["Signature1", protected, b"", payload]), sig)
    assert len(raw) < 200  # fits NTAG215 (504 user bytes) with room to spare


def test_verify_accepts_and_returns_claims():
    claims = credential.verify(issue(), TRUST, uid=UID, now=1800000000)
    assert claims[credential.CLAIM_GIVEN_NAME] == "SOPHEAP"


def test_verify_refusals_have_precise_reasons():
    good = issue()
    with raises(credential.CredentialError, "untrusted"):
        credential.verify(good, {})
    with raises(credential.CredentialError, "UID mismatch"):
        credential.verify(good, TRUST, uid=b"\x04" * 7)
    with raises(credential.CredentialError, "expired"):
        credential.verify(issue(exp=1000), TRUST, now=2000)
    bad = bytearray(good)
    bad[40] ^= 0x01  # inside the claims
    with raises(credential.CredentialError):
        credential.verify(bad, TRUST)
    bad = bytearray(good)
    bad[-1] ^= 0x01  # the signature
    with raises(credential.CredentialError, "tampered"):
        credential.verify(bad, TRUST)
    for junk in (b"", b"\x00", b"\xd2\x80", cbor.dumps(cbor.Tag(18, [b"", {}, b"", b""])), b"\xff" * 500):
        with raises(credential.CredentialError):
            credential.verify(junk, TRUST)


def test_ndef_tlv_round_trip_and_known_bytes():
    payload = issue()
    msg = ndef.record(payload)
    assert msg[0] == 0xD4 and msg[1] == len(ndef.EXTERNAL_TYPE) and msg[2] == len(payload)
    user = ndef.tlv(msg)
    assert user[0] == 0x03 and user[1] == len(msg) and user[-1] == 0xFE
    assert ndef.parse_record(ndef.find_message(user + bytes(20))) == payload
    long_msg = ndef.record(bytes(300))
    assert long_msg[0] == 0xC4
    long_user = ndef.tlv(long_msg)
    assert long_user[1] == 0xFF and ndef.find_message(long_user) == long_msg


def test_hostile_card_contents_are_refused():
    payload = issue()
    user = ndef.tlv(ndef.record(payload))
    cases = [
        (bytes(16), "blank"),
        (b"\xfe" + bytes(15), "blank"),
        (b"\x03\x40" + bytes(10), "longer than the card"),
        (b"\x03\xff\x10\x00" + bytes(10), "longer than the card"),
        (b"\x03", "truncated"),
        (b"\x07\x02ab\xfe", "unknown TLV"),
    ]
    for data, word in cases:
        with raises(ndef.NdefError, word):
            ndef.find_message(data)
    msg = ndef.find_message(user)
    with raises(ndef.NdefError, "not ours"):
        ndef.parse_record(b"\xd1\x01\x03Uab")  # a URI record (TNF 1)
    with raises(ndef.NdefError, "length mismatch"):
        ndef.parse_record(msg[:-1])
    with raises(ndef.NdefError, "type is not ours"):
        ndef.parse_record(ndef.record(payload, b"other.org:cred"))
