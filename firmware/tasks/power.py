"""The power task: the panel's brightness for the power state (dim, dark), light sleep between
keys when nothing is under way, and the battery gauge with its thresholds (power.py is the pure
policy, battery.py the gauge).  The app calls key() for every key and step() and battery() on
each turn of its loop; what it learns goes into the status model.
"""

from firmware import power as pw
from firmware.ticks import ticks_diff, ticks_ms

BATTERY_EVERY_MS = 10 * 1000


class PowerTask:
    def __init__(self, board, status, working, keys_waiting):
        self.board = board
        self.status = status
        self.working = working  # working(): a save, a card write or a check under way
        self.keys_waiting = keys_waiting  # keys_waiting(): keys the app has not delivered yet
        self.display = None  # set by the app once the panel answers
        self.sync = None  # the sync task, once the services are open
        self.audit = None
        self.power = pw.AWAKE
        self.active_ms = ticks_ms()  # last key (or start): the power policy's idle clock
        self.battery = None
        self.battery_ms = ticks_ms()
        self.battery_was_low = False

    def key(self, now):
        """A key came: awake.  False if the screen was dark (this key only wakes it)."""
        self.active_ms = now
        typed = pw.key_is_typed(self.power)
        self.set_power(pw.AWAKE)
        return typed

    def set_power(self, state):
        """Screen brightness for the power state; light sleep itself is in step()."""
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

    def sync_due(self, now):
        due = self.sync.due_ms if self.sync is not None else None
        return due is not None and ticks_diff(now, due) >= 0

    def busy(self, now):
        if self.keys_waiting() or self.working() or (self.sync is not None and self.sync.busy):
            return True
        return self.sync_due(now)

    def step(self, now):
        """Dim, darken or sleep after inactivity.  In light sleep the whole loop stops until
        a key or the next sync; RAM (the officer's half-typed enrolment) is kept."""
        if self.sync_due(now) and not self.sync.busy:
            self.sync.wake()  # due: let the sync task run now rather than at its next second
        state = pw.state_for(ticks_diff(now, self.active_ms), self.busy(now))
        self.set_power(state)
        if state == pw.SLEEP:
            due = self.sync.due_ms if self.sync is not None else None
            timer = None if due is None else ticks_diff(due, now)
            if self.board.light_sleep(pw.sleep_ms(timer)) == "timer" and self.sync is not None:
                self.sync.wake()  # the sync timer woke it: run now, then sleep again

    def check_battery(self, now):
        """Sample the cell (every BATTERY_EVERY_MS); show it; below LOW ask for a sync first;
        True when it is empty and no save or card write is under way (the app then shuts down)."""
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
            if self.sync is not None:
                self.sync.request()  # get the records off the device while it still can
            if self.audit is not None:
                self.audit.record("battery", "low " + str(self.battery.mv) + " mV")
        self.battery_was_low = low
        return self.battery_empty_now()

    def battery_empty_now(self):
        """Critical, and no save or card write under way (a sync may be cut: it is exactly-once)."""
        return self.battery.critical() and not self.working()

    def low(self):
        return self.battery is not None and self.battery.low()
