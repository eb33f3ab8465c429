"""The simulator with a person at it, in real time: lines typed one at a time with a person's
pauses (not a script read ahead), the answer read off what the terminal shows.

A power cut restarts the device with a clock of its own: the person's next key must count from
it, not wait for it to reach the old device's time (keys were ignored for as long as the device
had run, then played all at once).  `q` quits right after a cut.  Ctrl-C in `enrolctl sim` ends
with one line: no traceback from the simulator, the device or the registry, exit status 0.  A
panel that dims or goes dark by itself is said, so a person knows the next key only wakes it."""

from __future__ import annotations

import os
import pty
import queue
import select
import subprocess
import threading
import time
from pathlib import Path

from conftest import ROOT
from registrykit import _free_port
from simkit import new_device

from host_tools.enrolctl.simrun import sim_command


class Person:
    """The simulator in the text view, typed at by a person: type() one line, see() waits until
    the output since the last line typed shows a text."""

    def __init__(self, flash: Path, tmp: Path) -> None:
        env = dict(os.environ, ENROL_DATA_DIR=str(flash), ENROL_SIM_VIEW="text", ENROL_SIM_WIFI="off",
                   ENROL_SIM_WALLET=str(tmp / "wallet"))
        self.proc = subprocess.Popen(sim_command(), cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.q: queue.Queue[str] = queue.Queue()
        self.out = ""
        self.mark = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.q.put(line)

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.mark = len(self.out)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def see(self, text: str, timeout_s: float) -> float:
        """Seconds until the output since the last line typed showed text (AssertionError: never)."""
        start = time.monotonic()
        while text not in self.out[self.mark:]:
            left = timeout_s - (time.monotonic() - start)
            assert left > 0, f"never showed {text!r}:\n" + self.out[-3000:]
            try:
                self.out += self.q.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass
        return time.monotonic() - start

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait(30)
        while not self.q.empty():
            self.out += self.q.get()
        return rc


def test_after_a_power_cut_keys_work_as_soon_as_the_login_is_back_and_q_quits(tmp_path: Path) -> None:
    person = Person(new_device(tmp_path), tmp_path)
    try:
        person.see("|Officer number: |", 180)
        person.type("0042A")
        person.see("|PIN:", 30)
        time.sleep(1.0)  # a person finds the keys
        person.type("2468A")
        person.see("|HOME", 60)
        time.sleep(3.0)
        person.type("+300")  # the device runs five minutes (simulated, not waited) before the battery is pulled
        person.see("the panel is dark", 60)
        person.type("B")  # a key at minute five (it wakes the panel)
        time.sleep(2.0)
        person.type("p")
        person.see("sim: power cut", 30)
        person.see("|Officer number: |", 180)
        time.sleep(1.0)
        person.type("0042A")
        waited = person.see("|PIN:", 30)
        # a key takes its 60 ms and a few of the keypad's scans; before, it waited out the 5 minutes
        assert waited < 8.0, f"the keys waited {waited:.1f} s after the cut"
        person.type("q")
        person.see("power off", 30)
        assert person.proc.wait(30) == 0
    finally:
        person.close()
    assert "Traceback" not in person.out, person.out[-3000:]


def test_a_panel_that_dims_and_goes_dark_is_said_and_the_waking_key_is_not_typed(tmp_path: Path) -> None:
    person = Person(new_device(tmp_path), tmp_path)
    try:
        person.see("|Officer number: |", 180)
        person.type("+45")  # 45 s untouched (simulated)
        person.see("the panel is dark, saving the battery: the first key only wakes it", 60)
        assert "sim: the panel dimmed" in person.out
        person.type("D")  # wakes the panel only
        time.sleep(3.0)
        assert "|HELP" not in person.out[person.mark:]
        person.type("D")  # help
        person.see("|HELP", 30)
        person.type("q")
        assert person.proc.wait(60) == 0
    finally:
        person.close()


def test_ctrl_c_in_enrolctl_sim_ends_with_one_line_and_nothing_lost(tmp_path: Path) -> None:
    env = dict(os.environ, TERM="xterm", ENROL_SIM_VIEW="text", ENROL_SIM_PORT=str(_free_port()))
    cmd = [str(ROOT / ".venv" / "bin" / "enrolctl"), "sim", "--state", str(tmp_path / "state")]
    pid, master = pty.fork()  # the pseudo-terminal is the child's controlling terminal: ^C is SIGINT
    if pid == 0:
        os.chdir(ROOT)
        os.execve(cmd[0], cmd, env)
    raw = b""

    def pump(timeout_s: float) -> None:
        nonlocal raw
        if select.select([master], [], [], timeout_s)[0]:
            try:
                raw += os.read(master, 65536)
            except OSError:
                pass

    try:
        deadline = time.monotonic() + 240
        while b"|Officer number: |" not in raw:
            assert time.monotonic() < deadline, raw[-3000:].decode("utf-8", "replace")
            pump(0.5)
        os.write(master, b"0042A\n")
        time.sleep(2.0)
        pump(0.2)
        since = len(raw)
        os.write(master, b"\x03")  # Ctrl-C, as the terminal sends it: SIGINT to its foreground group
        deadline = time.monotonic() + 60
        status = None
        while status is None and time.monotonic() < deadline:
            pump(0.2)
            done, st = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(st) if done else None
        pump(0.5)
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)
    text = raw.decode("utf-8", "replace")
    assert status == 0, text[-3000:]
    after = raw[since:].decode("utf-8", "replace")
    said = [ln.strip() for ln in after.replace("\r", "").split("\n") if ln.strip() and ln.strip() != "^C"]
    assert said == ["sim: stopped (Ctrl-C); the device's flash is kept as a power cut leaves it"], after
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert list((tmp_path / "state" / "flash").iterdir())
