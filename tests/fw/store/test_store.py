"""Record store: save/reopen, card and sync states, purge rules, capacity, corruption, boot numbers.

Under MicroPython the data directory is on real LittleFS over the emulated flash."""

from fwtest import flash_dir, raises, remount
from storekit import DEVICE, open_store, plaintext, record_id
from firmware.crypto import seal
from firmware.store import audit as auditmod
from firmware.store import bootcount, journal
from firmware.store.journal import ACCEPTED, CONFLICT, DUPLICATE, RECORDS_PER_SEGMENT, StoreError, StoreFull

PER_SEG = RECORDS_PER_SEGMENT


def test_saved_records_survive_a_reboot_in_order():
    path, dev = flash_dir()
    store, _, report = open_store(path)
    assert report["boot"] == 1 and report["records"] == 0
    n = PER_SEG + 8
    for i in range(n):
        assert store.save(record_id(i), plaintext(i)) == (1, i + 1)
    store.close()
    del store
    path = remount(dev, path)
    store2, _, report2 = open_store(path)
    assert report2["records"] == n and report2["boot"] == 2
    assert report2["segments"] == 2  # RECORDS_PER_SEGMENT per segment, one batch key each
    assert store2.save(record_id(99), plaintext(99)) == (2, 1)
    # streamed, as the device does it: one segment's positions in RAM at a time
    i = 0
    sixth = None
    for b, s, num, off, length in store2.journal.iter_pending():
        assert (b, s) == ((1, i + 1) if i < n else (2, 1))
        if i == 5:
            sixth = (num, off, length)
        i += 1
    assert i == n + 1
    num, off, length = sixth
    env = store2.journal.read_record(num, off, length)
    hdr = seal.parse_record(env)
    assert (hdr.device_id, hdr.boot, hdr.seq, hdr.record_id) == (DEVICE, 1, 6, record_id(5))
    kid, _ = seal.parse_key(store2.journal.read_key(num))
    assert kid == hdr.key_id


def test_card_step_is_resumed_after_a_reboot():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    a = store.save(record_id(1), plaintext(1))
    b = store.save(record_id(2), plaintext(2))
    store.mark_card_verified(a[0], a[1], b"\x04\x11\x22\x33\x44\x55\x66", "CRED-A")
    assert store.journal.unverified() == [b]
    store.close()
    store2, _, _ = open_store(remount(dev, path))
    assert store2.journal.unverified() == [b]
    assert store2.counts()["unverified"] == 1
    with raises(StoreError):
        store2.mark_card_verified(a[0], a[1], b"\x04" * 7, "AGAIN")  # already verified


def test_results_mark_records_final_and_survive_reboot():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    keys = [store.save(record_id(i), plaintext(i)) for i in range(5)]
    store.mark_results([(1, 1, ACCEPTED), (1, 2, DUPLICATE), (1, 3, CONFLICT)], 1000, b"receipt-mac")
    assert [(b, s) for b, s, _, _, _ in store.journal.iter_pending()] == keys[3:]
    c = store.counts()
    assert (c["records"], c["pending"], c["synced"]) == (5, 2, 2)
    store.close()
    store2, _, _ = open_store(remount(dev, path))
    c = store2.counts()
    assert (c["records"], c["pending"], c["synced"]) == (5, 2, 2)
    assert store2.last_synced() == 1000  # STATUS's last sync after a restart
    with raises(StoreError):
        store2.mark_results([(7, 7, ACCEPTED)], 1000)


def test_the_last_sync_is_said_as_the_officer_reads_it():
    from firmware.clock import local_date, when_said

    # 1796000000 is 2026-11-30 07:53:20 in Phnom Penh (UTC+7, no summer time): date(1) says so
    assert when_said(0, local_date(1796000000)) == "never"
    assert when_said(1796000000, local_date(1796000000 + 3600)) == "07:53"  # the same day: the hour
    assert when_said(1796000000, local_date(1796000000 + 86400)) == "30/11"  # an earlier day: the date
    assert when_said(1796000000 + 16 * 3600 + 6 * 60, local_date(1796000000 + 16 * 3600 + 6 * 60 + 30)) == "23:59"
    assert when_said(1796000000 + 16 * 3600 + 6 * 60, local_date(1796000000 + 16 * 3600 + 7 * 60)) == "30/11"  # past midnight
    assert when_said(1796000000 + 16 * 3600 + 7 * 60, local_date(1796000000 + 16 * 3600 + 8 * 60)) == "00:00"


