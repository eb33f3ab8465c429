"""Card credentials checked with standard libraries (cbor2, cryptography): the COSE_Sign1 of DESIGN.md.

Shared by `enrolctl card verify` (a card image) and the registry's /v1/verify (the bytes
a payout point read from a card).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class CredentialError(ValueError):
    """Not a valid credential; the message says why (untrusted, tampered, copied...)."""


# what cbor2 raises for bytes that are no CBOR it can represent (unhashable keys, deep nesting)
UNDECODABLE = (cbor2.CBORError, ValueError, TypeError, RecursionError, OverflowError)


@dataclass(frozen=True)
class Claims:
    kid: bytes
    raw: dict[int, Any]

    @property
    def credential_id(self) -> str:
        return str(self.raw.get(2))

    @property
    def device_id(self) -> str:
        return str(self.raw.get(-70002))

    @property
    def given_name(self) -> str:
        return str(self.raw.get(-70001))


def verify_cose(cose_bytes: bytes, trusted: dict[bytes, bytes]) -> Claims:
    """Signature and structure; trusted maps kid -> Ed25519 public key."""
    try:
        cose = cbor2.loads(cose_bytes)
    except UNDECODABLE as e:
        raise CredentialError("not CBOR") from e
    if not isinstance(cose, cbor2.CBORTag) or cose.tag != 18 or not isinstance(cose.value, (list, tuple)) \
            or len(cose.value) != 4:
        raise CredentialError("not a COSE_Sign1")
    protected, _, payload, sig = cose.value
    if not isinstance(protected, bytes) or not isinstance(payload, bytes) or not isinstance(sig, bytes):
        raise CredentialError("COSE_Sign1 fields are not byte strings")
    try:
        header = cbor2.loads(protected)
    except UNDECODABLE as e:
        raise CredentialError("protected header is not CBOR") from e
    if not isinstance(header, dict) or header.get(1) != -8:
        raise CredentialError("not an EdDSA credential")
    kid = header.get(4)
    pub = trusted.get(kid) if isinstance(kid, bytes) else None
    if pub is None:
        raise CredentialError("signed by an untrusted key")
    if hashlib.sha256(pub).digest()[:8] != kid:
        raise CredentialError("trust list entry does not match its key id")
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, cbor2.dumps(["Signature1", protected, b"", payload]))
    except (InvalidSignature, ValueError) as e:
        raise CredentialError("signature invalid: tampered") from e
    try:
        claims = cbor2.loads(payload)
    except UNDECODABLE as e:  # signed by a trusted key, yet garbage: still an answer, not a crash
        raise CredentialError("claims are not CBOR") from e
    if not isinstance(claims, dict):
        raise CredentialError("claims are not a map")
    return Claims(kid, claims)


def check_credential(cose_bytes: bytes, devices: dict[bytes, tuple[str, bytes]], uid: bytes, now: int,
                     registry_id: str | None = None) -> Claims:
    """Registry-side check: trusted device, signature, issuer, card binding, expiry, issuing device."""
    claims = verify_cose(cose_bytes, {kid: pub for kid, (_, pub) in devices.items()})
    if registry_id is not None and claims.raw.get(1) != registry_id:
        raise CredentialError("issued for another registry")
    if claims.raw.get(-70003) != uid:
        raise CredentialError("UID mismatch: credential copied to another card")
    if claims.device_id != devices[claims.kid][0]:
        raise CredentialError("credential names another issuing device than its key's")
    exp = claims.raw.get(4)
    if not isinstance(exp, int) or exp < now:
        raise CredentialError("credential expired")
    return claims
