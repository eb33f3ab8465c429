"""Enrolment UI (issue 4): key presses per enrolment, redraw time, the heap a whole enrolment needs."""

from __future__ import annotations

from mp import ROOT, compiled_tree, run_script, script_runs, smallest_heap_kb

MEASURE_HEAP = "192k"


def run():
    tree = compiled_tree()
    script = ROOT / "bench" / "mp_ui.py"
    # flow, officers, crypto and the store as .mpy in RAM do not fit 100 KB beside the emulators:
    # the figures are taken in a larger heap, and the smallest heap is found by bisection
    out = dict(line.split("=", 1) for line in run_script(script, [str(tree)], heapsize=MEASURE_HEAP).splitlines()
               if "=" in line)
    rt = f"micropython heap={MEASURE_HEAP}"
    smallest_kb = smallest_heap_kb(script_runs(script, [str(tree)]), 24, 192, step=2)
    code = int(out["code_heap"])
    return [
        ("key presses, typical enrolment (login excluded)", int(out["enrolment_keys"]), "keys", rt),
        ("heap held by loaded code (flow, entry, officers, crypto, store, harness)", code, "bytes", rt),
        ("heap held after a whole enrolment (login to saved record)", int(out["enrolment_live_heap"]), "bytes", rt),
        ("smallest heap that runs login + enrolment + save (code included)", smallest_kb, "KB", "micropython"),
        # the code is frozen into flash on a production build: what the enrolment itself needs
        # (its peak live heap, plus the fragmentation the collector leaves; goal <= 48 KB)
        ("peak heap of a whole enrolment above the loaded code", round((smallest_kb * 1024 - code) / 1024, 1), "KB",
         "micropython"),
        ("screen redraw: framebuf render + I2C frame", int(out["redraw_us"]) / 1000, "ms", rt + " (x86 host)"),
        ("I2C bytes per redraw", int(out["redraw_bus_bytes"]), "bytes", "model"),
    ]