def fill_and_sync(store, n, when):
    keys = [store.save(record_id(i), plaintext(i)) for i in range(n)]
    store.mark_results([(b, s, ACCEPTED) for b, s in keys], when, b"ok")
    return keys


def test_purge_respects_retention_and_a_clock_that_went_back():
    path, dev = flash_dir()
    store, audit, _ = open_store(path)
    fill_and_sync(store, PER_SEG + 1, 1_000_000)  # segment 1 full and synced; segment 2 is the open tail
    retention = 30 * 24 * 3600
    assert store.journal.purge(1_000_000 + retention - 1, retention) == 0
    assert store.journal.purge(999_000, retention) == 0  # clock rolled back: nothing early
    assert store.journal.purge(1_000_000 + retention, retention) == 1
    c = store.counts()
    assert c["records"] == 1 and c["segments"] == 1
    assert "purge" in "\n".join(audit.lines())


def test_a_purge_the_flash_refuses_keeps_the_segment_for_the_next_purge():
    from firmware.store import journal as jmod

    path, dev = flash_dir()
    store, audit, _ = open_store(path)
    fill_and_sync(store, PER_SEG + 1, 1_000_000)
    retention = 30 * 24 * 3600

    class FailingOs:
        def remove(self, p):
            raise OSError(5)  # EIO: the flash went away under the remove

    real_os = jmod.os
    jmod.os = FailingOs()
    try:
        assert store.journal.purge(1_000_000 + retention, retention) == 0
    finally:
        jmod.os = real_os
    assert store.journal.purge_failures == 1 and store.counts()["segments"] == 2  # still listed
    assert "purge of segment" in "\n".join(audit.lines())
    assert store.journal.purge(1_000_000 + retention, retention) == 1  # the next purge takes it
    assert store.counts()["segments"] == 1


def test_capacity_pressure_purges_synced_records_early_but_never_unsynced():
    path, dev = flash_dir()
    used = [50]
    store, _, _ = open_store(path, used=lambda: used[0])
    fill_and_sync(store, PER_SEG, 5000)
    store.save(record_id(100), plaintext(100))  # unsynced, in a new segment
    assert store.purge(5001) == 0
    used[0] = 85
    assert store.capacity_state() == ("warn", 85)
    assert store.purge(5001) == 1
    assert store.counts()["records"] == 1 and store.counts()["pending"] == 1


def test_full_storage_refuses_before_writing_anything():
    path, dev = flash_dir()
    used = [95]
    store, audit, _ = open_store(path, used=lambda: used[0])
    with raises(StoreFull, "95"):
        store.save(record_id(1), plaintext(1))
    assert store.counts()["records"] == 0
    assert "save refused" in "\n".join(audit.lines())
    used[0] = 10
    assert store.save(record_id(1), plaintext(1)) == (1, 1)  # refused before a number was taken


def test_position_must_move_forward():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    store.save(record_id(1), plaintext(1))
    env = seal.seal_record(store.batch, DEVICE, 1, 1, record_id(2), b"x")
    with raises(StoreError, "not after"):
        store.journal.append_record(1, 1, env)


def segment_path(path, num=1):
    return path + "/journal/%08x.seg" % num


def corrupt(path, offset, dev):
    corrupt_bit(path, offset, 5)


def test_corrupted_entry_is_quarantined_and_the_rest_kept():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    keys = [store.save(record_id(i), plaintext(i)) for i in range(6)]
    store.close()
    entries = journal_entries(path)
    victim = entries[4]  # the third record (entries 0 and 1 are the two key copies)
    corrupt(path, victim[0] + 40, dev)
    store2, audit, report = open_store(remount(dev, path))
    assert report["quarantined_bytes"] == victim[1]
    left = [(b, s) for b, s, _, _, _ in store2.journal.iter_pending()]
    assert left == keys[:2] + keys[3:]
    import os
    assert len(os.listdir(path + "/quarantine")) == 1
    log = "\n".join(audit.lines())
    assert "quarantine" in log and "recovery" in log
    # a second boot finds nothing more to do
    store2.close()
    _, _, report3 = open_store(remount(dev, path))
    assert report3["quarantined_bytes"] == 0 and report3["records"] == 5


