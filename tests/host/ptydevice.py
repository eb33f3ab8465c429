"""The simulated device's runtime exposed as a serial device on a pseudo-terminal, for mpremote.

Two pty pairs and a relay: the micropython REPL runs on one pair's slave, and the other
pair's slave is the "serial port" the technician tools open, as they would /dev/ttyUSB0.
(mpremote is used with soft_reset=False: a soft reset would end the unix port.)
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import threading
import tty
from pathlib import Path

from conftest import MICROPYTHON


class PtyDevice:
    def __init__(self, data: Path, heapsize: str = "100k", root: Path | None = None,
                 runtime: Path = MICROPYTHON) -> None:
        """Our runtime (the firmware frozen, the ESP32's heap) with its REPL on a pty; data: the
        device's DATA_DIR; root: its filesystem root (cwd: boot.py, main.py, what deploy writes),
        by default the data directory; runtime: another MicroPython (a board with other firmware)."""
        self.runtime = runtime
        self.root = root
        self.data = data
        self.heapsize = heapsize
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = ""
        self._fds: list[int] = []
        self._stop = threading.Event()

    def __enter__(self) -> PtyDevice:
        ma, sa = pty.openpty()
        mb, sb = pty.openpty()
        for fd in (sa, sb):
            tty.setraw(fd)
        self._fds = [ma, sa, mb, sb]
        env = dict(os.environ, ENROL_DATA_DIR=str(self.data), ENROL_SIM_QUIET="1", MICROPYPATH=":.frozen:lib")
        cwd = self.root if self.root is not None else self.data
        self.proc = subprocess.Popen([str(self.runtime), "-X", f"heapsize={self.heapsize}"], stdin=sa, stdout=sa,
                                     stderr=sa, cwd=cwd, env=env, start_new_session=True)
        self.port = os.ttyname(sb)
        self._thread = threading.Thread(target=self._relay, args=(ma, mb), daemon=True)
        self._thread.start()
        return self

    def _relay(self, ma: int, mb: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([ma, mb], [], [], 0.2)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                    os.write(mb if fd == ma else ma, data)
                except OSError:
                    return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # the relay must be gone before its descriptors are closed: their numbers are reused at
        # once (by the next subprocess's pipes), and a relay still running would read from them
        self._thread.join(5)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
