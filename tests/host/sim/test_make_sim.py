"""`make sim` as a new user meets it: the README's first command, in its default pixel view, in a
130x40 pseudo-terminal.  The README's walkthrough table is replayed literally, row by row, and
after each row the screen is read back off the terminal (termscreen: the OLED's pixels matched
against the firmware's 8x8 font) until it shows what the table's last column says.  A traceback
or a MemoryError anywhere fails it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import termscreen
from conftest import ROOT
from registrykit import _free_port

ROW_WAIT_S = 90


def walkthrough() -> list[tuple[list[str], str]]:
    """(lines to type, text the screen then shows) for each row of the README's walkthrough table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- walkthrough -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:  # past the header and its rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        typed = re.findall(r"`([^`]+)`", cells[0])
        if "twice" in cells[0]:
            typed = typed * 2
        shows = re.findall(r"`([^`]+)`", cells[2])
        rows.append((typed, shows[0] if shows else ""))
    return rows


def test_the_walkthrough_table_is_a_whole_visit() -> None:
    rows = walkthrough()
    typed = [t for row, _ in rows for t in row]
    assert len(rows) >= 15 and typed[-1] == "q"
    # both names, the village by its code, a veteran and his number, card, check, status, cut
    for needed in ("777766655A", "7777666744332A", "02040107A", "4", "20481733A", "t", "2", "3", "p"):
        assert needed in typed, needed


class Terminal:
    """A 130x40 pseudo-terminal running a command; everything it printed so far in .output."""

    def __init__(self, cmd: list[str], env: dict[str, str], rows: int = 40, cols: int = 130) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.raw = b""

    def pump(self, timeout_s: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if ready:
            try:
                self.raw += os.read(self.master, 65536)
            except OSError:
                pass

    @property
    def output(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def wait_for_screen(self, text: str, since: int, timeout_s: float) -> list[str] | None:
        """Until a frame drawn after byte `since` shows `text` on the OLED (None: it never did)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.pump(0.2)
            for frame in reversed(termscreen.frames(self.raw[since:].decode("utf-8", "replace"))):
                screen = termscreen.read(frame)
                if screen is not None and any(text in row for row in screen):
                    return screen
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
        self.proc.wait(30)
        os.close(self.master)


KEY_S = 0.8  # a person types a line and presses Enter
READ_S = 1.5  # and reads the screen before the next row
DARK_NOTE = "the panel is dark, saving the battery: the first key only wakes it"


def test_make_sim_plays_the_readme_walkthrough_in_its_pixel_view_at_a_persons_pace(tmp_path: Path) -> None:
    """Typed as a person types it: a line at a time, reading each screen; and first reading the
    README while the panel dims and goes dark, which the terminal shows, so the person's first
    key only wakes it (and the walkthrough goes on as written)."""
    env = dict(os.environ, ENROL_SIM_PORT=str(_free_port()), TERM="xterm")
    for name in ("ENROL_SIM_VIEW", "ENROL_SIM_QUIET", "ENROL_SIM_WIFI", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    term = Terminal(["make", "--no-print-directory", "sim", f"SIM_STATE={tmp_path / 'state'}"], env)
    try:
        # the device starts in Khmer: its login screen as the host's HarfBuzz renders the phrases
        deadline = time.monotonic() + 240
        while not any(termscreen.shows_khmer(f, "លេខមន្ត្រី៖") for f in termscreen.frames(term.output)[-3:]):
            assert time.monotonic() < deadline, term.output[-3000:]
            term.pump(0.5)
        since = len(term.raw)
        deadline = time.monotonic() + 90  # 40 s untouched in real time: dimmed, then dark
        while DARK_NOTE not in term.raw[since:].decode("utf-8", "replace"):
            assert time.monotonic() < deadline, term.output[-3000:]
            term.pump(0.5)
        dark = [termscreen.pixels(f) for f in termscreen.frames(term.raw[since:].decode("utf-8", "replace"))]
        assert dark and dark[-1] is not None and not any(map(any, dark[-1]))  # drawn dark: no pixel lit
        term.type("B")  # the key that wakes it
        time.sleep(READ_S)
        for typed, shows in walkthrough():
            since = len(term.raw)
            for line in typed:
                time.sleep(KEY_S)
                term.type(line)
            if not shows:
                continue
            time.sleep(READ_S)
            screen = term.wait_for_screen(shows, since, ROW_WAIT_S)
            assert screen is not None, f"after {typed} the screen never showed {shows!r}:\n" + "\n".join(
                termscreen.last_screen(term.output) or ["(no frame)"]) + "\n" + term.output[-1500:]
        deadline = time.monotonic() + 60
        while term.proc.poll() is None and time.monotonic() < deadline:
            term.pump(0.2)
        term.pump(0.5)
        assert term.proc.returncode == 0, term.output[-3000:]
    finally:
        term.close()
    out = term.output
    assert "Traceback" not in out and "MemoryError" not in out, out[-3000:]
    assert "sim: power cut" in out and "power off" in out
    frames = [termscreen.read(f) for f in termscreen.frames(out)]
    assert sum(1 for f in frames if f is not None) >= 50  # it really drew the panel, frame after frame
    # the record and its card survived the power cut: on the flash, and in the wallet
    assert list((tmp_path / "state" / "flash" / "journal").glob("*.seg"))
    assert not (tmp_path / "state" / "flash" / "crashes").exists()  # a power cut is no crash
    assert len(list((tmp_path / "state" / "wallet").glob("*.bin"))) == 1


def test_a_terminal_too_small_for_the_pixels_gets_the_text_view_and_is_told_why(tmp_path: Path) -> None:
    """An 80x24 window would wrap the 128-column pixel view into noise."""
    from host_tools.enrolctl.simrun import sim_command
    from simkit import new_device

    flash = new_device(tmp_path)
    env = dict(os.environ, TERM="xterm", ENROL_DATA_DIR=str(flash), ENROL_SIM_WIFI="off", ENROL_SIM_WALLET=str(tmp_path))
    env.pop("ENROL_SIM_VIEW", None)
    term = Terminal(sim_command(), env, rows=24, cols=80)
    try:
        deadline = time.monotonic() + 120
        while "|Officer number: |" not in term.output and time.monotonic() < deadline:
            term.pump(0.2)
        assert "sim: this terminal is 80x24; the pixel view needs 128x36" in term.output, term.output[-2000:]
        assert "|Officer number: |" in term.output and "\u2588" not in term.output  # no half-block pixels
        term.type("q")
        assert term.proc.wait(60) == 0
    finally:
        term.close()
