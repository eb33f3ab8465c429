"""The simulated device: the real firmware under MicroPython with emulated hardware.

Run by `make sim` (micropython -m host_tools.sim.device, from the image enrolctl sim builds in its state directory, sim-state/image/).
  * SSD1306 emulator on the I2C bus: every frame the firmware sends is drawn
    in the terminal from the emulated display RAM (ENROL_SIM_VIEW=text prints
    the screen model as text instead, for narrow terminals and tests)
  * 4x4 key matrix: type keys and Enter (0-9, A-D, *, #; '.' waits 1 s); q quits (make sim: p cuts the power)
  * PN532 with an NTAG215 wallet: a line 't' taps a new blank card on the reader,
    'again' taps the last card once more (a card already issued), 'clone' a copy of it on
    a UID-changeable chip (no NXP originality signature), 'r' takes it away; cards written are saved in $ENROL_SIM_WALLET/<uid>.bin;
    'cards' lists the wallet, 'tap UID' presents one of its cards again (the first hex digits
    of its UID are enough); cards the writer must refuse: 'tlocked' (a read-only NTAG215), 't213' (too small),
    'tclassic' (a MIFARE Classic), 'tphone' (a phone or bank card, ISO-DEP)
    (check one with: enrolctl card verify FILE --trust sim-state/trust.json)
  * Wi-Fi: a line 'w' takes the village network out of reach or back (ENROL_SIM_WIFI=off
    starts without it); in reach, the sync reaches the registry on the host's loopback
  * battery: 'b3700' sets the cell to 3700 mV ('bnoise', 'bnone': bad ADC readings);
    '+600' is ten minutes of nobody touching the device (simulated time: it dims, sleeps)
  * energy: the time each part spends in each power state is metered; with
    ENROL_SIM_ENERGY=FILE it is written there as JSON at power-off, and a script's '=LABEL'
    lines append the totals so far to FILE.marks (make bench reads both)
Everything else (flash in sim-state/, the app, the drivers) is the firmware's own.
"""

import os

from firmware import board_sim
from host_tools.sim.energy import Meter
from host_tools.sim.keypad import KeyMatrix
from host_tools.sim.nxp_signer import FactorySigner
from host_tools.sim.ntag import NTAG21x
from host_tools.sim.reader import OtherCard, PN532Reader
from host_tools.sim.ssd1306 import SSD1306Emulator

VIEW = os.getenv("ENROL_SIM_VIEW") or "pixels"


