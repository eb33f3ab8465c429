"""The record journal: append-only segment files of framed, CRC-checked entries on LittleFS.

Why segments: the ESP32 filesystem has 4096-byte blocks and a small file
costs a whole block, so one file per record would fit about 370 records in
1.5 MB.  Records are appended to a segment file (at most RECORDS_PER_SEGMENT
records, one batch key each, see crypto/seal.py) and a segment is deleted as
a whole once all its records are synced and past the retention window.

Files under <data>/journal/:
  SSSSSSSS.seg  segment S (8 hex digits, increasing); its first two entries are
                the KEY, twice: a flipped bit in one copy must not cost 32 records
  SSSSSSSS.tmp  a segment being rewritten by recovery; deleted at the next recovery
Bytes recovery cannot read go to <data>/quarantine/SSSSSSSS-OOOOOOOO.bin.

Entry frames, the CARD and SYNCED payloads and the result codes are firmware/formats.py's
(the host's journal reader uses the same module).  A SYNCED result of ACCEPTED or DUPLICATE
means synced; CONFLICT and REJECTED are final but kept.  A CARD entry is uploaded too (the
registry binds the credential to that card's UID and revokes the credential a re-issue
replaced); its answer is a SYNCED item flagged CARD_RESULT, and a segment whose card entries
are not answered yet is not purged, so a re-issue's revocation cannot be lost to a purge.

Power-loss windows.  LittleFS commits a file's new length atomically when it is
flushed or closed; bytes written before that commit are not part of the file.
  save (append_record), one flush:
    W1 power lost before or during the flush: the file keeps its old length;
       the record is absent and save() never returned, so nothing was said "saved".
    W2 after the flush returned: the record is on flash (the commit point).
  new segment: the KEY and the first RECORD go out in the same flush (W1/W2 as above);
    a file created but never flushed is empty and recovery deletes it.
  append_card / append_synced: one flush (tail) or one close (older segment) per
    segment; lost -> the state entry is absent: the card step is resumed, or the
    record is uploaded again and the registry answers "duplicate" (same receipt).
  purge: one remove() per segment: the segment is there or not.  A remove that fails
    (a flash error, the power going) leaves the segment listed and stops the purge: it
    is only synced records, and the next purge (or the next boot's) takes it.
  recovery rewrite (bad bytes found): audit event, quarantine files, the .tmp copy
    of the good entries, then rename over the segment.  Lost before the rename:
    the .tmp is deleted and the rewrite redone next boot; after: done.
"""

import os
import struct

from firmware import formats, fsutil
from firmware.store import StoreError, StoreFull  # noqa: F401 - raised here, caught as the store's
from firmware.formats import (  # noqa: F401 - the store's callers name these through it
    ACCEPTED, CARD_RESULT, CONFLICT, DUPLICATE, MAX_PAYLOAD, REJECTED, T_CARD, T_KEY, T_RECORD, T_SYNCED,
    card_payload, synced_payload)

RECORDS_PER_SEGMENT = 64
_SEQ_BITS = 20  # seq counts one boot's records: far fewer than 2**20 fit on flash
_SEQ_MASK = (1 << _SEQ_BITS) - 1


def _key(key):
    """(boot, seq) as one int with the same order."""
    return key[0] << _SEQ_BITS | key[1]

_CARD = 1
_FINAL = 2
_SYNCED = 4
_CARD_DONE = 8  # the registry answered the record's CARD entry

_SEG = ".seg"
_ENOENT = 2  # errno: the file is not there (already purged)
_TMP = ".tmp"


def frame(etype, payload):
    try:
        return formats.frame(etype, payload)
    except ValueError:
        raise StoreError("entry payload size " + str(len(payload)))


def _name(num):
    return "%08x" % num


class Segment:
    """What RAM keeps of one segment file: counts, not contents (a few dozen bytes each)."""

    def __init__(self, num):
        self.num = num
        self.records = 0
        self.finals = 0  # records with a SYNCED entry
        self.synced = 0  # ... whose result was accepted or duplicate
        self.synced_at = 0  # latest SYNCED time
        # (boot, seq) of its first and last record, packed into one int (_key): a tuple each
        # would cost 32 bytes more a segment, and an 8 MB records partition holds ~150 segments
        self.first = -1
        self.last = -1
        self.unverified = 0  # records saved without a verified card (listed by scanning)
        self.cards_pending = 0  # CARD entries the registry has not answered

    def holds(self, k):
        """Whether the packed key k (_key) falls in this segment."""
        return self.first >= 0 and self.first <= k <= self.last


