"""make bench's own checks: every module runs (at a small size), a failing module is named while the
others still run, and the README's figures are what bench/results.json says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import readme_table  # noqa: E402
import run as bench_run  # noqa: E402


def test_every_bench_module_runs_at_a_small_size() -> None:
    env = dict(os.environ, ENROL_BENCH_SMALL="1")
    proc = subprocess.run([sys.executable, str(BENCH / "run.py")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((ROOT / "build" / "bench" / "results-small.json").read_text())
    figures: dict[str, int] = {}
    for r in results:
        if r["name"] != "this module's wall time":
            figures[r["bench"]] = figures.get(r["bench"], 0) + 1
    modules = {p.stem for p in BENCH.glob("bench_*.py")}
    assert modules and all(figures.get(m, 0) >= 1 for m in modules), {m: figures.get(m, 0) for m in modules}
    assert figures["calibrate"] >= 5


def test_a_failing_module_is_named_and_the_others_still_run(tmp_path: Path) -> None:
    (tmp_path / "bench_a.py").write_text("def run():\n    raise ValueError('no reader here')\n")
    (tmp_path / "bench_b.py").write_text("def run():\n    return [('figure', 3, 'x', 'host')]\n")
    results, failed = bench_run.run_modules(sorted(tmp_path.glob("bench_*.py")))
    assert failed == ["bench_a: ValueError: no reader here"]
    assert {"bench": "bench_b", "name": "figure", "value": 3, "unit": "x", "runtime": "host"} in results


def test_the_readme_says_what_bench_results_json_says() -> None:
    results = json.loads((BENCH / "results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert readme_table.section(readme) == readme_table.render(results)
    for what, *_ in readme_table.GOALS:  # every goal of issue 33 has its row, met or not
        assert f"| {what} |" in readme


def test_a_calibration_that_does_not_hold_still_says_so() -> None:
    import calibrate

    cal = {"pystones": [100_000, 150_000], "pystones_best": 150_000, "spread": 0.4, "noisy": True,
           "factor": {k: {"240": 90.3, "160": 135.5} for k in ("interp", "bigint", "c", "rsa")},
           "range": {"interp": [0.6, 1.4], "bigint": [0.5, 1.5], "c": [0.5, 1.0], "rsa": [0.5, 2.0]}}
    rows = {name: (value, note) for name, value, _, note in calibrate.rows(cal)}
    spread = next(v for k, v in rows.items() if "spread" in k)
    assert spread == (40.0, "too noisy: figures below carry it")
    # the published anchor the factors come from is printed beside this host's score
    assert any(v[0] == calibrate.PYSTONE_ESP32_240 for v in rows.values())


def test_a_module_that_waits_runs_in_its_own_process_and_is_still_reported(tmp_path: Path) -> None:
    (tmp_path / "bench_w.py").write_text("import os\nWAITS = True\n\ndef run():\n    return [('pid', os.getpid(), '', 'host')]\n")
    (tmp_path / "bench_x.py").write_text("WAITS = True\n\ndef run():\n    raise RuntimeError('the day did not end')\n")
    results, failed = bench_run.run_modules(sorted(tmp_path.glob("bench_*.py")))
    pid = next(r["value"] for r in results if r["bench"] == "bench_w" and r["name"] == "pid")
    assert pid != os.getpid()
    assert failed == ["bench_x: RuntimeError: the day did not end"]
