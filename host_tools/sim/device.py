"""The simulated device: the real firmware under MicroPython with emulated hardware.

Run by `make sim` (micropython -m host_tools.sim.device, from build/sim/).
  * SSD1306 emulator on the I2C bus: every frame the firmware sends is drawn
    in the terminal from the emulated display RAM (ENROL_SIM_VIEW=text prints
    the screen model as text instead, for narrow terminals and tests)
  * 4x4 key matrix: type keys and Enter (0-9, A-D, *, #; '.' waits 1 s); q quits
  * PN532 with an NTAG215 wallet: a line 't' taps a new blank card on the reader,
    'r' takes it away; cards written are saved in $ENROL_SIM_WALLET/<uid>.bin
    (check one with: enrolctl card verify FILE --trust sim-state/trust.json)
  * Wi-Fi: a line 'w' takes the village network out of reach or back (ENROL_SIM_WIFI=off
    starts without it); in reach, the sync reaches the registry on the host's loopback
Everything else (flash in sim-state/, the app, the drivers) is the firmware's own.
"""

import os

from firmware import board_sim
from host_tools.sim.keypad import KeyMatrix
from host_tools.sim.ntag import NTAG21x
from host_tools.sim.reader import PN532Reader
from host_tools.sim.ssd1306 import SSD1306Emulator

VIEW = os.getenv("ENROL_SIM_VIEW") or "pixels"


def main():
    oled = SSD1306Emulator()
    board_sim.bus().attach(SSD1306Emulator.ADDRESS, oled)
    board_sim.attach_keypad(KeyMatrix())
    reader = PN532Reader()
    board_sim.bus().attach(PN532Reader.ADDRESS, reader)
    board_sim.attach_nfc_irq(_IrqPin(reader))
    wallet = os.getenv("ENROL_SIM_WALLET") or ""
    cards = []

    def tap():
        card = NTAG21x("NTAG215")
        cards.append(card)
        reader.place(card)

    def remove():
        reader.remove()

    board_sim.sim_actions["t"] = tap
    board_sim.sim_actions["r"] = remove
    if VIEW == "pixels":
        text_view = board_sim.show_screen

        def show(screen):
            board_sim._last_screen[0] = screen.text()
            print("\x1b[2J\x1b[H" + oled.to_text())
            print("keys: 0-9 A=OK B=back C=del D=help * # ; Enter sends; t/r card, w Wi-Fi, q quits")

        board_sim.show_screen = show
        del text_view
    from firmware import app

    try:
        app.main(board_sim)
    finally:
        if wallet:
            for card in cards:
                with open(wallet + "/" + "".join("%02x" % b for b in card.uid()) + ".bin", "wb") as f:
                    f.write(card.image())


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
