"""The simulated device's world (CPython): its hardware, the person at it, and the terminal view.

    python -m host_tools.sim.host        (make sim and enrolctl sim run it; tests too)

It starts the device, our 32-bit MicroPython with the firmware frozen
(build/runtime/micropython) at the ESP32's heap (ENROL_SIM_HEAP, default
SIM_HEAPSIZE), and answers the device's bridge requests (firmware/board_sim.py)
with emulators: the SSD1306 (drawn here in the terminal), the PN532 and the
NTAG cards in its field, the 4x4 key matrix, the battery's ADC and the village
Wi-Fi's reach.  The person is this process's standard input, a line at a time:
  keys 0-9, A-D, * and # are pressed on the matrix (a '.' is one second that lets
  a multi-tap letter settle); 't' taps a new NTAG215, 'again' the last card,
  'clone' a copy of it without NXP's signature, 'r' takes the card away, 'cards'
  lists the wallet, 'tap UID' presents one of its cards ('tap SOPHEA' the one issued to
  SOPHEA: a citizen at a payout point); 'tlocked', 't213',
  'tclassic', 'tphone' tap cards the writer must refuse; 'thostile' a card whose record holds
  hostile CBOR (each tap the next kind); 'w' takes the Wi-Fi out
  of reach or back; 'bNNNN' sets the cell to NNNN mV ('bnoise', 'bnone'); '+N'
  is N seconds of nobody touching the device (simulated time, not waited);
  '?TEXT' waits until the screen shows TEXT; '=LABEL' marks the energy totals; 'mem' has the
  device print its heap (free bytes, the largest free run);
  'p' pulls the battery (the device is killed wherever it is and switched on
  again on the same flash; the card stays in the field, the Wi-Fi as it was);
  'q' or the end of input switches it off.
Environment: ENROL_DATA_DIR (the flash), ENROL_SIM_WALLET (cards written),
ENROL_SIM_VIEW=pixels|text, ENROL_SIM_QUIET=1 (no text view), ENROL_SIM_WIFI=off,
ENROL_SIM_BATTERY_MV, ENROL_SIM_KEY_MS, ENROL_SIM_KEY_GAP_MS, ENROL_SIM_ENERGY=FILE
(time in each power state, JSON, at the end; '=LABEL' lines append to FILE.marks).
The device's own output (its console) goes to the same standard output.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the emulators share a few pure helpers with the firmware (ticks arithmetic, the secp128r1 curve)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware.ticks import ticks_add, ticks_diff  # noqa: E402
from host_tools.enrolctl.runtime import SIM_HEAPSIZE
from host_tools.sim import bridge as b  # noqa: E402
from host_tools.sim.energy import Meter, energy_cpu_state
from host_tools.sim.keypad import KeyMatrix
from host_tools.sim.ntag import NTAG21x
from host_tools.sim.nxp_signer import FactorySigner
from host_tools.sim.frames import FrameWriter
from host_tools.sim.reader import OtherCard, PN532Reader
from host_tools.sim.ssd1306 import SSD1306Emulator

KEYS = "0123456789ABCD*#"
BORDER = "+" + "-" * 16 + "+"
PIXEL_HINT = "keys: 0-9 A=OK B=back C=del D=help * # ; Enter sends; t/r card, w Wi-Fi, p power cut, q quits"
CLEAR = "\x1b[2J\x1b[H"
# what the person is told when the panel changes by itself (ui/panel.py dims it after 20 s untouched,
# darkens it after 40 s; the first key on a dark panel only wakes it: power.key_is_typed)
PANEL_NOTES = {"dim": "the panel dimmed (nobody touched a key for 20 s)",
               "off": "the panel is dark, saving the battery: the first key only wakes it"}
PIXEL_COLS, PIXEL_ROWS = 128, 36  # the panel at one column and half a row a pixel, its faint line, the hint, a note


def _fitting_view() -> str:
    """The pixel view where the terminal holds it; a narrower one would wrap it into noise,
    so it gets the text view, and is told why."""
    if not sys.stdout.isatty():
        return "pixels"
    try:  # the terminal's own size (shutil's would prefer $COLUMNS and $LINES, which a CI sets)
        cols, rows = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        cols, rows = shutil.get_terminal_size()
    if cols >= PIXEL_COLS and rows >= PIXEL_ROWS:
        return "pixels"
    print(f"sim: this terminal is {cols}x{rows}; the pixel view needs {PIXEL_COLS}x{PIXEL_ROWS}: showing the "
          "screen as text (a wider window, or ENROL_SIM_VIEW=pixels, shows the pixels)", flush=True)
    return "text"


# what an attacker might write on a card for a verifier to read: deep nesting, huge declared lengths,
# a tag as a map key, colliding keys, invalid UTF-8 in a claim, a COSE_Sign1 of the wrong shape
HOSTILE_PAYLOADS = (
    b"\x81" * 200 + b"\x80",
    b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xd2\xa1\xc1\x00\x00",
    b"\xd2\x84\x40\xa2\x01\x00\xf5\x00\x40\x40",
    b"\xd2\x84\x43\xa1\x01\x27\xa0\x45\xa1\x02\x62\xed\xa0\x58\x40" + bytes(64),
    b"\xd2\x83\x40\xa0\x40",
    bytes(range(256))[:180],
)


class PowerCut(Exception):
    """The person pulled the battery: the device is killed before its request is answered."""


class Lines:
    """The person's standard input, read by a thread so a wait can time out on a pipe or a terminal."""

    def __init__(self, stream=None) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.peeked: str | None = None
        threading.Thread(target=self._read, args=(stream or sys.stdin,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.q.put(line)
        self.q.put("")  # end of input

    def ready(self, timeout_s: float = 0) -> bool:
        if self.peeked is None:
            try:
                self.peeked = self.q.get(timeout=timeout_s) if timeout_s > 0 else self.q.get_nowait()
            except queue.Empty:
                return False
        return True

    def readline(self) -> str:
        self.ready(3600 * 24)
        line, self.peeked = self.peeked or "", None
        return line


class Wlan:
    """The ESP32's station interface seen from outside: a join takes CONNECT_MS when the village
    network is in reach, SCAN_MS (then 'no AP found') when not, in simulated time."""

    STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP, STAT_NO_AP_FOUND = 1000, 1001, 1010, 201
    CONNECT_MS = 1600  # association + DHCP (ESP32-PERF.md: 1.6 s measured)
    SCAN_MS = 2500  # an all-channel scan that finds no provisioned network

    def __init__(self, world: World) -> None:
        self.world = world
        self.on = self.joined = self.connecting = self.failed = False
        self.done_ms = 0
        self.connects = self.joins = 0

    def _settle(self) -> None:
        if self.connecting and ticks_diff(self.world.now, self.done_ms) >= 0:
            self.world.meter.tick()
            self.connecting = False
            self.joined = self.world.wifi_in_reach
            self.joins += self.joined
            self.failed = not self.joined

    def request(self, sub: int, arg: int) -> bytes:
        if sub == b.WLAN_ACTIVE:
            if arg != 2:
                self.on = bool(arg)
                if not self.on:
                    self.joined = self.connecting = False
            return bytes((self.on,))
        if sub == b.WLAN_CONNECT:
            if not self.on:
                raise b.Refused(b.ST_EIO)  # network.WLAN raises when the interface is not active
            self.connects += 1
            self.connecting, self.failed, self.joined = True, False, False
            self.done_ms = ticks_add(self.world.now, self.CONNECT_MS if self.world.wifi_in_reach else self.SCAN_MS)
            return b""
        if sub == b.WLAN_STATUS:
            return struct.pack("<H", self.status())
        if sub == b.WLAN_ISCONNECTED:
            return bytes((self.isconnected(),))
        if sub == b.WLAN_DISCONNECT:
            self.joined = self.connecting = False
            return b""
        raise b.Refused(b.ST_BAD)

    def isconnected(self) -> bool:
        self._settle()
        return self.on and self.joined and self.world.wifi_in_reach

    def status(self) -> int:
        self._settle()
        if self.isconnected():
            return self.STAT_GOT_IP
        if self.connecting:
            return self.STAT_CONNECTING
        return self.STAT_NO_AP_FOUND if self.failed else self.STAT_IDLE

    def power_state(self) -> str:
        if not self.on:
            return "off"
        return "connect" if self.connecting else "on"


class Wallet:
    """Cards that left the reader, as memory dumps with their originality signatures, in a folder
    kept between runs (ENROL_SIM_WALLET), and the emulated card factory that signs new chips."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder) if folder else None
        self.factory = FactorySigner(self._factory_key())

    def _factory_key(self) -> int | None:
        if self.folder is None:
            return None
        path = self.folder / "factory-key.hex"
        try:
            return int(path.read_text().strip(), 16)
        except (OSError, ValueError):
            d = FactorySigner().d
            try:
                path.write_text("%032x" % d)
            except OSError:
                pass  # no wallet folder: the key lasts this run
            return d

    def new_card(self, kind: str = "NTAG215") -> NTAG21x:
        card = NTAG21x(kind)
        card.signature = self.factory.sign(card.uid())  # as NXP signs each chip's UID at the factory
        return card

    def keep(self, card) -> None:
        if self.folder is None or not isinstance(card, NTAG21x):
            return
        name = self.folder / card.uid().hex()
        name.with_suffix(".bin").write_bytes(card.image())
        name.with_suffix(".sig").write_bytes(card.signature)

    def names(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.bin"))

    def holder(self, name: str) -> str | None:
        """The card whose credential names this given name (a person picks their own card from
        the wallet by it); its UID, None if none does."""
        import cbor2

        from host_tools.enrolctl.card import CardInvalid, ndef_payload

        assert self.folder is not None
        for n in self.names():
            try:
                cose = cbor2.loads(ndef_payload((self.folder / (n + ".bin")).read_bytes()[16:]))
                if cbor2.loads(cose.value[2]).get(-70001) == name.upper():
                    return n
            except (CardInvalid, ValueError, AttributeError, IndexError, TypeError, OSError):
                continue  # a blank or foreign card
        return None

    def load(self, prefix: str) -> NTAG21x | str:
        if self.folder is not None and not all(c in "0123456789abcdefABCDEF" for c in prefix):
            prefix = self.holder(prefix) or prefix  # 'tap SOPHEA': the card issued to SOPHEA
        found = [n for n in self.names() if n.startswith(prefix.lower())]
        if len(found) != 1:
            return ("no card" if not found else f"{len(found)} cards") + " in the wallet match " + prefix
        assert self.folder is not None
        image = (self.folder / (found[0] + ".bin")).read_bytes()
        try:
            sig = (self.folder / (found[0] + ".sig")).read_bytes()
        except OSError:
            sig = bytes(32)  # a dump without its signature: the chip looks like a copy
        try:
            return NTAG21x.from_image(image, sig)
        except ValueError as e:
            return f"{found[0]}.bin: {e}"


class Person:
    """The person at the device: lines of input turned into key presses through the matrix,
    pauses of simulated time, cards tapped, and waits for what the screen shows."""

    KEY_MS = int(os.getenv("ENROL_SIM_KEY_MS") or "60")  # > the keypad's 40 ms debounce
    SCANS_SEEN = 3  # and held (or released) for at least this many of the keypad's scans
    STALL_MS = 2000
    WAIT_MS = 60000
    # While the person pauses, each pass of the device's loop (awake; it waits 50 ms of real time)
    # lets this much simulated time pass: a pause runs about 8 times faster than real time, and
    # a nap between keys (firmware/power.py NAP_MS) starts at most this late, which the meter
    # charges as awake (an overestimate of up to 0.4 s a pause)
    PAUSE_STEP_MS = 400

    def __init__(self, world: World, lines: Lines) -> None:
        self.world, self.lines = world, lines
        self.off = False
        self.script: list[str] = []
        self.down: str | None = None
        self.next_ms = 0
        self.waiting_for: str | None = None
        self.wait_until = 0
        self.pause_ms = 0
        self.key_gap_ms = int(os.getenv("ENROL_SIM_KEY_GAP_MS") or "0")
        self.scans_at = 0  # the world's scan count at the last press or release

    def _next_is_key(self) -> bool:
        return self.down is not None or bool(self.script) and self.script[0].upper() in KEYS

    def sleep_until_key(self, ms: int) -> bool:
        """The CPU light-sleeps for up to ms: True if a key wakes it."""
        w = self.world
        if self.waiting_for is not None:  # the person waits for the device to act by itself
            w.advance(ms)
            return False
        if self.pause_ms:
            skip = min(ms, self.pause_ms)
            self.pause_ms -= skip
            w.advance(skip)
            return skip != ms and self._next_is_key()
        if self.script or self.down is not None:
            return self._next_is_key()
        if self.off:
            return False
        # an interactive person: real time, until a line comes; the device counts none of a
        # request's own time, so what was waited is handed back as skipped time
        started = time.monotonic()
        woke = self.lines.ready(ms / 1000)
        w.advance(min(ms, int((time.monotonic() - started) * 1000)))
        return woke

    def poll(self) -> None:
        """Each pass of the app's loop: time passes, a line is read when the last one has played out."""
        w = self.world
        if self.pause_ms:
            # finer steps while the radio is on, so a join ends when it would
            step = min(self.pause_ms, self.PAUSE_STEP_MS if not w.wlan.on else self.PAUSE_STEP_MS // 2)
            self.pause_ms -= step
            w.advance(step)
            return
        if self.waiting_for is not None:
            if self.waiting_for in w.screen or ticks_diff(w.now, self.wait_until) > 0:
                self.waiting_for = None
            return
        if not self.off and not self.script and self.down is None and self.lines.ready():
            self.line(self.lines.readline())
        self._feed()

    def line(self, line: str) -> None:
        w = self.world
        text = line.strip()
        if not line or text == "q":
            self.off = True
        elif text == "p":
            raise PowerCut
        elif line.startswith("?"):
            self.waiting_for = line[1:].rstrip("\n")
            self.wait_until = ticks_add(w.now, self.WAIT_MS)
        elif line.startswith("="):
            w.meter.mark(text[1:].strip())  # an energy mark (make bench's scripted day)
        elif text.startswith("+") and text[1:].isdigit():
            self.pause_ms = int(text[1:]) * 1000
        elif text == "mem":
            w.mem_report = True
        elif text in w.actions:
            w.actions[text]()
        elif " " in text and text.split(" ", 1)[0] in w.arg_actions:
            word, arg = text.split(" ", 1)
            w.arg_actions[word](arg.strip())
        elif text.startswith("b") and len(text) > 1:
            w.set_battery(text[1:])
        elif text in w.arg_actions:
            w.say(f"'{text}' needs a card: {text} UID (the first hex digits are enough; 'cards' lists them)")
        elif all(c.upper() in KEYS or c == "." for c in text):
            self.script.extend(text)
        else:  # not typed at all: a typo must not press the keys it happens to contain
            w.say(f"ignored {text!r}: not keys (0-9 A-D * # and . to wait) nor a simulator command")

    def _seen(self) -> bool:
        """The keypad has scanned the matrix SCANS_SEEN times since the last press or release (or,
        if nothing scans it, STALL_MS went by): a loaded host slows the device's scans, and a key
        timed in milliseconds alone could be pressed and released between two of them."""
        w = self.world
        return (w.scans - self.scans_at >= self.SCANS_SEEN
                or ticks_diff(w.now, ticks_add(self.next_ms, self.STALL_MS)) >= 0)

    def _feed(self) -> None:
        w = self.world
        if ticks_diff(w.now, self.next_ms) < 0 or not self._seen():
            return
        self.scans_at = w.scans
        if self.down is not None:
            w.matrix.release(self.down)
            self.down = None
            if self.key_gap_ms:
                w.advance(self.key_gap_ms)
            self.next_ms = ticks_add(w.now, self.KEY_MS)
            return
        if not self.script:
            return
        k = self.script.pop(0).upper()
        if k == ".":
            w.advance(1000)  # a second of simulated time (lets a multi-tap letter settle), not waited
            return
        if k in KEYS:
            w.matrix.press(k)
            self.down = k
        self.next_ms = ticks_add(w.now, self.KEY_MS)


class World:
    """Everything outside the ESP32, answering the bridge: see the module's docstring."""

    def __init__(self, lines: Lines) -> None:
        self.view = os.getenv("ENROL_SIM_VIEW") or _fitting_view()
        self.echo = os.getenv("ENROL_SIM_QUIET") != "1"
        self.now = 0
        self.clock_unseen = True  # no request yet: self.now is not the device's time
        self.panel_drawn: str | None = None  # the OLED's light as last drawn or said (off, dim, on)
        frames = os.getenv("ENROL_SIM_FRAMES")  # enrolctl sim --frames DIR: each frame as a PNG
        self.frames = FrameWriter(frames) if frames else None
        self.skipped = 0  # ms of simulated time to hand the device in this answer
        self.screen = ""
        self.wifi_in_reach = os.getenv("ENROL_SIM_WIFI", "on") != "off"
        self.battery = os.getenv("ENROL_SIM_BATTERY_MV") or "3950"
        self.wallet = Wallet(os.getenv("ENROL_SIM_WALLET") or "")
        self.card = None  # the card in the field (earlier ones are in the wallet)
        self.card_kept = False
        self.hostile_taps = 0
        self.cpu = "awake"
        self.cpu_hz = 160_000_000  # ESP32_GENERIC's boot clock, until the firmware sets its own
        self.wake_pending = False
        self.light_sleeps = self.deep_sleeps = 0
        self.mem_report = False  # the person's 'mem': the device prints its heap at its next poll
        self.scans = 0  # keypad scans the device made (the person's keys wait for them)
        self.started = 0.0  # host clock when the device process was started
        self.boot_to_login_ms: float | None = None  # host wall time from the start to the first LOGIN
        self.at_sleep: dict[str, list[str]] = {"oled": [], "nfc": [], "wifi": []}
        self.longest_lit_sleep_ms = 0  # a nap keeps the screen showing; the long sleep must not
        self.lit_sleep_ms = 0  # simulated time asleep with the screen on (naps between keys)
        self.power_on()
        self.wlan = Wlan(self)
        energy = os.getenv("ENROL_SIM_ENERGY") or ""
        self.energy_file = energy
        self.meter = Meter(lambda: self.now, energy + ".marks" if energy else "")
        self.meter.add("cpu", lambda: self.cpu if self.cpu != "awake" else energy_cpu_state(self.cpu_hz))
        self.meter.add("wifi", lambda: self.wlan.power_state())
        self.meter.add("nfc", lambda: self.reader.power_state())
        self.meter.add("oled", lambda: self.oled.power_state())
        self.person = Person(self, lines)
        self.actions = {"t": self.tap_new, "again": self.tap_again, "clone": self.tap_clone, "r": self.remove,
                        "cards": self.list_wallet, "w": self.toggle_wifi,
                        "tlocked": lambda: self.tap(self.read_only_card(), keep=False),
                        "t213": lambda: self.tap(self.wallet.new_card("NTAG213"), keep=False),
                        "tclassic": lambda: self.tap(OtherCard(), keep=False),
                        "tphone": lambda: self.tap(OtherCard(sel_res=0x20), keep=False),
                        "thostile": lambda: self.tap(self.hostile_card(), keep=False)}
        self.arg_actions = {"tap": self.tap_wallet}

    def power_on(self) -> None:
        """The chips as the battery (re)connects them: the OLED off with its RAM cleared, the PN532
        in reset (the board holds RSTPDN low until the app wants it), no key pressed."""
        self.oled = SSD1306Emulator()
        self.reader = PN532Reader()
        self.reader.set_rstpdn(0)
        self.matrix = KeyMatrix()
        if self.card is not None:
            self.reader.place(self.card)  # the card lies on the reader still

    def restarted(self) -> None:
        """A new device process after a power cut: its clock starts again, so every timer out here
        (the person's next key, a wait, the meter) counts from its first reading once more; before,
        keys waited for the new clock to reach the old one's time, as long as the device had run."""
        self.clock_unseen = True
        self.person.down = None  # the key matrix is new: nothing is held
        self.cpu = "awake"
        self.wake_pending = False

    # ---- what the person does -------------------------------------------------------
    def say(self, text: str) -> None:
        print("sim: " + text, flush=True)

    def advance(self, ms: int) -> None:
        self.meter.tick()
        self.now = ticks_add(self.now, ms)
        self.skipped += ms
        self.meter.tick()

    def tap(self, card, keep: bool = True) -> None:
        """Present a card; the one before goes to the wallet if it belongs there (card_left)."""
        self.card_left()
        self.card, self.card_kept = card, keep
        self.reader.place(card)

    def card_left(self) -> None:
        """The card on the reader goes away (another tapped, a power cut, the end): into the wallet
        if it is a new card (keep) or the device wrote to it (a hostile card it wrote over, a wallet
        card it re-issued).  A wallet card only read is not written back: its file stays as it was."""
        card = self.card
        if card is not None and (self.card_kept or getattr(card, "writes", 0)):
            self.wallet.keep(card)
        self.card_kept = False  # kept once: a second leaving writes nothing

    def tap_new(self) -> None:
        self.tap(self.wallet.new_card())

    def tap_again(self) -> None:
        if self.card is not None:
            self.reader.place(self.card)

    def tap_clone(self) -> None:
        """A UID-changeable copy of the last card: same UID and memory, no valid signature."""
        if isinstance(self.card, NTAG21x):
            self.reader.place(NTAG21x.from_image(self.card.image(), bytes(32)))

    def remove(self) -> None:
        self.reader.remove()

    def tap_wallet(self, prefix: str) -> None:
        card = self.wallet.load(prefix)
        if isinstance(card, str):
            self.say(card)
            return
        self.tap(card, keep=False)  # kept again only if the device writes to it

    def list_wallet(self) -> None:
        names = self.wallet.names()
        self.say("wallet: " + (", ".join(names) if names else "empty") + " ('tap UID' presents one)")

    def read_only_card(self) -> NTAG21x:
        card = self.wallet.new_card()
        card.mem[10:12] = b"\xf0\xff"  # static lock bits: pages 4-15 read-only (someone locked it)
        card.mem[card.dyn * 4 : card.dyn * 4 + 2] = b"\xff\xff"  # dynamic lock bits: the rest
        return card

    def hostile_card(self) -> NTAG21x:
        """A genuine, NDEF-formatted NTAG215 whose record holds hostile CBOR: each 'thostile' the
        next of HOSTILE_PAYLOADS (the card is anyone's to write)."""
        from firmware.card import ndef

        payload = HOSTILE_PAYLOADS[self.hostile_taps % len(HOSTILE_PAYLOADS)]
        self.hostile_taps += 1
        card = self.wallet.new_card()
        data = ndef.tlv(ndef.record(payload))
        card.mem[16 : 16 + len(data)] = data  # user memory from page 4, after the CC
        return card

    def toggle_wifi(self) -> None:
        self.meter.tick()
        self.wifi_in_reach = not self.wifi_in_reach
        self.say("Wi-Fi " + ("in reach" if self.wifi_in_reach else "out of reach"))

    def set_battery(self, text: str) -> None:
        if not (text.isdigit() or text in ("noise", "none")):
            self.say(f"battery: give mV (b3700), bnoise or bnone, not b{text}")
            return
        self.battery = text
        self.say("battery " + text + (" mV" if text.isdigit() else ""))

    # ---- the bridge -------------------------------------------------------------------
    def handle(self, op: int, now: int, payload: bytes) -> bytes:
        if self.clock_unseen:
            # the device's clock starts where it starts (ENROL_SIM_TICKS_START puts it just before
            # the 2**30 wrap): every timer out here counts from its first reading, not from 0
            self.clock_unseen = False
            self.meter.last = self.person.next_ms = self.person.wait_until = now
        self.now = now
        self.skipped = 0
        self.meter.tick()
        if self.wake_pending:  # the time since the light sleep began was spent asleep
            self.wake_pending = False
            self.cpu = "awake"
        if op == b.OP_I2C_WRITE and payload:
            out = self._i2c(payload[0]).write_or_refuse(payload[1:])
            if payload[0] == SSD1306Emulator.ADDRESS:
                self._panel_light()
            return out
        if op == b.OP_I2C_READ and len(payload) == 3:
            return self._i2c(payload[0]).read_or_refuse(payload[1] | (payload[2] << 8))
        if op == b.OP_PIN_SET and len(payload) == 2:
            self._set_pin(payload[0], payload[1])
            return b""
        if op == b.OP_PIN_GET and len(payload) == 1:
            return bytes((self._get_pin(payload[0]),))
        if op == b.OP_POLL:
            self.person.poll()
            flags = (b.POLL_OFF if self.person.off else 0) | (b.POLL_MEM_REPORT if self.mem_report else 0)
            self.mem_report = False
            return struct.pack("<IB", self.skipped, flags)
        if op == b.OP_LIGHT_SLEEP and len(payload) == 4:
            return self._light_sleep(struct.unpack("<I", payload)[0])
        if op == b.OP_DEEP_SLEEP:
            self.deep_sleeps += 1
            self.cpu = "deep_sleep"
            self.person.off = True
            return b""
        if op == b.OP_BATTERY:
            return struct.pack("<i", self._battery_mv())
        if op == b.OP_WLAN and len(payload) == 2:
            return self.wlan.request(payload[0], payload[1])
        if op == b.OP_CPU_HZ and len(payload) == 4:
            self.cpu_hz = struct.unpack("<I", payload)[0]
            return b""
        if op == b.OP_SCREEN:
            self._show(payload.decode("utf-8", "replace"))
            return b""
        raise b.Refused(b.ST_BAD)

    def _i2c(self, addr: int) -> _Chip:
        chip = {SSD1306Emulator.ADDRESS: self.oled, PN532Reader.ADDRESS: self.reader}.get(addr)
        if chip is None:
            raise b.Refused(b.ST_NODEV)  # nothing acknowledges the address
        return _Chip(chip)

    def _set_pin(self, pin: int, level: int) -> None:
        if pin == b.PIN_NFC_RSTPDN:
            self.reader.set_rstpdn(level)
        elif b.PIN_COL0 <= pin < b.PIN_COL0 + 4:
            if pin == b.PIN_COL0 and not level:
                self.scans += 1  # each scan of the matrix drives the first column low first
            self.matrix.cols[pin - b.PIN_COL0].value(level)
        else:
            raise b.Refused(b.ST_BAD)

    def _get_pin(self, pin: int) -> int:
        if pin == b.PIN_NFC_IRQ:
            return self.reader.irq
        if b.PIN_ROW0 <= pin < b.PIN_ROW0 + 4:
            return self.matrix.row_level(pin - b.PIN_ROW0)
        raise b.Refused(b.ST_BAD)

    def _battery_mv(self) -> int:
        if self.battery == "none":
            raise b.Refused(b.ST_EIO)  # the ADC did not answer
        if self.battery == "noise":
            return random.choice((0, 65535, 9999, -40))
        return int(self.battery)

    def _light_sleep(self, ms: int) -> bytes:
        self.light_sleeps += 1
        for part, probe in (("oled", self.oled.power_state), ("nfc", self.reader.power_state),
                            ("wifi", self.wlan.power_state)):
            if probe() not in self.at_sleep[part]:
                self.at_sleep[part].append(probe())
        lit, before = self.oled.power_state() != "off", self.now
        if lit:
            self.longest_lit_sleep_ms = max(self.longest_lit_sleep_ms, ms)
        self.cpu = "light_sleep"
        key = self.person.sleep_until_key(ms)
        if lit:
            self.lit_sleep_ms += ticks_diff(self.now, before)
        self.meter.tick()
        self.wake_pending = True  # awake again from the device's next request on
        return struct.pack("<IB", self.skipped, key)

    def _show(self, text: str) -> None:
        self.screen = text
        if self.boot_to_login_ms is None and "Officer number:" in text:
            self.boot_to_login_ms = (time.monotonic() - self.started) * 1000
        if self.frames is not None:
            self.frames.write(self.oled, text)
        if self.view == "pixels":
            self._draw_panel()
        elif self.echo:
            rows = [BORDER] + ["|" + row + " " * (16 - len(row)) + "|" for row in text.split("\n")] + [BORDER]
            print("\n".join(rows), flush=True)

    def _panel_light(self) -> None:
        """After each command to the OLED: a panel that dimmed, went dark or lit again is drawn so
        (the device sends no new screen then), or said in the text view; a person who sees no
        change would not know that the next key only wakes it."""
        state = self.oled.power_state()
        if state == self.panel_drawn:
            return
        before, self.panel_drawn = self.panel_drawn, state
        if self.frames is not None and before is not None:
            self.frames.write(self.oled, self.screen)
        if self.view == "pixels":
            self._draw_panel()
        elif (self.echo and state in PANEL_NOTES and before == ("on" if state == "dim" else "dim")
              and not self.person.off):
            self.say(PANEL_NOTES[state])  # (not a wake's passing dim, nor the switching off)

    def _draw_panel(self) -> None:
        """The pixel view: the panel as lit (dimmed: drawn faint; dark: no pixels), the keys' hint."""
        state = self.oled.power_state()
        if state == "off":
            body = "\n".join([" " * 128] * 32)
        elif state == "dim":
            body = "\x1b[2m\n" + self.oled.to_text() + "\x1b[0m"
        else:
            body = self.oled.to_text()
        print(CLEAR + body)
        note = state in PANEL_NOTES and not self.person.off  # (not the switching off)
        print(PIXEL_HINT + ("\nsim: " + PANEL_NOTES[state] if note else ""), flush=True)

    def report(self) -> dict:
        return {"ms": self.meter.report(), "cpu_hz": self.cpu_hz, "at_sleep": self.at_sleep,
                "longest_lit_sleep_ms": self.longest_lit_sleep_ms, "lit_sleep_ms": self.lit_sleep_ms, "light_sleeps": self.light_sleeps,
                "deep_sleeps": self.deep_sleeps, "wifi_connects": self.wlan.connects, "wifi_joins": self.wlan.joins,
                "boot_to_login_ms": self.boot_to_login_ms}


class _Chip:
    """An emulator behind its I2C address: its OSError is the bus's NACK."""

    def __init__(self, chip) -> None:
        self.chip = chip

    def write_or_refuse(self, data: bytes) -> bytes:
        try:
            self.chip.write(data)
        except OSError:
            raise b.Refused(b.ST_NODEV) from None
        return b""

    def read_or_refuse(self, n: int) -> bytes:
        try:
            data = bytes(self.chip.read(n))
        except OSError:
            raise b.Refused(b.ST_NODEV) from None
        return data[:n] + bytes(max(0, n - len(data)))


def device_command(heap: str) -> list[str]:
    from host_tools.enrolctl import runtime

    return [str(runtime.require()), "-X", f"heapsize={heap}", "-c", BOARD_RESET]


# What an ESP32 running MicroPython does at reset, from the filesystem root (the device's cwd):
# boot.py, then main.py, in one __main__ namespace; a missing file is skipped.  The path is the
# board's own (MICROPYPATH ':.frozen:lib': the root first, then the frozen image, then /lib), so
# boot.py's ordering of it is what is tested.
BOARD_RESET = """
scope = {'__name__': '__main__'}
for name in ('boot.py', 'main.py'):
    try:
        f = open(name)
    except OSError:
        continue
    code = f.read()
    f.close()
    exec(code, scope)
    del code
"""
BOARD_PATH = ":.frozen:lib"


def _die_with_parent() -> None:
    """The device process dies with this one (SIGKILL of the simulator is a power cut)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_device(cmd: list[str], port: int, root: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, ENROL_SIM_BRIDGE=str(port), MICROPYPATH=BOARD_PATH,
               ENROL_SIM_FACTORY_KEYS=os.environ.get("ENROL_SIM_FACTORY_KEYS", ""))
    sys.stdout.flush()
    # its own process group: the terminal's Ctrl-C is the simulator's to answer (run()), not a
    # KeyboardInterrupt inside the firmware
    return subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                            process_group=0)


def run(heap: str | None = None) -> int:
    """Run the device until it switches off (or dies); power cuts restart it on the same flash."""
    from host_tools.enrolctl.errors import EnrolctlError

    heap = heap or os.getenv("ENROL_SIM_HEAP") or SIM_HEAPSIZE
    try:
        cmd = device_command(heap)
    except EnrolctlError as e:
        print(f"sim: {e}", file=sys.stderr)
        return 2
    world = World(Lines())
    os.environ["ENROL_SIM_FACTORY_KEYS"] = world.wallet.factory.public_key.hex()
    # the device's filesystem root: ENROL_SIM_ROOT (a test's, with an overlay say), or boot.py and
    # main.py alone, as a freshly flashed board has them; the firmware itself comes frozen
    given = os.getenv("ENROL_SIM_ROOT")
    root = Path(given) if given else Path(tempfile.mkdtemp(prefix="enrol-sim-"))
    if not given:
        for name in ("boot.py", "main.py"):
            shutil.copyfile(ROOT / name, root / name)
    srv = b.listen()
    srv.settimeout(0.2)
    rc = 0
    device = None
    try:
        while True:
            world.started = time.monotonic()
            device = start_device(cmd, srv.getsockname()[1], root)
            conn = _accept(srv, device)
            cut, why = False, "no bridge"
            if conn is not None:
                try:
                    why = b.serve(conn, world)
                except PowerCut:
                    cut = True
                    why = "power cut"
                    device.kill()  # before the bridge closes: a board losing power sees no error
                finally:
                    conn.close()
            if cut:
                device.kill()
                device.wait()
                world.say("power cut (the battery was pulled); switching on again on the same flash")
                world.card_left()  # a card written just before the cut is not lost (it lies there still)
                world.power_on()
                world.restarted()
                continue
            rc = device.wait()
            if why == "bad frame":
                world.say("the device sent a damaged bridge frame; it was stopped")
                rc = rc or 3
            break
    except KeyboardInterrupt:  # the person's Ctrl-C: the device goes off as in a power cut
        if device is not None:
            device.kill()
            device.wait()
        print("\nsim: stopped (Ctrl-C); the device's flash is kept as a power cut leaves it", flush=True)
        rc = 0
    finally:
        srv.close()
        if not given:
            shutil.rmtree(root, ignore_errors=True)
        world.card_left()
        if world.energy_file:
            Path(world.energy_file).write_text(json.dumps(world.report()))
    return rc


def _accept(srv, device: subprocess.Popen[bytes]):
    """The device's bridge connection, or None if it ended without one (safe mode, a crash at boot)."""
    import socket

    while device.poll() is None:
        try:
            conn, _ = srv.accept()
            conn.settimeout(None)
            return conn
        except socket.timeout:
            continue
    return None


def main() -> None:
    raise SystemExit(run(sys.argv[1] if len(sys.argv) > 1 else None))


if __name__ == "__main__":
    main()
