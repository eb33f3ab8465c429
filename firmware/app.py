"""The device application: the wiring of the services, the tasks and the flow, and its main loop.

Each device has one owner: the panel's is ui/panel.py; tasks/ own the card reader, the radio, and
the power policy with the battery; hw/keypad.py runs the keypad's scan loop.  The flow (enrol/flow.py, payout/flow.py)
takes events and returns effects (firmware/effects.py), which the role's effect runner
(effect_runner.py, payout/runner.py) carries out; what a task reports goes
through the runner to the flow.
Start-up:
  boot screen -> device secrets (not provisioned: say so and wait)
  -> record store recovery (report quarantines) -> officers -> the role's services -> login.
"""

import asyncio

from firmware import VERSION, faultlog
from firmware.ui.panel import PanelOwner, open_panel
from firmware.ticks import ticks_diff, ticks_ms
from firmware.ui.screen import Screen, Status, Wrap, boot_screen, lit

_IDLE_POLL_MS = 50
_TICK_MS = 100
CRITICAL_SLEEP_MS = 30 * 60 * 1000  # deep sleep on an empty cell; then boot and look again
EMPTY_MESSAGE_MS = 3000
# A collection after every 8 KB allocated, not only when the heap is full.  Collected only when
# full, garbage filled the heap to its top between collections, so whatever was made to live
# long at such a moment (a screen, a segment's state, a late import) sat high up and cut the
# free space into pieces: 36 KB free after 20 enrolments, its largest run 1.8 KB.  With this,
# garbage stays low, long-lived objects are made low, and the free space stays whole (issue 13,
# make bench).  A collection of this heap takes about 50 us on the host (a few ms on the ESP32).
GC_THRESHOLD = 8192