def journal_entries(path):
    """(offset, total length) of each entry of segment 1, read with the frame format."""
    import struct

    out = []
    off = 0
    head = bytearray(4)
    with open(segment_path(path), "rb") as f:
        while True:
            f.seek(off)
            if f.readinto(head) != 4:
                return out
            n = struct.unpack_from(">H", head, 2)[0]
            out.append((off, n + 8))
            off += n + 8


def test_garbage_tail_is_quarantined():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    store.save(record_id(1), plaintext(1))
    store.close()
    junk = b"\xe5\x02\x01\x00garbage that is not an entry"
    with open(segment_path(path), "ab") as f:
        f.write(junk)
    store2, _, report = open_store(remount(dev, path))
    assert report["quarantined_bytes"] == len(junk) and report["records"] == 1


def test_entry_from_another_device_is_quarantined():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    store.save(record_id(1), plaintext(1))
    foreign = seal.seal_record(store.batch, "dev-9999", 1, 2, record_id(2), plaintext(2))
    store.close()
    with open(segment_path(path), "ab") as f:
        f.write(journal.frame(journal.T_RECORD, foreign))
    store2, audit, report = open_store(remount(dev, path))
    assert report["foreign"] == 1 and report["records"] == 1
    assert "another device" in "\n".join(audit.lines())


def test_unfinished_rewrite_and_empty_segment_are_cleaned():
    path, dev = flash_dir()
    store, _, _ = open_store(path)
    store.save(record_id(1), plaintext(1))
    store.close()
    with open(path + "/journal/00000001.tmp", "wb") as f:
        f.write(b"half a rewrite")
    with open(path + "/journal/00000002.seg", "wb") as f:
        pass
    _, _, report = open_store(remount(dev, path))
    assert report["tmp_removed"] == 1 and report["empty_removed"] == 1 and report["records"] == 1


def test_boot_number_survives_a_lost_or_corrupt_copy():
    path, dev = flash_dir()
    from firmware import fsutil

    fsutil.makedirs(path)
    assert bootcount.next_boot(path) == 1
    assert bootcount.next_boot(path) == 2
    with open(path + "/boot.a", "wb") as f:
        f.write(b"\x00\x00\x00\x09\x00\x00\x00\x00")  # bad CRC: ignored
    assert bootcount.next_boot(path) == 3
    import os

    os.remove(path + "/boot.a")
    os.remove(path + "/boot.b")
    assert bootcount.next_boot(path, floor=7) == 8  # the journal's highest boot is the floor


def test_audit_chain_verifies_and_detects_tampering():
    path, dev = flash_dir()
    from firmware import fsutil

    fsutil.makedirs(path)
    log = auditmod.AuditLog(path, lambda: 1700000000)
    log.open()
    for i in range(10):
        assert log.record("login", "officer OF" + str(i) + " | pipe\nnewline")
    lines = list(log.lines())
    assert auditmod.verify(lines) == (10, None)
    assert "|" not in lines[0].split("|")[3][:-1] or lines[0].count("|") == 4
    tampered = list(lines)
    tampered[4] = tampered[4].replace("OF4", "OF5")
    assert auditmod.verify(tampered) == (4, 4)
    assert auditmod.verify(lines[:3] + lines[4:]) == (3, 3)  # a removed line breaks the chain
    # reopen continues the chain
    log2 = auditmod.AuditLog(path, lambda: 1700000001)
    log2.open()
    log2.record("logout", "")
    assert auditmod.verify(list(log2.lines())) == (11, None)


def test_audit_log_is_size_bounded():
    path, dev = flash_dir(blocks=128)
    from firmware import fsutil

    fsutil.makedirs(path)
    log = auditmod.AuditLog(path)
    log.open()
    for i in range(900):
        log.record("save", "x" * 40)
    import os

    total = 0
    for name in os.listdir(path + "/audit"):
        total += os.stat(path + "/audit/" + name)[6]
    assert total <= auditmod.KEEP * auditmod.MAX_BYTES + 100
    count, broken = auditmod.verify(log.lines())  # streamed: the kept log is bigger than a test's RAM
    last = None
    for last in log.lines():
        pass
    assert broken is None and 300 < count < 900 and last.startswith("900|")


