"""The event loop's worst gap on the device runtime (issue 31): the frozen firmware in our 32-bit
MicroPython, at the device's heap, runs the loop-lag probes of the tests (a task that only yields,
beside the card task writing an NTAG215 over the emulated PN532; beside a sync of 20 records in
batches of 8 to synckit's registry stand-in, in the same process).  Each probe runs RUNS times;
the worst gap of all is reported, on this host and modeled for the ESP32 (x k, ESP32-PERF.md
section 0, interpreter-bound Python; +/-40 %).  The sync's gap includes the registry stand-in's
own work (it answers in the device's loop): an upper bound of the device's share."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import calibrate
from mp import MICROPYTHON, ROOT, compiled_tree, size

RUNS = size(5, 1)
PROBES = (("card write", "device", "test_loop_lag", "test_the_loop_turns_between_the_card_commands_and_signatures_of_a_card_write", "100k"),
          ("sync", "sync", "test_sync_loop_lag", "test_the_loop_turns_between_the_batches_and_records_of_a_sync", "110k"))


def worst_gap_ms(tree, room: str, module: str, test: str, heap: str) -> int:
    worst = 0
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([str(MICROPYTHON), "-X", f"heapsize={heap}", str(ROOT / "tests" / "mp_runner.py"),
                                   str(tree), module, test, room], cwd=ROOT, capture_output=True, text=True,
                                  timeout=600, env=dict(os.environ, FWTEST_TMP=tmp))
        found = re.search(r"worst loop gap (\d+) ms", proc.stdout)
        if proc.returncode != 0 or not found:
            raise RuntimeError(proc.stdout + proc.stderr)
        worst = max(worst, int(found.group(1)))
    return worst


def run():
    tree = compiled_tree()
    out = []
    for what, room, module, test, heap in PROBES:
        ms = worst_gap_ms(tree, room, module, test, heap)
        out.append((f"worst event-loop gap while a {what} runs (goal <= 20 ms on the host runtime)", ms, "ms",
                    f"frozen firmware, 32-bit runtime, heap {heap}, worst of {RUNS}"))
        k = calibrate.factor("interp", 240)
        out.append((f"worst event-loop gap while a {what} runs, modeled at 240 MHz", round(ms * k / 1000, 3),
                    "s", f"x{k}: this run's calibration (interpreted Python; the gap's C work is faster)"))
    return out
