"""`make sim`: the demo registry on loopback (TLS) and the simulated device in this terminal.

Usage: python -m host_tools.enrolctl.simrun STATE_DIR IMAGE_DIR HEAPSIZE
The registry runs in the background for as long as the device does (its log in
STATE_DIR/registry/registry.log); records the device saves are synced to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .simstate import DEFAULT_PORT, OldSimState, provision


def start_registry(state: Path, port: int) -> subprocess.Popen[bytes] | None:
    import ssl

    import httpx

    log = open(state / "registry" / "registry.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.registry.serve", str(state / "registry"), str(port)],
                            stdout=log, stderr=log)
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


def main() -> None:
    state, image, heap = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
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
    env = dict(os.environ, MICROPYPATH=":.frozen:lib", ENROL_DATA_DIR=str((state / "flash").resolve()),
               ENROL_SIM_WALLET=str((state / "wallet").resolve()))
    micropython = Path(sys.executable).parent / "micropython"
    try:
        rc = subprocess.call([str(micropython), "-X", f"heapsize={heap}", "-m", "host_tools.sim.device"],
                             cwd=image, env=env)
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(10)
    raise SystemExit(rc)


if __name__ == "__main__":
    main()
