"""`make sim` as a person drives it (host_tools/enrolctl/simrun.py): the demo registry and the
device start, and the line 'p' pulls the power mid-enrolment: the device boots again on the
same flash and resumes the card step of the record it had saved."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from conftest import ROOT, enrolctl
from host_tools.enrolctl.runtime import SIM_HEAPSIZE
from registrykit import _free_port
from simkit import LOGIN, enrol


def read_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"{marker!r} never showed:\n" + "".join(seen[-60:]))


def test_p_cuts_the_power_and_the_device_boots_again_on_the_same_flash(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = dict(os.environ, ENROL_SIM_PORT=str(_free_port()), ENROL_SIM_VIEW="text", ENROL_SIM_WIFI="off")
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.enrolctl.simrun", str(state), SIM_HEAPSIZE],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    watchdog = threading.Timer(300, proc.kill)  # a hang fails the test instead of the suite
    watchdog.start()
    seen: list[str] = []
    try:
        up_to_card = enrol("NARY", "MEAS", "29022004", "1593")[:-5]
        proc.stdin.write("\n".join([*LOGIN] + up_to_card) + "\n")
        proc.stdin.flush()
        read_until(proc, "|Tap the card on |", seen)
        proc.stdin.write("p\n")
        proc.stdin.flush()
        read_until(proc, "sim: power cut", seen)
        proc.stdin.write("\n".join([*LOGIN[:3]] + ["?Tap the card", "t", "?Card ready", "r", "A", "?HOME", "q"]) + "\n")
        proc.stdin.close()
        assert proc.stdout is not None
        rest = proc.stdout.read()
        assert proc.wait(60) == 0, rest[-2000:]
    finally:
        watchdog.cancel()
        proc.kill()
    before = "".join(seen)
    assert "sim: provisioned a demo device" in before and "|Record SAVED.   |" in before
    assert "|Resumed: NARY   |" in rest and "|Card ready for  |\n|NARY            |" in rest
    assert len(list((state / "wallet").glob("*.bin"))) == 1




def enrolctl_sim(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ENROL_SIM_PORT=str(_free_port()))
    return enrolctl("sim", "--state", str(tmp_path / "state"), *args, cwd=ROOT, env=env, timeout=600)


def test_the_demo_script_enrols_three_people_and_says_what_happened(tmp_path: Path) -> None:
    r = enrolctl_sim(tmp_path, "--demo")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "sim: on the device: 3 records, 0 waiting to sync, 3 with a verified card" in r.stdout
    valid = [line for line in r.stdout.splitlines() if line.startswith("sim: card ") and ": VALID, " in line]
    assert sorted(line.split(", ")[1] for line in valid) == ["BOPHA", "DARA", "SOPHEA"]
    assert "sim: the registry holds 3 records" in r.stdout
    # schema 2 records at the registry: who each person is and the official village code
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "registry" / "registry.db") as db:
        got = sorted(db.execute("SELECT schema, category, json_extract(fields, '$.family_name'), "
                                "json_extract(fields, '$.village_code'), json_extract(fields, '$.service_no') "
                                "FROM records"))
    assert got == [(2, "citizen", "KEO", "02040201", ""), (2, "retired_civil_servant", "CHHUON", "02040107", "7310442"),
                   (2, "veteran", "SOK", "02040107", "20481733")]
    # the frozen firmware at the ESP32's heap, hardware on the host: no traceback, no MemoryError
    assert "Traceback" not in r.stdout + r.stderr and "MemoryError" not in r.stdout + r.stderr
    assert "|To sync: 0" in r.stdout  # the status screen, seen through the text view


def test_a_script_can_cut_the_power_at_a_screen_and_carry_on(tmp_path: Path) -> None:
    script = tmp_path / "cut.txt"
    lines = ["// the power goes while the card is awaited; after the next login the card step is resumed"]
    lines += [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593")[:-5] + ["p"]
    lines += [*LOGIN[:3]] + ["?Tap the card", "t", "?Card ready", "r", "A", "?HOME", "q"]
    script.write_text("\n".join(lines) + "\n")
    r = enrolctl_sim(tmp_path, "--script", str(script))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert r.stdout.count("sim: power cut") == 1 and "|Resumed: NARY   |" in r.stdout
    assert "sim: on the device: 1 records" in r.stdout and "1 with a verified card" in r.stdout


def test_bad_sim_arguments_get_one_line_errors(tmp_path: Path) -> None:
    r = enrolctl_sim(tmp_path, "--script", str(tmp_path / "missing.txt"))
    assert r.returncode == 1 and r.stderr.startswith("enrolctl: cannot read the script")
    assert len(r.stderr.strip().splitlines()) == 1
    r = enrolctl_sim(tmp_path, "--demo", "--script", str(tmp_path / "x"))
    assert r.returncode == 1 and "not both" in r.stderr
    assert not (tmp_path / "state").exists()  # nothing was provisioned
