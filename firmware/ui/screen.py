"""The screen model: what the OLED shows, as data.

The UI never draws; it builds a Screen and the renderer (firmware/ui/render.py)
turns it into SSD1306 pixels.  Tests compare Screen.text() with golden text.

Geometry (SSD1306 128x64, framebuf's 8x8 font): 16 columns x 8 rows.
Row 0 is the status bar (title on the left, icons on the right), rows 1..6
the body, row 7 the key hint.  A body line longer than 16 columns is never
cut silently: the renderer scrolls it (see Screen.view_line).
"""

COLS = 16
ROWS = 8
BODY_ROWS = 6


class Status:
    """What the device knows of itself, in one object: the app's tasks write it, the screens read
    it (the status bar's icons, the status screen).  Nothing else keeps a copy."""

    def __init__(self, wifi="off", battery_pct=None, pending=0):
        self.wifi = wifi  # "off", "on" (a sync is under way) or "none" (no network at the last try)
        self.battery_pct = battery_pct  # None: not measured yet
        self.battery_low = False
        self.pending = pending  # records the registry has not answered
        self.unverified = 0  # records whose card is still to write
        self.storage = ("ok", 0)  # the store's capacity state ("ok", "warn", "full") and percent used
        self.last_sync = "never"  # "HH:MM", "failed", "setup bad"
        self.device_id = ""
        self.version = ""

    def icons(self, room=COLS):
        """The icons in at most `room` columns.  The pending count gives way first, then Wi-Fi
        (both are on the status screen too); the battery stays: the officer must see it."""
        parts = []
        if self.pending:
            parts.append("^" + str(self.pending))
        parts.append("W" if self.wifi == "on" else "-")
        if self.battery_pct is not None:
            parts.append(str(self.battery_pct) + "%")
        text = " ".join(parts)
        while len(text) > room and len(parts) > 1:
            parts.pop(0)
            text = " ".join(parts)
        return text


class Screen:
    """One screen: title, up to BODY_ROWS body lines, an optional cursor and highlight.

    cursor: (line index, column) of the text cursor in the body, or None.
    highlight: index of the highlighted body line (a selected choice), or None.
    """

    def __init__(self, title, lines=(), hint="", cursor=None, highlight=None, status=None):
        self.title = title
        self.lines = list(lines)
        self.hint = hint
        self.cursor = cursor
        self.highlight = highlight
        self.status = status or Status()

    def status_row(self):
        icons = self.status.icons(COLS - 1 - len(self.title))
        room = COLS - len(icons) - 1
        title = self.title
        if len(title) > room:
            title = title[: room - 1] + "~" if room > 1 else ""
        return title + " " * (COLS - len(title) - len(icons)) + icons

    def view_line(self, i, offset=0):
        """The 16 visible columns of body line i, scrolled by offset.

        A line that does not fit shows '<' / '>' at the edge that hides text,
        so a long value is never silently cut.
        """
        text = self.lines[i]
        if len(text) <= COLS:
            return text
        offset = max(0, min(offset, len(text) - COLS + 1))
        view = text[offset : offset + COLS]
        if offset > 0:
            view = "<" + view[1:]
        if offset + COLS < len(text):
            view = view[: COLS - 1] + ">"
        return view

    def text(self):
        """The screen as plain text (status row, body rows, hint row), for golden tests and logs."""
        rows = [self.status_row()]
        for i in range(BODY_ROWS):
            if i < len(self.lines):
                mark = ">" if i == self.highlight else ""
                rows.append(mark + self.lines[i])
            else:
                rows.append("")
        rows.append(self.hint)
        return "\n".join(rows)

    def __repr__(self):
        return "<Screen " + repr(self.title) + ">"


def wrap(text, rows, cols=COLS):
    """text as at most `rows` lines of `cols`, broken at spaces.  A message that would need
    more rows keeps its end on the last row, marked with '>' like a scrolled line, never cut
    silently; a word longer than a row is split."""
    lines = []
    line = ""
    for word in text.split(" "):
        while len(word) > cols:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:cols])
            word = word[cols:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= cols:
            line = line + " " + word
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > rows:
        lines = lines[: rows - 1] + [" ".join(lines[rows - 1 :])]  # the last row scrolls
    return lines


def boot_screen(version, device_id, status=None):
    """Shown while the device starts: firmware version and device id."""
    return Screen(
        "ENROL " + version,
        ["Starting...", "Device:", device_id or "not provisioned"],
        hint="",
        status=status,
    )
