"""Simulated board: the same names as firmware/board.py, for host runs.

Hardware is reached through the same interfaces as on the ESP32 (an I2C bus
with writeto/readfrom_into, pins with value()), but the devices on the bus are
emulators attached by whoever starts the simulation (host_tools/sim or a
test).  An address with nothing attached does what a real bus does: the
address byte is not acknowledged and the call raises OSError(ENODEV).
"""

import errno
import os
import sys

import firmware.ticks as _ticks

NAME = "sim"

# ---- simulated time ---------------------------------------------------------
# The simulator's person can pause ("+N" seconds in a script) and the device can sleep
# for minutes: neither is waited for in real time.  Time skipped is added to the ticks
# every firmware module reads (firmware.ticks.ticks_ms, replaced here before the app
# imports it), and the energy meter counts it in the power states of that moment.
_skew = [0]
_real_ticks_ms = _ticks.ticks_ms


def _sim_ticks_ms():
    return _ticks.ticks_add(_real_ticks_ms(), _skew[0])


_ticks.ticks_ms = _sim_ticks_ms
_meter = [None]  # host_tools/sim/energy.py Meter, attached by the simulator
_cpu = ["awake"]


def attach_meter(meter):
    _meter[0] = meter


def meter_tick():
    if _meter[0] is not None:
        _meter[0].tick()


def advance(ms):
    """Skip `ms` of simulated time in the current power states."""
    meter_tick()
    _skew[0] += ms
    meter_tick()

I2C_FREQ_HZ = 400_000
DATA_DIR = os.getenv("ENROL_DATA_DIR") or "sim-state/flash"
EXTRA_ORIGINALITY_KEYS = []  # the emulated card factory's key (host_tools/sim/nxp_signer.py), added by the simulator
# the backoff cap, as on the board; a test that needs a retry inside a window shortens it
SYNC_RETRY_CAP_MS = int(os.getenv("ENROL_SIM_SYNC_RETRY_CAP_S") or "1800") * 1000


class SimI2C:
    """An I2C bus routing each transfer to the emulator attached at its address.

    An emulator implements write(data) and read(nbytes) -> bytes at the level
    of the bus transaction (what the controller sees between START and STOP).
    """

    def __init__(self):
        self.devices = {}
        self.transfers = 0
        self.bytes_moved = 0

    def attach(self, addr, device):
        self.devices[addr] = device

    def _dev(self, addr):
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV)
        return dev

    def scan(self):
        return sorted(self.devices)

    def writeto(self, addr, buf, stop=True):
        dev = self._dev(addr)
        self.transfers += 1
        self.bytes_moved += len(buf) + 1
        dev.write(buf)  # no copy: a 1 KB display frame each time would fragment the heap
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        return self.writeto(addr, b"".join(bytes(v) for v in vector), stop)

    def readfrom_into(self, addr, buf, stop=True):
        dev = self._dev(addr)
        self.transfers += 1
        self.bytes_moved += len(buf) + 1
        data = dev.read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)


class SimPin:
    """A GPIO: value() reads what the simulation drives, value(v) records what firmware drives."""

    def __init__(self, level=1):
        self.level = level

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0

    def __call__(self, v=None):
        return self.value(v)


_bus = SimI2C()
_matrix = None  # a key matrix emulator (host_tools/sim/keypad.py), attached by the simulator
_safe_key = os.getenv("ENROL_SAFE_KEY") == "1"


def bus():
    """The one simulated I2C bus; the simulator attaches its emulators here."""
    return _bus


def open_i2c():
    return _bus


class SimWlan:
    """The station interface as network.WLAN has it; whether a network is in reach is the
    simulation's choice (ENROL_SIM_WIFI=off, or the 'w' command).  When it is, the sync's
    sockets reach the registry on the host's loopback."""

    # network.WLAN.status() values of the ESP32 port
    STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP, STAT_NO_AP_FOUND = 1000, 1001, 1010, 201
    CONNECT_MS = 1600  # association + DHCP (the ESP32 figure), spent in state 'connect'
    SCAN_MS = 2500  # an all-channel scan that finds no provisioned network

    def __init__(self):
        self.on = False
        self.joined = False
        self.connecting = False
        self.done_ms = 0  # when the join under way ends (simulated ticks)
        self.connects = 0
        self.joins = 0
        self.failed = False

    def active(self, on=None):
        if on is None:
            return self.on
        meter_tick()
        self.on = bool(on)
        if not self.on:
            self.joined = self.connecting = False

    def connect(self, ssid, psk=""):
        """Starts joining, as on the ESP32: it takes CONNECT_MS (in reach) or SCAN_MS (not),
        in simulated time, while the firmware keeps running."""
        if not self.on:
            raise OSError("wifi is off")
        meter_tick()
        self.connects += 1
        self.connecting = True
        self.failed = self.joined = False
        self.done_ms = _ticks.ticks_add(_ticks.ticks_ms(), self.CONNECT_MS if _wifi_in_reach[0] else self.SCAN_MS)

    def _settle(self):
        if self.connecting and _ticks.ticks_diff(_ticks.ticks_ms(), self.done_ms) >= 0:
            meter_tick()
            self.connecting = False
            self.joined = _wifi_in_reach[0]
            self.joins += self.joined
            self.failed = not self.joined

    def status(self):
        self._settle()
        if self.isconnected():
            return self.STAT_GOT_IP
        if self.connecting:
            return self.STAT_CONNECTING
        return self.STAT_NO_AP_FOUND if self.failed else self.STAT_IDLE

    def isconnected(self):
        self._settle()
        return self.on and self.joined and _wifi_in_reach[0]

    def disconnect(self):
        meter_tick()
        self.joined = self.connecting = False

    def power_state(self):
        """For the energy meter (no side effects: the meter calls it while ticking)."""
        if not self.on:
            return "off"
        return "connect" if self.connecting else "on"


