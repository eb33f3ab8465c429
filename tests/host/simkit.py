"""Run the simulated device (host_tools/sim/host.py: the frozen firmware at the ESP32's heap, its
hardware emulated here) with a script on stdin in the simulator's line language."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT
from host_tools.enrolctl.simrun import sim_command

sys.path.insert(0, str(ROOT / "tests" / "fw"))
from flowkit import text_keys  # noqa: E402

# a tuple: a test that built its script with `lines = LOGIN; lines += ...` changed every later
# test's login in that worker (the power tests failed only in whole-suite runs for that)
LOGIN = ("0042A", "?PIN:", "2468A", "?HOME")


def new_device(tmp: Path) -> Path:
    """A freshly provisioned simulated device (its registry keys beside it); its flash directory."""
    from host_tools.enrolctl.simstate import provision
    from registrykit import _free_port

    provision(tmp / "state", _free_port())
    return tmp / "state" / "flash"


def device_root(tmp: Path) -> Path:
    """A board's filesystem root as a fresh flash leaves it: this checkout's boot.py and main.py."""
    root = tmp / "root"
    root.mkdir()
    for name in ("boot.py", "main.py"):
        (root / name).write_text((ROOT / name).read_text())
    return root


def keys_for(text: str) -> str:
    return "".join("." if isinstance(k, tuple) else k for k in text_keys(text))


def enrol(given: str, family: str, birth: str, pin: str, card: bool = True, pause_after_family: int = 0) -> list[str]:
    """Home -> a saved record (and its card, tapped and taken away) -> home.  The family name is
    typed first, as the Khmer identity card writes it; female, the village and category offered
    (the first, or the last person's), no phone."""
    lines = ["1", keys_for(family) + "A"]
    if pause_after_family:  # the person walks off mid-enrolment; a key wakes the dark screen (and is not typed)
        lines += [f"+{pause_after_family}", "5."]
    lines += [keys_for(given) + "A", "1", birth + "A", "A", "A", "A", "A", "#", pin + "A", pin + "A",
              "?Tap the card"]
    if card:
        lines += ["t", "?Card ready", "r", "A", "?HOME"]
    else:
        lines += ["B", "?DONE", "A", "?HOME"]
    return lines


@dataclass
class SimRun:
    rc: int
    out: str
    err: str
    energy: dict

    def ms(self, key: str) -> int:
        return self.energy["ms"].get(key, 0)


def run_sim(flash: Path, lines: list[str], tmp: Path, **env: str) -> SimRun:
    energy = tmp / f"energy-{os.urandom(3).hex()}.json"
    full_env = dict(os.environ, ENROL_DATA_DIR=str(flash), ENROL_SIM_VIEW="text",
                    ENROL_SIM_ENERGY=str(energy), ENROL_SIM_WALLET=str(tmp), **env)
    proc = subprocess.run(sim_command(), cwd=ROOT, env=full_env, input="\n".join(lines + ["q"]) + "\n", capture_output=True, text=True,
                          timeout=600)
    doc = json.loads(energy.read_text()) if energy.exists() else {"ms": {}}
    return SimRun(proc.returncode, proc.stdout, proc.stderr, doc)


def run_until_cut(flash: Path, lines: list[str], marker: str, tmp: Path, **env: str) -> str:
    """Run the sim and pull its power (SIGKILL: the device dies with it) as soon as `marker` is on
    its screen; its output."""
    full_env = dict(os.environ, ENROL_DATA_DIR=str(flash), ENROL_SIM_VIEW="text", ENROL_SIM_WALLET=str(tmp), **env)
    proc = subprocess.Popen(sim_command(), cwd=ROOT, env=full_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    # 'q' and end of input after the script: a marker that never shows ends the run, not the suite
    proc.stdin.write("\n".join(lines + ["q"]) + "\n")
    proc.stdin.close()
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                break
    finally:
        proc.kill()
        proc.wait(30)
    return "".join(seen)
