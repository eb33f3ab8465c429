"""Enrolment UI (issue 4): key presses per enrolment, redraw time, heap after an enrolment."""

from __future__ import annotations

from mp import HEAPSIZE, ROOT, compiled_tree, run_script


def smallest_heap_kb(script, tree, lo: int = 24, hi: int = 160) -> int:
    """Smallest -X heapsize (KB, 4 KB steps) in which login + a whole enrolment completes."""
    while hi - lo > 4:
        mid = (lo + hi) // 2
        try:
            run_script(script, [str(tree)], heapsize=f"{mid}k")
            hi = mid
        except RuntimeError:
            lo = mid
    return hi


def run():
    tree = compiled_tree()
    script = ROOT / "bench" / "mp_ui.py"
    out = dict(line.split("=", 1) for line in run_script(script, [str(tree)]).splitlines() if "=" in line)
    rt = f"micropython heap={HEAPSIZE}"
    return [
        ("key presses, typical enrolment (login excluded)", int(out["enrolment_keys"]), "keys", rt),
        ("heap held by loaded code (flow, entry, officers, crypto, harness)", int(out["code_heap"]), "bytes", rt),
        ("heap held by the flow after a whole enrolment", int(out["enrolment_live_heap"]), "bytes", rt),
        ("smallest heap that runs login + enrolment (code included)", smallest_heap_kb(script, tree), "KB", "micropython"),
        ("screen redraw: framebuf render + I2C frame", int(out["redraw_us"]) / 1000, "ms", rt + " (x86 host)"),
        ("I2C bytes per redraw", int(out["redraw_bus_bytes"]), "bytes", "model"),
    ]
