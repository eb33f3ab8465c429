"""The bench's smallest-heap search reports a heap the code reliably runs in, not a lucky size."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from mp import smallest_heap_kb  # noqa: E402


def test_a_monotonic_edge_is_found_to_the_step() -> None:
    tried: list[int] = []

    def runs(kb: int) -> bool:
        tried.append(kb)
        return kb >= 97

    assert smallest_heap_kb(runs, 16, 512, 2) == 98  # on the 2 KB grid
    assert len(tried) == len(set(tried))  # each size is run once


def test_sizes_that_pass_by_luck_below_a_failing_one_are_not_the_answer() -> None:
    # fragmentation: 78-80 KB happen to pass, 82-90 fail, from 92 it always runs
    def runs(kb: int) -> bool:
        return 78 <= kb <= 80 or kb >= 92

    assert smallest_heap_kb(runs, 16, 512, 2, window=0) == 78  # what bisection alone reported
    assert smallest_heap_kb(runs, 16, 512, 2) == 92
    # a single failure inside the window above the bisected edge moves the answer past it
    assert smallest_heap_kb(lambda kb: kb >= 40 and kb != 50, 16, 512, 2) == 52
