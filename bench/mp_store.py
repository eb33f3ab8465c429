"""Record-store figures under the MicroPython unix port (run by bench/bench_store.py).

Usage: micropython -X heapsize=N bench/mp_store.py TREE capacity BLOCKS [PROVISIONED_BYTES] | TREE save
  capacity  fill a LittleFS partition of BLOCKS x 4096 bytes (the board's records partition,
            emulated NOR flash in RAM) with typical records, card verified, until the store
            refuses at 95 %; also note when it first warns (80 %)
  save      50 saves on a file-backed flash inside the ESP32-like heap: time and live heap
            (bench_store.py also bisects the smallest heap this runs in)
Prints key=value lines.
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib"]

import gc  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import vfs  # noqa: E402

from firmware.crypto import seal  # noqa: E402
from firmware.crypto.rsa_oaep import RsaPublicKey  # noqa: E402
from firmware.enrol import record  # noqa: E402
from firmware.store.journal import StoreFull  # noqa: E402
from firmware.store.records import RecordStore  # noqa: E402

PUB = RsaPublicKey(((1 << 2047) + 0x1234567).to_bytes(256, "big"))
FIELDS = record.typical_fields()


def rid(i):
    return bytes((0xCD, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF)) + bytes(12)


def body(i):
    return record.encode("OF0042", 1767225600 + i, True, FIELDS, "K7QX-M2PD-%02d" % (i % 100), bytes(16))


def capacity():
    from host_tools.sim.flash import FlashBlockDevice

    blocks = int(sys.argv[3])
    dev = FlashBlockDevice(blocks)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/cap")
    # what provisioning puts in the same partition (km.bin, villages.bin, names.km, keys, config):
    # its bytes, as make bench measured them in a provisioned device (argument 4), written first
    left = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    chunk = bytes(4096)
    with open("/cap/provisioned.bin", "wb") as f:
        while left > 0:
            left -= f.write(chunk if left >= 4096 else chunk[:left])
    store = RecordStore("/cap/data", "dev-bench-0001", PUB)
    store.open()
    mkfs_programmed = dev.bytes_programmed
    n = 0
    warn_at = None
    sealed = 0
    try:
        while True:
            if warn_at is None and store.capacity_state()[0] == "warn":
                warn_at = n
            b, s = store.save(rid(n), body(n))
            store.mark_card_verified(b, s, b"\x04\x11\x22\x33\x44\x55\x66", "K7QX-M2PD-%02d" % (n % 100))
            n += 1
    except StoreFull:
        pass
    env = seal.seal_record(store.batch, "dev-bench-0001", 1, 1, rid(0), body(0))
    # what the store keeps in RAM for a full partition: open it again, as after a power-on
    store.journal.close()
    del store
    gc.collect()
    before = gc.mem_alloc()
    store = RecordStore("/cap/data", "dev-bench-0001", PUB)
    store.open()
    gc.collect()
    print("heap_after_open_full=" + str(gc.mem_alloc() - before))
    print("segments_full=" + str(len(store.journal.segments)))
    st = os.statvfs("/cap")
    used = (st[2] - st[3]) * st[0]
    print("plaintext_bytes=" + str(len(body(0))))
    print("sealed_bytes=" + str(len(env)))
    print("records_at_refusal=" + str(n))
    print("records_at_warning=" + str(warn_at))
    print("flash_bytes_per_record=" + str(used // n))
    print("programmed_bytes_per_save=" + str((dev.bytes_programmed - mkfs_programmed) // n))
    print("partition_bytes=" + str(blocks * 4096))


def save():
    from host_tools.sim.flash import FileFlash

    dev = FileFlash(96, "/tmp/enrol-bench-flash.img")
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/sv")
    store = RecordStore("/sv/data", "dev-bench-0001", PUB)
    store.open()
    gc.collect()
    t0 = time.ticks_us()
    store.save(rid(0), body(0))  # the first save of a segment also wraps its batch key (RSA)
    first_us = time.ticks_diff(time.ticks_us(), t0)
    n = 50
    t0 = time.ticks_us()
    for i in range(1, n + 1):
        store.save(rid(i), body(i))
    per_us = time.ticks_diff(time.ticks_us(), t0) // n
    gc.collect()
    print("first_save_ms=" + str(first_us / 1000))
    print("save_ms=" + str(per_us / 1000))
    print("live_heap_after=" + str(gc.mem_alloc()))
    os.remove("/tmp/enrol-bench-flash.img")


{"capacity": capacity, "save": save}[sys.argv[2]]()
