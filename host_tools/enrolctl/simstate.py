"""Provision the simulated device's flash (sim-state/flash) for `make sim`, once.

A demo registry key pair (its private key stays in sim-state/registry/, for
opening the records the simulator saves), the device's own secrets, two
officers and a few villages.  Demo officer PINs are printed: they exist only
in this simulation.

Usage: python -m host_tools.enrolctl.simstate STATE_DIR
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

OFFICERS = (("OF0042", "officer", "2468"), ("OF0001", "supervisor", "9713"))
VILLAGES = (("BF-KAD-0412", "Kadiogo 412"), ("BF-KAD-0413", "Kadiogo 413"), ("BF-OUB-0101", "Oubritenga 101"))
ITERATIONS = 4096


def provision(state: Path) -> bool:
    flash = state / "flash"
    if (flash / "device.json").exists():
        return False
    flash.mkdir(parents=True, exist_ok=True)
    (state / "registry").mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (state / "registry" / "registry_key.pem").write_bytes(pem)
    os.chmod(state / "registry" / "registry_key.pem", 0o600)
    n = key.public_key().public_numbers().n
    device = {"v": 1, "device_id": "sim-" + os.urandom(4).hex(), "registry_id": "sim-registry",
              "registry_url": "https://127.0.0.1:8443", "registry_pub_n": n.to_bytes(256, "big").hex(),
              "registry_pub_e": 65537, "ca_pem": "-----BEGIN CERTIFICATE-----\nsim\n-----END CERTIFICATE-----\n"}
    keys = {"v": 1, **{f: os.urandom(32).hex() for f in ("hmac_secret", "ed25519_seed", "card_key")}}
    officers = []
    for oid, role, pin in OFFICERS:
        salt = os.urandom(16)
        verifier = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, ITERATIONS)
        officers.append({"id": oid, "role": role, "salt": salt.hex(), "iterations": ITERATIONS,
                         "verifier": binascii.hexlify(verifier).decode()})
    files = {"device.json": device, "keys.json": keys, "officers.json": {"v": 1, "officers": officers},
             "villages.json": {"v": 1, "villages": [{"code": c, "name": nm} for c, nm in VILLAGES]}}
    for name, doc in files.items():
        (flash / name).write_text(json.dumps(doc))
    # the trust list a payout point would get from the registry: this device's card key
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(keys["ed25519_seed"])).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    trust = {"keys": [{"kid": hashlib.sha256(pub).digest()[:8].hex(), "pub": pub.hex(), "device_id": device["device_id"]}]}
    (state / "trust.json").write_text(json.dumps(trust))
    (state / "wallet").mkdir(exist_ok=True)
    return True


def main() -> None:
    state = Path(sys.argv[1] if len(sys.argv) > 1 else "sim-state")
    if provision(state):
        print(f"sim: provisioned a demo device in {state}/flash")
    print("sim: demo officers: number 0042 PIN 2468 (officer), number 0001 PIN 9713 (supervisor)")


if __name__ == "__main__":
    main()
