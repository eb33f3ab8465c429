"""The screen model: what the OLED shows, as a description in no language.

The UI never draws and never lays out rows: it builds a Screen, and a renderer (firmware/ui/
render.py) turns it into pixels in the officer's language.  Tests compare Screen.text() (the
English layout) with golden text.

A screen's title, body items, hint and messages are entries of three kinds:
  "Wrong PIN"                  a phrase: fixed words, which a language translates whole
  ("Wait {} s", 5)             a template (a phrase with {} slots) and the values for them;
                               values (numbers, codes, typed names) are shown as they are
  lit("OF0042")                a literal alone: ("{}", value)
and the body may also hold
  Wrap(entry, rows)            a message broken at spaces into at most `rows` rows (at the
                               bottom of the body if bottom=True)
  Pair(left, right)            one row with `left` at its start and `right` at its end
  Numbered(n, entry)           an option of a short list after the digit that picks it
cursor and highlight name body items (their index in `items`), not rows: a language whose
rows are taller lays the same items out on more pages.

English geometry (SSD1306 128x64, framebuf's 8x8 font): 16 columns x 8 rows.  Row 0 is the
status bar (title on the left, icons on the right), rows 1..6 the body, row 7 the key hint.
A body line longer than 16 columns is never cut silently: it scrolls (see view()).
"""

COLS = 16
ROWS = 8
BODY_ROWS = 6


def lit(value):
    """A value shown as it is (a name, a code, a number): no language translates it."""
    return ("{}", value)


# Wrap and Pair entries are tuples that start with their kind (a template starts with its str):
# a class each cost 300 bytes of heap for the whole power-on
WRAP = 1
PAIR = 2
NAME = 3
NUMBERED = 4


def Wrap(entry, rows, bottom=False):  # noqa: N802 - read as a kind of entry, like the classes it replaced
    """A message broken at spaces into at most `rows` rows of the body (bottom: padded above so
    that its last row is the body's last)."""
    return (WRAP, entry, rows, bottom)


def Pair(left, right):  # noqa: N802
    """One row: `left` at its start, `right` at its end (a hint with the officer's number)."""
    return (PAIR, left, right)


def Name(key, latin):  # noqa: N802
    """A place or category provisioned with its names (a village, a commune): the Latin name in
    English, its pre-rendered Khmer name (names.km, key) in Khmer.  Also a template's value."""
    return (NAME, key, latin)


def Numbered(n, entry):  # noqa: N802
    """An option of a short list with the digit that picks it: "1 Female" (entry in the screen's
    language, the digit as it is)."""
    return (NUMBERED, n, entry)


def kind(entry):
    """WRAP, PAIR, NAME, NUMBERED, or 0 for a phrase, template or literal."""
    return entry[0] if isinstance(entry, tuple) and isinstance(entry[0], int) else 0


def say(entry, tr=None):
    """The words of one entry in a language: tr maps a phrase to its text (None: English, the
    phrase itself).  A template's values are put in its slots untranslated."""
    if not entry:
        return ""
    if isinstance(entry, tuple):
        if entry[0] == NAME:
            return entry[2]
        if entry[0] == NUMBERED:
            return str(entry[1]) + " " + say(entry[2], tr)
        template = tr(entry[0]) if tr is not None else entry[0]
        return template.format(*[v[2] if kind(v) == NAME else v for v in entry[1:]])
    return tr(entry) if tr is not None else entry


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
    """One screen, described: a title, body items, a hint, an optional cursor and highlight.

    cursor: (item index, column in that item's text) of the text cursor, or None.
    highlight: index of the highlighted body item (a selected choice), or None.
    """

    def __init__(self, title, items=(), hint="", cursor=None, highlight=None, status=None):
        self.title = title
        self.items = list(items)
        self.hint = hint
        self.cursor = cursor
        self.highlight = highlight
        self.status = status or Status()

    def status_row(self, tr=None):
        title = say(self.title, tr)
        icons = self.status.icons(COLS - 1 - len(title))
        room = COLS - len(icons) - 1
        if len(title) > room:
            title = title[: room - 1] + "~" if room > 1 else ""
        return title + " " * (COLS - len(title) - len(icons)) + icons

    def layout(self, tr=None):
        """The body as rows of text in the 16-column English geometry: (rows, first row of each
        item).  A row may be longer than 16 columns: the renderer scrolls it."""
        rows = []
        first = []
        for item in self.items:
            first.append(len(rows))
            k = kind(item)
            if k == WRAP:
                said = wrap(say(item[1], tr), max(1, min(item[2], BODY_ROWS - len(rows)))) if item[1] else []
                if item[3]:
                    rows.extend([""] * (BODY_ROWS - len(rows) - len(said)))
                rows.extend(said)
            else:
                rows.append(_row(item, tr))
        return rows, first

    def hint_row(self, tr=None):
        return _row(self.hint, tr)

    def text(self, tr=None):
        """The screen as plain text (status row, body rows, hint row), for golden tests and logs."""
        body, first = self.layout(tr)
        mark = row_of(first, self.highlight)
        out = [self.status_row(tr)]
        for i in range(BODY_ROWS):
            if i < len(body):
                out.append((">" if i == mark else "") + body[i])
            else:
                out.append("")
        out.append(self.hint_row(tr))
        return "\n".join(out)

    def __repr__(self):
        return "<Screen " + repr(self.title) + ">"


def _row(entry, tr):
    """One row's text: a Pair's two ends pushed apart, or the entry's words."""
    if kind(entry) == PAIR:
        left, right = say(entry[1], tr), say(entry[2], tr)
        return left + " " * max(1, COLS - len(left) - len(right)) + right
    return say(entry, tr)


def row_of(first, item):
    """The row that body item `item` starts on (first: from layout()), or None."""
    return first[item] if item is not None and item < len(first) else None


def view(text, offset=0):
    """The 16 visible columns of a row scrolled by offset.  A row that does not fit shows '<' /
    '>' at the edge that hides text, so a long value is never silently cut."""
    if len(text) <= COLS:
        return text
    offset = max(0, min(offset, len(text) - COLS + 1))
    shown = text[offset : offset + COLS]
    if offset > 0:
        shown = "<" + shown[1:]
    if offset + COLS < len(text):
        shown = shown[: COLS - 1] + ">"
    return shown


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
    """Shown while the device starts: firmware version, and the device id once its secrets are
    read (before, it is not known yet: a device that is not provisioned says so on its own screen)."""
    return Screen(("ENROL {}", version), ["Starting...", "Device:", lit(device_id)] if device_id else ["Starting..."],
                  hint="", status=status)