def test_random_bit_flips_are_detected_and_cost_only_their_entry():
    import random

    import gc

    random.seed(1234)
    for trial in range(6):
        gc.collect()
        path, dev = flash_dir()
        store, _, _ = open_store(path)
        keys = [store.save(record_id(i), plaintext(i)) for i in range(8)]
        store.close()
        entries = journal_entries(path)
        which = random.randrange(len(entries))
        off, total = entries[which]
        corrupt_bit(path, off + random.randrange(total), random.randrange(8))
        store2, _, report = open_store(remount(dev, path))
        left = [(b, s) for b, s, _, _, _ in store2.journal.iter_pending()]
        if which < 2:  # one key copy hit: the other one serves, no record lost
            assert left == keys
            kid, _ = seal.parse_key(store2.journal.read_key(1))
            env = store2.journal.read_record(*first_record_pos(store2))
            assert seal.parse_record(env).key_id == kid
        else:  # a record entry hit: that record (and only it) quarantined
            assert left == keys[: which - 2] + keys[which - 1 :]
        assert report["quarantined_bytes"] >= total - 8
        store2.close()
        import gc

        gc.collect()


def first_record_pos(store):
    for b, s, num, off, length in store.journal.iter_pending():
        return num, off, length


def corrupt_bit(path, offset, bit):
    """Flip one bit of segment 1 in place (read-modify-write of one byte)."""
    b = bytearray(1)
    with open(segment_path(path), "r+b") as f:
        f.seek(offset)
        f.readinto(b)
        b[0] ^= 1 << bit
        f.seek(offset)
        f.write(b)


def test_flash_full_is_a_clear_error_and_keeps_what_was_saved():
    from fwtest import IS_MICROPYTHON, skip

    if not IS_MICROPYTHON:
        skip("a filesystem that really fills up is LittleFS on the emulated flash (MicroPython)")
    path, dev = flash_dir(blocks=18)  # 8 of them go to LittleFS directory metadata
    store, _, _ = open_store(path, used=lambda: 10)  # the percentage check is not what stops it here
    n = 0
    try:
        for i in range(500):
            assert store.save(record_id(i), plaintext(i)) == (1, i + 1)
            store.mark_card_verified(1, i + 1, b"\x04" * 7, "C")  # as in the field: unverified stays short
            n += 1
    except StoreFull as e:
        assert "full" in str(e), repr(e)
    else:
        raise AssertionError("18 blocks cannot hold 500 records")
    assert n > 10
    store.close()
    del store
    import gc

    gc.collect()
    store2, _, report = open_store(remount(dev, path), used=lambda: 10)
    i = 0
    for b, s, _, _, _ in store2.journal.iter_pending():
        i += 1
        assert (b, s) == (1, i)
    assert i == n and report["records"] == n


def test_unreadable_segment_is_set_aside_not_a_crash_loop():
    import os

    path, dev = flash_dir()
    store, _, _ = open_store(path)
    store.save(record_id(1), plaintext(1))
    store.close()
    os.mkdir(path + "/journal/00000007.seg")  # a directory where a segment should be
    store2, audit, report = open_store(remount(dev, path))
    assert report["unreadable"] == 1 and report["records"] == 1
    assert "00000007.seg" in os.listdir(path + "/quarantine")
    assert store2.save(record_id(2), plaintext(2)) == (2, 1)


def test_sync_under_a_future_dated_clock_is_purged_only_under_pressure():
    path, dev = flash_dir()
    used = [10]
    store, _, _ = open_store(path, used=lambda: used[0])
    fill_and_sync(store, PER_SEG, 4_000_000_000)  # the clock was years ahead when it synced
    store.save(record_id(500), plaintext(500))  # a new segment: the synced one is no longer the tail
    assert store.purge(1_800_000_000) == 0  # clock corrected: retention cannot be judged, keep
    used[0] = 81
    assert store.purge(1_800_000_000) == 1  # storage pressure: synced records go first
    assert store.counts()["pending"] == 1
