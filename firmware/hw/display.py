"""The SSD1306 panel and its frame buffer (framebuf, MONO_VLSB): pixels in, I2C out.

What the pixels show is the UI's business (firmware/ui/render.py draws a Screen into fb);
framebuf exists only on MicroPython, so it is imported when a Display is made.
"""

from firmware.hw.ssd1306 import SSD1306, WIDTH, HEIGHT

_DIM_CONTRAST = 0x10
_FULL_CONTRAST = 0xFF  # as set by the init sequence


class Display:
    """Owns the panel and its frame buffer: draw into fb, then show()."""

    width = WIDTH
    height = HEIGHT

    def __init__(self, i2c):
        import framebuf

        self.panel = SSD1306(i2c)
        self.fb = framebuf.FrameBuffer(self.panel.pixels, WIDTH, HEIGHT, framebuf.MONO_VLSB)

    def start(self):
        self.panel.init_display()

    def show(self):
        self.panel.show()

    def off(self):
        self.panel.poweroff()

    def dim(self, dimmed):
        """Low contrast saves about two thirds of the panel's current and stays readable."""
        self.panel.contrast(_DIM_CONTRAST if dimmed else _FULL_CONTRAST)

    def on(self):
        self.panel.poweron()
