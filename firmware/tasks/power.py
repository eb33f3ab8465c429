"""The power task: the power state (awake, dim, dark, sleep: power.py is the pure policy), which
the panel's owner (ui/panel.py) turns into brightness; light sleep between keys when nothing
is under way (a nap with the screen on, then the long sleep with it off); the battery gauge
with its thresholds (battery.py).  The app calls key() for every key and step() and
check_battery() on each turn of its loop; what it learns goes into the status model.  The
radio's task (tasks/sync.py, tasks/payout.py) tells it when the radio is busy or wants to run
(busy, due_ms) and is woken for it (wake, request).
"""

from firmware import power as pw
from firmware.ticks import ticks_diff, ticks_ms

BATTERY_EVERY_MS = 10 * 1000


class PowerTask:
    def __init__(self, board, status, display, radio, audit, working, keys_waiting):
        self.board = board
        self.status = status
        self.display = display  # the panel's owner (ui/panel.py): set_power(state)
        self.radio = radio  # the radio's task, or None (a device not provisioned)
        self.audit = audit  # or None (a device not provisioned)
        self.working = working  # working(): a save, a card write, a check or a claim under way
        self.keys_waiting = keys_waiting  # keys_waiting(): keys the app has not delivered yet
        self.power = pw.AWAKE
        self.active_ms = ticks_ms()  # last key (or start): the power policy's idle clock
        self.battery = None
        self.battery_ms = ticks_ms()
        self.battery_was_low = False
        self.cpu_hz = board.CPU_HZ  # app.run set it before any work

    def clock(self, fast):
        """The CPU clock for what comes (set only when it changes: machine.freq takes a while)."""
        hz = self.board.CPU_HZ if fast else self.board.WAIT_CPU_HZ
        if hz != self.cpu_hz:
            self.cpu_hz = hz
            self.board.set_cpu_hz(hz)

    def key(self, now):
        """A key came: awake.  False if the screen was dark (this key only wakes it)."""
        self.active_ms = now
        self.clock(True)  # before the key's screen is made
        typed = pw.key_is_typed(self.power)
        self.set_power(pw.AWAKE)
        return typed

    def set_power(self, state):
        """The power state, told to the panel's owner; light sleep itself is in step()."""
        self.power = state
        if self.display is not None:
            self.display.set_power(state)

    def radio_due(self, now):
        due = self.radio.due_ms if self.radio is not None else None
        return due is not None and ticks_diff(now, due) >= 0

    def busy(self, now):
        if self.keys_waiting() or self.working() or (self.radio is not None and self.radio.busy):
            return True
        return self.radio_due(now)

    def step(self, now):
        """Dim, darken or sleep after inactivity, and nap between keys.  In light sleep the whole
        loop stops until a key or the next sync (or, in a nap, the next power step or page); RAM
        (the officer's half-typed enrolment) is kept."""
        if self.radio_due(now) and not self.radio.busy:
            self.radio.wake()  # due: let the sync task run now rather than at its next second
        idle, busy = ticks_diff(now, self.active_ms), self.busy(now)
        state = pw.state_for(idle, busy)
        self.set_power(state)
        self.clock(pw.fast_clock(idle, busy))
        due = self.radio.due_ms if self.radio is not None else None
        timer = None if due is None else ticks_diff(due, now)
        if state == pw.SLEEP:
            ms = pw.sleep_ms(timer)
        else:  # a nap between keys, the screen as it is: until a key, the next step or timer
            page = self.display.next_page_ms(now) if self.display is not None else None
            if page is not None and (timer is None or page < timer):
                timer = page  # a Khmer page turns before the sync is due
            ms = pw.nap_ms(idle, busy, timer)
            if not ms:
                return
        if self.board.light_sleep(ms) == "timer" and self.radio is not None:
            self.radio.wake()  # a timer woke it: the sync looks whether it is due, then sleep again

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
            if self.radio is not None:
                self.radio.request()  # get the records off the device while it still can
            if self.audit is not None:
                self.audit.record("battery", "low " + str(self.battery.mv) + " mV")
        self.battery_was_low = low
        return self.battery_empty_now()

    def battery_empty_now(self):
        """Critical, and no save or card write under way (a sync may be cut: it is exactly-once)."""
        return self.battery.critical() and not self.working()

    def low(self):
        return self.battery is not None and self.battery.low()
