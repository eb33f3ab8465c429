"""The boot counter: (boot, seq) orders every record and is never reused.

Each power-on takes the next boot number before any record can be saved, so
seq can restart at 1 in RAM every boot and still never repeat.  Two copies
(boot.a, boot.b), each u32 + CRC32 written tmp-then-rename, so a power cut or
a flipped bit in one copy still leaves the other; the journal's highest boot
number is a floor in case both are lost.

Power-loss windows of next(): W1 before the rename of boot.a: both copies old,
  this boot saved nothing yet, the next boot takes the same number (unused so
  far: fine).  W2 between the renames: a is new, b old: max() reads the new one.
"""

import binascii
import struct

from firmware import fsutil

_NAMES = ("boot.a", "boot.b")


def _read(path):
    data = fsutil.read_file(path)
    if data is None or len(data) != 8:
        return None
    value, crc = struct.unpack(">II", data)
    if binascii.crc32(data[:4]) & 0xFFFFFFFF != crc:
        return None
    return value


def current(data_dir):
    """Highest valid stored boot number (0 if none)."""
    best = 0
    for name in _NAMES:
        v = _read(data_dir + "/" + name)
        if v is not None and v > best:
            best = v
    return best


def next_boot(data_dir, floor=0):
    """Persist and return the number of this boot: above every stored one and above floor."""
    n = max(current(data_dir), floor) + 1
    body = struct.pack(">I", n)
    data = body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)
    for name in _NAMES:
        fsutil.write_atomic(data_dir + "/" + name, data)
    return n
