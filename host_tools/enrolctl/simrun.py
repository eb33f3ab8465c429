"""`make sim`: the demo registry on loopback (TLS) and the simulated device in this terminal.

Usage: python -m host_tools.enrolctl.simrun STATE_DIR IMAGE_DIR HEAPSIZE
The registry runs in the background for as long as the device does (its log in
STATE_DIR/registry/registry.log); records the device saves are synced to it.
The line 'p' cuts the device's power (kill, then boot again on the same flash).
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
        rc = run_device([str(micropython), "-X", f"heapsize={heap}", "-m", "host_tools.sim.device"], image, env)
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(10)
    raise SystemExit(rc)


POWER_CUT = "p"


def run_device(cmd: list[str], image: Path, env: dict[str, str]) -> int:
    """The device, with the terminal's lines passed on to it; the line 'p' pulls its power
    (SIGKILL, whatever it was doing) and switches it on again on the same flash."""
    import queue
    import threading

    lines: queue.Queue[str | None] = queue.Queue()

    def read_terminal() -> None:
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)  # end of input: the device switches off

    threading.Thread(target=read_terminal, daemon=True).start()
    while True:
        device = subprocess.Popen(cmd, cwd=image, env=env, stdin=subprocess.PIPE, text=True)
        assert device.stdin is not None
        cut = False
        while device.poll() is None:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is not None and line.strip() == POWER_CUT:
                device.kill()
                device.wait()
                cut = True
                break
            try:
                if line is None:
                    device.stdin.close()
                else:
                    device.stdin.write(line)
                    device.stdin.flush()
            except (BrokenPipeError, ValueError):
                break  # the device switched itself off meanwhile
        if not cut:
            return device.wait()
        print("sim: power cut (the battery was pulled); switching on again on the same flash", flush=True)


if __name__ == "__main__":
    main()
