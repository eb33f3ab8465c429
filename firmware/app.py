"""The device application: wires the hardware tasks and the UI together.

Each device is one asyncio task that owns its hardware; the UI state
machines take events and return effects, so nothing here needs a clock or a
pin to be tested.
"""

import asyncio

from firmware import VERSION, faultlog
from firmware.ui.screen import Screen, Status, boot_screen

_IDLE_POLL_MS = 50


class App:
    def __init__(self, board):
        self.board = board
        self.status = Status()
        self.screen = None
        self.display = None
        self.device_id = None

    def start_display(self):
        """Bring up the OLED; a missing or failing panel is reported, not fatal."""
        from firmware.hw.display import Display

        try:
            display = Display(self.board.open_i2c())
            display.start()
        except OSError as e:
            self.board.console("display: not responding (" + str(e) + ")")
            return None
        return display

    def show(self, screen):
        self.screen = screen
        if self.display is not None:
            try:
                self.display.render(screen)
            except OSError as e:
                self.board.console("display: write failed (" + str(e) + ")")
        self.board.show_screen(screen)

    async def run(self):
        self.display = self.start_display()
        self.show(boot_screen(VERSION, self.device_id, self.status))
        self.show(Screen("ENROL", ["Not provisioned", "", "Connect to a", "technician"], status=self.status))
        faultlog.clear_crashes(self.board.DATA_DIR)
        while not self.board.power_off_requested():
            await asyncio.sleep(_IDLE_POLL_MS / 1000)
        if self.display is not None:
            self.display.off()
        self.board.console("power off")


def main(board):
    asyncio.run(App(board).run())
