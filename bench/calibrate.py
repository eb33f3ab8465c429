"""The first step of make bench: how fast this host runs our MicroPython, against published ESP32
figures for the same benchmark, so that a modeled ESP32 time follows the code, not the host.

  ESP32 time = the device's work measured on this host x factor,
  factor     = this host's score / the ESP32's published score for the same benchmark (same run).

* Interpreted Python: Pystone 1.1 (bench/mp_pystone.py) in our 32-bit runtime, against
  pystone_lowmem's 1661 pystones/s on an ESP32 at 240 MHz (MicroPython 1.12, machine.freq(240 MHz)
  set: micropython/micropython issue #5673; ../shared/ESP32-PERF.md section 1a).  160 MHz scales
  by the clock (the interpreter is CPU-bound).
* Compiled C (edsig: Monocypher, mbedtls): CoreMark would be the reference, and the ESP32's figure
  is published (497.8 at 240 MHz on one core, -O3: ochrin/coremark's README; 350 with the Arduino
  core's flags: pfeerick/CoreMark), but CoreMark's source is in none of the registries this project
  installs from, so this host cannot run it.  The C factor is instead the interpreter's: the
  MicroPython VM is itself compiled C whose ESP32 figure is the published pystone.  It overstates
  arithmetic C (the VM misses the ESP32's flash cache more than a tight field multiplication):
  its range is 0.5-1x of it.
* Big integers (mpz): the interpreter's factor times ESP32-PERF's measured ratio of pidigits to
  pystone (100/110 at 240 MHz, #6565), +/-50 %; RSA-size pow() (a segment's RSA-OAEP key wrap)
  times its estimate for 2048-bit operands (200/110, x/÷2: no published ESP32 figure).

A calibration that does not hold still: the runs' spread (max - min over the median) above
NOISY is printed as such, and every modeled figure then carries it.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from mp import ROOT, run_script

PYSTONE_ESP32_240 = 1661  # pystones/s, ESP32 @ 240 MHz, MicroPython 1.12 (micropython issue #5673)
BIGINT_OVER_INTERP = 100 / 110  # ESP32-PERF.md section 0: pidigits vs pystone ratios at 240 MHz
# RSA-size pow(): mpz's 16-bit digits on a 32-bit port (ESP32-PERF.md section 0: an estimate, x/÷2)
BIG_RSA_OVER_INTERP = 200 / 110
C_RANGE = (0.5, 1.0)  # of the interpreter's factor (see above)
NOISY = 0.15
# a small run (the test that every module runs) keeps its own: never the figures of a whole run
OUT = ROOT / "build" / "bench" / ("calibration-small.json" if os.environ.get("ENROL_BENCH_SMALL") else "calibration.json")


def small() -> bool:
    return bool(os.environ.get("ENROL_BENCH_SMALL"))


def measure() -> dict:
    loops, repeats = (2000, 3) if small() else (50000, 9)  # 0.3 s a run: shorter ones caught the VM's hiccups
    out = run_script(ROOT / "bench" / "mp_pystone.py", [str(loops), str(repeats + 1)], heapsize="100k")
    # the first run warms the heap and the host's caches (a third slower, every time): left out
    scores = [int(line.split("=", 1)[1]) for line in out.splitlines() if line.startswith("pystones=")][1:]
    best, median = max(scores), statistics.median(scores)
    spread = (max(scores) - min(scores)) / median
    # the best run is the host's speed; the others had the host's other work added
    interp_240 = best / PYSTONE_ESP32_240
    cal = {
        "pystones": scores,
        "pystones_best": best,
        "spread": round(spread, 3),
        "noisy": spread > NOISY,
        "factor": {
            "interp": {"240": round(interp_240, 1), "160": round(interp_240 * 240 / 160, 1)},
            "bigint": {"240": round(interp_240 * BIGINT_OVER_INTERP, 1),
                       "160": round(interp_240 * BIGINT_OVER_INTERP * 240 / 160, 1)},
            "c": {"240": round(interp_240, 1), "160": round(interp_240 * 240 / 160, 1)},
            "rsa": {"240": round(interp_240 * BIG_RSA_OVER_INTERP, 1),
                    "160": round(interp_240 * BIG_RSA_OVER_INTERP * 240 / 160, 1)},
        },
        "range": {"interp": [0.6, 1.4], "bigint": [0.5, 1.5], "c": list(C_RANGE), "rsa": [0.5, 2.0]},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cal, indent=1) + "\n")
    return cal


def load() -> dict:
    """This run's calibration (measured now if make bench's first step did not)."""
    if OUT.is_file():
        return json.loads(OUT.read_text())
    return measure()


def factor(kind: str, mhz: int = 240) -> float:
    return float(load()["factor"][kind][str(mhz)])


def span(kind: str) -> tuple[float, float]:
    lo, hi = load()["range"][kind]
    return float(lo), float(hi)


def rows(cal: dict) -> list[tuple[str, float | int, str, str]]:
    rt = "32-bit runtime, this host"
    f = cal["factor"]
    out: list[tuple[str, float | int, str, str]] = [
        ("calibration: Pystone 1.1 on this host, best of the runs", cal["pystones_best"], "pystones/s", rt),
        ("calibration: the runs' spread (max - min over the median)", round(100 * cal["spread"], 1), "%",
         "too noisy: figures below carry it" if cal["noisy"] else f"holds (under {int(NOISY * 100)} %)"),
        ("calibration: ESP32 pystone_lowmem at 240 MHz (micropython issue #5673)", PYSTONE_ESP32_240, "pystones/s",
         "published"),
        ("factor: interpreted Python, ESP32 240 MHz / this host", f["interp"]["240"], "x", "x0.6-1.4"),
        ("factor: interpreted Python, ESP32 160 MHz / this host", f["interp"]["160"], "x", "by the clock"),
        ("factor: big integers (mpz), ESP32 240 MHz / this host", f["bigint"]["240"], "x",
         "interp x 100/110 (pidigits, #6565), x0.5-1.5"),
        ("factor: compiled C (edsig), ESP32 240 MHz / this host", f["c"]["240"], "x",
         "the VM's (no CoreMark source in reach), x0.5-1.0"),
    ]
    return out


def run() -> list[tuple[str, float | int, str, str]]:
    return rows(measure())


if __name__ == "__main__":
    for row in run():
        print(row)
