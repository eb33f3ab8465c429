"""`make sim` as a person drives it (host_tools/enrolctl/simrun.py): the demo registry and the
device start, and the line 'p' pulls the power mid-enrolment: the device boots again on the
same flash and resumes the card step of the record it had saved."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from conftest import ROOT
from host_tools.enrolctl.build import build_sim
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
    image, state = tmp_path / "img", tmp_path / "state"
    build_sim(image)
    env = dict(os.environ, ENROL_SIM_PORT=str(_free_port()), ENROL_SIM_VIEW="text", ENROL_SIM_WIFI="off")
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.enrolctl.simrun", str(state), str(image), "384k"],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    watchdog = threading.Timer(300, proc.kill)  # a hang fails the test instead of the suite
    watchdog.start()
    seen: list[str] = []
    try:
        up_to_card = enrol("ZOE", "SAWADOGO", "29022004", "1593")[:-5]
        proc.stdin.write("\n".join(LOGIN + up_to_card) + "\n")
        proc.stdin.flush()
        read_until(proc, "|Tap the card on |", seen)
        proc.stdin.write("p\n")
        proc.stdin.flush()
        read_until(proc, "sim: power cut", seen)
        proc.stdin.write("\n".join(LOGIN[:3] + ["?Tap the card", "t", "?Card ready", "r", "A", "?HOME", "q"]) + "\n")
        proc.stdin.close()
        assert proc.stdout is not None
        rest = proc.stdout.read()
        assert proc.wait(60) == 0, rest[-2000:]
    finally:
        watchdog.cancel()
        proc.kill()
    before = "".join(seen)
    assert "sim: provisioned a demo device" in before and "|Record SAVED.   |" in before
    assert "|(resumed)       |" in rest and "|Card ready for  |\n|ZOE             |" in rest
    assert len(list((state / "wallet").glob("*.bin"))) == 1