class _Scan:
    """One pass over a segment file: good entries, bad byte ranges, per-record states.

    A segment holds the records of one boot (a new boot starts a new segment),
    so records are keyed by seq alone: small ints, no tuples, on a tight heap.
    """

    def __init__(self, keep_entries, keep_cards=False):
        self.entries = [] if keep_entries else None  # (offset, total length, type), for rewrites
        self.bad = []  # (offset, length)
        self.boot = None  # boot of the segment's first record
        self.records = []  # (seq, offset, length)
        self.foreign = []  # (offset, length) of records of another device or boot
        self.first_seq = None
        self.cards = [] if keep_cards else None  # (seq, offset, length) of CARD entries, for uploads
        # per record, by seq - first_seq: bit 0 card verified, bit 1 final result, bit 2 synced,
        # bit 3 its CARD entry answered
        self.state = bytearray(RECORDS_PER_SEGMENT)
        self.synced_at = 0

    def mark(self, seq, bits):
        i = seq - self.first_seq if self.first_seq is not None else -1
        if 0 <= i < len(self.state):
            self.state[i] |= bits

    def bits(self, seq):
        return self.state[seq - self.first_seq]


class Journal:
    def __init__(self, data_dir, device_id, audit=None):
        self.dir = data_dir + "/journal"
        self.qdir = data_dir + "/quarantine"
        self.data_dir = data_dir
        self.device_id = device_id
        self._device = device_id.encode()
        self.audit = audit  # callable(kind, detail) or None
        self.segments = []  # Segment summaries, ascending num
        self.tail = None  # open file of the segment taking this boot's records
        self.tail_seg = None
        self._head = bytearray(4)
        self._buf = bytearray(MAX_PAYLOAD + 4)
        self.purge_failures = 0  # removes the flash refused (retried at the next purge)

    # ---- helpers ---------------------------------------------------------
    def _path(self, num, suffix=_SEG):
        return self.dir + "/" + _name(num) + suffix

    def _event(self, kind, detail):
        if self.audit is not None:
            self.audit(kind, detail)

    def _read_entry(self, f, offset, file_size):
        """(type, payload memoryview, total) of a valid entry at offset, or None."""
        if offset + 8 > file_size:
            return None
        f.seek(offset)
        if f.readinto(self._head) != 4:
            return None
        head = formats.frame_head(self._head)
        if head is None or offset + 8 + head[1] > file_size:
            return None
        etype, n = head
        view = memoryview(self._buf)[: n + 4]
        if f.readinto(view) != n + 4:
            return None
        if struct.unpack(">I", view[n:])[0] != formats.frame_crc(self._head, view[:n]):
            return None
        return etype, view[:n], n + 8

    def _entries(self, f, size):
        """(offset, type, payload view, total length) of each entry of an open segment file.

        An unreadable range comes as (offset, None, None, its length): the reader
        resynchronises at the next offset where a valid entry starts.  The payload
        is a view of the shared buffer, valid until the next step."""
        off = 0
        while off < size:
            got = self._read_entry(f, off, size)
            if got is None:
                start = off
                off += 1
                while off < size and self._read_entry(f, off, size) is None:
                    off += 1
                yield start, None, None, off - start
                continue
            etype, p, total = got
            yield off, etype, p, total
            off += total

    def _scan(self, path, keep_entries=False, keep_cards=False):
        scan = _Scan(keep_entries, keep_cards)
        size = fsutil.size(path)
        with open(path, "rb") as f:
            for off, etype, p, total in self._entries(f, size):
                if etype is None:
                    scan.bad.append((off, total))
                    continue
                if keep_entries:
                    scan.entries.append((off, total, etype))
                if etype == T_RECORD:
                    origin = formats.record_origin(p)
                    if origin is not None:
                        device, boot, seq = origin
                        if scan.boot is None:
                            scan.boot = boot
                            scan.first_seq = seq
                        if (device != self._device or boot != scan.boot
                                or not 0 <= seq - scan.first_seq < RECORDS_PER_SEGMENT):
                            scan.foreign.append((off, total))
                        else:
                            scan.records.append((seq, off, total))
                    else:
                        if keep_entries:
                            scan.entries.pop()
                        scan.bad.append((off, total))
                elif etype == T_CARD:
                    boot, seq = formats.card_of(p)
                    if boot == scan.boot:
                        scan.mark(seq, _CARD)
                        if keep_cards:
                            scan.cards.append((seq, off, total))
                elif etype == T_SYNCED:
                    boot, when, items = formats.synced_of(p)
                    if boot == scan.boot:
                        for seq, result in items:
                            if result & CARD_RESULT:
                                scan.mark(seq, _CARD_DONE)
                            else:
                                scan.mark(seq, _FINAL | (_SYNCED if result <= DUPLICATE else 0))
                        if when > scan.synced_at:
                            scan.synced_at = when
        return scan

    def _summarise(self, num, scan):
        seg = Segment(num)
        boot = scan.boot
        seg.synced_at = scan.synced_at
        for seq, _, _ in scan.records:
            key = _key((boot, seq))
            seg.records += 1
            if seg.first < 0 or key < seg.first:
                seg.first = key
            if key > seg.last:
                seg.last = key
            bits = scan.bits(seq)
            if not bits & _CARD:
                seg.unverified += 1
            if bits & _FINAL:
                seg.finals += 1
            if bits & _SYNCED:
                seg.synced += 1
            if bits & _CARD and not bits & _CARD_DONE:
                seg.cards_pending += 1
        return seg

    # ---- recovery --------------------------------------------------------
    def recover(self):
        """Scan every segment after power-on; returns a report dict.  Never raises on bad content."""
        fsutil.makedirs(self.dir)
        fsutil.makedirs(self.qdir)
        report = {"segments": 0, "records": 0, "quarantined_bytes": 0, "foreign": 0,
                  "tmp_removed": 0, "empty_removed": 0, "unreadable": 0}
        names = sorted(os.listdir(self.dir))
        for name in names:
            if name.endswith(_TMP):
                fsutil.remove(self.dir + "/" + name)
                report["tmp_removed"] += 1
                self._event("recovery", "removed unfinished rewrite " + name)
        self.segments = []
        for name in names:
            if not name.endswith(_SEG):
                continue
            try:
                num = int(name[:-4], 16)
            except ValueError:
                self._event("recovery", "ignored unknown file " + name)
                continue
            path = self._path(num)
            try:
                scan = self._scan(path)
            except (OSError, ValueError) as e:  # unreadable (a directory, a bad block): set aside whole
                self._event("quarantine", "segment " + name + " unreadable (" + str(e) + "): moved aside")
                try:
                    os.rename(path, self.qdir + "/" + name)
                except OSError:
                    pass
                report["unreadable"] += 1
                continue
            if scan.bad or scan.foreign:
                del scan
                scan = self._scan(path, keep_entries=True)
                self._quarantine(num, scan, report)
                scan = self._scan(path)
            if not scan.records:
                fsutil.remove(path)
                report["empty_removed"] += 1
                continue
            seg = self._summarise(num, scan)
            self.segments.append(seg)
            report["segments"] += 1
            report["records"] += seg.records
        self.tail = None
        self.tail_seg = None
        return report

    def _quarantine(self, num, scan, report):
        name = _name(num)
        nbad = 0
        for _, length in scan.bad:
            nbad += length
        foreign = scan.foreign
        self._event("quarantine", "segment " + name + ": " + str(nbad) + " unreadable bytes, "
                    + str(len(foreign)) + " entries of another device or boot")
        path = self._path(num)
        drop = {}
        for off, _ in foreign:
            drop[off] = True
        with open(path, "rb") as src:
            for off, length in scan.bad + foreign:
                self._copy(src, off, length, self.qdir + "/" + name + "-%08x.bin" % off)
            tmp = self._path(num, _TMP)
            with open(tmp, "wb") as out:
                for off, total, _ in scan.entries:
                    if off not in drop:
                        self._copy_into(src, off, total, out)
        os.rename(tmp, path)
        report["quarantined_bytes"] += nbad
        report["foreign"] += len(foreign)

    def _copy(self, src, off, length, dest):
        with open(dest, "wb") as out:
            self._copy_into(src, off, length, out)

    def _copy_into(self, src, off, length, out):
        src.seek(off)
        while length > 0:
            view = memoryview(self._buf)[: min(length, len(self._buf))]
            n = src.readinto(view)
            if not n:
                break
            out.write(view[:n])
            length -= n

    # ---- queries ---------------------------------------------------------
    def last_position(self):
        """Highest (boot, seq) on flash, or (0, 0)."""
        best = 0
        for seg in self.segments:
            if seg.last > best:
                best = seg.last
        return best >> _SEQ_BITS, best & _SEQ_MASK

    def counts(self):
        c = {"records": 0, "pending": 0, "synced": 0, "unverified": 0, "cards_pending": 0,
             "segments": len(self.segments)}
        for seg in self.segments:
            c["records"] += seg.records
            c["pending"] += seg.records - seg.finals
            c["cards_pending"] += seg.cards_pending
            c["synced"] += seg.synced
            c["unverified"] += seg.unverified
        return c

    def last_synced(self):
        """The time of the latest registry receipt on flash (0: none): what STATUS says after a
        restart, until the next sync."""
        t = 0
        for seg in self.segments:
            if seg.synced_at > t:
                t = seg.synced_at
        return t

    def unverified(self):
        """(boot, seq) of saved records whose card was not verified, oldest first
        (scans only the segments that have some)."""
        out = []
        for seg in self.segments:
            if seg.unverified:
                scan = self._scan(self._path(seg.num))
                for seq, _, _ in scan.records:
                    if not scan.bits(seq) & _CARD:
                        out.append((scan.boot, seq))
        return out

    def needs_new_segment(self):
        return self.tail is None or self.tail_seg.records >= RECORDS_PER_SEGMENT

    def iter_pending(self):
        """(boot, seq, segment num, offset, length) of records with no registry result, in order.

        Scans one segment at a time, so RAM holds one segment's positions at most.
        """
        for seg in list(self.segments):
            if seg.finals >= seg.records:
                continue
            scan = self._scan(self._path(seg.num))
            boot = scan.boot
            todo = [r for r in scan.records if not scan.bits(r[0]) & _FINAL]
            del scan
            for s, off, total in todo:
                yield boot, s, seg.num, off, total

    def iter_pending_cards(self):
        """(boot, seq, record answered, segment num, offset, length) of CARD entries with no
        registry answer, in order; one segment's scan in RAM at a time."""
        for seg in list(self.segments):
            if not seg.cards_pending:
                continue
            scan = self._scan(self._path(seg.num), keep_cards=True)
            boot = scan.boot
            todo = []
            for s, off, total in scan.cards:
                bits = scan.bits(s)
                if not bits & _CARD_DONE:
                    todo.append((s, bits & _FINAL != 0, off, total))
            del scan
            for s, final, off, total in todo:
                yield boot, s, final, seg.num, off, total

    def iter_records(self, seg):
        """(boot, seq, offset, length) of every record of segment seg (for checks and export)."""
        scan = self._scan(self._path(seg.num))
        for s, off, total in scan.records:
            yield scan.boot, s, off, total

    def read_record(self, num, offset, length, out=None):
        """The record envelope (payload of the entry at offset); into `out` if given (a bytearray)."""
        n = length - 8
        with open(self._path(num), "rb") as f:
            f.seek(offset + 4)
            buf = out if out is not None else bytearray(n)
            view = memoryview(buf)[:n]
            if f.readinto(view) != n:
                raise StoreError("segment " + _name(num) + " shorter than its index")
        return view

    def read_key(self, num):
        """The KEY envelope of segment num (the first good copy)."""
        path = self._path(num)
        with open(path, "rb") as f:
            for _, etype, p, _ in self._entries(f, fsutil.size(path)):
                if etype == T_KEY:
                    return bytes(p)
        raise StoreError("segment " + _name(num) + " has no readable key entry")

    def segment_of(self, key):
        k = _key(key)
        for seg in self.segments:
            if seg.holds(k):
                return seg
        return None

    # ---- writes ----------------------------------------------------------
    def _append(self, seg, data):
        """Append and commit `data` to segment seg (the open tail, or an older one)."""
        try:
            if seg is self.tail_seg and self.tail is not None:
                self.tail.write(data)
                self.tail.flush()
            else:
                with open(self._path(seg.num), "ab") as f:
                    f.write(data)
        except OSError as e:
            self._drop_tail(seg)
            if e.args and e.args[0] == 28:  # ENOSPC
                raise StoreFull("flash full")
            raise StoreError("flash write failed: " + str(e))

    def _drop_tail(self, seg):
        if seg is self.tail_seg and self.tail is not None:
            try:
                self.tail.close()
            except OSError:
                pass
            self.tail = None

    def append_record(self, boot, seq, envelope, key_envelope=None):
        """Commit one record; returns when it is on flash.  key_envelope starts a new segment."""
        key = (boot, seq)
        if key <= self.last_position():
            raise StoreError("record position %d/%d is not after the last one" % key)
        rec = frame(T_RECORD, envelope)
        if key_envelope is not None or self.tail is None:
            if key_envelope is None:
                raise StoreError("a new segment needs its key")
            self.close()
            num = self.segments[-1].num + 1 if self.segments else 1
            seg = Segment(num)
            path = self._path(num)
            try:
                self.tail = open(path, "wb")
                key_frame = frame(T_KEY, key_envelope)
                self.tail.write(key_frame)
                self.tail.write(key_frame)
                self.tail.write(rec)
                self.tail.flush()
            except OSError as e:
                self._drop_tail(seg)
                self.tail = None
                fsutil.remove(path)
                if e.args and e.args[0] == 28:
                    raise StoreFull("flash full")
                raise StoreError("flash write failed: " + str(e))
            self.tail_seg = seg
            self.segments.append(seg)
        else:
            seg = self.tail_seg
            self._append(seg, rec)
        seg.records += 1
        if seg.first < 0:
            seg.first = _key(key)
        seg.last = _key(key)
        seg.unverified += 1

    def append_card(self, boot, seq, uid, cred_id, old_id=""):
        key = (boot, seq)
        seg = self.segment_of(key)
        waiting = False
        if seg is not None and seg.unverified:
            scan = self._scan(self._path(seg.num))
            waiting = scan.boot == boot and scan.first_seq is not None and \
                0 <= seq - scan.first_seq < len(scan.state) and \
                any(r[0] == seq for r in scan.records) and not scan.bits(seq) & _CARD
            del scan
        if not waiting:
            raise StoreError("no saved record %d/%d waiting for its card" % key)
        self._append(seg, frame(T_CARD, card_payload(boot, seq, uid, cred_id, old_id)))
        seg.unverified -= 1
        seg.cards_pending += 1

    def append_synced(self, results, when, receipt=b""):
        """results: list of (boot, seq, result) from one registry receipt (result | CARD_RESULT:
        the answer for that record's CARD entry).  One entry, one commit, per segment touched."""
        if len(receipt) > 255:
            raise StoreError("receipt too long")
        by_seg = {}
        for boot, seq, result in results:
            seg = self.segment_of((boot, seq))
            if seg is None:
                raise StoreError("receipt for unknown record %d/%d" % (boot, seq))
            by_seg.setdefault(seg.num, (seg, []))[1].append((boot, seq, result))
        for num in sorted(by_seg):
            seg, items = by_seg[num]
            boot = items[0][0]
            self._append(seg, frame(T_SYNCED, synced_payload(boot, when, receipt, [(s, r) for _, s, r in items])))
            for _, _, result in items:
                if result & CARD_RESULT:
                    seg.cards_pending -= 1
                    continue
                seg.finals += 1
                if result in (ACCEPTED, DUPLICATE):
                    seg.synced += 1
            if when > seg.synced_at:
                seg.synced_at = when

    def purge(self, now, retention_s, pressure=False):
        """Delete segments whose records and card entries are all synced and past retention (or
        any fully synced segment, oldest first, when `pressure`).  A clock that went back purges nothing early.
        Returns the number of segments deleted."""
        gone = 0
        for seg in list(self.segments):
            if seg is self.tail_seg or seg.records == 0 or seg.synced < seg.records or seg.cards_pending:
                continue
            if not pressure and not (seg.synced_at <= now and now - seg.synced_at >= retention_s):
                continue
            try:
                os.remove(self._path(seg.num))
            except OSError as e:
                if not e.args or e.args[0] != _ENOENT:  # still there: keep it listed, try again later
                    self.purge_failures += 1
                    self._event("error", "purge of segment " + _name(seg.num) + " failed: " + str(e))
                    break
            self._event("purge", "segment " + _name(seg.num) + ": " + str(seg.records) + " synced records")
            self.segments.remove(seg)
            gone += 1
        return gone

    def close(self):
        if self.tail is not None:
            try:
                self.tail.close()
            except OSError:
                pass
        self.tail = None
        self.tail_seg = None