class App:
    def __init__(self, board):
        self.board = board
        self.data = board.DATA_DIR
        self.status = Status()
        self.display = PanelOwner(board, None)  # the panel itself is brought up in run()
        self.flow = None
        self.runner = None  # the role's effect runner (effect_runner.py, payout/runner.py)
        self.secrets = None
        self.store = None
        self.audit = None
        self.clock = None
        self.card = None  # tasks/card.py
        self.sync = None  # tasks/sync.py (an enrolment device)
        self.radio = None  # the radio's task: the sync, or a payout point's tasks/payout.py
        self.power = None  # tasks/power.py, made with the services
        self.keys = []  # key presses waiting for the loop

    def say_fault(self, message):
        self.board.console(message)
        if self.audit is not None:
            self.audit.record("error", message)

    # ---- start-up --------------------------------------------------------
    def open_services(self):
        """Secrets, store, officers, then the role's services.  Returns None, or the Screen that
        explains why not.  Imports are made here, in order, so that a device that is not
        provisioned never loads (into RAM) the code it cannot use."""
        from firmware.store import secrets

        try:
            self.secrets = secrets.load(self.data)
        except secrets.NotProvisioned:
            return Screen("ENROL", ["Not provisioned", "", "Connect to a", "technician"], status=self.status)
        except secrets.SecretsError as e:
            self.board.console("secrets: " + str(e))
            return Screen("ERROR", ["Setup data bad:", "call technician", "", Wrap(lit(str(e)), 3)], status=self.status)
        from firmware.clock import Clock, local_date, when_said
        from firmware.store.audit import AuditLog
        from firmware.store.records import RecordStore

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
        self.status.last_sync = when_said(self.store.last_synced(), local_date(self.clock.now()))
        from firmware.enrol.officer import OfficerError, Officers

        officers = Officers(self.data, audit)
        try:
            officers.load()
        except OfficerError as e:
            return Screen("ERROR", ["No officers:", "call technician", "", Wrap(lit(str(e)), 3)], status=self.status)
        self.audit = audit
        from firmware.ui.language import Language

        payout = self.secrets.role == "payout"
        self.display.use_language(Language(self.data, self.secrets.lang, self.say_fault, not payout))
        if payout:
            self.open_payout(officers)
        else:
            self.open_enrolment(officers)
        return None

    def open_enrolment(self, officers):
        """An enrolment device: villages, categories, the cards due, the flow, the card reader,
        the sync."""
        import gc

        from firmware.effect_runner import EnrolRunner
        from firmware.enrol import villages as village_list
        from firmware.enrol.flow import Flow
        from firmware.enrol.schema import load_categories
        from firmware.store.cards_due import CardsDue
        from firmware.tasks.card import CardTask

        villages, why = village_list.load(self.data)
        if why:
            self.audit.record("error", "villages.bin: " + why + ": no new enrolments")
        categories = load_categories(self.data)
        if categories is None:
            self.audit.record("error", "categories.json damaged: no new enrolments")
        cards = CardsDue(self.data, self.secrets.card_key, self.board.console)
        problem = cards.load(self.store.cards_due())  # a verified card, or a record gone: not due
        if problem is not None:  # the records are safe in the journal, still counted as cards due
            self.board.console(problem)
            self.audit.record("card-due", problem)
        self.flow = flow = Flow(officers, villages, self.status, categories, cards)
        self.card = CardTask(self.board, self.secrets, self.clock_s, self.deliver, flow.card_session)
        self.refresh_status()
        # The sync code, then the card stack (the largest code the officer's work needs), loaded
        # now from a collected heap: module objects made after a save would stay amid the work
        # for good.  The sync's buffers are made per sync (tasks/sync.py, connect).
        gc.collect()
        from firmware.tasks.sync import SyncTask

        self.sync = self.radio = SyncTask(self.board, self.secrets, self.store, self.clock, self.audit, self.status,
                                          lambda: flow.in_card_step() or self.card.writing, self.sync_changed)
        self.sync.open()
        self.power = self.make_power()
        self.runner = EnrolRunner(self.board, flow, self.display, self.power, self.card, self.audit, self.store,
                                  self.clock, cards, self.sync, self.refresh_status)
        from firmware.card import writer  # noqa: F401
        from firmware.hw import nfc  # noqa: F401

    def open_payout(self, officers):
        """A payout device: its trust list, the payout flow, the card reader, the claim's radio
        task (no sync task: it keeps no records to send)."""
        import gc

        from firmware.payout.runner import PayoutRunner
        from firmware.payout.flow import PayoutFlow
        from firmware.payout.trust import TrustList
        from firmware.tasks.card import CardTask
        from firmware.tasks.payout import PayoutTask

        s = self.secrets
        trust = TrustList(self.data, s.trust_pub, s.registry_id, self.clock_s)
        if not trust.load():
            self.audit.record("error", "trust list: " + trust.problem)
        self.flow = flow = PayoutFlow(officers, self.status, s.programmes, trust)
        self.card = CardTask(self.board, s, self.clock_s, self.deliver, flow.card_session, trust)
        self.refresh_status()
        gc.collect()  # the claim's TLS context and reply buffer (2 KB) from a heap still in one piece
        self.radio = PayoutTask(self.board, s, self.clock, self.audit, self.status, trust, self.deliver)
        self.radio.open()
        self.power = self.make_power()
        self.runner = PayoutRunner(self.board, flow, self.display, self.power, self.card, self.audit, self.radio)
        from firmware.hw import nfc  # noqa: F401

    def make_power(self):
        from firmware.tasks.power import PowerTask

        return PowerTask(self.board, self.status, self.display, self.radio, self.audit,
                         lambda: self.flow is not None and self.flow.busy(), lambda: bool(self.keys))

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

    # ---- what the tasks and the keypad report ----------------------------
    def deliver(self, event, *args):
        self.runner.deliver(event, *args)

    def sync_changed(self):
        """The sync task learnt something (counts, Wi-Fi, last sync): the screens show it."""
        self.refresh_status()
        if self.flow is not None and self.flow.state in ("home", "status"):
            self.display.show(self.flow.render())

    def on_key(self, k, now):
        if self.power.key(now):  # else the screen was dark: this key only wakes it
            self.keys.append((k, now))

    def press(self, k, now):
        """A key for the flow, with today's date (birth dates are checked against it: the
        clock's floor when the registry has not set the clock yet)."""
        self.flow.today = self.clock.today()
        self.runner.apply(self.flow.key(k, now))

    def task_failed(self, loop, context):
        if self.runner is not None:
            self.runner.task_failed(loop, context)
        else:
            self.board.console("task failed: " + repr(context.get("exception") or context.get("message")))

    # ---- power -----------------------------------------------------------
    def battery_empty(self):
        """Save what is open and deep-sleep; the ESP32 boots again after CRITICAL_SLEEP_MS."""
        if self.audit is not None:
            self.audit.record("battery", "critical " + str(self.power.battery.mv) + " mV: deep sleep")
        self.display.show(Screen("POWER", ["Battery empty:", "charge it, then", "switch on.", "", "Records safe."],
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
        self.display.off()

    async def run(self):
        self.board.set_cpu_hz(self.board.CPU_HZ)  # before any work: the board boots at 160 MHz
        self.board.nfc_power(False)  # the reader sleeps until a card operation
        self.display.panel = open_panel(self.board)
        self.display.show(boot_screen(VERSION, None, self.status))
        problem = self.open_services()
        if problem is not None:
            self.display.show(problem)
            self.power = self.make_power()
        else:
            self.display.show(boot_screen(VERSION, self.secrets.device_id, self.status))
            self.runner.apply(self.flow.show())
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
        self.sync_changed()
        while not self.board.power_off_requested():
            while self.keys and self.flow is not None:
                self.press(*self.keys.pop(0))
            now = ticks_ms()
            if self.flow is not None and ticks_diff(now, last_tick) >= _TICK_MS:
                last_tick = now
                self.runner.apply(self.flow.tick(now))
            if self.power.check_battery(now):
                self.battery_empty()
                break
            if self.flow is not None:
                self.power.step(now)
                self.display.turn_page(now)
            await asyncio.sleep(_IDLE_POLL_MS / 1000)
        if keypad_task is not None:
            keypad_task.cancel()
        for owner in (self.radio, self.card):
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
