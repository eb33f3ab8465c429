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


def run(state: Path, image: Path, heap: str, script: list[str] | None = None) -> int:
    """Provision (first run), start the demo registry, run the device: from this terminal, or
    fed `script` (the simulator's line language; 'p' cuts the power) and then summarised."""
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
    if script is not None:
        env.setdefault("ENROL_SIM_VIEW", "text")  # the script's '?TEXT' lines are matched on the text view
    micropython = Path(sys.executable).parent / "micropython"
    cmd = [str(micropython), "-X", f"heapsize={heap}", "-m", "host_tools.sim.device"]
    try:
        if script is None:
            return run_device(cmd, image, env)
        rc = ScriptedDevice(cmd, image, env).run(script)
        print_summary(state, port if registry is not None else None)
        return rc
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(10)


def main() -> None:
    state, image, heap = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    raise SystemExit(run(state, image, heap))


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


SCREEN_BORDER = "+" + "-" * 16 + "+"
WAIT_S = 60  # as the simulator's own '?TEXT' wait
COMMENT = "//"  # a script line the device never sees
DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "sim" / "demo.txt"


class ScriptedDevice:
    """The device fed a script.  Its text view is followed, so that a 'p' line cuts the power
    only once the lines before it have played out (a '?TEXT' line waits here too, as it does
    in the device), and the device is switched on again on the same flash."""

    def __init__(self, cmd: list[str], image: Path, env: dict[str, str]) -> None:
        import threading

        self.cmd, self.image, self.env = cmd, image, env
        self.changed = threading.Condition()
        self.screen = ""
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> None:
        import threading

        self.proc = subprocess.Popen(self.cmd, cwd=self.image, env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.screen = ""
        threading.Thread(target=self._follow, args=(self.proc,), daemon=True).start()

    def _follow(self, proc: subprocess.Popen[str]) -> None:
        """Copy the device's output to ours; keep the last whole screen of the text view."""
        assert proc.stdout is not None
        block: list[str] | None = None
        for line in proc.stdout:
            sys.stdout.write(line)
            row = line.rstrip("\n")
            if row == SCREEN_BORDER:
                if block is None:
                    block = []
                else:
                    with self.changed:
                        self.screen = "\n".join(block)
                        self.changed.notify_all()
                    block = None
            elif block is not None:
                block.append(row)
        with self.changed:
            self.changed.notify_all()
        sys.stdout.flush()

    def _wait_for(self, text: str) -> None:
        deadline = time.monotonic() + WAIT_S
        with self.changed:
            while text not in self.screen and time.monotonic() < deadline and self.proc and self.proc.poll() is None:
                self.changed.wait(0.2)

    def run(self, script: list[str]) -> int:
        self._start()
        for line in script:
            line = line.rstrip("\n")
            if line.startswith(COMMENT):
                continue
            assert self.proc is not None and self.proc.stdin is not None
            if line.strip() == POWER_CUT:
                self.proc.kill()
                self.proc.wait()
                print("sim: power cut (the battery was pulled); switching on again on the same flash", flush=True)
                self._start()
                continue
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                break  # the device switched itself off (q, deep sleep)
            if line.startswith("?"):
                self._wait_for(line[1:])
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.close()  # end of the script: the device switches off
        except BrokenPipeError:
            pass
        return self.proc.wait()


def print_summary(state: Path, registry_port: int | None) -> None:
    """What happened: records on the device's flash, cards in the wallet (verified with standard
    libraries only), records the registry holds."""
    from .card import CardInvalid, load_trust, verify_image
    from .device import Journal

    c = Journal({p.name: p.read_bytes() for p in (state / "flash" / "journal").glob("*.seg")}).counts()
    print(f"sim: on the device: {c['records']} records, {c['pending']} waiting to sync, "
          f"{c['records'] - c['cards_due']} with a verified card")
    trust = load_trust(state / "trust.json")
    for path in sorted((state / "wallet").glob("*.bin")):
        try:
            cred = verify_image(path.read_bytes(), trust)
            print(f"sim: card {path.name}: VALID, {cred.claims[-70001]}, credential {cred.claims[2]}")
        except CardInvalid as e:
            print(f"sim: card {path.name}: NOT VALID: {e}")
    if registry_port is None:
        print("sim: no registry was running")
        return
    import ssl

    import httpx

    token = (state / "registry" / "operator_token").read_text().strip()
    ctx = ssl.create_default_context(cafile=str(state / "registry" / "ca.pem"))
    try:
        r = httpx.get(f"https://127.0.0.1:{registry_port}/v1/admin/records", verify=ctx, timeout=10,
                      headers={"Authorization": "Bearer " + token})
        lines = [ln for ln in r.text.splitlines() if ln.strip()] if r.status_code == 200 else None
    except httpx.HTTPError:
        lines = None
    print("sim: the registry holds " + ("?" if lines is None else str(len(lines))) + " records")


if __name__ == "__main__":
    main()