_wifi_in_reach = [os.getenv("ENROL_SIM_WIFI", "on") != "off"]
_wlan = SimWlan()


def wlan():
    return _wlan


def wifi_failed(wlan):
    return wlan.status() == SimWlan.STAT_NO_AP_FOUND


def toggle_wifi():
    _wifi_in_reach[0] = not _wifi_in_reach[0]
    print("sim: Wi-Fi " + ("in reach" if _wifi_in_reach[0] else "out of reach"))


_nfc_irq = None
_nfc_rstpdn = None
sim_actions = {"w": toggle_wifi}  # line -> callable, simulator-only actions (tap a card ...)


def attach_nfc(irq, rstpdn=None):
    """The emulator's IRQ line (read) and RSTPDN line (driven by nfc_power)."""
    global _nfc_irq, _nfc_rstpdn
    _nfc_irq = irq
    _nfc_rstpdn = rstpdn


def nfc_pins():
    """(irq, None) of the PN532: the emulator's IRQ line if the simulator wired one."""
    return (_nfc_irq, None)


def nfc_power(on):
    """RSTPDN: low = hard power-down; high = running (as board.nfc_power)."""
    if _nfc_rstpdn is not None:
        meter_tick()
        _nfc_rstpdn.value(1 if on else 0)


# ---- battery ----------------------------------------------------------------
_battery = [os.getenv("ENROL_SIM_BATTERY_MV") or "3950"]  # mV, or 'noise' / 'none' for a bad reading


def set_battery(text):
    _battery[0] = text
    print("sim: battery " + text + (" mV" if text.isdigit() else ""))


def battery_mv():
    v = _battery[0]
    if v == "none":
        raise OSError(errno.EIO)  # the ADC did not answer
    if v == "noise":
        import random

        return random.choice((0, 65535, 9999, -40))
    return int(v)


# ---- sleep ------------------------------------------------------------------
_slept = {"light": 0, "deep": 0}


def light_sleep(ms):
    """As board.light_sleep: 'key' when the person presses a key (a script's next key, a
    line typed at the terminal), else 'timer' after `ms` (skipped, not waited, in a pause)."""
    _slept["light"] += 1
    meter_tick()
    _cpu[0] = "light_sleep"
    try:
        return _person().sleep_until_key(ms)
    finally:
        meter_tick()
        _cpu[0] = "awake"


