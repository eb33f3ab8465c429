"""Enrolment UI (issue 4): key presses per enrolment, redraw time, heap after an enrolment."""

from __future__ import annotations

from mp import HEAPSIZE, ROOT, compiled_tree, run_script, script_runs, smallest_heap_kb


def run():
    tree = compiled_tree()
    script = ROOT / "bench" / "mp_ui.py"
    out = dict(line.split("=", 1) for line in run_script(script, [str(tree)]).splitlines() if "=" in line)
    rt = f"micropython heap={HEAPSIZE}"
    return [
        ("key presses, typical enrolment (login excluded)", int(out["enrolment_keys"]), "keys", rt),
        ("heap held by loaded code (flow, entry, officers, crypto, harness)", int(out["code_heap"]), "bytes", rt),
        ("heap held by the flow after a whole enrolment", int(out["enrolment_live_heap"]), "bytes", rt),
        ("smallest heap that runs login + enrolment (code included)", smallest_heap_kb(script_runs(script, [str(tree)]), 24, 160), "KB", "micropython"),
        ("screen redraw: framebuf render + I2C frame", int(out["redraw_us"]) / 1000, "ms", rt + " (x86 host)"),
        ("I2C bytes per redraw", int(out["redraw_bus_bytes"]), "bytes", "model"),
    ]
