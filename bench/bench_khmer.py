"""Khmer screens and the gazetteer (issue 17): flash bytes of the Khmer phrases and of a
district's villages, the heaviest Khmer screen's redraw time and heap on the frozen 32-bit
runtime, key presses of a veteran's enrolment."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from mp import ROOT, compiled_tree, run_script

sys.path.insert(0, str(ROOT))
from host_tools.enrolctl import gazetteer, khmer  # noqa: E402

HEAP = "100k"


def run():
    out = []
    phrases = khmer.build()
    out.append(("flash: Khmer phrases (km.bin, every phrase of the screens)", len(phrases), "B", "Noto Sans Khmer 14 px"))
    from host_tools.enrolctl.km_catalogue import KHMER

    out.append(("Khmer phrases", len(KHMER), "phrases", "km_catalogue"))
    largest = gazetteer.area(["0507"], [])  # the country's largest district: 289 villages
    out += [("flash: the largest district's villages (villages.bin, 289 villages)", len(largest.file()), "B",
             "48 B a village"),
            ("flash: their Khmer names (names.km, villages and communes)", len(khmer.names_file(largest)), "B",
             "1-bit lines")]
    bavel = gazetteer.area(["0204"], [])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "km.bin").write_bytes(phrases)
        (data / "names.km").write_bytes(khmer.names_file(bavel))
        (data / "villages.bin").write_bytes(bavel.file())
        got = dict(line.split("=", 1) for line in run_script(ROOT / "bench" / "mp_khmer.py",
                                                             [str(compiled_tree()), str(data)], heapsize=HEAP
                                                             ).splitlines() if "=" in line)
    rt = f"frozen firmware, 32-bit runtime, heap {HEAP}, emulated I2C"
    out += [("key presses: a veteran (SOK SOPHEA, date, village, category, 8-digit service no., PIN twice)",
             int(got["enrolment_keys"]), "keys", "goal < 60"),
            (f"heaviest Khmer screen ({got['worst_state']}, {got['worst_pages']} pages): redraw + I2C frame",
             int(got["worst_us"]) / 1000, "ms", rt + " (x86 host)"),
            ("heap one draw of that screen allocates (freed after it)", int(got["worst_alloc"]), "B", rt),
            ("screens of the enrolment drawn in Khmer", int(got["screens"]), "screens", rt)]
    return out
