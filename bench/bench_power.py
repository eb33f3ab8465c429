"""Power (issue 8): a scripted day through the simulator under MicroPython, and its energy.

The day: 20 enrolments in the morning, lunch at the village hub where Wi-Fi is in reach
(40 min: the day's records sync), 20 enrolments in the afternoon, an evening at the hub
(second sync), then nobody touches the device until the next morning.  Each enrolment has
a person's pauses (listening, reading the review, consent) and a key every 250 ms; people
arrive 9 minutes apart, so the officer logs in again for each one (5-minute session).
The simulator meters the time each part spends in each power state; the currents come
from one table with their sources (host_tools/sim/energy.py).  Wi-Fi is out of reach
outside the two hub visits, so the backoff's failed scans are counted too.
Limits of the model: TLS and transfers run on the host's loopback (faster than an ESP32
over the air), so the Wi-Fi time of a sync is the modeled join plus the host's time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mp import ROOT, size

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests"), str(ROOT / "tests" / "fw"),
                str(ROOT / "tests" / "cpython")]  # flowkit loads firmware modules: edsig's stand-in

from flowkit import text_keys  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from host_tools.registry.models import Record  # noqa: E402
from registrykit import RegistryProcess, _free_port, make_registry_from  # noqa: E402

from host_tools.enrolctl.simrun import sim_command  # noqa: E402
from host_tools.enrolctl.simstate import provision  # noqa: E402
from host_tools.sim.energy import CURRENTS_MA, mah  # noqa: E402

# The day runs on simulated time, but each key still waits for the device's real keypad scans: the
# run takes minutes of mostly waiting (a few % of a core), so make bench runs it beside the others
WAITS = True
PEOPLE = size(40, 2)
CELL_MAH = 2600
USABLE = 0.8
# What the board adds, all day, to the parts the simulator meters (ESP32 module, PN532, OLED, radio):
BOARDS = (
    ("ESP32-WROOM-32E-N8 on the project's carrier: a 50 uA-quiescent LDO, the battery divider "
     "(100k+100k: 19 uA), no USB-UART on the cell", 0.05 + 0.019),
    ("an ESP32 DevKitC-style development board: AMS1117 (~5 mA quiescent) and its USB-UART "
     "(~3 mA) on the cell (ESP32-PERF section 4, case C)", 8.0),
)
GOAL_DAYS = 21
PINS = ["7391", "4826", "1593", "6027", "3958", "8614", "5172"]
NAMES = [("SOPHEAP", "CHHUON"), ("DARA", "KEO"), ("NARY", "MEAS"), ("VANNAK", "PHAL"),
         ("BOPHA", "COMPAORE"), ("SALIF", "ZONGO")]


def keys(text: str) -> str:
    return "".join("." if isinstance(k, tuple) else k for k in text_keys(text))


def person(i: int) -> list[str]:
    given, family = NAMES[i % len(NAMES)]
    pin = PINS[i % len(PINS)]
    return ["C.", "?LOGIN", "0042A", "?PIN:", "2468A", "?HOME", f"=start{i}",
            "1", "+15", keys(family) + "A", "+8", keys(given) + "A", "+5", "1", "+10", "14061987A", "+5", "A",
            "+5", "A", "+5", "A", "+20", "A", "+10", "#", "+5", pin + "A", "+3", pin + "A", "?Tap the card", "+5", "t",
            "?Card ready", "r", "+10", "A", "?HOME", f"=end{i}", "+540"]


def day_script() -> list[str]:
    lines: list[str] = []
    for i in range(PEOPLE):
        if i == PEOPLE // 2:
            lines += ["=hub1", "w", "+2400", "w", "=hub1end"]
        lines += person(i)
    lines += ["=hub2", "w", "+2400", "w", "=hub2end", "+50400", "q"]  # and 14 h overnight
    return lines


def delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: b.get(k, 0) - a.get(k, 0) for k in b}


def run() -> list[tuple[str, float | int, str, str]]:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        state = tmp / "state"
        port = _free_port()
        provision(state, port)
        reg = make_registry_from(state / "registry")
        energy = tmp / "energy.json"
        env = dict(os.environ, ENROL_DATA_DIR=str(state / "flash"), ENROL_SIM_VIEW="text",
                   ENROL_SIM_QUIET="1", ENROL_SIM_WIFI="off", ENROL_SIM_ENERGY=str(energy),
                   ENROL_SIM_KEY_GAP_MS="250", ENROL_SIM_KEY_MS="30", ENROL_SIM_WALLET=str(tmp))
        with RegistryProcess(reg, f"sqlite:///{state / 'registry' / 'registry.db'}", port):
            proc = subprocess.run(sim_command(), cwd=ROOT, env=env, input="\n".join(day_script()) + "\n", capture_output=True, text=True,
                                  timeout=3600)
            synced = reg.count()
            with Session(reg.engine) as db:
                names = sorted(r.fields["given_name"] for r in db.scalars(select(Record)))
        cards = len(list(tmp.glob("*.bin")))
        if proc.returncode != 0 or not energy.exists():
            raise RuntimeError("scripted day failed: " + (proc.stdout + proc.stderr)[-2000:])
        if cards != PEOPLE or synced != PEOPLE:
            raise RuntimeError(f"scripted day: {cards} cards written, {synced} records synced, of {PEOPLE}")
        if names != sorted(NAMES[i % len(NAMES)][0] for i in range(PEOPLE)):
            raise RuntimeError(f"scripted day: the registry has other names than were typed: {names}")
        doc = json.loads(energy.read_text())
        marks_text = Path(str(energy) + ".marks").read_text()
    marks = dict(json.loads(line) for line in marks_text.splitlines())
    total_ms = sum(v for k, v in doc["ms"].items() if k.startswith("cpu/"))
    per_part, total = mah(doc["ms"])
    per_day = total * 86_400_000 / total_ms
    enrol = [mah(delta(marks[f"start{i}"], marks[f"end{i}"]))[1] for i in range(PEOPLE) if f"end{i}" in marks]
    syncs = []
    for hub in ("hub1", "hub2"):
        window = delta(marks[hub], marks[hub + "end"])
        radio = {k: v for k, v in window.items() if k.startswith("wifi/")}
        syncs.append(mah(radio)[1])
    out: list[tuple[str, float | int, str, str]] = [
        ("scripted day: cards written and verified", cards, "cards", "sim: frozen firmware, heap=100k"),
        ("scripted day: records at the registry", synced, "records", "sim: frozen firmware, heap=100k"),
        ("scripted day: simulated hours", round(total_ms / 3_600_000, 2), "h", "sim: frozen firmware, heap=100k"),
        ("energy per day (normalized to 24 h)", round(per_day, 1), "mAh", "model"),
        ("battery days, 2600 mAh cell, 80 % usable (the metered parts alone)", round(CELL_MAH * USABLE / per_day, 1),
         "days", "model"),
        ("energy per enrolment (login to receipt)", round(sum(enrol) / len(enrol), 3), "mAh", "model"),
        ("energy per sync (radio, hub visit)", round(sum(syncs) / len(syncs), 3), "mAh", "model"),
        ("Wi-Fi attempts in the day (scans included)", doc["wifi_connects"], "", "sim: frozen firmware, heap=100k"),
        ("Wi-Fi joins in the day", doc["wifi_joins"], "", "sim: frozen firmware, heap=100k"),
        ("light sleeps in the day", doc["light_sleeps"], "", "sim: frozen firmware, heap=100k"),
    ]
    largest = max(per_part, key=lambda k: per_part[k])
    for board, board_ma in BOARDS:
        day = per_day + board_ma * 24
        days = CELL_MAH * USABLE / day
        verdict = "met" if days >= GOAL_DAYS else (f"MISSED by {GOAL_DAYS - days:.1f} days; largest cost: {largest} "
                                                    f"({100 * per_part[largest] / total:.0f} % of the day)")
        out.append((f"battery days, 40 enrolments and 2 syncs a day: {board}", round(days, 1), "days",
                    f"{day:.0f} mAh a day; goal >= {GOAL_DAYS}: {verdict}"))
    fast, slow = doc["ms"].get("cpu/awake", 0), doc["ms"].get("cpu/awake_80", 0)
    out.append(("share of the awake CPU time at 240 MHz (working; 80 MHz while waiting for a key)",
                round(100 * fast / max(1, fast + slow), 1), "%", "sim: the clock the firmware set (machine.freq)"))
    for part, value in sorted(per_part.items(), key=lambda kv: -kv[1]):
        out.append((f"share of the day's energy: {part}", round(100 * value / total, 1), "%", "model"))
    for key, ms in sorted(doc["ms"].items()):
        part, st = key.split("/")
        out.append((f"time {key} ({CURRENTS_MA[(part, st)][0]} mA)", round(ms / 60000, 1), "min", "sim: frozen firmware, heap=100k"))
    return out
