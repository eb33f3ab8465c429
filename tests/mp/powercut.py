"""Power-cut sweep of the record store on real LittleFS (runs under the MicroPython unix port).

Usage: micropython -X heapsize=16m tests/mp/powercut.py TREE SAVES FIRST STEP LAST
  TREE   compiled firmware/lib/emulators (see tests/conftest.py)
  SAVES  records in the workload (with card marks, syncs and purges between them)
  cut points FIRST, FIRST+STEP, ... up to LAST (0 = the workload's last flash operation)
Prints one JSON line of counts.  tests/host/sim/test_powercut.py runs it.

For each cut point N: a fresh filesystem, the workload until the Nth program or
erase, which is interrupted (not applied / torn in half / half-erased, by N mod
3) and from which on the flash answers -EIO, then power on, mount, recover and check:
  lost        a save that returned is neither on flash nor legitimately purged
              (purge only takes segments whose sync had been committed)
  corrupt     a record on flash whose envelope fails its CRC or is not the record
              that was saved under that (boot, seq)
  duplicated  a record id found twice
  disorder    (boot, seq) not strictly increasing, or a new boot not above the old
  mount_fail  the filesystem did not mount
  unreported  the workload finished although the power was cut (an error swallowed; an
              audit event or a purge that could not be written is counted apart: by design)
Every 4th run also cuts again during recovery (at its Nth operation) and
recovers once more.  After the checks the store takes 3 more saves and the
checks run again after a clean remount.
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib"]

import gc  # noqa: E402
import json  # noqa: E402
import vfs  # noqa: E402

from firmware.crypto import seal  # noqa: E402
from firmware.enrol import record  # noqa: E402
from firmware.crypto.rsa_oaep import RsaPublicKey  # noqa: E402
from firmware.store.audit import AuditLog  # noqa: E402
from firmware.store.journal import ACCEPTED  # noqa: E402
from firmware.store.records import RETENTION_S, RecordStore  # noqa: E402
from host_tools.sim.flash import FlashBlockDevice  # noqa: E402

SAVES = int(sys.argv[2])
FIRST, STEP, LAST = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
BLOCKS = 96
VERBOSE = len(sys.argv) > 6  # a 6th argument: print progress
MOUNT = "/fl"
DATA = MOUNT + "/data"
PUB = RsaPublicKey(((1 << 2047) + 0x1234567).to_bytes(256, "big"))
DEVICE = "dev-pc"


def rid(i):
    return bytes((0xAB, (i >> 8) & 0xFF, i & 0xFF)) + bytes(13)


def body(i):
    fields = record.typical_fields()
    fields["given_name"] = "P" + str(i)
    return record.encode("OF0001", 1_700_000_000 + i, True, fields, "C" + str(i), bytes(16))


class Trace:
    """What the workload knows was committed: returned saves and completed syncs."""

    def __init__(self):
        self.saved = {}  # record id -> (boot, seq)
        self.synced = {}  # record id -> True once mark_results returned


def mount(dev):
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(dev), MOUNT)


def open_store(clock):
    audit = AuditLog(DATA, lambda: clock[0])
    store = RecordStore(DATA, DEVICE, PUB, audit, used_percent=lambda: 10)
    store.open()
    audit.open()
    return store


def workload(store, trace, clock, start, count):
    for i in range(start, start + count):
        key = store.save(rid(i), body(i))
        trace.saved[rid(i)] = key
        if i % 3 == 0:
            store.mark_card_verified(key[0], key[1], b"\x04\x01\x02\x03\x04\x05\x06", "C" + str(i))
        if i % 25 == 24:
            pending = [(b, s) for b, s, _, _, _ in store.journal.iter_pending()]
            clock[0] += 3600
            store.mark_results([(b, s, ACCEPTED) for b, s in pending], clock[0], b"receipt")
            for r, k in trace.saved.items():
                if k in pending:
                    trace.synced[r] = True
            clock[0] += RETENTION_S
            store.purge(clock[0])


def check(store, trace, counts, prev_boot):
    """Compare flash with the trace; returns the highest (boot, seq) on flash."""
    seen = {}
    last = (0, 0)
    j = store.journal
    for seg in j.segments:
        for boot, seq, off, total in j.iter_records(seg):
            env = j.read_record(seg.num, off, total)
            try:
                hdr = seal.parse_record(env)
            except ValueError:
                counts["corrupt"] += 1
                continue
            if hdr.record_id in seen:
                counts["duplicated"] += 1
            seen[hdr.record_id] = True
            if (hdr.boot, hdr.seq) <= last:
                counts["disorder"] += 1
            last = (hdr.boot, hdr.seq)
            want = trace.saved.get(hdr.record_id)
            if want is not None and want != (hdr.boot, hdr.seq):
                counts["corrupt"] += 1
    for r in trace.saved:
        if r not in seen and r not in trace.synced:
            counts["lost"] += 1
    if store.boot <= prev_boot:
        counts["disorder"] += 1
    return last


def run_cut(base, mem, cut, counts):
    mem[:] = base
    dev = FlashBlockDevice(BLOCKS, mem=mem)
    mount(dev)
    clock = [1_700_000_000]
    trace = Trace()
    dev.cut_at = cut
    dev.cut_mode = ("lost", "torn", "half")[cut % 3]
    store = None
    try:
        store = open_store(clock)
        workload(store, trace, clock, 0, SAVES)
        if dev.dead:
            # the cut's I/O error did not stop the work: fine only if it hit an audit event
            # (the audit log never stops the officer; the event is simply not written) or a
            # purge (only synced records; the segment stays listed and is purged later)
            if store.audit.write_failures:
                counts["audit_events_lost"] += 1
            elif store.journal.purge_failures:
                counts["purges_deferred"] += 1
            else:
                counts["unreported"] += 1
        return dev.dead
    except Exception:  # noqa: BLE001
        # the flash answers -EIO from the cut on; LittleFS reports it and the store raises
        # StoreError: expected when the power is off, a bug otherwise
        if not dev.dead:
            raise
    store = None
    dev = dev.power_cycle()
    if counts["cut_points"] % 4 == 0:  # cut again, during recovery
        counts["recovery_cuts"] += 1
        dev.cut_at = dev.ops + 1 + cut % 7
        try:
            mount(dev)
            open_store(clock)
        except Exception:  # noqa: BLE001
            if not dev.dead:
                raise
        dev = dev.power_cycle()
    try:
        mount(dev)
    except OSError:
        counts["mount_fail"] += 1
        return True
    store = open_store(clock)
    check(store, trace, counts, 0)
    boot = store.boot
    workload(store, trace, clock, 10000, 3)
    store.close()
    mount(dev)
    store = open_store(clock)
    check(store, trace, counts, boot)
    store.close()
    return True


def main():
    # the two big buffers first, before anything can fragment the heap
    mem = bytearray(b"\xff" * (BLOCKS * 4096))
    base = bytearray(len(mem))
    dev = FlashBlockDevice(BLOCKS, mem=mem)
    vfs.VfsLfs2.mkfs(dev)
    base[:] = mem
    # reference run: how many flash operations the whole workload takes
    ref = FlashBlockDevice(BLOCKS, mem=mem)
    mount(ref)
    clock = [1_700_000_000]
    trace = Trace()
    store = open_store(clock)
    workload(store, trace, clock, 0, SAVES)
    store.close()
    total_ops = ref.ops
    last = LAST or total_ops
    counts = {"saves": SAVES, "workload_ops": total_ops, "programs": ref.programs, "erases": ref.erases,
              "bytes_programmed": ref.bytes_programmed, "cut_points": 0, "recovery_cuts": 0,
              "lost": 0, "duplicated": 0, "corrupt": 0, "disorder": 0, "mount_fail": 0, "unreported": 0,
              "audit_events_lost": 0, "purges_deferred": 0}
    cut = FIRST
    while cut <= last:
        if VERBOSE:
            print("cut", cut, counts)
        if run_cut(base, mem, cut, counts):
            counts["cut_points"] += 1
        gc.collect()
        cut += STEP
    print(json.dumps(counts))


main()
