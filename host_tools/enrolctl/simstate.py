"""Provision the simulated device and its registry for `make sim`, once.

sim-state/
  registry/   a demo registry: keys (`enrolctl keys init`), its SQLite database; the
              simulated device is registered there, as `enrolctl device provision` would
  flash/      the device's data directory: device.json (registry URL on loopback, its CA,
              a demo Wi-Fi network), keys.json, officers.json, villages.bin (the 103
              villages of Bavel district, Battambang, from the official gazetteer)
  payout/     a payout point's data directory (`enrolctl sim --role payout`): the same
              registry, its own keys and PIN key, the trust list, the demo programme
  wallet/     card images the simulator presents (both devices share it)
  trust.json  the registry's signed trust list (for `enrolctl card verify`)
Demo officer PINs are printed: they exist only in this simulation.

Usage: python -m host_tools.enrolctl.simstate STATE_DIR [PORT]
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OFFICERS = (("OF0042", "officer", "2468"), ("OF0001", "supervisor", "9713"))
DISTRICT = "0204"  # Bavel, Battambang province: 9 communes, 103 villages
ITERATIONS = 4096
DEFAULT_PORT = 8443
# the demo's programme: a monthly pension for veterans and retired civil servants (riel)
PROGRAMME = {"code": "veteran_pension", "name": "Veteran pension",
             "amounts": {"veteran": 150000, "retired_civil_servant": 120000}}


class OldSimState(Exception):
    pass


def provision(state: Path, port: int = DEFAULT_PORT, lang: str | None = None) -> bool:
    """Make the demo registry and device (its screens in lang: ENROL_SIM_LANG, else Khmer); False
    if they already exist."""
    from host_tools.enrolctl import gazetteer, khmer
    from host_tools.registry.db import make_engine, migrate

    from firmware.formats import RECORD_SCHEMA
    from host_tools.registry.keys import init_keys, load_keys
    from host_tools.registry.models import Device
    from host_tools.registry.trust import signed_trust_list
    from sqlalchemy.orm import Session

    flash = state / "flash"
    registry = state / "registry"
    if (flash / "device.json").exists():
        if not (registry / "registry.json").exists() or not (flash / "km.bin").exists():
            raise OldSimState(f"{state} was made by an older version; remove it: make clean")
        return provision_payout(state)  # a state from before the payout point: it is added
    flash.mkdir(parents=True, exist_ok=True)
    init_keys(registry, "sim-registry", ["127.0.0.1"], force=True)
    keys = load_keys(registry)
    device = {"v": 1, "device_id": "sim-" + os.urandom(4).hex(), "registry_id": keys.registry_id,
              "registry_url": f"https://127.0.0.1:{port}",
              "registry_pub_n": keys.registry_pub_n().to_bytes(256, "big").hex(), "registry_pub_e": 65537,
              "ca_pem": keys.ca_pem.decode(), "wifi": [{"ssid": "village-hub", "psk": "demo-only"}],
              "schema": RECORD_SCHEMA, "lang": lang or os.environ.get("ENROL_SIM_LANG", "km")}
    secrets = {"v": 1, **{f: os.urandom(32).hex() for f in ("hmac_secret", "ed25519_seed", "card_key")}}
    officers = []
    for oid, role, pin in OFFICERS:
        salt = os.urandom(16)
        verifier = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, ITERATIONS)
        officers.append({"id": oid, "role": role, "salt": salt.hex(), "iterations": ITERATIONS,
                         "verifier": binascii.hexlify(verifier).decode()})
    files = {"device.json": device, "keys.json": secrets, "officers.json": {"v": 1, "officers": officers}}
    for name, doc in files.items():
        (flash / name).write_text(json.dumps(doc))
    area = gazetteer.area([DISTRICT], [])
    (flash / "villages.bin").write_bytes(area.file())
    (flash / "km.bin").write_bytes(khmer.build())  # the screens in Khmer, as provisioning writes them
    (flash / "names.km").write_bytes(khmer.names_file(area))
    pub = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secrets["ed25519_seed"])).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    engine = make_engine(f"sqlite:///{registry / 'registry.db'}")
    migrate(engine)
    with Session(engine) as s:
        sealed = keys.seal_device_secret(device["device_id"], bytes.fromhex(secrets["hmac_secret"]))
        # active at once: the demo registry has no second registrar to approve it (a real one does)
        s.add(Device(device_id=device["device_id"], hmac_secret=sealed, ed25519_pub=pub, revoked=False, active=True))
        s.commit()
    engine.dispose()
    trust = signed_trust_list(keys.trust_key, keys.registry_id, [(device["device_id"], pub)])
    (state / "trust.json").write_text(json.dumps(trust))
    (state / "wallet").mkdir(exist_ok=True)
    provision_payout(state)
    return True


def provision_payout(state: Path) -> bool:
    """The demo payout point beside the enrolment device (state/payout), registered at the same
    registry in the payout role, and the demo programme; False if it exists already."""
    from host_tools.enrolctl import khmer
    from host_tools.enrolctl.device import payout_file
    from host_tools.registry.db import make_engine
    from host_tools.registry.keys import load_keys
    from host_tools.registry.models import Device, Programme
    from host_tools.registry.trust import signed_trust_bin
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    flash = state / "payout"
    if (flash / "device.json").exists():
        return False
    flash.mkdir(parents=True, exist_ok=True)
    keys = load_keys(state / "registry")
    enrol = json.loads((state / "flash" / "device.json").read_text())
    device = {**enrol, "device_id": "sim-pay-" + os.urandom(4).hex(), "role": "payout"}
    secrets = {"v": 1, **{f: os.urandom(32).hex() for f in ("hmac_secret", "ed25519_seed", "card_key")}}
    officers = json.loads((state / "flash" / "officers.json").read_text())  # the same demo officers
    pub = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secrets["ed25519_seed"])).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    engine = make_engine(f"sqlite:///{state / 'registry' / 'registry.db'}")
    with Session(engine) as s:
        sealed = keys.seal_device_secret(device["device_id"], bytes.fromhex(secrets["hmac_secret"]))
        s.add(Device(device_id=device["device_id"], hmac_secret=sealed, ed25519_pub=pub, revoked=False, active=True,
                     role="payout"))
        if s.get(Programme, PROGRAMME["code"]) is None:
            s.add(Programme(**PROGRAMME))
        signers = [(d.device_id, d.ed25519_pub) for d in s.scalars(select(Device).where(Device.role == "enrolment"))]
        s.commit()
    engine.dispose()
    files = {"keys.json": secrets, "officers.json": officers,
             "payout.json": payout_file(keys, device["device_id"], [{"code": PROGRAMME["code"],
                                                                     "name": PROGRAMME["name"]}])}
    for name, doc in files.items():
        (flash / name).write_text(json.dumps(doc))
    (flash / "trust.bin").write_bytes(signed_trust_bin(keys.trust_key, keys.registry_id, signers))
    (flash / "km.bin").write_bytes(khmer.build())
    (flash / "clock.json").write_text(json.dumps({"floor": int(time.time())}))
    (flash / "device.json").write_text(json.dumps(device))  # last: provisioned
    return True


def main() -> None:
    state = Path(sys.argv[1] if len(sys.argv) > 1 else "sim-state")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_PORT
    try:
        if provision(state, port):
            print(f"sim: provisioned a demo device in {state}/flash and its registry in {state}/registry")
    except OldSimState as e:
        print(f"sim: {e}")
        raise SystemExit(1) from None
    print("sim: demo officers: number 0042 PIN 2468 (officer), number 0001 PIN 9713 (supervisor)")


if __name__ == "__main__":
    main()
