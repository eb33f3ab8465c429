"""The device application: wires the hardware tasks and the UI together.

Each device is one asyncio task that owns its hardware; the enrolment flow
(firmware/enrol/flow.py) takes events and returns effects, which run() carries
out here: draw a screen, save a record, write a card.  Start-up:
  boot screen -> device secrets (not provisioned: say so and wait)
  -> record store recovery (report quarantines) -> officers -> login screen.
"""

import asyncio

from firmware import VERSION, faultlog
from firmware import power as pw
from firmware.ticks import ticks_add, ticks_diff, ticks_ms
from firmware.ui import render
from firmware.ui.screen import Screen, Status, boot_screen, wrap

_IDLE_POLL_MS = 50
_TICK_MS = 100
SYNC_FIRST_MS = 5000  # after power-on: let the officer log in first
SYNC_INTERVAL_MS = 10 * 60 * 1000  # with nothing to send, or after a good sync
LOCAL_RETRY = "local"  # sync_once's retry_after when the failure was the device's own (RAM)
LOCAL_RETRY_MS = 5000
BATTERY_EVERY_MS = 10 * 1000
CRITICAL_SLEEP_MS = 30 * 60 * 1000  # deep sleep on an empty cell; then boot and look again
EMPTY_MESSAGE_MS = 3000
MAX_TASK_RESTARTS = 3
from firmware.tasks.card import CARD_STATES
BUSY_STATES = CARD_STATES + ("check", "saving")  # never light-sleep here: a card or a save is under way


def _hhmm(t):
    import time

    tm = time.gmtime(t)
    return "%02d:%02d" % (tm[3], tm[4])


