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

NAME = "sim"

I2C_FREQ_HZ = 400_000
DATA_DIR = os.getenv("ENROL_DATA_DIR") or "sim-state/flash"


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
        dev.write(bytes(buf))
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

    def __init__(self):
        self.on = False
        self.joined = False
        self.connects = 0

    def active(self, on=None):
        if on is None:
            return self.on
        self.on = bool(on)
        if not self.on:
            self.joined = False

    def connect(self, ssid, psk=""):
        if not self.on:
            raise OSError("wifi is off")
        self.connects += 1
        self.joined = _wifi_in_reach[0]

    def isconnected(self):
        return self.on and self.joined and _wifi_in_reach[0]

    def disconnect(self):
        self.joined = False


_wifi_in_reach = [os.getenv("ENROL_SIM_WIFI", "on") != "off"]
_wlan = SimWlan()


def wlan():
    return _wlan


def toggle_wifi():
    _wifi_in_reach[0] = not _wifi_in_reach[0]
    print("sim: Wi-Fi " + ("in reach" if _wifi_in_reach[0] else "out of reach"))


_nfc_irq = None
sim_actions = {"w": toggle_wifi}  # line -> callable, simulator-only actions (tap a card ...)


def attach_nfc_irq(pin):
    global _nfc_irq
    _nfc_irq = pin


def nfc_pins():
    """(irq, reset) of the PN532: the emulator's IRQ line if the simulator wired one."""
    return (_nfc_irq, None)


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
    (0-9, A-D or a-d, * and #; '.' waits one second, e.g. to let a multi-tap
    letter settle); a line 'q', or the end of input, switches the device off.
    A line '?TEXT' waits (up to WAIT_MS) until the screen shows TEXT, so a
    script does not depend on how fast the host runs.
    Keys are pressed for KEY_MS and released for KEY_MS, through the pins,
    so the firmware's own scanning and debouncing sees them.
    """

    KEY_MS = 60
    WAIT_MS = 60000

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

    def _feed(self):
        from firmware.ticks import ticks_add, ticks_diff, ticks_ms

        now = ticks_ms()
        if ticks_diff(now, self.next_ms) < 0:
            return
        if self.down is not None:
            _matrix.release(self.down)
            self.down = None
            self.next_ms = ticks_add(now, self.KEY_MS)
            return
        if not self.script:
            return
        k = self.script.pop(0)
        if k == ".":
            self.next_ms = ticks_add(now, 1000)
            return
        k = k.upper()
        if _matrix is not None and k in "0123456789ABCD*#":
            _matrix.press(k)
            self.down = k
        self.next_ms = ticks_add(now, self.KEY_MS)

    def power_off_requested(self):
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
            elif line.strip() in sim_actions:
                sim_actions[line.strip()]()
            else:
                self.script.extend(line.strip())
        self._feed()
        return self.off


_power = None


def power_off_requested():
    """True once the person running the simulation asked it to stop."""
    global _power
    if _power is None:
        _power = _Stdin()
    return _power.power_off_requested()


def fatal_reset():
    """The host has no reset: exit non-zero so the caller sees the failure."""
    sys.exit(1)
