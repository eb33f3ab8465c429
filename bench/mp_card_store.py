"""What the store writes when a card is verified (run by bench/bench_card.py): the card entry
appended to the journal (before "Card ready") and card_due.bin rewritten (after it), on emulated
NOR flash (host_tools/sim/flash.py counts each program and erase).  Prints key=value lines.

Usage: micropython -X heapsize=N bench/mp_card_store.py TREE
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib"]

import time  # noqa: E402

UID = b"\x04\x11\x22\x33\x44\x55\x66"
import vfs  # noqa: E402

from firmware.crypto.rsa_oaep import RsaPublicKey  # noqa: E402
from firmware.store.cards_due import CardsDue  # noqa: E402
from firmware.store.records import RecordStore  # noqa: E402
from host_tools.sim.flash import FlashBlockDevice  # noqa: E402

class TimedFlash(FlashBlockDevice):
    """The emulated chip, timing its own Python (on the board the flash is the SPI driver's, in C):
    the store's CPU time is what is left."""

    emulator_us = 0

    def _timed(self, op, args):
        t = time.ticks_us()
        try:
            return op(self, *args)
        finally:
            self.emulator_us += time.ticks_diff(time.ticks_us(), t)

    def readblocks(self, *args):
        return self._timed(FlashBlockDevice.readblocks, args)

    def writeblocks(self, *args):
        return self._timed(FlashBlockDevice.writeblocks, args)

    def ioctl(self, *args):
        return self._timed(FlashBlockDevice.ioctl, args)


flash = TimedFlash(32)  # 128 KB: a few records and their files
vfs.VfsLfs2.mkfs(flash)
vfs.mount(vfs.VfsLfs2(flash), "/f")
store = RecordStore("/f/data", "dev-bench-0001", RsaPublicKey(((1 << 2047) + 0x1234567).to_bytes(256, "big")))
store.open()
due = CardsDue("/f/data", bytes(32))
CARDS = 5  # a morning's cards: each figure the fastest (time) or the mean (flash work) of these
saved = []
for i in range(CARDS):
    b, q = store.save(bytes(16), b"x" * 300)
    due.add(b, q, bytes(16), 1767225600 + i, "NAME%d" % i)
    saved.append((b, q))

def timed(step):
    """(device µs without the emulated chip's Python, programs, erases, bytes programmed) of step()."""
    before = (flash.emulator_us, flash.programs, flash.erases, flash.bytes_programmed)
    t0 = time.ticks_us()
    step()
    us = time.ticks_diff(time.ticks_us(), t0) - (flash.emulator_us - before[0])
    return us, flash.programs - before[1], flash.erases - before[2], flash.bytes_programmed - before[3]


# effect_runner.on_card_verified: the journal's CARD entry before "Card ready", the cards-due
# list rewritten after it
for name, step in (("note", lambda b, q: store.mark_card_verified(b, q, UID, "7F4Y-VXQ7")),
                   ("due", lambda b, q: due.done(b, q))):
    runs = [timed(lambda: step(b, q)) for b, q in saved]
    print("%s_us=%d" % (name, min(r[0] for r in runs)))
    print("%s_programs=%d" % (name, round(sum(r[1] for r in runs) / CARDS)))
    print("%s_erases=%d" % (name, round(sum(r[2] for r in runs) / CARDS)))
    print("%s_bytes_programmed=%d" % (name, sum(r[3] for r in runs) // CARDS))
