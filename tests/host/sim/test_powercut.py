"""Power cut at every flash program and erase of a store workload, on real LittleFS under MicroPython.

`make test` runs every cut point of a 40-save workload (about 1,600) and every
13th of a 200-save workload (with syncs and purges; about 780), in two shards
each way; `make soak` runs every cut point of the 200-save workload (about
10,000) and of a 320-save one.  Each prints its counts.  See tests/mp/powercut.py.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import ROOT, run_micropython

SWEEP = ROOT / "tests" / "mp" / "powercut.py"
# the chip image lives in the MicroPython heap here (not in the device's RAM budget)
SWEEP_HEAP = "3m"


def sweep(tree, saves: int, first: int, step: int, last: int = 0) -> dict[str, int]:
    proc = run_micropython([str(SWEEP), str(tree), str(saves), str(first), str(step), str(last)],
                           heapsize=SWEEP_HEAP, timeout=3600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = json.loads(lines[-1])
    print(f"\npower-cut sweep saves={saves} first={first} step={step}: {counts}")
    return counts


def assert_nothing_lost(counts: dict[str, int], min_points: int) -> None:
    assert counts["cut_points"] >= min_points
    assert counts["recovery_cuts"] >= counts["cut_points"] // 5
    for bad in ("lost", "duplicated", "corrupt", "disorder", "mount_fail", "unreported"):
        assert counts[bad] == 0, counts


@pytest.mark.parametrize("shard", [0, 1])
def test_every_cut_point_of_a_small_workload(mpy_tree, shard: int) -> None:
    counts = sweep(mpy_tree, 40, 1 + shard, 2)
    assert_nothing_lost(counts, counts["workload_ops"] // 2 - 1)


@pytest.mark.parametrize("shard", [0, 1])
def test_sampled_cut_points_of_200_saves_with_syncs_and_purges(mpy_tree, shard: int) -> None:
    counts = sweep(mpy_tree, 200, 1 + 13 * shard, 26)
    assert counts["saves"] == 200 and counts["workload_ops"] > 5000
    assert_nothing_lost(counts, counts["workload_ops"] // 26 - 1)


soak = pytest.mark.skipif(not os.environ.get("ENROL_SOAK"), reason="full-size sweep: run `make soak`")


@soak
@pytest.mark.slow
@pytest.mark.parametrize("shard", [0, 1, 2, 3])
def test_soak_every_cut_point_of_200_saves(mpy_tree, shard: int) -> None:
    counts = sweep(mpy_tree, 200, 1 + shard, 4)
    assert_nothing_lost(counts, counts["workload_ops"] // 4 - 1)


@soak
@pytest.mark.slow
@pytest.mark.parametrize("shard", [0, 1])
def test_soak_sampled_cut_points_of_320_saves(mpy_tree, shard: int) -> None:
    counts = sweep(mpy_tree, 320, 1 + 3 * shard, 6)
    assert_nothing_lost(counts, counts["workload_ops"] // 6 - 1)
