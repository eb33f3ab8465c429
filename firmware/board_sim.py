"""Simulated board: the same names as firmware/board.py, bridged to hardware emulated on the host.

The device process holds the firmware and this thin client, nothing else: the
PN532 with its cards, the SSD1306, the key matrix, the battery ADC, the Wi-Fi
radio's reach, the person at the keypad and the passing of simulated time all
run in CPython (host_tools/sim/host.py), as the chips and the world run outside
a real ESP32.  Each bus transaction, pin level, sleep and radio call is one
request over a loopback socket (ENROL_SIM_BRIDGE=port), answered before the
firmware goes on, exactly where the ESP32 would wait for its hardware.

Wire format (firmware/bridge_wire.py has its codes, for this end and host_tools/sim/bridge.py):
  request  op (1 byte) | payload length (2, LE) | device ticks_ms (4, LE) | payload
  answer   status (1)  | payload length (2, LE) | payload
Ops: I2C_WRITE addr|data; I2C_READ addr|n -> n bytes; PIN_SET pin|level; PIN_GET pin -> level;
POLL -> skip_ms (4) | off (1); LIGHT_SLEEP ms (4) -> skip_ms (4) | woke_by_key (1);
DEEP_SLEEP ms (4); BATTERY -> mV (4, signed); WLAN sub-op [| args] -> result;
SCREEN text (the screen model, for the text view and a script's '?TEXT' waits).
Status: 0 ok, 1 no device at that I2C address (ENODEV), 2 I/O error (EIO), 3 bad request.
Simulated time: the host answers POLL and LIGHT_SLEEP with the milliseconds that passed
outside the device (a pause, a sleep); they are added to the device's own running time
(capped per gap, see _sim_ticks_ms) in the ticks every firmware module reads
(firmware.ticks.ticks_ms, replaced here before the app imports it).  The clock starts at 0
at each power-on, as the ESP32's does, or at ENROL_SIM_TICKS_START ms: the tests start it
just before the 2**30 ms wrap to run the whole device across it.

SimI2C and SimPin are also the in-process bus and pin that unit tests and benches use to
put an emulator beside a driver under test (no bridge there).
"""

import errno
import os
import sys

import firmware.ticks as _ticks
from firmware import bridge_wire as W  # the wire's codes (one module: no copy of them here)

NAME = "sim"

I2C_FREQ_HZ = 400_000
CPU_HZ = 240_000_000  # as board.py
WAIT_CPU_HZ = 80_000_000
DATA_DIR = os.getenv("ENROL_DATA_DIR") or "sim-state/flash"
# the emulated card factory's key (host_tools/sim/nxp_signer.py), given by the simulator
EXTRA_ORIGINALITY_KEYS = [bytes.fromhex(k) for k in (os.getenv("ENROL_SIM_FACTORY_KEYS") or "").split(",") if k]
# the backoff cap, as on the board; a test that needs a retry inside a window shortens it
SYNC_RETRY_CAP_MS = int(os.getenv("ENROL_SIM_SYNC_RETRY_CAP_S") or "1800") * 1000

# ---- the bridge ---------------------------------------------------------------
_OUT_ROOM = 64  # a request's payload up to this is copied behind its header: one send

# The device's clock: its own running time, each gap between two readings counted up to
# _GAP_CAP_MS, plus what the host hands back; the time a request spends on the host is not
# counted.  So a loaded host (the process descheduled for a second between two keypad scans)
# does not age the person's key presses, a multi-tap letter or an idle timer: the firmware's
# own waits are a keypad scan (20 ms), a PN532 poll and short computations, all below the cap.
_GAP_CAP_MS = 50
_real_ticks_ms = _ticks.ticks_ms
# [simulated ticks, real ticks at the last reading]
_clock = [int(os.getenv("ENROL_SIM_TICKS_START") or "0") & 0x3FFFFFFF, _real_ticks_ms()]  # 2**30 - 1


def _sim_ticks_ms():
    real = _real_ticks_ms()
    gap = _ticks.ticks_diff(real, _clock[1])
    _clock[1] = real
    if gap > 0:
        _clock[0] = _ticks.ticks_add(_clock[0], gap if gap < _GAP_CAP_MS else _GAP_CAP_MS)
    return _clock[0]


_ticks.ticks_ms = _sim_ticks_ms


class BridgeGone(Exception):
    """The host end closed: the simulated hardware is gone, like a board losing power."""


