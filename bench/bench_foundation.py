"""Import time and peak heap of firmware.app under MicroPython (from .py and from .mpy); image size."""

from __future__ import annotations

from mp import HEAPSIZE, ROOT, run_mp

IMPORT_APP = """
import time, gc, micropython
gc.collect()
t0 = time.ticks_us()
import firmware.app
t1 = time.ticks_us()
print('import_us=' + str(time.ticks_diff(t1, t0)))
print('mem_peak=' + str(micropython.mem_peak()))
"""


# compiling the app's sources on the device needs far more RAM than loading .mpy: the .py
# figure is taken in a larger heap (a board always gets .mpy: make build / enrolctl deploy)
SOURCE_HEAP = "256k"


def run():
    rt = f"micropython heap={HEAPSIZE}"
    build = ROOT / "build" / "device"
    src = run_mp(IMPORT_APP, ["", ".frozen", str(ROOT), str(ROOT / "lib")], heapsize=SOURCE_HEAP)
    mpy = run_mp(IMPORT_APP, ["", ".frozen", "lib"], cwd=build)
    total = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    files = sum(1 for p in build.rglob("*") if p.is_file())
    return [
        ("import firmware.app from .py", int(src["import_us"]) / 1000, "ms", f"micropython heap={SOURCE_HEAP}"),
        ("micropython.mem_peak after import from .py (counts garbage too)", int(src["mem_peak"]), "bytes",
         f"micropython heap={SOURCE_HEAP}"),
        ("import firmware.app from .mpy", int(mpy["import_us"]) / 1000, "ms", rt),
        ("micropython.mem_peak after import from .mpy (counts garbage too)", int(mpy["mem_peak"]), "bytes", rt),
        ("build/device total", total, "bytes", "host"),
        ("build/device files", files, "files", "host"),
    ]
