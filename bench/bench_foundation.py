"""Import time and peak heap of firmware.app under our 32-bit runtime: frozen (as the device runs it),
from .mpy and from .py (what a filesystem copy would cost); the size of the frozen payload."""

from __future__ import annotations

import tempfile
from pathlib import Path

import calibrate
from mp import HEAPSIZE, ROOT, run_mp

from host_tools.enrolctl import ota

APP_SLOT = ota.project_layout().slots[0].size  # host_tools/esp32_board/partitions.csv

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


PBKDF2 = """
import time
from firmware.crypto.pbkdf2 import pbkdf2_sha256
from firmware.enrol.officer import ITERATIONS
t0 = time.ticks_us()
pbkdf2_sha256(b'2468', b'0123456789abcdef', ITERATIONS)
print('login_us=' + str(time.ticks_diff(time.ticks_us(), t0)))
print('iterations=' + str(ITERATIONS))
"""


def run():
    with tempfile.TemporaryDirectory() as built:
        return _run(Path(built) / "device")


def _run(build: Path):
    """The figures, over a device build of its own (what `make build` writes to build/device): a
    build there by another process at the same time (a test, a deploy) cannot empty it mid-run."""
    from host_tools.enrolctl.build import build as build_device

    build_device(build)
    rt = f"micropython heap={HEAPSIZE}"
    src = run_mp(IMPORT_APP, ["", str(ROOT / "lib"), ".frozen"], heapsize=SOURCE_HEAP)
    mpy = run_mp(IMPORT_APP, ["", "lib", ".frozen"], cwd=build)
    with tempfile.TemporaryDirectory() as tmp:
        frozen = run_mp(IMPORT_APP, [".frozen"], cwd=tmp)
    with tempfile.TemporaryDirectory() as tmp:
        login = run_mp(PBKDF2, [".frozen"], cwd=tmp)
    login_ms = int(login["login_us"]) / 1000
    kc = calibrate.factor("c", 240)
    payload = sum(p.stat().st_size for p in build.rglob("*.mpy") if p.name not in ("board_sim.mpy", "bridge_wire.mpy"))
    total = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    files = sum(1 for p in build.rglob("*") if p.is_file())
    return [
        (f"officer login: PBKDF2-HMAC-SHA256, {login['iterations']} iterations", login_ms, "ms", rt),
        ("officer login (PBKDF2 in edsig, C) modeled on the ESP32 at 240 MHz", round(login_ms * kc / 1000, 3), "s",
         f"x{kc} (this run's C factor, x0.5-1.0 of it; mbedtls may use the SHA accelerator): goal <= 1.0 s: "
         + ("met" if login_ms * kc / 1000 <= 1.0 else "MISSED")),
        ("import firmware.app frozen (as on the device)", int(frozen["import_us"]) / 1000, "ms", rt),
        ("micropython.mem_peak after import, frozen (counts garbage too)", int(frozen["mem_peak"]), "bytes", rt),
        ("frozen payload: bytecode of manifest.py's modules", payload, "bytes", "host"),
        (f"frozen payload / the {APP_SLOT // 1024:,} KB app slot (MicroPython itself not built here: make image)",
         round(100 * payload / APP_SLOT, 1), "%", "host"),
        ("import firmware.app from .py", int(src["import_us"]) / 1000, "ms", f"micropython heap={SOURCE_HEAP}"),
        ("micropython.mem_peak after import from .py (counts garbage too)", int(src["mem_peak"]), "bytes",
         f"micropython heap={SOURCE_HEAP}"),
        ("import firmware.app from .mpy", int(mpy["import_us"]) / 1000, "ms", rt),
        ("micropython.mem_peak after import from .mpy (counts garbage too)", int(mpy["mem_peak"]), "bytes", rt),
        ("build/device total", total, "bytes", "host"),
        ("build/device files", files, "files", "host"),
    ]