class _Bridge:
    """One request at a time over a loopback socket; buffers allocated once (a display frame
    a few times a second must not fragment the heap), and small: they are the simulator's, in
    the heap the ESP32's firmware is measured in, and a real board has none (board.py).  A long
    payload (a frame, a screen's text) is sent from where it is, not copied."""

    def __init__(self, port):
        import socket

        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        try:
            self.sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: one small message each way
        except OSError:
            pass
        self.out = bytearray(W.HEADER + _OUT_ROOM)
        self.inp = bytearray(3 + W.MAX_ANSWER)
        self.head = memoryview(self.inp)[:3]
        self.view = memoryview(self.inp)

    def call(self, op, payload=b"", payload2=None):
        """Send op with payload (+ payload2, to spare a copy); the answer's payload as a view
        into the receive buffer, valid until the next call.  Raises OSError for a bus error."""
        n = len(payload) + (len(payload2) if payload2 is not None else 0)
        if n > W.MAX_PAYLOAD:
            raise ValueError("bridge: payload too long")
        out = self.out
        now = _sim_ticks_ms()
        out[0] = op
        out[1] = n & 0xFF
        out[2] = n >> 8
        for i in range(4):
            out[3 + i] = (now >> (8 * i)) & 0xFF
        k = len(payload)
        if n <= _OUT_ROOM:
            out[W.HEADER : W.HEADER + k] = payload
            if payload2 is not None:
                out[W.HEADER + k : W.HEADER + n] = payload2
            self._send(memoryview(out)[: W.HEADER + n])
        else:
            self._send(memoryview(out)[:W.HEADER])
            self._send(memoryview(payload))
            if payload2 is not None:
                self._send(memoryview(payload2))
        self._recv(self.head)
        length = self.inp[1] | (self.inp[2] << 8)
        if length > W.MAX_ANSWER:
            raise BridgeGone("bridge: answer too long")
        status = self.inp[0]
        body = self.view[3 : 3 + length]
        self._recv(body)
        _clock[1] = _real_ticks_ms()  # the host's time is not the device's (see _GAP_CAP_MS)
        if status == W.ST_NODEV:
            raise OSError(errno.ENODEV)
        if status == W.ST_EIO:
            raise OSError(errno.EIO)
        if status != W.ST_OK:
            raise BridgeGone("bridge: the host refused request " + str(op))
        return body

    def _send(self, mv):
        sent = 0
        while sent < len(mv):
            try:
                k = self.sock.send(mv[sent:])
            except OSError as e:  # ECONNRESET, EPIPE: the host is gone
                raise BridgeGone("bridge: " + str(e))
            if not k:
                raise BridgeGone("bridge: the host closed")
            sent += k

    def _recv(self, mv):
        got = 0
        while got < len(mv):
            try:
                k = self.sock.readinto(mv[got:])
            except OSError as e:
                raise BridgeGone("bridge: " + str(e))
            if not k:
                raise BridgeGone("bridge: the host closed mid-answer" if got else "bridge: the host closed")
            got += k


_link = [None]


def _bridge():
    if _link[0] is None:
        port = os.getenv("ENROL_SIM_BRIDGE")
        if not port:
            raise BridgeGone("no simulated hardware: run the device with `make sim` or enrolctl sim "
                             "(ENROL_SIM_BRIDGE is not set)")
        _link[0] = _Bridge(int(port))
    return _link[0]


def _u32(body):
    return body[0] | (body[1] << 8) | (body[2] << 16) | (body[3] << 24)


def _i32(body):
    v = _u32(body)
    return v - (1 << 32) if v & 0x80000000 else v


def _le32(v):
    v &= 0xFFFFFFFF
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24))


def _skip(ms):
    _clock[0] = _ticks.ticks_add(_clock[0], ms)


# ---- the I2C bus ----------------------------------------------------------------
class BridgeI2C:
    """The board's I2C bus (SSD1306 + PN532), each transaction answered by the host's emulators;
    an address with nothing there is not acknowledged: OSError(ENODEV), as machine.I2C raises."""

    def __init__(self):
        self.transfers = 0
        self.bytes_moved = 0
        self._addr = bytearray(3)

    def scan(self):
        found = []
        for addr in (0x24, 0x3C):
            try:
                self.readfrom(addr, 1)
                found.append(addr)
            except OSError:
                pass
        return found

    def writeto(self, addr, buf, stop=True):
        self.transfers += 1
        self.bytes_moved += len(buf) + 1
        self._addr[0] = addr
        _bridge().call(W.OP_I2C_WRITE, memoryview(self._addr)[:1], buf)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        return self.writeto(addr, b"".join(bytes(v) for v in vector), stop)

    def readfrom_into(self, addr, buf, stop=True):
        self.transfers += 1
        self.bytes_moved += len(buf) + 1
        a = self._addr
        a[0] = addr
        a[1] = len(buf) & 0xFF
        a[2] = len(buf) >> 8
        body = _bridge().call(W.OP_I2C_READ, a)
        if len(body) != len(buf):
            raise OSError(errno.EIO)
        buf[:] = body

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)


class BridgePin:
    """A GPIO whose level the host's emulator owns (a key matrix row, the PN532's IRQ) or reads
    (a column the firmware drives, RSTPDN)."""

    IN = 0
    OUT = 1

    def __init__(self, pin_id):
        self.buf = bytearray((pin_id, 0))

    def init(self, *args, **kw):
        pass

    def value(self, v=None):
        if v is None:
            return _bridge().call(W.OP_PIN_GET, memoryview(self.buf)[:1])[0]
        self.buf[1] = 1 if v else 0
        _bridge().call(W.OP_PIN_SET, self.buf)

    def __call__(self, v=None):
        return self.value(v)


