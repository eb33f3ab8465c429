"""`make sim`: the demo registry on loopback (TLS) and the simulated device in this terminal.

Usage: python -m host_tools.enrolctl.simrun STATE_DIR HEAPSIZE
The registry runs in the background for as long as the device does (its log in
STATE_DIR/registry/registry.log); records the device saves are synced to it.
The device and its hardware are host_tools/sim/host.py's: the firmware frozen in our
32-bit MicroPython at the ESP32's heap, the emulators here in CPython.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .simstate import DEFAULT_PORT, OldSimState, provision


def start_registry(state: Path, port: int) -> subprocess.Popen[bytes] | None:
    import ssl

    import httpx

    log = open(state / "registry" / "registry.log", "ab")  # noqa: SIM115 - the child keeps it
    # its own process group: a Ctrl-C in the terminal is the simulator's, which stops the registry
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.registry.serve", str(state / "registry"), str(port)],
                            stdout=log, stderr=log, process_group=0)
    ctx = ssl.create_default_context(cafile=str(state / "registry" / "ca.pem"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(f"https://127.0.0.1:{port}/v1/health", verify=ctx, timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    print(f"sim: the registry did not start on port {port} (see {state}/registry/registry.log); "
          "the device runs without it and keeps its records")
    return None


def run(state: Path, heap: str, script: list[str] | None = None, role: str = "enrolment") -> int:
    """Provision (first run), start the demo registry, run the device (the enrolment device, or
    the payout point: role "payout"): from this terminal, or fed `script` (the simulator's line
    language; 'p' cuts the power) and then summarised."""
    port = int(os.environ.get("ENROL_SIM_PORT", DEFAULT_PORT))
    try:
        if provision(state, port):
            print(f"sim: provisioned a demo device in {state}/flash and its registry in {state}/registry")
    except OldSimState as e:
        raise SystemExit(f"sim: {e}") from None
    print("sim: demo officers: number 0042 PIN 2468 (officer), number 0001 PIN 9713 (supervisor)")
    registry = start_registry(state, port)
    if registry is not None:
        print(f"sim: registry on https://127.0.0.1:{port} (records sync when Wi-Fi is in reach; 'w' toggles it)")
    if role == "payout":
        print("sim: the payout point: officer 0042 PIN 2468; '1' pays, 'tap NAME' presents that person's card")
    flash = state / ("payout" if role == "payout" else "flash")
    env = dict(os.environ, ENROL_DATA_DIR=str(flash.resolve()),
               ENROL_SIM_WALLET=str((state / "wallet").resolve()), ENROL_SIM_HEAP=heap)
    if script is not None:
        env.setdefault("ENROL_SIM_VIEW", "text")  # the script's '?TEXT' lines are matched on the text view
    try:
        if script is None:  # this terminal is the person; its Ctrl-C is answered by the simulator
            person = subprocess.Popen(sim_command(), env=env)
            while True:
                try:
                    return person.wait()
                except KeyboardInterrupt:
                    continue  # the simulator stops the device and says so in one line
        lines = [ln for ln in script if not ln.lstrip().startswith(COMMENT)]
        rc = subprocess.run(sim_command(), env=env, input="\n".join(lines) + "\n", text=True).returncode
        if role == "payout":
            print_payments(state, port if registry is not None else None)
        else:
            print_summary(state, port if registry is not None else None)
        return rc
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(10)


def sim_command() -> list[str]:
    """The simulated device's world (host_tools/sim/host.py): it starts the device itself, and the
    line 'p' pulls its power (the device is killed wherever it is and switched on again)."""
    return [sys.executable, "-m", "host_tools.sim.host"]


def main() -> None:
    state, heap = Path(sys.argv[1]), sys.argv[2]
    raise SystemExit(run(state, heap))


COMMENT = "//"  # a script line the device never sees
DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "sim" / "demo.txt"
PAYOUT_DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "sim" / "demo_payout.txt"


def _sim_auditor_token(state: Path) -> str:
    """A token of the demo registry's auditor (read-only), valid for an hour, written straight into
    its database: the demo has no operator to sign in (a real registry: `enrolctl registry login`)."""
    import datetime as dt
    import secrets

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from host_tools.registry.db import make_engine
    from host_tools.registry.models import Operator, OperatorToken
    from host_tools.registry.operators import token_hash

    token = secrets.token_urlsafe(32)
    engine = make_engine(f"sqlite:///{state / 'registry' / 'registry.db'}")
    with Session(engine) as s:
        op = s.scalars(select(Operator).where(Operator.name == "sim-auditor")).first()
        if op is None:
            op = Operator(name="sim-auditor", password_hash="!", roles="auditor", disabled=False, must_change=False)
            s.add(op)
            s.flush()
        s.add(OperatorToken(token_hash=token_hash(token), operator_id=op.id, revoked=False,
                            expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)))
        s.commit()
    engine.dispose()
    return token


def _admin_get(state: Path, port: int, path: str, params: dict[str, str] | None = None) -> Any:
    """A 200 answer of the demo registry to its operator, or None (not reachable, refused)."""
    import ssl

    import httpx

    token = _sim_auditor_token(state)
    ctx = ssl.create_default_context(cafile=str(state / "registry" / "ca.pem"))
    try:
        r = httpx.get(f"https://127.0.0.1:{port}{path}", verify=ctx, timeout=10, params=params,
                      headers={"Authorization": "Bearer " + token})
    except httpx.HTTPError:
        return None
    return r if r.status_code == 200 else None


def print_payments(state: Path, registry_port: int | None) -> None:
    """What the registry paid this month (its reconciliation: `enrolctl registry payouts`)."""
    if registry_port is None:
        print("sim: no registry was running: nothing was paid")
        return
    from host_tools.registry.payouts import current_period

    from .simstate import PROGRAMME

    r = _admin_get(state, registry_port, "/v1/admin/payments",
                   {"programme": PROGRAMME["code"], "period": current_period(time.time())})
    try:
        doc = r.json() if r is not None else None
    except ValueError:
        doc = None
    if doc is None:
        print("sim: the registry did not list its payments")
        return
    for p in doc["payments"]:
        print(f"sim: paid {p['amount']} riel, receipt {p['receipt']}, credential {p['credential_id']}")
    print(f"sim: the registry holds {len(doc['payments'])} payments of {PROGRAMME['code']} this month")


def originality_keys(wallet: Path) -> list[bytes]:
    """The keys a genuine chip's originality signature verifies under: NXP's, and the simulator's
    card factory's (its private key kept in the wallet folder; the public one made here with
    python-ecdsa: enrolctl does not import the simulator)."""
    from ecdsa import SECP128r1, SigningKey

    from firmware.crypto.originality import NXP_NTAG21X

    keys = [bytes(NXP_NTAG21X)]
    try:
        d = int((wallet / "factory-key.hex").read_text().strip(), 16)
        keys.append(SigningKey.from_secret_exponent(d, curve=SECP128r1).get_verifying_key().to_string("uncompressed"))
    except (OSError, ValueError):
        pass
    return keys


def print_summary(state: Path, registry_port: int | None) -> None:
    """What happened: records on the device's flash, cards in the wallet (verified with standard
    libraries only), records the registry holds."""
    from .card import CardInvalid, genuine_chip, load_trust, verify_image
    from .device import Journal

    c = Journal({p.name: p.read_bytes() for p in (state / "flash" / "journal").glob("*.seg")}).counts()
    print(f"sim: on the device: {c['records']} records, {c['pending']} waiting to sync, "
          f"{c['records'] - c['cards_due']} with a verified card")
    trust = load_trust(state / "trust.json")
    chip_keys = originality_keys(state / "wallet")
    for path in sorted((state / "wallet").glob("*.bin")):
        try:
            cred = verify_image(path.read_bytes(), trust)
            sig = path.with_suffix(".sig").read_bytes() if path.with_suffix(".sig").exists() else b""
            if not genuine_chip(cred.uid, sig, chip_keys):  # as the device checks it: a copy is refused
                raise CardInvalid("not a genuine chip (its originality signature fails): a copy")
            exp = cred.claims.get(4)
            if not isinstance(exp, int) or exp < time.time():  # and an expired card
                raise CardInvalid("credential expired")
            print(f"sim: card {path.name}: VALID, {cred.claims[-70001]}, credential {cred.claims[2]}")
        except CardInvalid as e:
            print(f"sim: card {path.name}: NOT VALID: {e}")
    if registry_port is None:
        print("sim: no registry was running")
        return
    r = _admin_get(state, registry_port, "/v1/admin/records")
    lines = [ln for ln in r.text.splitlines() if ln.strip()] if r is not None else None
    print("sim: the registry holds " + ("?" if lines is None else str(len(lines))) + " records")


if __name__ == "__main__":
    main()