def main():
    oled = SSD1306Emulator()
    board_sim.bus().attach(SSD1306Emulator.ADDRESS, oled)
    board_sim.attach_keypad(KeyMatrix())
    reader = PN532Reader()
    board_sim.bus().attach(PN532Reader.ADDRESS, reader)
    board_sim.attach_nfc(_IrqPin(reader), _RstPin(reader))
    reader.set_rstpdn(0)  # the board holds RSTPDN low from power-on until the app wants the reader
    from firmware import ticks

    energy_file = os.getenv("ENROL_SIM_ENERGY") or ""
    meter = Meter(ticks.ticks_ms, energy_file + ".marks" if energy_file else "")
    meter.add("cpu", lambda: board_sim._cpu[0])
    meter.add("wifi", board_sim.wlan().power_state)
    meter.add("nfc", reader.power_state)
    meter.add("oled", oled.power_state)
    board_sim.attach_meter(meter)
    at_sleep = {"oled": [], "nfc": [], "wifi": []}  # each part's state whenever the CPU went to sleep
    light_sleep = board_sim.light_sleep

    def watched_light_sleep(ms):
        for part, probe in (("oled", oled.power_state), ("nfc", reader.power_state),
                            ("wifi", board_sim.wlan().power_state)):
            if probe() not in at_sleep[part]:
                at_sleep[part].append(probe())
        return light_sleep(ms)

    board_sim.light_sleep = watched_light_sleep
    wallet = os.getenv("ENROL_SIM_WALLET") or ""
    cards = []  # the last card tapped (earlier ones are in the wallet: RAM stays flat all day)
    factory = FactorySigner(_factory_key(wallet))
    board_sim.EXTRA_ORIGINALITY_KEYS.append(factory.public_key)

    def to_wallet(card):
        """A card leaves the reader: its memory dump, and its originality signature (READ_SIG)."""
        if wallet:
            name = wallet + "/" + "".join("%02x" % b for b in card.uid())
            with open(name + ".bin", "wb") as f:
                f.write(card.image())
            with open(name + ".sig", "wb") as f:
                f.write(card.signature)

    def tap_wallet(prefix):
        """'tap UID': present a card from the wallet (the start of its UID in hex is enough)."""
        found = [n for n in _listdir(wallet) if n.endswith(".bin") and n.startswith(prefix.lower())]
        if len(found) != 1:
            print("sim: " + ("no card" if not found else str(len(found)) + " cards") + " in the wallet match " + prefix)
            return
        if cards:
            to_wallet(cards.pop())
        with open(wallet + "/" + found[0], "rb") as f:
            image = f.read()
        try:
            with open(wallet + "/" + found[0][:-4] + ".sig", "rb") as f:
                sig = f.read()
        except OSError:
            sig = bytes(32)  # a dump without its signature: the chip looks like a copy
        try:
            card = NTAG21x.from_image(image, sig)
        except ValueError as e:
            print("sim: " + found[0] + ": " + str(e))
            return
        cards.append(card)
        reader.place(card)

    def list_wallet():
        names = [n[:-4] for n in _listdir(wallet) if n.endswith(".bin")]
        print("sim: wallet: " + (", ".join(sorted(names)) if names else "empty") + " ('tap UID' presents one)")

    def tap():
        if cards:
            to_wallet(cards.pop())
        card = NTAG21x("NTAG215")
        card.signature = factory.sign(card.uid())  # as NXP signs each chip's UID at the factory
        cards.append(card)
        reader.place(card)

    def tap_clone():
        """A UID-changeable copy of the last card: same UID and memory, but no valid signature."""
        if cards:
            clone = NTAG21x.from_image(cards[-1].image(), bytes(32))
            reader.place(clone)

    def remove():
        reader.remove()

    def tap_odd(make):
        def tap_it():
            if cards:
                to_wallet(cards.pop())
            reader.place(make())
        return tap_it

    def read_only_card():
        card = NTAG21x("NTAG215")
        card.signature = factory.sign(card.uid())
        card.mem[10:12] = b"\xf0\xff"  # static lock bits: pages 4-15 read-only (someone locked it)
        card.mem[card.dyn * 4 : card.dyn * 4 + 2] = b"\xff\xff"  # dynamic lock bits: the rest
        return card

    def tap_again():
        if cards:
            reader.place(cards[-1])

    board_sim.sim_actions["t"] = tap
    board_sim.sim_actions["again"] = tap_again
    board_sim.sim_actions["clone"] = tap_clone
    board_sim.sim_actions["r"] = remove
    board_sim.sim_actions["tap"] = tap_wallet
    board_sim.sim_actions["cards"] = list_wallet
    board_sim.sim_actions["tlocked"] = tap_odd(read_only_card)
    board_sim.sim_actions["t213"] = tap_odd(lambda: NTAG21x("NTAG213"))
    board_sim.sim_actions["tclassic"] = tap_odd(OtherCard)
    board_sim.sim_actions["tphone"] = tap_odd(lambda: OtherCard(sel_res=0x20))
    if VIEW == "pixels":
        text_view = board_sim.show_screen

        def show(screen):
            board_sim._last_screen[0] = screen.text()
            print("\x1b[2J\x1b[H" + oled.to_text())
            print("keys: 0-9 A=OK B=back C=del D=help * # ; Enter sends; t/r card, w Wi-Fi, p power cut, q quits")

        board_sim.show_screen = show
        del text_view
    from firmware import app

    try:
        app.main(board_sim)
    finally:
        if energy_file:
            import json

            with open(energy_file, "w") as f:
                json.dump({"ms": meter.report(), "at_sleep": at_sleep, "light_sleeps": board_sim._slept["light"],
                           "deep_sleeps": board_sim._slept["deep"], "wifi_connects": board_sim.wlan().connects,
                           "wifi_joins": board_sim.wlan().joins}, f)
        for card in cards:
            to_wallet(card)


def _listdir(path):
    try:
        return os.listdir(path) if path else []
    except OSError:
        return []


def _factory_key(wallet):
    """The emulated card factory's signing key, kept in the wallet (made on first use)."""
    if not wallet:
        return None
    path = wallet + "/factory-key.hex"
    try:
        with open(path) as f:
            return int(f.read().strip(), 16)
    except (OSError, ValueError):
        d = FactorySigner().d
        try:
            with open(path, "w") as f:
                f.write("%032x" % d)
        except OSError:
            pass  # no wallet folder: the key lasts this run
        return d


class _RstPin:
    """The PN532's RSTPDN line as the firmware drives it."""

    def __init__(self, chip):
        self.chip = chip
        self.level = 0

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        self.chip.set_rstpdn(self.level)


class _IrqPin:
    """The PN532's P70_IRQ line as a pin the firmware reads (low = frame ready)."""

    IN = 0
    OUT = 1

    def __init__(self, chip):
        self.chip = chip

    def init(self, *args, **kw):
        pass

    def value(self, v=None):
        return self.chip.irq


main()
