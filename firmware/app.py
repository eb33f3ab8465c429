"""The device application: the wiring of the services, the tasks and the flow.

Each device has one task that owns it (tasks/: the card reader, the radio and the sync, the
power policy and the battery; the keypad's scan loop); the enrolment flow (enrol/flow.py)
takes events and returns effects, which apply() carries out: draw a screen, check an
officer's PIN, save a record (enrol/save.py), start the card task.  What a task reports is
delivered to the flow here (deliver).  Start-up:
  boot screen -> device secrets (not provisioned: say so and wait)
  -> record store recovery (report quarantines) -> officers -> login screen.
"""

import asyncio

from firmware import VERSION, faultlog
from firmware.power import AWAKE, DIM
from firmware.tasks.card import CARD_STATES
from firmware.ticks import ticks_diff, ticks_ms
from firmware.ui import render
from firmware.ui.screen import Screen, Status, Wrap, boot_screen, lit

_IDLE_POLL_MS = 50
_TICK_MS = 100
CRITICAL_SLEEP_MS = 30 * 60 * 1000  # deep sleep on an empty cell; then boot and look again
EMPTY_MESSAGE_MS = 3000
MAX_TASK_RESTARTS = 3
# A collection after every 8 KB allocated, not only when the heap is full.  Collected only when
# full, garbage filled the heap to its top between collections, so whatever was made to live
# long at such a moment (a screen, a segment's state, a late import) sat high up and cut the
# free space into pieces: 36 KB free after 20 enrolments, its largest run 1.8 KB.  With this,
# garbage stays low, long-lived objects are made low, and the free space stays whole (issue 13,
# make bench).  A collection of this heap takes about 50 us on the host (a few ms on the ESP32).
GC_THRESHOLD = 8192
# never light-sleep here: a card, a save or a payout's claim is under way
BUSY_STATES = CARD_STATES + ("check", "saving", "pay_tap", "paying", "trust_fetch")


