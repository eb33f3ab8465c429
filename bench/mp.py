"""Helpers for benchmarks that run code under the MicroPython unix port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from host_tools.enrolctl import runtime as _runtime  # noqa: E402

MICROPYTHON = _runtime.MICROPYTHON  # 32-bit, firmware frozen (make runtime), as the tests run it
HEAPSIZE = os.environ.get("MP_HEAPSIZE", "100k")
# ENROL_BENCH_SMALL=1: every module at a small size (tests/host/house/test_bench_modules.py checks
# that each runs); its figures are not the bench's and are never written to bench/results.json
SMALL = bool(os.environ.get("ENROL_BENCH_SMALL"))


def size(full, small):
    """`full` in make bench, `small` in the test that every module runs."""
    return small if SMALL else full


def run_mp(script: str, path: list[str], cwd: Path = ROOT, heapsize: str = HEAPSIZE) -> dict[str, str]:
    """Run `script` with sys.path set to `path`; it prints 'key=value' lines, returned as a dict."""
    prelude = f"import sys\nsys.path[:] = {path!r}\n"
    proc = subprocess.run([str(MICROPYTHON), "-X", f"heapsize={heapsize}", "-c", prelude + script],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def compiled_tree() -> Path:
    """The emulators and test helpers compiled to .mpy, as the tests run them (the firmware is frozen)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import mpy_tree_sources  # noqa: PLC0415

    from host_tools.enrolctl.build import compile_tree

    out = ROOT / "build" / "bench-tree"
    compile_tree(mpy_tree_sources(), ROOT, out, mpy_cross=_runtime.MPY_CROSS)
    return out


def run_script(script: Path, args: list[str], heapsize: str = HEAPSIZE, timeout: float = 1800) -> str:
    proc = subprocess.run([str(MICROPYTHON), "-X", f"heapsize={heapsize}", str(script), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    return proc.stdout


def smallest_heap_kb(runs, lo: int, hi: int, step: int = 4, window: int = 16, parallel: int = 1) -> int:
    """Smallest heap (KB, to `step`) from which runs(heap_kb) holds for every size up to `window` KB more.

    Bisection alone reported figures 36 KB apart from run to run: near the edge a MicroPython heap
    passes or fails by where fragmentation falls, not monotonically in its size.  So the bisected
    edge is only a start, raised past any failure until a whole window of sizes above it runs.
    `hi` must run.  parallel > 1 checks the window's sizes that many at a time (runs must then be
    safe to call from threads: its own files, no shared port).
    """
    if SMALL:  # no bisection: the largest size must run
        if not runs(hi):
            raise RuntimeError(f"did not run in {hi} KB")
        return hi
    seen: dict[int, bool] = {}

    def ok(kb: int) -> bool:
        if kb not in seen:
            seen[kb] = runs(kb)
        return seen[kb]

    lo, hi = lo - lo % step, hi + (-hi) % step  # sizes on the step's grid
    while hi - lo > step:
        mid = (lo + hi) // 2
        mid -= mid % step
        if ok(mid):
            hi = mid
        else:
            lo = mid
    edge = hi
    while True:
        sizes = range(edge, edge + window + 1, step)
        todo = [kb for kb in sizes if kb not in seen]
        if parallel > 1 and len(todo) > 1:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

            with ThreadPoolExecutor(parallel) as pool:
                for kb, held in zip(todo, pool.map(runs, todo)):
                    seen[kb] = held
        failed = [kb for kb in sizes if not ok(kb)]
        if not failed:
            return edge
        edge = max(failed) + step


def script_runs(script: Path, args: list[str]):
    """A runs(heap_kb) predicate: the MicroPython script completes in that heap."""
    def runs(heap_kb: int) -> bool:
        try:
            run_script(script, args, heapsize=f"{heap_kb}k")
            return True
        except RuntimeError:
            return False
    return runs
