"""bench/bench_screens.py runs and reports its figures (it reads the firmware's Khmer layout and
the walkthrough's keys; a change to either must not break make bench silently)."""

from __future__ import annotations

import sys

from conftest import ROOT


def test_the_screens_bench_reports_keys_and_pages() -> None:
    sys.path[:0] = [str(ROOT / "bench")]
    import bench_screens

    rows = bench_screens.run()
    assert [r[2] for r in rows] == ["keys", "pages", "pages", "pages"]
    assert all(isinstance(r[1], int) and r[1] >= 0 for r in rows)
    # the count is the walkthrough's own keys: the family and given names by multi-tap, the sex,
    # the birth date, the village code, A for no phone, the category, the number, A, #, the PIN twice
    expected = len("1" "777766655A" "7777666744332A" "2" "09031951A" "02040107A" "A" "4" "20481733A" "A" "#"
                   "7391A" "7391A")
    assert rows[0][1] == expected
