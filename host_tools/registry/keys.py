"""The registry's key directory: what `enrolctl keys init` makes and `registry serve` reads.

  registry.json      {"registry_id": ..., "hosts": [...]}
  registry_key.pem   RSA-2048 private key: unwraps the devices' batch keys (crypto/seal.py)
  trust_key.pem      Ed25519 private key: signs the trust list of device card keys
  pin_key            32 random bytes (hex): the key of the PIN verifiers (never a plain hash)
  zone_key           16 random bytes (hex): from which each payout point's PIN key is derived (pins.point_key)
  device_key         32 random bytes (hex): AES-256-GCM key the devices' request secrets are
                     stored under in the database, so a copy of the database alone forges nothing
                     (a key directory from before it gains one at its first load)
  operator_token     one-time bootstrap token: makes the first administrator while the registry
                     has no operator, and nothing after (operators.py)
  ca.pem, ca.key     the private TLS CA that devices pin
  server.pem, server.key  the registry's TLS certificate, signed by the CA
Secret files are written 0600.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import pki

SECRET_FILES = ("registry_key.pem", "trust_key.pem", "pin_key", "zone_key", "operator_token", "ca.key", "server.key",
                "device_key")
_SEALED = b"S1"  # a stored device secret: "S1" nonce(12) AES-GCM(secret)(32 + 16), AAD the device id
PUBLIC_FILES = ("registry.json", "ca.pem", "server.pem")


class KeysError(Exception):
    """A key directory that is missing, incomplete or would be overwritten."""


@dataclass(frozen=True)
class RegistryKeys:
    registry_id: str
    rsa_private: rsa.RSAPrivateKey
    trust_key: ed25519.Ed25519PrivateKey
    pin_key: bytes
    zone_key: bytes
    operator_token: str
    ca_pem: bytes
    server_cert: Path
    server_key: Path
    device_key: bytes = b""

    def registry_pub_n(self) -> int:
        return self.rsa_private.public_key().public_numbers().n

    def seal_device_secret(self, device_id: str, secret: bytes) -> bytes:
        """What the devices table stores for a device's request secret."""
        nonce = os.urandom(12)
        return _SEALED + nonce + AESGCM(self.device_key).encrypt(nonce, secret, device_id.encode())

    def open_device_secret(self, device_id: str, stored: bytes) -> bytes:
        """The secret back (KeysError if the row was altered or moved to another device).
        A 32-byte value is a row written before secrets were sealed: used as it is."""
        stored = bytes(stored)
        if len(stored) == 32:
            return stored
        if not stored.startswith(_SEALED) or len(stored) != 2 + 12 + 32 + 16:
            raise KeysError(f"device {device_id}: stored secret is malformed")
        try:
            return AESGCM(self.device_key).decrypt(stored[2:14], stored[14:], device_id.encode())
        except InvalidTag:
            raise KeysError(f"device {device_id}: stored secret does not open under device_key") from None


def _write(path: Path, data: bytes, secret: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if secret:
        os.chmod(path, 0o600)


def init_keys(directory: Path, registry_id: str, hosts: list[str], force: bool = False) -> None:
    """Make a registry's keys; refuses a directory that already holds any unless force."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # only the operator lists the secrets
    present = [n for n in SECRET_FILES + PUBLIC_FILES if (directory / n).exists()]
    if present and not force:
        raise KeysError(f"{directory} already holds registry keys ({', '.join(present)}); use --force to replace them")
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    trust = ed25519.Ed25519PrivateKey.generate()
    ca = pki.make_ca(f"{registry_id} CA")
    server = pki.issue_server(ca, hosts)
    files: dict[str, tuple[bytes, bool]] = {
        "registry.json": (json.dumps({"registry_id": registry_id, "hosts": hosts}).encode(), False),
        "registry_key.pem": (rsa_key.private_bytes(pem, pkcs8, none), True),
        "trust_key.pem": (trust.private_bytes(pem, pkcs8, none), True),
        "pin_key": (os.urandom(32).hex().encode(), True),
        "zone_key": (os.urandom(16).hex().encode(), True),
        "device_key": (os.urandom(32).hex().encode(), True),
        "operator_token": (secrets.token_urlsafe(32).encode(), True),
        "ca.pem": (ca.cert_pem, False),
        "ca.key": (ca.key_pem, True),
        "server.pem": (server.cert_pem, False),
        "server.key": (server.key_pem, True),
    }
    for name, (data, secret) in files.items():
        _write(directory / name, data, secret)


def load_keys(directory: Path) -> RegistryKeys:
    if (directory / "registry.json").is_file() and not (directory / "device_key").exists():
        _write(directory / "device_key", os.urandom(32).hex().encode(), True)  # an older key directory
    missing = [n for n in SECRET_FILES + PUBLIC_FILES if not (directory / n).is_file()]
    if missing:
        raise KeysError(f"{directory} is not a registry key directory (missing {', '.join(missing)}); "
                        "run: enrolctl keys init DIR")
    try:
        meta = json.loads((directory / "registry.json").read_text())
        rsa_key = serialization.load_pem_private_key((directory / "registry_key.pem").read_bytes(), None)
        trust = serialization.load_pem_private_key((directory / "trust_key.pem").read_bytes(), None)
        pin_key = bytes.fromhex((directory / "pin_key").read_text().strip())
        zone_key = bytes.fromhex((directory / "zone_key").read_text().strip())
        device_key = bytes.fromhex((directory / "device_key").read_text().strip())
    except (ValueError, KeyError, TypeError) as e:
        raise KeysError(f"{directory}: unreadable key file ({e})") from e
    if not isinstance(rsa_key, rsa.RSAPrivateKey) or not isinstance(trust, ed25519.Ed25519PrivateKey):
        raise KeysError(f"{directory}: registry_key.pem must be RSA and trust_key.pem Ed25519")
    if len(pin_key) != 32 or len(zone_key) != 16 or len(device_key) != 32:
        raise KeysError(f"{directory}: pin_key and device_key must be 32 bytes and zone_key 16")
    return RegistryKeys(
        registry_id=str(meta["registry_id"]), rsa_private=rsa_key, trust_key=trust, pin_key=pin_key,
        zone_key=zone_key, operator_token=(directory / "operator_token").read_text().strip(),
        ca_pem=(directory / "ca.pem").read_bytes(), server_cert=directory / "server.pem",
        server_key=directory / "server.key", device_key=device_key,
    )
