"""Append-only, hash-chained audit log with bounded size.

Line format (UTF-8, one event per line, '|' separated):
    n|time|kind|detail|hash
  n      event number, increasing by one across rotations
  time   device epoch seconds (0 while the clock is unset)
  kind   short word: login, lockout, save, card, sync, error, recovery, quarantine, purge ...
  detail free text ('|' and newlines replaced by '/')
  hash   first 16 hex digits of SHA-256(previous hash + "|" + "n|time|kind|detail");
         the chain starts from 16 zeros.
Removing, changing or reordering a line breaks every later hash (verify()).
Size: audit.log is rotated to audit.1.log ... audit.<KEEP-1>.log when it passes
MAX_BYTES; the oldest file is deleted, so the log never exceeds KEEP*MAX_BYTES
(plus one line).  A rotated-away prefix is reported by verify() as the chain's
start, not as tampering.
"""

import binascii
import hashlib
import os

from firmware import fsutil

MAX_BYTES = 8192
KEEP = 4
GENESIS = "0000000000000000"  # 16 zeros (a literal: kept in flash)


def _clean(text):
    return str(text).replace("|", "/").replace("\n", "/")


def link(prev_hash, body):
    return binascii.hexlify(hashlib.sha256((prev_hash + "|" + body).encode()).digest()[:8]).decode()


class AuditLog:
    def __init__(self, data_dir, clock=None):
        self.dir = data_dir + "/audit"
        self.clock = clock  # callable -> epoch seconds, or None
        self.n = 0
        self.last = GENESIS
        self.write_failures = 0  # events that could not be written (flash error)

    def _file(self, i=0):
        return self.dir + ("/audit.log" if i == 0 else "/audit." + str(i) + ".log")

    def open(self):
        """Find the chain's end (last good line of the newest file)."""
        fsutil.makedirs(self.dir)
        for i in range(KEEP):
            last_line = None
            try:
                with open(self._file(i)) as f:
                    for line in f:
                        if line.endswith("\n"):
                            last_line = line
            except OSError:
                continue
            if last_line:
                parts = last_line.rstrip("\n").split("|")
                if len(parts) == 5:
                    try:
                        self.n = int(parts[0])
                        self.last = parts[4]
                        return
                    except ValueError:
                        pass

    def record(self, kind, detail=""):
        """Append one event (committed on return).  A flash error is swallowed: the audit log
        must never stop the officer's work; the error itself is counted."""
        when = int(self.clock()) if self.clock else 0
        n = self.n + 1
        body = str(n) + "|" + str(when) + "|" + _clean(kind) + "|" + _clean(detail)
        h = link(self.last, body)
        try:
            if fsutil.size(self._file()) > MAX_BYTES:
                self._rotate()
            with open(self._file(), "a") as f:
                f.write(body + "|" + h + "\n")
        except OSError:
            self.write_failures += 1
            return False
        self.n = n
        self.last = h
        return True

    def _rotate(self):
        fsutil.remove(self._file(KEEP - 1))
        for i in range(KEEP - 2, -1, -1):
            if fsutil.exists(self._file(i)):
                os.rename(self._file(i), self._file(i + 1))

    def lines(self):
        """Every kept line, oldest first (a generator: one line in RAM at a time)."""
        for i in range(KEEP - 1, -1, -1):
            try:
                with open(self._file(i)) as f:
                    for line in f:
                        yield line.rstrip("\n")
            except OSError:
                continue


def verify(lines):
    """(count, None) if every line links to the one before; (count, line number) of the first
    broken link otherwise.  The first kept line is trusted as the start (older ones rotated away)."""
    prev = None
    count = 0
    for i, line in enumerate(lines):
        parts = line.split("|")
        if len(parts) != 5:
            return count, i
        body = "|".join(parts[:4])
        if prev is not None:
            if link(prev[1], body) != parts[4] or int(parts[0]) != prev[0] + 1:
                return count, i
        elif parts[0] == "1" and link(GENESIS, body) != parts[4]:
            return count, i
        try:
            prev = (int(parts[0]), parts[4])
        except ValueError:
            return count, i
        count += 1
    return count, None
