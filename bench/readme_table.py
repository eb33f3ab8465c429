"""The README's figures are make bench's output: this renders bench/results.json (a whole run) into
the README between its two markers.  bench/run.py calls it after a whole run; a test checks that
the README says what bench/results.json says (tests/host/house/test_bench_modules.py).

Usage: python bench/readme_table.py   (rewrites README.md's section from bench/results.json)
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench:begin (bench/readme_table.py writes this section from bench/results.json) -->"
END = "<!-- bench:end -->"

# issue 33's goals: (what, bench module, the row's name as it starts, goal, is the value within it);
# a missed one is printed with its largest remaining cost (COSTS, from the run's other figures)
GOALS = (
    ("tap -> \"Card ready\" (verified), every step, at the firmware's 240 MHz", "bench_card",
     "card: tap -> 'Card ready'", "<= 1.0 s", lambda v: v <= 1.0),
    ("\"Card ready\" / the physical floor", "bench_card", "card: 'Card ready' / the physical floor", "<= 3x",
     lambda v: v <= 3.0),
    ("tap -> \"Take it off\"", "bench_card", "card: tap -> 'Take it off'", "<= 0.6 s", lambda v: v <= 0.6),
    ("first card after a boot, extra", "bench_card", "card: first card after a boot", "<= 0.2 s", lambda v: v <= 0.2),
    ("smallest heap: boot to login", "bench_app", "smallest heap: boot to the login screen", "<= 72 KB",
     lambda v: v <= 72),
    ("smallest heap: an enrolment with its card", "bench_app", "smallest heap: login + a whole enrolment", "<= 72 KB",
     lambda v: v <= 72),
    ("smallest heap: a card check", "bench_app", "smallest heap: login + a card check", "<= 72 KB", lambda v: v <= 72),
    ("smallest heap: a 64-record sync over TLS", "bench_app", "smallest heap: login + a 64-record sync", "<= 72 KB",
     lambda v: v <= 72),
    ("officer login (PBKDF2), modeled", "bench_foundation", "officer login (PBKDF2 in edsig, C) modeled", "<= 1.0 s",
     lambda v: v <= 1.0),
    ("records with the provisioned files, the named module ESP32-WROOM-32E-N8 (working days at 40 a day)",
     "bench_store", "working days of records at 40 a day, ESP32-WROOM-32E-N8", ">= 30", lambda v: v >= 30),
    ("the same on a 4 MB module", "bench_store", "working days of records at 40 a day, a 4 MB module",
     "(for comparison)", None),
    ("battery days, 40 enrolments and 2 syncs a day, the project's carrier (ESP32-WROOM-32E-N8)", "bench_power",
     "battery days, 40 enrolments and 2 syncs a day: ESP32-WROOM-32E-N8", ">= 21", lambda v: v >= 21),
    ("battery days, the same day on a development board", "bench_power",
     "battery days, 40 enrolments and 2 syncs a day: an ESP32 DevKitC", "(for comparison)", None),
    ("make bench, every module (wall time)", "run", "make bench: wall time", "< 20 min", lambda v: v < 1200),
)


def _value(results: list[dict], bench: str, prefix: str) -> float | None:
    r = _find(results, bench, prefix)
    return None if r is None else r["value"]


def _card_cost(results: list[dict]) -> str:
    steps = [(r["value"], r["name"].removeprefix("card step: ")) for r in results
             if r["bench"] == "bench_card" and r["name"].startswith("card step: ")]
    held = [s for s in steps if "after" not in s[1] and "journal" not in s[1]]  # the card is still held
    if not held:
        return ""
    (first, name1), (second, name2) = sorted(held, reverse=True)[:2]
    return f"largest remaining cost: {name1}, {first:g} ms (the floor); then {name2}, {second:g} ms"


def _heap_cost(results: list[dict]) -> str:
    login = _value(results, "bench_app", "smallest heap: boot to the login screen")
    sync = _value(results, "bench_app", "smallest heap: login + a 64-record sync")
    gap = f"MISSED by {sync - 72:g} KB; " if sync is not None else ""
    return "" if login is None else (f"{gap}largest remaining cost: the app itself, {login:g} KB to reach the login screen "
                                     "(the objects importing the frozen code makes); the sync's buffers come on top")


def _records_cost(results: list[dict]) -> str:
    per = _value(results, "bench_store", "flash used per record")
    prov = _value(results, "bench_store", "provisioned files in the records partition")
    if per is None or prov is None:
        return ""
    return (f"largest remaining cost: {per:g} B of flash a record (record, card entry, keys, file system); "
            f"the provisioned files take {prov / 1024:.1f} KB of the records partition")


def _find(results: list[dict], bench: str, prefix: str) -> dict | None:
    return next((r for r in results if r["bench"] == bench and r["name"].startswith(prefix)), None)


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


COSTS = {
    "tap -> \"Take it off\"": _card_cost,
    "smallest heap: a 64-record sync over TLS": _heap_cost,
    "records with the provisioned files, the named module ESP32-WROOM-32E-N8 (working days at 40 a day)":
        _records_cost,
}


def render(results: list[dict]) -> str:
    commit = results[0]["commit"] if results else "unknown"
    lines = [BEGIN, "", f"`make bench` at commit `{commit}` on this 2-core x86 host (`bench/results.json`).", "",
             "**Calibration** (the first step; every modeled ESP32 time is this host's measured work x a factor):", "",
             "| calibration | value | unit | note |", "| --- | --- | --- | --- |"]
    for r in results:
        if r["bench"] == "calibrate":
            lines.append(f"| {_cell(r['name'])} | {_shown(r['value'])} | {r['unit']} | {_cell(r['runtime'])} |")
    lines += ["", "**Goals** (issue 33):", "", "| figure | measured | goal | met | how |", "| --- | --- | --- | --- | --- |"]
    for what, bench, prefix, goal, holds in GOALS:
        r = _find(results, bench, prefix)
        if r is None:
            lines.append(f"| {what} | not measured ({bench} failed) | {goal} | **no** | |")
            continue
        met = "n/a" if holds is None else "yes" if holds(r["value"]) else "**no**"
        how = r["runtime"]
        if met == "**no**" and what in COSTS:
            how = f"{how}; {COSTS[what](results)}"
        lines.append(f"| {what} | {_shown(r['value'])} {r['unit']} | {goal} | {met} | {_cell(how)} |")
    failed = [r for r in results if r["bench"] == "run" and r["name"].startswith("failed:")]
    for r in failed:
        lines.append(f"\nA module failed in this run: {_cell(r['name'])}")
    lines += ["", "<details><summary>Every figure of the run</summary>", "",
              "| bench | figure | value | unit | where |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        if r["bench"] != "calibrate":
            lines.append(f"| {r['bench']} | {_cell(r['name'])} | {_shown(r['value'])} | {r['unit']} | {_cell(r['runtime'])} |")
    lines += ["", "</details>", "", END]
    return "\n".join(lines)


def section(readme: str) -> str:
    """The README's bench section as it stands (markers included), or '' if it has none."""
    if BEGIN not in readme or END not in readme:
        return ""
    return readme[readme.index(BEGIN): readme.index(END) + len(END)]


def write(readme_path: Path = ROOT / "README.md", results_path: Path = ROOT / "bench" / "results.json") -> None:
    readme = readme_path.read_text()
    new = render(json.loads(results_path.read_text()))
    old = section(readme)
    if not old:
        raise SystemExit(f"{readme_path.name} has no bench section ({BEGIN} ... {END})")
    readme_path.write_text(readme.replace(old, new))


if __name__ == "__main__":
    write()