def deep_sleep(ms):
    """The ESP32 would reset after `ms`; the simulated device switches off (a later run is the boot)."""
    _slept["deep"] += 1
    meter_tick()
    _cpu[0] = "deep_sleep"
    print("sim: deep sleep for " + str(ms // 1000) + " s (the device restarts after it)")
    _person().off = True


def attach_keypad(matrix):
    global _matrix
    _matrix = matrix


def keypad_pins():
    """(rows, cols) of the attached key matrix, or None when the simulation has no keypad."""
    if _matrix is None:
        return None
    return _matrix.rows, _matrix.cols


def safe_key_held():
    return _safe_key


def unique_id():
    return os.getenv("ENROL_DEVICE_UID") or "51a0000000000001"


def console(text):
    print(text)


_last_screen = [""]


def show_screen(screen):
    """Mirror every screen model on stdout, so a run without an OLED emulator still shows it."""
    _last_screen[0] = screen.text()
    if _echo_screens:
        print("+" + "-" * 16 + "+")
        for row in screen.text().split("\n"):
            print("|" + row + " " * (16 - len(row)) + "|")
        print("+" + "-" * 16 + "+")


_echo_screens = os.getenv("ENROL_SIM_QUIET") != "1"


class _Stdin:
    """The person at the simulator: lines on stdin.

    Each character of a line is a key press on the attached keypad matrix
    (0-9, A-D or a-d, * and #; '.' is one second of simulated time, e.g. to let
    a multi-tap letter settle); a line 'q', or the end of input, switches the device off.
    A line '?TEXT' waits (up to WAIT_MS) until the screen shows TEXT, so a
    script does not depend on how fast the host runs.  A line '+N' is the person
    doing nothing for N seconds: simulated time, skipped in steps of up to
    PAUSE_STEP_MS so the firmware's timers see it pass (dim, sleep, sync).
    A line 'bNNNN' sets the battery to NNNN mV ('bnoise', 'bnone': bad readings);
    a line '=LABEL' records the energy meter's totals under LABEL.
    Keys are pressed for KEY_MS and released for KEY_MS, through the pins,
    so the firmware's own scanning and debouncing sees them; ENROL_SIM_KEY_GAP_MS
    adds simulated time between keys (a person's pace, for the energy bench; it also
    covers the debounce, so ENROL_SIM_KEY_MS can then be as short as one scan).
    """

    KEY_MS = int(os.getenv("ENROL_SIM_KEY_MS") or "60")  # > the keypad's 40 ms debounce
    WAIT_MS = 60000
    PAUSE_STEP_MS = 2000  # the power policy's thresholds are 20 s apart

    def __init__(self):
        import select

        self.poll = select.poll()
        self.poll.register(sys.stdin, select.POLLIN)
        self.off = False
        self.script = []
        self.down = None
        self.next_ms = 0
        self.waiting_for = None
        self.wait_until = 0
        self.pause_ms = 0
        self.key_gap_ms = int(os.getenv("ENROL_SIM_KEY_GAP_MS") or "0")

    def sleep_until_key(self, ms):
        if self.waiting_for is not None:  # the person waits for the device to act by itself
            advance(ms)
            return "timer"
        if self.pause_ms:
            skip = min(ms, self.pause_ms)
            self.pause_ms -= skip
            advance(skip)
            return "timer" if skip == ms else "key" if self._next_is_key() else "timer"
        if self.script or self.down is not None:
            return "key" if self._next_is_key() else "timer"
        if self.off:
            return "timer"
        # an interactive person: wait (real time) for a line at the terminal
        if self.poll.poll(ms):
            return "key"
        return "timer"

    def _next_is_key(self):
        return self.down is not None or bool(self.script) and self.script[0].upper() in "0123456789ABCD*#"

    def _feed(self):
        from firmware.ticks import ticks_add, ticks_diff, ticks_ms

        now = ticks_ms()
        if ticks_diff(now, self.next_ms) < 0:
            return
        if self.down is not None:
            _matrix.release(self.down)
            self.down = None
            if self.key_gap_ms:
                advance(self.key_gap_ms)
                now = ticks_ms()
            self.next_ms = ticks_add(now, self.KEY_MS)
            return
        if not self.script:
            return
        k = self.script.pop(0)
        if k == ".":
            advance(1000)  # a second of simulated time (lets a multi-tap letter settle), not waited
            return
        k = k.upper()
        if _matrix is not None and k in "0123456789ABCD*#":
            _matrix.press(k)
            self.down = k
        self.next_ms = ticks_add(now, self.KEY_MS)

    def power_off_requested(self):
        meter_tick()
        if self.pause_ms:
            # finer steps while the radio is on, so a join ends when it would, not a second late
            step = min(self.pause_ms, self.PAUSE_STEP_MS if not _wlan.on else self.PAUSE_STEP_MS // 10)
            self.pause_ms -= step
            advance(step)
            return self.off
        if self.waiting_for is not None:
            from firmware.ticks import ticks_diff, ticks_ms

            if self.waiting_for in _last_screen[0] or ticks_diff(ticks_ms(), self.wait_until) > 0:
                self.waiting_for = None
            return self.off
        if not self.off and not self.script and self.down is None and self.poll.poll(0):
            line = sys.stdin.readline()
            if line.startswith("?"):
                from firmware.ticks import ticks_add, ticks_ms

                self.waiting_for = line[1:].rstrip("\n")
                self.wait_until = ticks_add(ticks_ms(), self.WAIT_MS)
            elif not line or line.strip() == "q":
                self.off = True
            elif line.startswith("=") and _meter[0] is not None:
                _meter[0].mark(line[1:].strip())  # an energy mark (make bench's scripted day)
            elif line.startswith("+") and line[1:].strip().isdigit():
                self.pause_ms = int(line[1:]) * 1000
            elif line.startswith("b") and len(line.strip()) > 1 and line.strip() not in sim_actions:
                set_battery(line.strip()[1:])
            elif line.strip() in sim_actions:
                sim_actions[line.strip()]()
            elif line.split(" ", 1)[0] in sim_actions and " " in line.strip():  # an action with an argument
                word, arg = line.strip().split(" ", 1)
                sim_actions[word](arg.strip())
            else:
                self.script.extend(line.strip())
        self._feed()
        return self.off


_power = None


def _person():
    global _power
    if _power is None:
        _power = _Stdin()
    return _power


def power_off_requested():
    """True once the person running the simulation asked it to stop."""
    return _person().power_off_requested()


def fatal_reset():
    """The host has no reset: exit non-zero so the caller sees the failure."""
    sys.exit(1)
