"""4x4 matrix keypad: scanned on a fixed period, debounced, ghost-safe, with auto-repeat.

Rows are pulled-up inputs, columns are driven low one at a time; a key
shorts its column to its row.  scan(now_ms) is pure logic over the pins and
returns the key events of this scan, so it is tested without a clock; run()
is the asyncio task that owns the pins (never a sleep_ms(0) busy loop).

Debounce is "act now, ignore for DEBOUNCE_MS": a press is reported at the first
scan that sees it, and that key's changes are ignored for DEBOUNCE_MS (contact
bounce lasts a few ms).  Three keys down on the corners of a rectangle make
the fourth look pressed too (ghosting): such a scan is ignored.  Only the
keys in REPEAT_KEYS repeat when held (delete and list movement; a repeating
digit would defeat multi-tap).
"""

import asyncio

from firmware.ticks import ticks_add, ticks_diff

SCAN_MS = 20
DEBOUNCE_MS = 40
REPEAT_DELAY_MS = 600
REPEAT_EVERY_MS = 150
REPEAT_KEYS = "C*#"


class Keypad:
    def __init__(self, rows, cols, keys):
        self.rows = rows
        self.cols = cols
        self.keys = keys  # row-major labels (ui/keymap.py ALL_KEYS: the driver knows no meanings)
        self.down = {}  # key -> time it went down
        self.changed = {}  # key -> time of its last accepted change
        self.next_repeat = {}
        self.ghosts = 0

    def _read(self):
        """Set of (row, col) that read closed in one pass over the columns."""
        closed = []
        for c, col in enumerate(self.cols):
            col.value(0)
            for r, row in enumerate(self.rows):
                if row.value() == 0:
                    closed.append((r, c))
            col.value(1)
        return closed

    def _ghosted(self, closed):
        if len(closed) < 3:
            return False
        rows = {}
        cols = {}
        for r, c in closed:
            rows[r] = rows.get(r, 0) + 1
            cols[c] = cols.get(c, 0) + 1
        for r, c in closed:
            if rows[r] > 1 and cols[c] > 1:
                return True
        return False

    def scan(self, now):
        """Key events ("press", key) / ("release", key) / ("repeat", key) of this scan."""
        closed = self._read()
        if self._ghosted(closed):
            self.ghosts += 1
            return []
        events = []
        pressed = {}
        for r, c in closed:
            pressed[self.keys[r * len(self.cols) + c]] = True
        for k in pressed:
            if k not in self.down:
                last = self.changed.get(k)
                if last is not None and ticks_diff(now, last) < DEBOUNCE_MS:
                    continue  # bounce after a release
                self.down[k] = now
                self.changed[k] = now
                self.next_repeat[k] = ticks_add(now, REPEAT_DELAY_MS)
                events.append(("press", k))
            elif k in REPEAT_KEYS and ticks_diff(now, self.next_repeat[k]) >= 0:
                self.next_repeat[k] = ticks_add(now, REPEAT_EVERY_MS)
                events.append(("repeat", k))
        for k in list(self.down):
            if k not in pressed:
                if ticks_diff(now, self.changed[k]) < DEBOUNCE_MS:
                    continue  # bounce after a press
                del self.down[k]
                self.changed[k] = now
                events.append(("release", k))
        return events

    async def run(self, on_key, ticks_ms):
        """Scan every SCAN_MS forever; on_key(key, now_ms) for each press and repeat."""
        while True:
            now = ticks_ms()
            for kind, k in self.scan(now):
                if kind != "release":
                    on_key(k, now)
            await asyncio.sleep(SCAN_MS / 1000)
