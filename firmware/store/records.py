"""RecordStore: sealing + journal + boot/sequence numbers + capacity rules.

The enrolment flow calls save(); when it returns, the record is on flash (the
commit point) and the screen may say "saved".  Capacity: at WARN_PERCENT the
status screen warns; at REFUSE_PERCENT save() refuses with StoreFull before
anything is written, so a started enrolment is never half-stored.
"""

from firmware.crypto import seal
from firmware import fsutil
from firmware.store import bootcount
from firmware.store.journal import Journal, StoreFull, StoreError  # noqa: F401 - re-exported

WARN_PERCENT = 80
REFUSE_PERCENT = 95
RETENTION_S = 30 * 24 * 3600  # synced records are kept 30 days for the technician


class RecordStore:
    def __init__(self, data_dir, device_id, registry_pub, audit=None, used_percent=None):
        self.data_dir = data_dir
        self.device_id = device_id
        self.registry_pub = registry_pub
        self.audit = audit
        self.used_percent = used_percent or (lambda: fsutil.used_percent(data_dir))
        self.journal = Journal(data_dir, device_id, self._event)
        self.batch = None
        self.boot = 0
        self.seq = 0

    def _event(self, kind, detail):
        if self.audit is not None:
            self.audit.record(kind, detail)

    def open(self):
        """Recover the journal and take this boot's number.  Returns the recovery report."""
        fsutil.makedirs(self.data_dir)
        report = self.journal.recover()
        self.boot = bootcount.next_boot(self.data_dir, self.journal.last_position()[0])
        self.seq = 0
        report["boot"] = self.boot
        if (report["quarantined_bytes"] or report["foreign"] or report["tmp_removed"]
                or report["empty_removed"] or report["unreadable"]):
            self._event("recovery", "boot " + str(self.boot) + ": " + str(report))
        return report

    def capacity_state(self):
        """'ok', 'warn' (>= 80 %) or 'full' (>= 95 %), and the percentage used."""
        pct = self.used_percent()
        if pct >= REFUSE_PERCENT:
            return "full", pct
        if pct >= WARN_PERCENT:
            return "warn", pct
        return "ok", pct

    def save(self, record_id, plaintext):
        """Seal and commit one record; returns (boot, seq).  StoreFull / StoreError on failure.

        plaintext may be a callable(pin_key) -> bytes, for records whose PIN block is
        enciphered under a key derived from this batch (see crypto/pin_block.py)."""
        state, pct = self.capacity_state()
        if state == "full":
            self._event("error", "save refused: storage " + str(pct) + "% used")
            raise StoreFull("storage " + str(pct) + "% full")
        self.seq += 1  # taken even if the write fails: a number is never reused
        key_env = None
        if self.journal.needs_new_segment():
            if self.batch is not None:
                self.batch.wipe()
            self.batch = seal.BatchKey(self.registry_pub)
            key_env = self.batch.envelope()
        if callable(plaintext):
            plaintext = plaintext(seal.pin_key(self.batch.key, record_id))
        env = seal.seal_record(self.batch, self.device_id, self.boot, self.seq, record_id, plaintext)
        self.journal.append_record(self.boot, self.seq, env, key_env)
        self._event("save", "%d/%d" % (self.boot, self.seq))
        return self.boot, self.seq

    def mark_card_verified(self, boot, seq, uid, cred_id, old_id=""):
        self.journal.append_card(boot, seq, uid, cred_id, old_id)
        self._event("card", "%d/%d verified" % (boot, seq) + (" (re-issue of " + old_id + ")" if old_id else ""))

    def mark_results(self, results, now, receipt=b""):
        """Apply registry results [(boot, seq, result)] that came with a valid receipt."""
        self.journal.append_synced(results, now, receipt)
        self._event("sync", str(len(results)) + " results")

    # ---- what the sync client reads (it never touches the journal itself) ----
    def iter_pending(self):
        """(boot, seq, segment, offset, length) of every record the registry has not answered."""
        return self.journal.iter_pending()

    def iter_pending_cards(self):
        """(boot, seq, record answered, segment, offset, length) of every CARD entry the registry
        has not answered (read one with read_record: the same frame layout)."""
        return self.journal.iter_pending_cards()

    def read_key(self, segment):
        """The key envelope of a segment."""
        return self.journal.read_key(segment)

    def read_record(self, segment, offset, length, out=None):
        """A record envelope (into out, a buffer of at least length bytes, if given)."""
        return self.journal.read_record(segment, offset, length, out)

    def purge(self, now):
        pressure = self.capacity_state()[0] != "ok"
        return self.journal.purge(now, RETENTION_S, pressure)

    def counts(self):
        return self.journal.counts()

    def last_synced(self):
        return self.journal.last_synced()

    def cards_due(self):
        """(boot, seq) of saved records whose card was not verified, oldest first."""
        return self.journal.unverified()

    def close(self):
        self.journal.close()
        if self.batch is not None:
            self.batch.wipe()
            self.batch = None
