"""The whole application in the simulator: the smallest heap in which it boots, logs in, enrols
a person and writes and verifies their card (firmware loaded as .mpy into RAM, plus the
emulators' own RAM), and the modeled reader time of that card write."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from mp import MICROPYTHON, smallest_heap_kb

from host_tools.enrolctl.build import build_sim
from host_tools.enrolctl.simstate import provision

KEYS = "0042A\n2468A\n1\n2644466282A\n2222A\n1A\n14061987A\nA\nA\nA\n#\n7391A\n7391A\n..\nt\n....\nq\n"


def runs_in(image: Path, state: Path, heap_kb: int) -> bool:
    env = dict(os.environ, MICROPYPATH=":.frozen:lib", ENROL_DATA_DIR=str(state / "flash"), ENROL_SIM_VIEW="text")
    proc = subprocess.run([str(MICROPYTHON), "-X", f"heapsize={heap_kb}k", "-m", "host_tools.sim.device"],
                          cwd=image, env=env, input=KEYS, capture_output=True, text=True, timeout=120)
    return proc.returncode == 0 and "MemoryError" not in proc.stdout + proc.stderr and "Card ready for" in proc.stdout


def run():
    with tempfile.TemporaryDirectory() as tmp:
        image, state = Path(tmp) / "img", Path(tmp) / "state"
        build_sim(image)
        provision(state)
        hi = smallest_heap_kb(lambda kb: runs_in(image, state, kb), 96, 512)
    return [("smallest heap: boot, login, enrol, write + verify a card (app .mpy in RAM + emulators)", hi, "KB",
             "micropython sim")]
