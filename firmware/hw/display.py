"""Draw a Screen model into the SSD1306 pixel buffer with framebuf.

framebuf exists only on MicroPython; the renderer imports it when built, so
the rest of the UI stays testable on CPython.
"""

from firmware.hw.ssd1306 import SSD1306, WIDTH, HEIGHT
from firmware.ui.screen import BODY_ROWS

_CHAR_PX = 8
_DIM_CONTRAST = 0x10
_FULL_CONTRAST = 0xFF  # as set by the init sequence


class Display:
    """Owns the panel and its frame buffer; render() draws one Screen and shows it."""

    def __init__(self, i2c):
        import framebuf

        self.panel = SSD1306(i2c)
        self.fb = framebuf.FrameBuffer(self.panel.pixels, WIDTH, HEIGHT, framebuf.MONO_VLSB)
        self.scroll = 0  # column offset of the highlighted/cursor line when it is too long

    def start(self):
        self.panel.init_display()

    def render(self, screen):
        fb = self.fb
        fb.fill(0)
        # status bar: inverse video so it reads as a bar
        fb.fill_rect(0, 0, WIDTH, _CHAR_PX, 1)
        fb.text(screen.status_row(), 0, 0, 0)
        focus = screen.cursor[0] if screen.cursor else screen.highlight
        for i in range(min(BODY_ROWS, len(screen.lines))):
            y = (i + 1) * _CHAR_PX
            offset = self.scroll if i == focus else 0
            if screen.cursor and i == screen.cursor[0]:
                # keep the cursor in view: scroll so its column is visible
                col = screen.cursor[1]
                offset = col - 15 if col > 15 else 0
            fb.text(screen.view_line(i, offset), 0, y, 1)
            if i == screen.highlight:
                fb.rect(0, y, WIDTH, _CHAR_PX, 1)
            if screen.cursor and i == screen.cursor[0]:
                x = (screen.cursor[1] - offset) * _CHAR_PX
                fb.hline(x, y + _CHAR_PX - 1, _CHAR_PX, 1)
        fb.hline(0, HEIGHT - _CHAR_PX - 1, WIDTH, 1)
        fb.text(screen.hint, 0, HEIGHT - _CHAR_PX, 1)
        self.panel.show()

    def off(self):
        self.panel.poweroff()

    def dim(self, dimmed):
        """Low contrast saves about two thirds of the panel's current and stays readable."""
        self.panel.contrast(_DIM_CONTRAST if dimmed else _FULL_CONTRAST)

    def on(self):
        self.panel.poweron()
