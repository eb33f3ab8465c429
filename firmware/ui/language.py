"""The screens' language: Khmer (phrases pre-shaped on flash: ui/khmer.py) or English
(ui/render.py).  Set at provisioning (device.json "lang", Khmer unless it says otherwise); the
help screen's # switches it, and the switch is kept on flash (lang.txt) across power cuts.

A Khmer screen taller than the panel turns its pages after PAGE_MS without a key.  A missing or
damaged km.bin shows English and logs why once: the device never stops for its fonts.
"""

from firmware import fsutil
from firmware.ticks import ticks_diff
from firmware.ui import khmer, render

PAGE_MS = 3000
LANG_FILE = "/lang.txt"


class Language:
    def __init__(self, data_dir, provisioned, log, names=True):
        self.data = data_dir
        self.want_names = names  # a payout device names no place: it has no names.km
        self.log = log  # callable(message): the audit log and the console
        self.lang = provisioned
        chosen = fsutil.read_file(data_dir + LANG_FILE)
        if chosen in (b"km", b"en"):
            self.lang = chosen.decode()
        self.strings = None
        self.names = None  # names.km: the villages' and communes' Khmer names
        self.page = 0
        self.pages = 1
        self.page_at = 0
        if self.lang == "km":
            self._open()

    def _open(self):
        self.strings, why = khmer.load(self.data)
        if why:
            self.log("km.bin: " + why + ": English shown")
            return
        if not self.want_names:
            return
        self.names, why = khmer.load(self.data, "names.km")
        if why:
            self.log("names.km: " + why + ": place names in Latin letters")

    def draw(self, display, screen, now, turn=False):
        """Draw screen (its next page when turn); a key's screen starts at the page it changed."""
        self.page = self.page + 1 if turn else 0
        self.page_at = now
        if self.lang == "km" and self.strings is not None:
            try:
                self.pages = khmer.draw(display, screen, self.strings, self.page, self.names)
                return
            except khmer.KhmerError as e:  # damaged since it was opened: English from now on
                self.log("km.bin: " + str(e) + ": English shown")
                self.strings = None
        self.pages = render.draw(display, screen, None, self.page)  # a long highlighted row scrolls

    def page_due(self, now):
        return self.pages > 1 and ticks_diff(now, self.page_at) >= PAGE_MS

    def next_page_ms(self, now):
        """ms until the next page is due (0: now), or None for a screen of one page."""
        return max(0, PAGE_MS - ticks_diff(now, self.page_at)) if self.pages > 1 else None

    def switch(self):
        self.lang = "en" if self.lang == "km" else "km"
        if self.lang == "km" and self.strings is None:
            self._open()
        try:
            fsutil.write_atomic(self.data + LANG_FILE, self.lang.encode())
        except OSError as e:  # the switch holds until the next power cut
            self.log("lang.txt: " + str(e))