class App:
    def __init__(self, board):
        self.board = board
        self.data = board.DATA_DIR
        self.status = Status()
        self.screen = None
        self.display = None
        self.flow = None
        self.store = None
        self.secrets = None
        self.keys = []  # key presses waiting for the UI task
        self.last_record_id = None
        self.card_iat = 0
        self.due_entries = []  # card_due.py's entries: the cards still to write
        self.audit = None
        self.card = None  # the card reader's task (tasks/card.py), made with the services
        self.task_restarts = 0  # card/check tasks restarted by task_failed since the last card step
        self.clock = None
        self.sync_soon = False
        self.sync_client = None
        self.sync_disabled = False  # the registry URL or CA in device.json cannot be used
        self.wifi = None
        self.power = pw.AWAKE
        self.active_ms = ticks_ms()  # last key (or start): the power policy's idle clock
        self.syncing = False
        self.sync_kick = asyncio.Event()
        self.sync_due_ms = None  # when sync_loop next wants to run: the light-sleep timer
        self.battery = None
        self.battery_ms = ticks_ms()
        self.battery_was_low = False

    def start_display(self):
        """Bring up the OLED; a missing or failing panel is reported, not fatal."""
        from firmware.hw.display import Display

        try:
            display = Display(self.board.open_i2c())
            display.start()
        except OSError as e:
            self.board.console("display: not responding (" + str(e) + ")")
            return None
        return display

    def show(self, screen):
        self.screen = screen
        if self.display is not None:
            try:
                render.draw(self.display, screen)
            except OSError as e:
                self.board.console("display: write failed (" + str(e) + ")")
            except MemoryError:  # a frame not drawn is redrawn by the next key; never end the app for it
                import gc

                gc.collect()
                self.board.console("display: out of memory")
        self.board.show_screen(screen)

    # ---- start-up --------------------------------------------------------
    def open_services(self):
        """Secrets, store, officers.  Returns None, or the Screen that explains why not.

        Imports are made here, in order, so that a device that is not provisioned
        never loads (into RAM) the code it cannot use."""
        from firmware.store import secrets

        try:
            self.secrets = secrets.load(self.data)
        except secrets.NotProvisioned:
            return Screen("ENROL", ["Not provisioned", "", "Connect to a", "technician"], status=self.status)
        except secrets.SecretsError as e:
            self.board.console("secrets: " + str(e))
            return Screen("ERROR", ["Setup data bad:", "call technician", ""] + wrap(str(e), 3), status=self.status)
        from firmware.store.audit import AuditLog
        from firmware.store.records import RecordStore

        from firmware.clock import Clock

        self.clock = Clock(self.data)
        audit = AuditLog(self.data, self.clock_s)
        self.store = RecordStore(self.data, self.secrets.device_id, self.secrets.registry_public_key(), audit)
        report = self.store.open()
        audit.open()
        from firmware.crypto import rng

        try:  # every random byte from here on comes from the DRBG (crypto/rng.py)
            rng.start(self.data, self.secrets.device_id, self.store.boot)
        except OSError as e:  # the seed file could not be written: seeded from the chip alone
            self.board.console("rng: seed file: " + str(e))
        if report["quarantined_bytes"] or report["foreign"] or report["unreadable"]:
            self.board.console("store recovery: " + str(report))
        from firmware.enrol.flow import Flow
        from firmware.enrol.officer import OfficerError, Officers
        from firmware.enrol.schema import load_villages

        officers = Officers(self.data, audit)
        try:
            officers.load()
        except OfficerError as e:
            return Screen("ERROR", ["No officers:", "call technician", ""] + wrap(str(e), 3), status=self.status)
        self.audit = audit
        villages = load_villages(self.data)
        if not villages:
            audit.record("error", "villages.json missing or damaged: no new enrolments")
        self.flow = Flow(officers, villages, self.status)
        from firmware.tasks.card import CardTask

        self.card = CardTask(self.board, self.secrets, self.clock_s, self.deliver, lambda: self.flow.state,
                             self.card_noted)
        self.load_card_due()
        self.refresh_status()
        # The sync client's buffers and SSL context are the largest single objects (a 5 KB reply
        # buffer): made first, from a collected heap; then the card stack, the largest code the
        # officer's work needs, also now, not after a save, when a fragmented heap could refuse it.
        import gc

        gc.collect()
        self.open_sync()
        import busio  # noqa: F401
        import digitalio  # noqa: F401

        from firmware.card import writer  # noqa: F401
        from firmware.hw import nfc  # noqa: F401

        return None

    def open_sync(self):
        """The sync client and its buffers (about 8 KB), made now, while the heap is in one piece.

        Made at the first sync instead, after a few enrolments had left the heap in pieces (Ed25519's
        big integers), its 5 KB reply buffer found no run that long in 100 KB free: every sync
        failed "out of memory" until a reboot (seen in the simulator)."""
        from firmware.sync import http
        from firmware.sync.client import Client
        from firmware.sync.wifi import Wifi

        s = self.secrets
        try:
            host, port = http.parse_url(s.registry_url)
            connect = http.tls_connector(host, port, http.pem_to_der(s.ca_pem))
        except MemoryError:  # the officer's work goes on; sync_once tries again, with backoff
            self.board.console("sync: out of memory at start")
            return
        except http.HttpError as e:
            self.board.console("sync: disabled: " + str(e))
            self.status.last_sync = "setup bad"
            self.audit.record("error", "sync disabled: " + str(e))
            self.sync_disabled = True
            return
        try:
            self.sync_client = Client(self.store, s, self.clock, connect, host, self.audit)
        except MemoryError:  # the officer's work goes on; sync_once tries again, with backoff
            self.board.console("sync: out of memory at start")
            return
        self.wifi = Wifi(self.board, s.wifi)

    def clock_s(self):
        if self.clock is None:
            import time

            return int(time.time())
        return self.clock.now()

    def refresh_status(self):
        if self.store is None:
            return
        counts = self.store.counts()
        st = self.status
        st.pending = counts["pending"]
        st.unverified = counts["unverified"]
        st.storage = self.store.capacity_state()
        st.device_id = self.secrets.device_id
        st.version = VERSION

    # ---- effects ---------------------------------------------------------
    def apply(self, effects):
        for e in effects:
            kind = e[0]
            if kind == "show":
                self.show(e[1])
            elif kind == "save":
                self.apply(self.save(e[1], e[2], e[3]))
            elif kind == "write_card":
                self.task_restarts = 0
                for d in self.due_entries:  # the record id and issue time the card carries
                    if (d[0], d[1]) == (e[1], e[2]):
                        self.last_record_id, self.card_iat = d[2], d[3]
                self.start_card(e[1], e[2], e[3])
            elif kind == "check_card":
                if not self.card.start_check():
                    self.apply(self.flow.check_done(["No card reader"]))
            elif kind == "reissue":
                self.card.reissue = (e[1], e[2])
                self.audit.record("card", "re-issue of " + e[1] + " confirmed by " + e[2])
            elif kind == "card_later":
                self.card_later(e[1], e[2])
            elif kind == "check_officer":
                self.apply(self.flow.officer_checked(self.check_officer(e[1], e[2]), ticks_ms()))
            elif kind == "unlock_officer":
                self.flow.officers.unlock(e[1], e[2])

    def check_officer(self, officer_id, pin):
        """PBKDF2 against the officer's verifier (about a second on the device), failures counted
        and audited (enrol/officer.py); the PIN wiped."""
        from firmware.crypto.wipe import wipe

        try:
            return self.flow.officers.check(officer_id, bytes(pin))
        finally:
            wipe(pin)

    def save(self, fields, officer_id, pin):
        """Seal and commit the record, note its card as due (enrol/save.py: the power-loss
        windows), then tell the clock, the sync and the screens."""
        from firmware.enrol.save import save_enrolment
        from firmware.store import StoreError

        try:
            boot, seq, self.last_record_id, self.card_iat, self.due_entries = save_enrolment(
                self.store, self.clock, self.data, self.secrets.card_key, self.due_entries, fields, officer_id,
                pin, self.board.console)
        except StoreError as e:
            return self.flow.save_failed(str(e))
        self.publish_due()
        self.clock.touch()
        self.sync_soon = True
        self.sync_kick.set()
        self.refresh_status()
        return self.flow.saved(boot, seq)

    # ---- card ------------------------------------------------------------
    def publish_due(self):
        self.flow.due = [(d[0], d[1], d[4]) for d in self.due_entries]

    def card_due_done(self, boot, seq):
        """That record's card is verified: no longer due."""
        from firmware.enrol import card_due

        keep = [(d[0], d[1]) for d in self.due_entries if (d[0], d[1]) != (boot, seq)]
        try:
            self.due_entries = card_due.keep_only(self.data, self.secrets.card_key, self.due_entries, keep)
        except OSError as e:  # the journal says the card is verified: the entry goes at the next power-on
            self.board.console("card_due: " + str(e))
            self.due_entries = [d for d in self.due_entries if (d[0], d[1]) in keep]
        self.publish_due()

    def card_later(self, boot, seq):
        from firmware.enrol import card_due

        try:
            self.due_entries = card_due.defer(self.data, self.secrets.card_key, self.due_entries, boot, seq)
        except OSError as e:  # kept in RAM: listed until the next power-on, resumed after it
            self.board.console("card_due: " + str(e))
        self.publish_due()

    def load_card_due(self):
        """The cards still to write (HOME: Cards due); the last one a power cut interrupted is
        resumed at the next login."""
        from firmware.enrol import card_due

        try:
            entries = card_due.load_all(self.data, self.secrets.card_key)
        except card_due.CardDueError as e:
            self.board.console(str(e))
            self.audit.record("card-due", str(e))
            card_due.clear(self.data)
            entries = []
        # a verified card, or a record gone: not due any more
        due = self.store.cards_due()
        try:
            self.due_entries = card_due.keep_only(self.data, self.secrets.card_key, entries, due)
        except OSError as e:  # flash refused the shorter list: it is shortened again next power-on
            self.board.console("card_due: " + str(e))
            self.due_entries = [d for d in entries if (d[0], d[1]) in due]
        for boot, seq, record_id, iat, name, deferred in self.due_entries:
            if not deferred:
                self.flow.card_due = (boot, seq, name)
        self.publish_due()

    def start_card(self, boot, seq, fields):
        if self.battery is not None and self.battery.low():
            # a write cut by a brown-out leaves a half-written card: refuse it, keep the record
            self.apply(self.flow.card_done(False, "Battery low"))
            return
        self.card_args = (boot, seq, fields)  # to start again if the task dies (task_failed)
        if not self.card.start_write(boot, seq, fields["given_name"], self.last_record_id, self.card_iat):
            self.apply(self.flow.card_done(False, "No card reader"))

    def deliver(self, event, *args):
        """A task's report, delivered to the flow; the effects it answers with carried out."""
        self.apply(getattr(self.flow, event)(*args))

    def card_noted(self, boot, seq, uid, cred_id, old_id):
        """The card task wrote and checked that record's card: mark it in the store, drop it from
        the cards due."""
        from firmware.store import StoreError

        try:
            self.store.mark_card_verified(boot, seq, uid, cred_id, old_id)
            self.card_due_done(boot, seq)
        except StoreError as e:
            # the card is written and verified: the person has it.  The record keeps its
            # card-due note, so the step resumes at the next login (the same card then
            # asks for a supervisor's re-issue): nothing is lost, nothing is hidden
            self.board.console("store: card not noted: " + str(e))
            self.audit.record("store-error", "card " + cred_id + " not noted: " + str(e)[:60])
        self.refresh_status()

    def task_failed(self, loop, context):
        """The asyncio exception handler: a task that died of an error nobody caught (a bug) is
        logged; a card or check step it left behind is ended with a message, reader off."""
        e = context.get("exception")
        what = repr(e) if e is not None else str(context.get("message"))
        self.board.console("task failed: " + what)
        try:
            if self.audit is not None:
                self.audit.record("task-error", what[:80])
        except Exception:  # noqa: BLE001 - the handler itself must never raise
            pass
        if self.card is not None:
            self.card.close_reader()
        state = self.flow.state if self.flow is not None else None
        self.task_restarts += 1
        again = self.task_restarts <= MAX_TASK_RESTARTS  # a task that always dies is not restarted for ever
        if state in CARD_STATES and getattr(self, "card_args", None) is not None:
            self.apply(self.flow.card_done(False, "Error: tap again" if again else "Reader error: B=later"))
            if again:
                self.start_card(*self.card_args)  # the record waits for its card: ask again
        elif state == "check":
            self.apply(self.flow.check_done(["Error:", "tap again" if again else "B=back"]))
            if again:
                self.card.start_check()

    # ---- sync ------------------------------------------------------------
    async def sync_loop(self):
        """Upload pending records whenever a provisioned network is in reach; back off on failure.

        Wi-Fi is on only during a sync.  A sync never runs during a card write (RAM, and the
        officer's attention), and never blocks the keypad: every wait is an await.  The sync
        client is made at power-on (open_sync): its buffers need a heap still in one piece."""
        from firmware.sync.backoff import CAP_MS, Backoff

        backoff = Backoff(cap_ms=getattr(self.board, "SYNC_RETRY_CAP_MS", CAP_MS))
        next_ms = ticks_add(ticks_ms(), SYNC_FIRST_MS)
        while True:
            self.sync_due_ms = next_ms
            try:  # a second, or less when kicked (a save; a wake from light sleep on the sync timer)
                await asyncio.wait_for(self.sync_kick.wait(), 1)
            except asyncio.TimeoutError:
                pass
            self.sync_kick.clear()
            due = ticks_diff(ticks_ms(), next_ms) >= 0 or (self.sync_soon and backoff.failures == 0)
            if not due or self.flow.state in CARD_STATES:
                continue
            self.sync_soon = False
            if self.store.counts()["pending"] == 0:
                next_ms = ticks_add(ticks_ms(), SYNC_INTERVAL_MS)
                continue
            self.syncing = True
            try:
                ok, retry_after = await self.sync_once()
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
                self.syncing = False
            if ok is None:
                self.sync_due_ms = None
                return  # not configured: nothing to retry
            if ok:
                backoff.succeeded()
                delay = SYNC_INTERVAL_MS
            elif retry_after is LOCAL_RETRY:
                delay = LOCAL_RETRY_MS  # the device ran short of RAM (next batches are smaller): not the network
            else:
                delay = backoff.failed(retry_after)
            next_ms = ticks_add(ticks_ms(), delay)
            self.refresh_status()
            self.refresh_screen()

    async def sync_once(self):
        """One sync: Wi-Fi up, upload, Wi-Fi down.  (ok, retry_after); ok None = sync not configured."""
        from firmware.sync.client import SyncError

        if self.sync_client is None:
            if self.sync_disabled:
                return None, None  # not configured (open_sync said why)
            self.open_sync()
            if self.sync_client is None:
                return False, None
        if not await self.wifi.up():
            self.status.wifi = "none"
            self.board.console("sync: no Wi-Fi network in reach")
            return False, None
        self.status.wifi = "on"
        self.refresh_screen()
        from firmware.crypto import rng

        try:  # the radio is on: the chip's RNG is truly random now (crypto/rng.py)
            rng.reseed()
        except OSError as e:
            self.board.console("rng: seed file: " + str(e))
        try:
            n = await self.sync_client.sync()
            self.status.last_sync = _hhmm(self.clock.now())
            self.board.console("sync: " + str(n) + " records")
            return True, None
        except SyncError as e:
            self.status.last_sync = "failed"
            self.board.console("sync: " + str(e))
            self.audit.record("sync-error", str(e))
            return False, LOCAL_RETRY if e.local else e.retry_after
        finally:
            self.wifi.down()
            self.status.wifi = "off"

    def refresh_screen(self):
        """Redraw the home or status screen so that counts and icons stay current."""
        if self.flow is not None and self.flow.state in ("home", "status"):
            self.show(self.flow.render())

    # ---- tasks -----------------------------------------------------------
    def on_key(self, k, now):
        self.active_ms = now
        if not pw.key_is_typed(self.power):
            self.set_power(pw.AWAKE)  # the screen was dark: this key only wakes it
            return
        self.set_power(pw.AWAKE)
        self.keys.append((k, now))

    # ---- power -----------------------------------------------------------
    def set_power(self, state):
        """Screen brightness for the power state; light sleep itself is in power_step."""
        if state == self.power:
            return
        was = self.power
        self.power = state
        d = self.display
        if d is None:
            return
        try:
            if state in (pw.DARK, pw.SLEEP):
                if was in (pw.AWAKE, pw.DIM):
                    d.off()
            else:
                if was in (pw.DARK, pw.SLEEP):
                    d.on()
                d.dim(state == pw.DIM)
        except OSError as e:
            self.board.console("display: " + str(e))

    def busy(self, now):
        if self.keys or self.syncing or (self.flow is not None and self.flow.state in BUSY_STATES):
            return True
        return self.sync_due_ms is not None and ticks_diff(now, self.sync_due_ms) >= 0

    def power_step(self, now):
        """Dim, darken or sleep after inactivity.  In light sleep the whole loop stops until
        a key or the next sync; RAM (the officer's half-typed enrolment) is kept."""
        if self.sync_due_ms is not None and ticks_diff(now, self.sync_due_ms) >= 0 and not self.syncing:
            self.sync_kick.set()  # due: let sync_loop run now rather than at its next second
        state = pw.state_for(ticks_diff(now, self.active_ms), self.busy(now))
        self.set_power(state)
        if state == pw.SLEEP:
            timer = None if self.sync_due_ms is None else ticks_diff(self.sync_due_ms, now)
            if self.board.light_sleep(pw.sleep_ms(timer)) == "timer":
                self.sync_kick.set()  # the sync timer woke it: run now, then sleep again

    def check_battery(self, now):
        """Sample the cell; show it; below LOW sync first and refuse new work; at CRITICAL sleep."""
        if self.battery is None:
            from firmware.battery import Battery

            self.battery = Battery(self.board.battery_mv)
        elif ticks_diff(now, self.battery_ms) < BATTERY_EVERY_MS:
            return self.battery_empty_now()
        self.battery_ms = now
        self.battery.sample()
        pct = self.battery.pct()
        self.status.battery_pct = pct
        low = self.battery.low()
        self.status.battery_low = low
        if low and not self.battery_was_low:
            self.sync_soon = True  # get the records off the device while it still can
            self.sync_kick.set()
            if self.audit is not None:
                self.audit.record("battery", "low " + str(self.battery.mv) + " mV")
        self.battery_was_low = low
        return self.battery_empty_now()

    def battery_empty_now(self):
        """Critical, and no save or card write under way (a sync may be cut: it is exactly-once)."""
        return self.battery.critical() and not (self.flow is not None and self.flow.state in BUSY_STATES)

    def battery_empty(self):
        """Save what is open and deep-sleep; the ESP32 boots again after CRITICAL_SLEEP_MS."""
        if self.audit is not None:
            self.audit.record("battery", "critical " + str(self.battery.mv) + " mV: deep sleep")
        self.show(Screen("POWER", ["Battery empty:", "charge it, then", "switch on.", "", "Records safe."],
                         status=self.status))
        from firmware.ticks import sleep_ms

        sleep_ms(EMPTY_MESSAGE_MS)  # long enough to be read, then the panel goes off too
        self.shut_down()
        self.board.deep_sleep(CRITICAL_SLEEP_MS)

    def shut_down(self):
        if self.store is not None:
            self.store.close()
            self.store = None
        self.board.nfc_power(False)
        if self.display is not None:
            try:
                self.display.off()
            except OSError:
                pass

    async def run(self):
        self.board.nfc_power(False)  # the reader sleeps until a card operation
        self.display = self.start_display()
        self.show(boot_screen(VERSION, None, self.status))
        problem = self.open_services()
        if problem is not None:
            self.show(problem)
        else:
            self.show(boot_screen(VERSION, self.secrets.device_id, self.status))
            self.apply(self.flow.show())
        faultlog.clear_crashes(self.data)
        self.board.confirm_image()  # a freshly updated image has shown it starts: the bootloader keeps it
        keypad_task = None
        pins = self.board.keypad_pins() if self.flow is not None else None
        if pins is not None:
            from firmware.hw.keypad import Keypad
            from firmware.ui.keymap import ALL_KEYS

            keypad_task = asyncio.create_task(Keypad(pins[0], pins[1], ALL_KEYS).run(self.on_key, ticks_ms))
        sync_task = None
        if self.flow is not None:
            sync_task = asyncio.create_task(self.sync_loop())
        last_tick = ticks_ms()
        self.check_battery(last_tick)
        self.refresh_screen()
        while not self.board.power_off_requested():
            while self.keys and self.flow is not None:
                k, now = self.keys.pop(0)
                self.apply(self.flow.key(k, now))
            now = ticks_ms()
            if self.flow is not None and ticks_diff(now, last_tick) >= _TICK_MS:
                last_tick = now
                self.apply(self.flow.tick(now))
            if self.check_battery(now):
                self.battery_empty()
                break
            if self.flow is not None:
                self.power_step(now)
            await asyncio.sleep(_IDLE_POLL_MS / 1000)
        for task in (keypad_task, sync_task):
            if task is not None:
                task.cancel()
        if self.card is not None:
            self.card.deinit()
        self.shut_down()
        self.board.console("power off")


def main(board):
    app = App(board)
    asyncio.get_event_loop().set_exception_handler(app.task_failed)
    asyncio.run(app.run())