class App:
    def __init__(self, board):
        self.board = board
        self.data = board.DATA_DIR
        self.status = Status()
        self.screen = None
        self.display = None
        self.language = None  # ui/language.py, once the device's settings are read
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
        self.sync = None  # the radio's task (tasks/sync.py), made with the services
        self.payout = None  # a payout device's radio task instead (tasks/payout.py)
        from firmware.tasks.power import PowerTask

        self.power = PowerTask(board, self.status, lambda: self.flow is not None and self.flow.state in BUSY_STATES,
                               lambda: bool(self.keys))

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

    def show(self, screen, turn=False):
        self.screen = screen
        if self.display is not None:
            try:
                if self.language is not None:
                    self.language.draw(self.display, screen, ticks_ms(), turn)
                else:
                    render.draw(self.display, screen)
            except OSError as e:
                self.board.console("display: write failed (" + str(e) + ")")
            except MemoryError:  # a frame not drawn is redrawn by the next key; never end the app for it
                import gc

                gc.collect()
                self.board.console("display: out of memory")
        self.board.show_screen(screen)

    def language_fault(self, message):
        self.board.console(message)
        if self.audit is not None:
            self.audit.record("error", message)

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
            return Screen("ERROR", ["Setup data bad:", "call technician", "", Wrap(lit(str(e)), 3)], status=self.status)
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
        from firmware.enrol import villages as village_list
        from firmware.enrol.schema import load_categories

        officers = Officers(self.data, audit)
        try:
            officers.load()
        except OfficerError as e:
            return Screen("ERROR", ["No officers:", "call technician", "", Wrap(lit(str(e)), 3)], status=self.status)
        self.audit = audit
        from firmware.ui.language import Language

        self.language = Language(self.data, self.secrets.lang, self.language_fault, self.secrets.role != "payout")
        self.power.audit = audit
        if self.secrets.role == "payout":
            self.open_payout(officers)
            return None
        villages, why = village_list.load(self.data)
        if why:
            audit.record("error", "villages.bin: " + why + ": no new enrolments")
        categories = load_categories(self.data)
        if categories is None:
            audit.record("error", "categories.json damaged: no new enrolments")
        self.flow = Flow(officers, villages, self.status, categories)
        from firmware.tasks.card import CardTask

        self.card = CardTask(self.board, self.secrets, self.clock_s, self.deliver, lambda: self.flow.state,
                             self.card_noted)
        self.load_card_due()
        self.refresh_status()
        # The sync code, then the card stack (the largest code the officer's work needs), loaded
        # now from a collected heap: module objects made after a save would stay amid the work
        # for good.  The sync's buffers are made per sync (tasks/sync.py, connect).
        import gc

        gc.collect()
        from firmware.tasks.sync import SyncTask

        self.sync = SyncTask(self.board, self.secrets, self.store, self.clock, self.audit, self.status,
                             lambda: self.flow.state, self.sync_changed)
        self.sync.open()
        self.power.sync = self.sync
        import busio  # noqa: F401
        import digitalio  # noqa: F401

        from firmware.card import writer  # noqa: F401
        from firmware.hw import nfc  # noqa: F401

        return None

    def open_payout(self, officers):
        """A payout device: its trust list, the payout flow, the card reader, the claim's radio
        task (no sync task: it keeps no records to send)."""
        import gc

        from firmware.payout.flow import PayoutFlow
        from firmware.payout.trust import TrustList
        from firmware.tasks.card import CardTask
        from firmware.tasks.payout import PayoutTask

        s = self.secrets
        trust = TrustList(self.data, s.trust_pub, s.registry_id, self.clock_s)
        if not trust.load():
            self.audit.record("error", "trust list: " + trust.problem)
        self.flow = PayoutFlow(officers, self.status, s.programmes, trust)
        self.card = CardTask(self.board, s, self.clock_s, self.deliver, lambda: self.flow.state, self.card_noted)
        self.card.trust = trust
        self.refresh_status()
        gc.collect()  # the claim's TLS context and reply buffer (2 KB) from a heap still in one piece
        self.payout = PayoutTask(self.board, s, self.clock, self.audit, self.status, trust, self.deliver)
        self.payout.open()
        self.power.sync = self.payout  # busy while it claims; never due by itself
        import busio  # noqa: F401
        import digitalio  # noqa: F401

        from firmware.hw import nfc  # noqa: F401

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
            elif kind == "switch_language":
                self.language.switch()
            elif kind == "refresh_trust":
                self.payout.start_refresh()
            elif kind == "read_card":
                if not self.card.start_pay():
                    self.apply(self.flow.card_read(False, "No card reader"))
            elif kind == "pay":
                self.claim(e[1], e[2])

    def claim(self, programme, pin):
        """The card the pay session read, the programme, the PIN (wiped once its block is made)."""
        card = self.card.paid_card
        if card is None:
            from firmware.crypto.wipe import wipe

            wipe(pin)
            self.apply(self.flow.pay_failed("card not read"))
            return
        self.payout.start_claim(card[0], card[1], card[2], programme, pin)

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
        from firmware.store import StoreError, StoreFull

        try:
            boot, seq, self.last_record_id, self.card_iat, self.due_entries = save_enrolment(
                self.store, self.clock, self.data, self.secrets.card_key, self.due_entries, fields, officer_id,
                pin, self.board.console)
        except StoreError as e:  # the detail for the technician; the officer reads what to do
            self.board.console("store: save refused: " + str(e))
            return self.flow.save_failed("Storage full: sync" if isinstance(e, StoreFull) else "Storage error: call technician")
        self.publish_due()
        self.clock.touch()
        self.sync.request()
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
        if self.power.low():
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
        elif state == "pay_tap":
            self.apply(self.flow.card_read(False, "Error: tap again" if again else "Reader error: B=back"))
            if again:
                self.card.start_pay()
        elif state == "paying":  # the claim's task died: whether it reached the registry is unknown
            self.apply(self.flow.pay_failed("error: ask registry before paying"))
        elif state == "trust_fetch":
            self.apply(self.flow.trust_done("error"))

    # ---- sync ------------------------------------------------------------
    def sync_changed(self):
        """The sync task learnt something (counts, Wi-Fi, last sync): the screens show it."""
        self.refresh_status()
        self.refresh_screen()

    def refresh_screen(self):
        """Redraw the home or status screen so that counts and icons stay current."""
        if self.flow is not None and self.flow.state in ("home", "status"):
            self.show(self.flow.render())

    # ---- tasks -----------------------------------------------------------
    def on_key(self, k, now):
        if self.power.key(now):  # else the screen was dark: this key only wakes it
            self.keys.append((k, now))

    def press(self, k, now):
        """A key for the flow, with today's date (birth dates are checked against it: the
        clock's floor when the registry has not set the clock yet)."""
        self.flow.today = self.clock.today()
        self.apply(self.flow.key(k, now))

    # ---- power -----------------------------------------------------------
    def battery_empty(self):
        """Save what is open and deep-sleep; the ESP32 boots again after CRITICAL_SLEEP_MS."""
        if self.audit is not None:
            self.audit.record("battery", "critical " + str(self.power.battery.mv) + " mV: deep sleep")
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
        self.power.display = self.display
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
        if self.sync is not None:
            self.sync.start()
        last_tick = ticks_ms()
        self.power.check_battery(last_tick)
        self.refresh_screen()
        while not self.board.power_off_requested():
            while self.keys and self.flow is not None:
                self.press(*self.keys.pop(0))
            now = ticks_ms()
            if self.flow is not None and ticks_diff(now, last_tick) >= _TICK_MS:
                last_tick = now
                self.apply(self.flow.tick(now))
            if self.power.check_battery(now):
                self.battery_empty()
                break
            if self.flow is not None:
                self.power.step(now)
                # a Khmer screen's next page, while the panel is on (a dark one spends nothing)
                if self.power.power in (AWAKE, DIM) and self.language.page_due(now) and self.screen is not None:
                    self.show(self.screen, turn=True)
            await asyncio.sleep(_IDLE_POLL_MS / 1000)
        if keypad_task is not None:
            keypad_task.cancel()
        for owner in (self.sync, self.payout, self.card):
            if owner is not None:
                owner.deinit()
        self.shut_down()
        self.board.console("power off")


def main(board):
    import gc

    gc.threshold(GC_THRESHOLD)
    app = App(board)
    asyncio.get_event_loop().set_exception_handler(app.task_failed)
    asyncio.run(app.run())
