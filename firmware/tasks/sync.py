"""The radio's task: records go to the registry whenever a provisioned network is in reach, with
backoff on failure (sync/backoff.py); Wi-Fi is on only during a sync (net/radio.py).  It writes
what it learns into the status model (Wi-Fi, last sync) and calls changed() for the screens; it
asks the flow through card_step() whether the card step is on (no sync during it).
"""

import asyncio

from firmware.clock import local_date, when_said
from firmware.ticks import ticks_add, ticks_diff, ticks_ms

SYNC_FIRST_MS = 5000  # after power-on: let the officer log in first
SYNC_INTERVAL_MS = 10 * 60 * 1000  # with nothing to send, or after a good sync
LOCAL_RETRY = "local"  # once()'s retry_after when the failure was the device's own (RAM)
LOCAL_RETRY_MS = 5000


class SyncTask:
    def __init__(self, board, secrets, store, clock, audit, status, card_step, changed):
        self.board = board
        self.secrets = secrets
        self.store = store
        self.clock = clock
        self.audit = audit
        self.status = status
        self.card_step = card_step
        self.changed = changed
        self.client = None  # the sync client: made per sync (connect), freed after (release)
        self.batch_records = None  # the records per batch the last client learnt (None: its default)
        self.radio = None  # net/radio.RadioSession, once open() found the registry's settings usable
        self.disabled = False  # the registry URL or CA in device.json cannot be used
        self.soon = False  # a save or a low battery asked for a sync now
        self.kick = asyncio.Event()
        self.due_ms = None  # when the loop next wants to run: the light-sleep timer
        self.busy = False  # a sync is under way
        self.task = None

    def request(self):
        """Sync soon (a record was saved; the battery is low): not at the next interval."""
        self.soon = True
        self.kick.set()

    def wake(self):
        """Look now whether a sync is due (the timer ran out, or woke the device)."""
        self.kick.set()

    def start(self):
        self.task = asyncio.create_task(self.loop())

    def deinit(self):
        """Stopped: a sync under way is cancelled, and its finally takes the radio down."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def open(self):
        """Check the registry URL and CA once, at power-on: a device that can never sync says so
        at once, without raising the radio.  The sync code is loaded now, while the heap is in
        one piece (module objects made at the first sync would sit amid the officer's work for
        good).  Its buffers and SSL context (about 6 KB: a 3 KB reply buffer, 1.8 KB of SSL
        context) are made per sync (connect) and freed after it: held all day they sat in the
        heap through every card write, the device's peak (issue 13)."""
        import ssl  # noqa: F401 - loaded now: see above

        from firmware.net.radio import RadioSession
        from firmware.sync import client  # noqa: F401

        radio = RadioSession(self.board, self.secrets, self.status)
        try:  # the SSL context made once here only so that mbedtls reads the CA; then dropped
            problem = radio.check()
        except MemoryError:  # the officer's work goes on; connect() reads the CA at the sync
            self.board.console("sync: out of memory at start")
            problem = None
        if problem is not None:
            self._disable(problem)
            return
        self.radio = radio

    def _disable(self, why):
        """The registry URL or CA cannot be used: no sync until it is provisioned again."""
        self.board.console("sync: disabled: " + why)
        self.status.last_sync = "setup bad"
        self.audit.record("error", "sync disabled: " + why)
        self.disabled = True

    def connect(self):
        """The sync client for one sync: its buffers first, from a collected heap, then the SSL
        context.  False when the heap cannot give them (once() then backs off, as for a network
        that failed: a heap that stays short must not raise the radio every few seconds)."""
        import gc

        from firmware.net import http
        from firmware.sync.client import BATCH_RECORDS, Client

        gc.collect()
        try:
            # the client's buffers before the SSL context: the larger object from the whole heap
            client = Client(self.store, self.secrets, self.clock, None, self.radio.host, self.audit,
                            self.batch_records or BATCH_RECORDS)
            client.use_connector(self.radio.connector())
        except MemoryError:
            gc.collect()
            self.board.console("sync: out of memory at start")
            return False
        except http.HttpError as e:  # not read at power-on (no memory then), and mbedtls refuses it
            self._disable(str(e))
            return False
        self.client = client
        return True

    def release(self):
        """Free the sync client's buffers and SSL context for the officer's work."""
        if self.client is not None:
            self.batch_records = self.client.batch_records  # smaller after a MemoryError: kept
            self.client = None
            import gc

            gc.collect()

    async def loop(self):
        """Upload pending records whenever a provisioned network is in reach; back off on failure.

        Wi-Fi is on only during a sync.  A sync never runs during a card write (RAM, and the
        officer's attention), and never blocks the keypad: every wait is an await.  The sync
        client is made for each sync and freed after it (connect, release)."""
        from firmware.sync.backoff import CAP_MS, Backoff

        backoff = Backoff(cap_ms=getattr(self.board, "SYNC_RETRY_CAP_MS", CAP_MS))
        next_ms = ticks_add(ticks_ms(), SYNC_FIRST_MS)
        while True:
            self.due_ms = next_ms
            try:  # a second, or less when kicked (a save; a wake from light sleep on the sync timer)
                await asyncio.wait_for(self.kick.wait(), 1)
            except asyncio.TimeoutError:
                pass
            self.kick.clear()
            due = ticks_diff(ticks_ms(), next_ms) >= 0 or (self.soon and backoff.failures == 0)
            if not due or self.card_step():
                continue
            self.soon = False
            counts = self.store.counts()
            if counts["pending"] == 0 and counts["cards_pending"] == 0:
                next_ms = ticks_add(ticks_ms(), SYNC_INTERVAL_MS)
                continue
            self.busy = True
            try:
                ok, retry_after = await self.once()
            except MemoryError:
                import gc

                gc.collect()
                ok, retry_after = False, LOCAL_RETRY
                self.board.console("sync: out of memory")
            except Exception as e:  # noqa: BLE001 - a sync bug must not end syncing, nor the app
                ok, retry_after = False, None
                self.board.console("sync: unexpected " + repr(e))
                self.audit.record("sync-error", "unexpected " + repr(e)[:80])
            finally:
                self.busy = False
            if ok is None:
                self.due_ms = None
                return  # not configured: nothing to retry
            if ok:
                backoff.succeeded()
                delay = SYNC_INTERVAL_MS
            elif retry_after is LOCAL_RETRY:
                delay = LOCAL_RETRY_MS  # the device ran short of RAM (next batches are smaller): not the network
            else:
                delay = backoff.failed(retry_after)
            next_ms = ticks_add(ticks_ms(), delay)
            self.changed()

    async def once(self):
        """One sync: Wi-Fi up, upload, Wi-Fi down.  (ok, retry_after); ok None = sync not configured."""
        from firmware.sync.client import SyncError

        if self.disabled:
            return None, None  # not configured (open said why)
        if self.radio is None:
            self.open()
            if self.radio is None:
                return None, None
        if not await self.radio.up():
            self.board.console("sync: no Wi-Fi network in reach")
            return False, None
        self.changed()
        from firmware.crypto import rng

        try:  # the radio is on: the chip's RNG is truly random now (crypto/rng.py)
            rng.reseed()
        except OSError as e:
            self.board.console("rng: seed file: " + str(e))
        try:
            if not self.connect():
                return (None if self.disabled else False), None
            n = await self.client.sync()
            now = self.clock.now()
            self.status.last_sync = when_said(now, local_date(now))  # the officer reads Cambodian time
            self.board.console("sync: " + str(n) + " records")
            return True, None
        except SyncError as e:
            self.status.last_sync = "failed"
            self.board.console("sync: " + str(e))
            self.audit.record("sync-error", str(e))
            return False, LOCAL_RETRY if e.local else e.retry_after
        finally:
            self.release()
            self.radio.down()
