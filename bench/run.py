"""make bench: run every bench/bench_*.py, print one table, write bench/results.json.

A benchmark module defines run() -> list of (name, value, unit, runtime).
Figures are measurements, never pass/fail: tests assert counts, benches report them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return (proc.stdout.strip() or "unknown") + ("+dirty" if dirty.strip() else "")


def main() -> int:
    sys.path[:0] = [str(ROOT), str(BENCH)]
    results = []
    failed = []
    for path in sorted(BENCH.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            for name, value, unit, runtime in module.run():
                results.append({"bench": path.stem, "name": name, "value": value, "unit": unit, "runtime": runtime})
        except Exception as e:  # one broken bench must not hide the others' figures
            failed.append(f"{path.stem}: {type(e).__name__}: {e}")
    rev = commit()
    for r in results:
        r["commit"] = rev
    table = Table(title=f"make bench @ {rev}")
    for col in ("bench", "name", "value", "unit", "runtime"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in results:
        value = r["value"]
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        table.add_row(r["bench"], r["name"], shown, r["unit"], r["runtime"])
    Console(width=max(Console().width, 150)).print(table)  # a pipe or CI log gets whole rows too
    (BENCH / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {BENCH / 'results.json'} ({len(results)} figures)")
    for f in failed:
        print("bench failed:", f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
