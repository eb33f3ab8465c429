"""The card credential: a COSE_Sign1 (RFC 9052) over CWT-like claims, signed with Ed25519.

Exact encoding (a contract: payout points verify it byte for byte):
  COSE_Sign1 = CBOR tag 18 [ protected: bstr(CBOR {1: -8, 4: kid}),  ; alg EdDSA, kid
                             unprotected: {},
                             payload: bstr(CBOR claims),
                             signature: bstr(64) ]
  kid    = first 8 bytes of SHA-256(device Ed25519 public key)
  claims = {1: iss (registry id, text), 2: sub (credential id, text),
            4: exp, 6: iat (epoch seconds, int),
            -70001: given name (text), -70002: issuing device id (text),
            -70003: card UID (7 bytes)}
  signed = Sig_structure ["Signature1", protected, h'', payload] (RFC 9052 section 4.4)
All CBOR is deterministic (firmware/cbor.py).
"""

import hashlib

from firmware import cbor
from firmware.crypto import ed25519

COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
CLAIM_ISS, CLAIM_SUB, CLAIM_EXP, CLAIM_IAT = 1, 2, 4, 6
CLAIM_GIVEN_NAME, CLAIM_DEVICE, CLAIM_UID = -70001, -70002, -70003
MAX_CREDENTIAL = 400  # bytes; far below NTAG215's 504 user bytes with the NDEF wrapping


class CredentialError(ValueError):
    """Why a credential is not acceptable (the message is shown in verify mode)."""


def key_id(pub):
    return hashlib.sha256(pub).digest()[:8]


def _sig_structure(protected, payload):
    return cbor.dumps(["Signature1", protected, b"", payload])


def issue(seed, pub, registry_id, credential_id, given_name, device_id, uid, iat, exp):
    """The COSE_Sign1 bytes of a new credential."""
    if len(uid) != 7:
        raise CredentialError("card UID must be 7 bytes")
    protected = cbor.dumps({1: ALG_EDDSA, 4: key_id(pub)})
    payload = cbor.dumps({
        CLAIM_ISS: registry_id, CLAIM_SUB: credential_id, CLAIM_EXP: exp, CLAIM_IAT: iat,
        CLAIM_GIVEN_NAME: given_name, CLAIM_DEVICE: device_id, CLAIM_UID: bytes(uid),
    })
    sig = ed25519.sign(seed, _sig_structure(protected, payload), pub)
    return cbor.dumps(cbor.Tag(COSE_SIGN1_TAG, [protected, {}, payload, sig]))


def verify(data, trusted, uid=None, now=None):
    """Check a COSE_Sign1 credential; returns its claims dict.

    trusted: {kid: Ed25519 public key}.  uid: the UID of the card it was read
    from (a copy on another card fails here).  CredentialError says why not.
    """
    if len(data) > MAX_CREDENTIAL:
        raise CredentialError("credential too large")
    try:
        obj = cbor.loads(data, max_len=MAX_CREDENTIAL)
    except cbor.CBORError:  # the officer's screen says which check failed, in fixed words
        raise CredentialError("not CBOR")
    if not isinstance(obj, cbor.Tag) or obj.tag != COSE_SIGN1_TAG:
        raise CredentialError("not a COSE_Sign1")
    v = obj.value
    if not (isinstance(v, list) and len(v) == 4 and isinstance(v[0], bytes) and isinstance(v[1], dict)
            and isinstance(v[2], bytes) and isinstance(v[3], bytes)):
        raise CredentialError("malformed COSE_Sign1")
    protected, _, payload, sig = v
    try:
        hdr = cbor.loads(protected)
        claims = cbor.loads(payload, max_len=MAX_CREDENTIAL)
    except cbor.CBORError:
        raise CredentialError("malformed header or claims")
    if not isinstance(hdr, dict) or hdr.get(1) != ALG_EDDSA or not isinstance(hdr.get(4), bytes):
        raise CredentialError("not an EdDSA credential")
    pub = trusted.get(hdr[4])
    if pub is None:
        raise CredentialError("signed by an untrusted key")
    if not ed25519.verify(pub, _sig_structure(protected, payload), sig):
        raise CredentialError("signature invalid: tampered")
    if not isinstance(claims, dict):
        raise CredentialError("claims are not a map")
    for key, kind in ((CLAIM_ISS, str), (CLAIM_SUB, str), (CLAIM_EXP, int), (CLAIM_IAT, int),
                      (CLAIM_GIVEN_NAME, str), (CLAIM_DEVICE, str), (CLAIM_UID, bytes)):
        value = claims.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):  # True is an int to Python
            raise CredentialError("a claim missing or of the wrong type")
    if uid is not None and claims[CLAIM_UID] != bytes(uid):
        raise CredentialError("UID mismatch: copied to another card")
    if now is not None and claims[CLAIM_EXP] < now:
        raise CredentialError("credential expired")
    return claims
