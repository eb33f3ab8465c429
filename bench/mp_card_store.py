"""What the store writes when a card is verified (run by bench/bench_card.py): the card entry
appended to the journal and card_due.bin rewritten, on emulated NOR flash (host_tools/sim/flash.py
counts each program and erase).  Prints key=value lines.

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

flash = FlashBlockDevice(32)  # 128 KB: a few records and their files
vfs.VfsLfs2.mkfs(flash)
vfs.mount(vfs.VfsLfs2(flash), "/f")
store = RecordStore("/f/data", "dev-bench-0001", RsaPublicKey(((1 << 2047) + 0x1234567).to_bytes(256, "big")))
store.open()
due = CardsDue("/f/data", bytes(32))
for i in range(3):  # a day's first records are waiting for their cards
    b, q = store.save(bytes(16), b"x" * 300)
    due.add(b, q, bytes(16), 1767225600 + i, "NAME%d" % i)
programs, erases, programmed = flash.programs, flash.erases, flash.bytes_programmed
t0 = time.ticks_us()
store.mark_card_verified(b, q, UID, "7F4Y-VXQ7")
due.done(b, q)
print("store_us=" + str(time.ticks_diff(time.ticks_us(), t0)))
print("store_programs=" + str(flash.programs - programs))
print("store_erases=" + str(flash.erases - erases))
print("store_bytes_programmed=" + str(flash.bytes_programmed - programmed))
