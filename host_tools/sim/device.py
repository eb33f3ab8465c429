"""The simulated device: the real firmware under MicroPython with emulated hardware.

Run by `make sim` (micropython -m host_tools.sim.device, from build/sim/).
  * SSD1306 emulator on the I2C bus: every frame the firmware sends is drawn
    in the terminal from the emulated display RAM (ENROL_SIM_VIEW=text prints
    the screen model as text instead, for narrow terminals and tests)
  * 4x4 key matrix: type keys and Enter (0-9, A-D, *, #; '.' waits 1 s); q quits
Everything else (flash in sim-state/, the app, the drivers) is the firmware's own.
"""

import os

from firmware import board_sim
from host_tools.sim.keypad import KeyMatrix
from host_tools.sim.ssd1306 import SSD1306Emulator

VIEW = os.getenv("ENROL_SIM_VIEW") or "pixels"


def main():
    oled = SSD1306Emulator()
    board_sim.bus().attach(SSD1306Emulator.ADDRESS, oled)
    board_sim.attach_keypad(KeyMatrix())
    if VIEW == "pixels":
        text_view = board_sim.show_screen

        def show(screen):
            print("\x1b[2J\x1b[H" + oled.to_text())
            print("keys: 0-9 A=OK B=back C=del D=help * # ; Enter sends, q quits")

        board_sim.show_screen = show
        del text_view
    from firmware import app

    app.main(board_sim)


main()
