"""The panel's one owner: what it shows (a Screen, drawn in the device's language), the
pages of a Khmer screen taller than the panel (turned while it is lit), and how bright it is (the
power task asks: set_power).  Everyone else hands it a Screen.  It lives in ui/, beside the
renderers it draws with: the tasks in tasks/ report facts and hold no screens.
"""

from firmware import power as pw
from firmware.ticks import ticks_ms
from firmware.ui import render


def open_panel(board):
    """The OLED brought up; None (and said on the console) when it does not answer."""
    from firmware.hw.display import Display

    try:
        panel = Display(board.open_i2c())
        panel.start()
    except OSError as e:
        board.console("display: not responding (" + str(e) + ")")
        return None
    return panel


class PanelOwner:
    def __init__(self, board, panel):
        self.board = board
        self.panel = panel  # hw/display.Display, or None: the panel did not answer (the device works on)
        self.language = None  # ui/language.Language, once the device's settings are read (use_language)
        self.screen = None  # what the panel shows (or would, were it lit)
        self.power = pw.AWAKE

    def use_language(self, language):
        self.language = language

    def show(self, screen, turn=False):
        """Draw screen (its next page when turn).  A frame that cannot be drawn is said on the
        console and drawn by the next key: the device never stops for its panel."""
        self.screen = screen
        if self.panel is not None:
            try:
                if self.language is not None:
                    self.language.draw(self.panel, screen, ticks_ms(), turn)
                else:
                    render.draw(self.panel, screen)
            except OSError as e:
                self.board.console("display: write failed (" + str(e) + ")")
            except MemoryError:
                import gc

                gc.collect()
                self.board.console("display: out of memory")
        self.board.show_screen(screen)

    def set_power(self, state):
        """The panel's brightness for a power state (firmware/power.py): dimmed, dark (off), lit."""
        if state == self.power:
            return
        was = self.power
        self.power = state
        p = self.panel
        if p is None:
            return
        try:
            if state in (pw.DARK, pw.SLEEP):
                if was in (pw.AWAKE, pw.DIM):
                    p.off()
            else:
                if was in (pw.DARK, pw.SLEEP):
                    p.on()
                p.dim(state == pw.DIM)
        except OSError as e:
            self.board.console("display: " + str(e))

    def turn_page(self, now):
        """A Khmer screen's next page after language.PAGE_MS, while the panel is lit (a dark one
        spends nothing).  The app's loop asks at each turn."""
        lang = self.language
        if self.power in (pw.AWAKE, pw.DIM) and lang is not None and self.screen is not None and lang.page_due(now):
            self.show(self.screen, turn=True)

    def next_page_ms(self, now):
        """ms until turn_page has a page to turn, or None (one page, or the panel not lit)."""
        lang = self.language
        if self.power in (pw.AWAKE, pw.DIM) and lang is not None and self.screen is not None:
            return lang.next_page_ms(now)
        return None

    def off(self):
        """Power-off: the panel dark."""
        if self.panel is not None:
            try:
                self.panel.off()
            except OSError:
                pass
