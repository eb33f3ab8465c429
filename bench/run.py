"""make bench: calibrate this host (bench/calibrate.py), run every bench/bench_*.py, print one
table, write bench/results.json.  `bench/run.py card store` runs only those modules.

A benchmark module defines run() -> list of (name, value, unit, runtime).
Figures are measurements, never pass/fail: tests assert counts, benches report them.
A module that fails is named with its error and the others still run (exit status 1).
ENROL_BENCH_SMALL=1 runs every module at a small size (tests/host/house/test_bench_modules.py).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return (proc.stdout.strip() or "unknown") + ("+dirty" if dirty.strip() else "")


def _run_one(path: Path) -> tuple[list[dict], str | None, float]:
    t0 = time.monotonic()
    rows: list[dict] = []
    try:
        module = _load(path)
        for name, value, unit, runtime in module.run():
            rows.append({"bench": path.stem, "name": name, "value": value, "unit": unit, "runtime": runtime})
        failure = None
    except Exception as e:  # one broken bench must not hide the others' figures
        failure = f"{path.stem}: {type(e).__name__}: {str(e)[-600:]}"
    return rows, failure, time.monotonic() - t0


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _waits(path: Path) -> bool:
    """A module that declares WAITS = True spends its time waiting on a simulated device (the
    scripted day: a few % of a core): it runs beside the others instead of after them."""
    return "\nWAITS = True" in path.read_text()


def run_modules(paths: list[Path]) -> tuple[list[dict], list[str]]:
    """Each module's figures and wall time; a module that raises is named with its error in the
    second list, and the others still run.  A module that mostly waits (WAITS) runs in a process of
    its own beside the others: its own imports and module state (two registries migrating in one
    process's threads collided), the calibration read from this run's file."""
    import subprocess  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    done: dict[Path, tuple[list[dict], str | None, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        beside = {}
        for path in paths:
            if _waits(path):
                out = Path(tmp) / (path.stem + ".json")
                beside[path] = (out, subprocess.Popen([sys.executable, str(BENCH / "run.py"), "--one", str(path),
                                                       str(out)], cwd=ROOT))
        for path in paths:
            if path not in beside:
                done[path] = _run_one(path)
                print(f"{path.stem}: {done[path][2]:.0f} s" + (" (failed)" if done[path][1] else ""), flush=True)
        for path, (out, proc) in beside.items():
            proc.wait()
            if out.is_file():
                rows, failure, took = json.loads(out.read_text())
            else:
                rows, failure, took = [], f"{path.stem}: its process ended with status {proc.returncode}", 0.0
            done[path] = (rows, failure, took)
            print(f"{path.stem}: {took:.0f} s, beside the others" + (" (failed)" if failure else ""), flush=True)
    results: list[dict] = []
    failed: list[str] = []
    for path in paths:
        rows, failure, took = done[path]
        results += rows
        if failure:
            failed.append(failure)
        results.append({"bench": path.stem, "name": "this module's wall time", "value": round(took, 1), "unit": "s",
                        "runtime": "host" + (", beside the others" if _waits(path) else "")})
    return results, failed


def _one(path: Path, out: Path) -> int:
    """run.py --one MODULE OUT: one module's (rows, failure, seconds) as JSON (run_modules)."""
    sys.path[:0] = [str(ROOT), str(BENCH)]
    out.write_text(json.dumps(_run_one(path)))
    return 0


def main() -> int:
    sys.path[:0] = [str(ROOT), str(BENCH)]
    results = []
    failed = []
    wanted = set(sys.argv[1:])
    import calibrate  # noqa: PLC0415 - bench/ is on the path only now

    started = time.monotonic()
    cal = calibrate.measure()  # first: every modeled ESP32 time below uses this run's factors
    for name, value, unit, runtime in calibrate.rows(cal):
        results.append({"bench": "calibrate", "name": name, "value": value, "unit": unit, "runtime": runtime})
    print(f"calibrated: {cal['pystones_best']:,} pystones/s (spread {100 * cal['spread']:.1f} %"
          f"{', too noisy' if cal['noisy'] else ''}); interpreted x{cal['factor']['interp']['240']} "
          f"at 240 MHz", flush=True)
    paths = [p for p in sorted(BENCH.glob("bench_*.py"))
             if not wanted or p.stem.removeprefix("bench_") in wanted or p.stem in wanted]
    more, failed = run_modules(paths)
    results += more
    for f in failed:  # in the table and the README too: a missed figure is said, not left out
        results.append({"bench": "run", "name": "failed: " + f[:300], "value": 1, "unit": "module", "runtime": "host"})
    results.append({"bench": "run", "name": "make bench: wall time, calibration and every module",
                    "value": round(time.monotonic() - started, 1), "unit": "s", "runtime": "host"})
    rev = commit()
    for r in results:
        r["commit"] = rev
    table = Table(title=f"make bench @ {rev}")
    for col in ("bench", "name", "value", "unit", "runtime"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in results:
        value = r["value"]
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
        table.add_row(r["bench"], r["name"], shown, r["unit"], r["runtime"])
    Console(width=max(Console().width, 150)).print(table)  # a pipe or CI log gets whole rows too
    # a partial or small run never overwrites the whole run's figures (the README's table)
    out = (BENCH / "results.json" if not wanted and not calibrate.small()
           else ROOT / "build" / "bench" / ("results-small.json" if calibrate.small() else "results.json"))
    out.write_text(json.dumps(results, indent=1) + "\n")
    if out == BENCH / "results.json":
        import readme_table  # noqa: PLC0415

        readme_table.write()
        print("README.md: its figures are this run's (bench/readme_table.py)")
    print(f"wrote {out} ({len(results)} figures) in {time.monotonic() - started:.0f} s")
    for f in failed:
        print("bench failed:", f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        raise SystemExit(_one(Path(sys.argv[2]), Path(sys.argv[3])))
    raise SystemExit(main())