class SimI2C:
    """An in-process I2C bus for unit tests and benches: each transfer goes to the emulator
    attached at its address (write(data), read(nbytes) -> bytes: what the controller sees
    between START and STOP); nothing there: OSError(ENODEV)."""

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
    """An in-process GPIO: value() reads what a test drives, value(v) records what firmware drives."""

    def __init__(self, level=1):
        self.level = level

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0

    def __call__(self, v=None):
        return self.value(v)


_bus = [None]


def open_i2c():
    if _bus[0] is None:
        _bus[0] = BridgeI2C()
    return _bus[0]


# ---- Wi-Fi ----------------------------------------------------------------------
class SimWlan:
    """network.WLAN(STA_IF) as the firmware uses it; the radio and whether the village network
    is in reach are the host's (its 'w' line), and so is the time a join takes."""

    STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP, STAT_NO_AP_FOUND = 1000, 1001, 1010, 201

    def __init__(self):
        self.buf = bytearray(2)

    def _call(self, sub, arg=0):
        self.buf[0] = sub
        self.buf[1] = arg
        return _bridge().call(W.OP_WLAN, self.buf)

    def active(self, on=None):
        return bool(self._call(W.WLAN_ACTIVE, 2 if on is None else (1 if on else 0))[0])

    def connect(self, ssid, psk=""):
        self._call(W.WLAN_CONNECT)

    def status(self):
        body = self._call(W.WLAN_STATUS)
        return body[0] | (body[1] << 8)

    def isconnected(self):
        return bool(self._call(W.WLAN_ISCONNECTED)[0])

    def disconnect(self):
        self._call(W.WLAN_DISCONNECT)


_wlan = [None]


def wlan():
    if _wlan[0] is None:
        _wlan[0] = SimWlan()
    return _wlan[0]


def wifi_failed(wlan):
    return wlan.status() == SimWlan.STAT_NO_AP_FOUND


# ---- the PN532's lines, the keypad, the battery -----------------------------------
def nfc_pins():
    """(irq, None) of the PN532: its P70_IRQ line (low = a frame is ready)."""
    return (BridgePin(W.PIN_NFC_IRQ), None)


def nfc_power(on):
    """RSTPDN: low = hard power-down; high = running (as board.nfc_power)."""
    BridgePin(W.PIN_NFC_RSTPDN).value(1 if on else 0)


def keypad_pins():
    """(rows, cols) of the 4x4 matrix on the host."""
    return ([BridgePin(W.PIN_ROW0 + i) for i in range(4)], [BridgePin(W.PIN_COL0 + i) for i in range(4)])


def battery_mv():
    """The cell through its divider, in mV; OSError(EIO) when the ADC does not answer."""
    return _i32(_bridge().call(W.OP_BATTERY))


# ---- sleep, power, the person ------------------------------------------------------
def set_cpu_hz(hz):
    """As board.set_cpu_hz (machine.freq): the simulator's energy meter charges the clock set."""
    _bridge().call(W.OP_CPU_HZ, _le32(hz))


def light_sleep(ms):
    """As board.light_sleep: 'key' when the person presses a key, else 'timer' after `ms`
    (skipped, not waited, when the person is pausing)."""
    body = _bridge().call(W.OP_LIGHT_SLEEP, _le32(ms))
    _skip(_u32(body))
    return "key" if body[4] else "timer"


def deep_sleep(ms):
    """The ESP32 would reset after `ms`; the simulated device switches off (a later run is the boot)."""
    print("sim: deep sleep for " + str(ms // 1000) + " s (the device restarts after it)")
    _bridge().call(W.OP_DEEP_SLEEP, _le32(ms))


def power_off_requested():
    """True once the person switched the device off; lets simulated time pass meanwhile."""
    body = _bridge().call(W.OP_POLL)
    _skip(_u32(body))
    flags = body[4]
    if flags & W.POLL_MEM_REPORT:
        _mem_report()
    return bool(flags & W.POLL_OFF)


def _mem_report():
    """The person's 'mem' line: the heap as the device sees it (free bytes, the largest free run)."""
    import gc
    import micropython

    gc.collect()
    print("sim: heap free " + str(gc.mem_free()) + " B, used " + str(gc.mem_alloc()) + " B")
    micropython.mem_info()  # '... max free sz: N' in 16-byte GC blocks on a 32-bit machine


_safe_key = os.getenv("ENROL_SAFE_KEY") == "1"


def safe_key_held():
    return _safe_key


def unique_id():
    return os.getenv("ENROL_DEVICE_UID") or "51a0000000000001"


def console(text):
    print(text)


def show_screen(screen):
    """The screen model goes to the host too: its text view, and what a script waits for."""
    text = screen.text()
    if isinstance(text, str):
        text = text.encode()
    _bridge().call(W.OP_SCREEN, text[:W.MAX_PAYLOAD])


def confirm_image():
    """No bootloader here; the line lets a test see that the app confirms its image once a boot,
    after its first screen (board.confirm_image)."""
    print("image: confirmed")


def fatal_reset():
    """The host has no reset: exit non-zero so the caller sees the failure."""
    sys.exit(1)
