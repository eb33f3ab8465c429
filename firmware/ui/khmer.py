"""Khmer screens: the phrases come pre-shaped from flash (km.bin: firmware/formats.py) and are
blitted a line at a time; values (names, codes, numbers) are drawn beside them in framebuf's
8x8 font.

Layout: an 8-pixel status row (the icons, and a title without words such as the step "4/7"),
then the screen's lines (its title, its items, its hint) as tall as their ink, a page holding
what fits in the 55 pixels below; a bar at the right edge shows which page of how many.  Page 0
is the one holding the highlight or the cursor (what a key just changed), and the App turns the
pages after PAGE_MS without a key.  Nothing is cut: a line wider than the panel is broken
between its parts, a screen taller than a page takes more pages.

A phrase the file does not have is drawn in English in its place; a damaged file is not opened
at all (the App then shows English and logs why).
"""


from firmware import formats, fsutil
from firmware.ui.screen import NAME, NUMBERED, PAIR, WRAP, kind, say

WIDTH = 128
HEIGHT = 64
TOP = 9  # the status row and a pixel of space
INDENT = 4  # room for the highlight bar
ROOM = WIDTH - INDENT - 3  # and for the page bar at the right edge
_TEXT_ASCENT = 7  # framebuf's 8x8 font: 7 rows above the baseline, 1 below
_COLS = ROOM // 8  # Latin characters on a line


class KhmerError(Exception):
    pass


class Strings:
    """km.bin on flash: find(key, part) -> the entry's offset, lines(offset), blit(fb, line, x, y)."""

    def __init__(self, path):
        self.path = path
        self._buf = bytearray(formats.KM_LINE_MAX)
        self._view = memoryview(self._buf)
        self._b8 = bytearray(8)  # an index entry
        self._b3 = bytearray(3)  # a line's head
        try:
            checked = fsutil.checked_head(path, formats.KM_HEAD, formats.KM_MAGIC)
        except OSError:
            raise KhmerError("no Khmer phrase file")
        if checked is None:
            raise KhmerError("not a Khmer phrase file")
        n, _, size, crc_ok = checked
        if not 0 < n <= formats.KM_MAX_ENTRIES:
            raise KhmerError("Khmer phrase count out of range")
        if not crc_ok or size < n * formats.KM_INDEX:
            raise KhmerError("Khmer phrase file damaged")
        self.n = n
        self.size = formats.KM_HEAD + size
        self._f = None  # open for the length of one draw (each open() costs the heap a file object)

    def begin(self):
        """Keep the file open until end(): a screen reads it a few dozen times."""
        if self._f is None:
            try:
                self._f = open(self.path, "rb")
            except OSError as e:
                raise KhmerError("Khmer phrase file unreadable: " + str(e))

    def end(self):
        if self._f is not None:
            self._f.close()
            self._f = None

    def _read(self, offset, size, into=None):
        """size bytes at offset, into a buffer made once (nothing new on the heap but a view)."""
        if size > len(self._buf) or offset + size > self.size:
            raise KhmerError("Khmer phrase file damaged")
        view = into if into is not None else self._view[:size]
        try:
            if self._f is not None:
                self._f.seek(offset)
                got = self._f.readinto(view)
            else:
                with open(self.path, "rb") as f:
                    f.seek(offset)
                    got = f.readinto(view)
        except OSError as e:
            raise KhmerError("Khmer phrase file unreadable: " + str(e))
        if got != size:
            raise KhmerError("Khmer phrase file cut short")
        return view

    def find(self, key, part=0):
        """The offset of the entry for key (its part), or -1."""
        want = formats.km_id(key, part)
        want_hi, want_lo = want >> 16, want & 0xFFFF  # compared in halves: no long ints per probe
        b = self._b8
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            self._read(formats.KM_HEAD + mid * formats.KM_INDEX, 8, b)
            i_hi, i_lo = (b[0] << 8) | b[1], (b[2] << 8) | b[3]
            if i_hi == want_hi and i_lo == want_lo:
                if b[4]:
                    raise KhmerError("Khmer phrase file damaged")
                return (b[5] << 16) | (b[6] << 8) | b[7]
            if i_hi < want_hi or (i_hi == want_hi and i_lo < want_lo):
                lo = mid + 1
            else:
                hi = mid
        return -1

    def lines(self, offset):
        """[(width, height, ascent, bitmap offset)] of an entry."""
        self._read(offset, 3, self._b3)
        count = self._b3[0]
        out = []
        at = offset + 1
        for _ in range(count):
            self._read(at, 3, self._b3)
            w, h, asc = self._b3[0], self._b3[1], self._b3[2]
            if not (0 < w <= WIDTH and 0 < h and asc <= h):
                raise KhmerError("Khmer phrase file damaged")
            out.append((w, h, asc, at + 3))
            at += 3 + ((w + 7) // 8) * h
        return out

    def blit(self, fb, line, x, y):
        import framebuf

        w, h, _, at = line
        data = self._read(at, ((w + 7) // 8) * h)
        fb.blit(framebuf.FrameBuffer(data, w, h, framebuf.MONO_HLSB), x, y)


# A run is ("b", line, file) (a Khmer bitmap line of that Strings) or ("t", text) (8x8 Latin);
# a layout line is [item index, runs, right runs].
def _run_size(run):
    """(width, ascent, descent) of a run."""
    if run[0] == "b":
        w, h, asc, _ = run[1]
        return w, asc, h - asc
    return len(run[1]) * 8, _TEXT_ASCENT, 1


def _name_lines(names, entry):
    """A Name's Khmer lines from names.km, or its Latin name."""
    off = names.find(entry[1]) if names is not None else -1
    if off < 0:
        return _latin(entry[2])
    return [[("b", line, names)] for line in names.lines(off)]


def _latin(text):
    """Latin text in lines of _COLS characters: nothing runs off the panel."""
    return [[("t", text[i : i + _COLS])] for i in range(0, len(text), _COLS)]


def _entry_runs(strings, entry, names=None):
    """The lines of one entry, each a list of runs; English where km.bin has no phrase."""
    k = kind(entry)
    if k == WRAP:
        return _entry_runs(strings, entry[1], names)
    if k == NAME:
        return _name_lines(names, entry)
    if k == NUMBERED:  # the digit, then the option's first line
        lines = _entry_runs(strings, entry[2], names)
        return [[("t", str(entry[1]) + " ")] + (lines[0] if lines else [])] + lines[1:]
    if isinstance(entry, str):
        if not entry:
            return []
        off = strings.find(entry)
        if off < 0:  # a phrase newer than the file (an update without its km.bin): English, whole
            return _latin(entry)
        return [[("b", line, strings)] for line in strings.lines(off)]
    if entry[0] == "{}":  # a literal: a typed name may be 32 letters, two lines of the panel
        # an empty one is still a line: an input row shows its cursor before the first letter
        return _latin(str(entry[1])) or [[("t", "")]]
    parts = entry[0].split("{}")
    runs = []
    for i in range(len(parts)):
        if parts[i]:
            off = strings.find(entry[0], i)
            if off < 0:
                return _latin(say(entry))
            runs += [("b", line, strings) for line in strings.lines(off)]
        if i + 1 < len(parts):
            v = entry[1 + i]
            if kind(v) == NAME:
                for line in _name_lines(names, v):
                    runs += line
            else:
                runs.append(("t", str(v)))
    return [runs]


def _fit(runs, room):
    """Break a line of runs into lines no wider than room (between runs)."""
    out = []
    line = []
    used = 0
    for run in runs:
        w = _run_size(run)[0]
        if line and used + w > room:
            out.append(line)
            line = []
            used = 0
        line.append(run)
        used += w
    if line:
        out.append(line)
    return out


def _add(out, strings, item, entry, names):
    """The layout lines of one entry (a Pair on one line if both ends fit it)."""
    room = ROOM
    if kind(entry) == PAIR:
        left = _entry_runs(strings, entry[1], names)
        right = _entry_runs(strings, entry[2], names)
        lr = left[0] if left else []
        rr = right[0] if right else []
        if len(left) < 2 and len(right) < 2 and sum(_run_size(r)[0] for r in lr + rr) + 8 <= room:
            out.append([item, lr, rr])
            return
        lines = left + right
    else:
        lines = _entry_runs(strings, entry, names)
    for runs in lines:
        for part in _fit(runs, room):
            out.append([item, part, None])


def lay_out(strings, screen, names=None):
    """The screen as layout lines [item, runs, right runs]; item: -1 title, -2 hint, else the
    body item's index.  names: the provisioned names (names.km), or None."""
    out = []
    # a screen that waits for typing (a cursor) leaves its title out: the field's name heads the
    # body, and the input row and its keys' hint then share the first page
    if not latin_title(screen) and not screen.cursor:
        _add(out, strings, -1, screen.title, names)
    for i in range(len(screen.items)):
        _add(out, strings, i, screen.items[i], names)
    _add(out, strings, -2, screen.hint, names)
    return out


def latin_title(screen):
    """A title with no words (the step "4/7", a literal) goes in the status row."""
    t = screen.title
    if isinstance(t, str):
        return not t
    if kind(t) in (WRAP, PAIR):
        return False
    for ch in t[0]:
        if ch.isalpha():
            return False
    return True


def _height(line):
    """(ascent, descent) of a layout line, worked out once and kept in it."""
    if len(line) == 3:
        asc = 0
        desc = 0
        for runs in (line[1], line[2] or ()):
            for run in runs:
                _, a, d = _run_size(run)
                asc = max(asc, a)
                desc = max(desc, d)
        line.append(asc)
        line.append(desc)
    return line[3], line[4]


def pages(lines):
    """[(first line, end)] of each page: what fits below the status row."""
    out = []
    start = 0
    used = 0
    for j in range(len(lines)):
        _height(lines[j])
        h = lines[j][3] + lines[j][4] + 1
        if j > start and used + h > HEIGHT - TOP:
            out.append((start, j))
            start = j
            used = 0
        used += h
    out.append((start, len(lines)))
    return out


def page_of(screen, lines, pgs, page):
    """The page to show: page 0 is the one holding the highlight or the cursor (the first if
    there is none), the next ones follow it round."""
    want = screen.highlight if screen.highlight is not None else (screen.cursor[0] if screen.cursor else None)
    first = 0
    if want is not None:
        for j in range(len(lines)):
            if lines[j][0] == want:
                first = [p for p in range(len(pgs)) if pgs[p][0] <= j < pgs[p][1]][0]
                break
    return (first + page) % len(pgs)


def draw(display, screen, strings, page=0, names=None):
    """Draw screen in Khmer; returns the number of pages it has."""
    strings.begin()
    if names is not None:
        names.begin()
    try:
        return _draw(display, screen, strings, page, names)
    finally:
        strings.end()
        if names is not None:
            names.end()


def _draw(display, screen, strings, page, names):
    fb = display.fb
    fb.fill(0)
    lines = lay_out(strings, screen, names)
    pgs = pages(lines)
    p = page_of(screen, lines, pgs, page)
    icons = screen.status.icons() if screen.status is not None else ""
    fb.fill_rect(0, 0, WIDTH, 8, 1)
    fb.text(icons, WIDTH - 8 * len(icons), 0, 0)
    if latin_title(screen):
        fb.text(say(screen.title)[: 15 - len(icons)], 0, 0, 0)
    if len(pgs) > 1:  # which page of how many
        span = (HEIGHT - TOP) // len(pgs)
        fb.vline(WIDTH - 1, TOP, HEIGHT - TOP, 1)
        fb.fill_rect(WIDTH - 2, TOP + p * span, 2, span, 1)
    y = TOP
    a, b = pgs[p]
    cursor_line = -1
    if screen.cursor:  # the layout line of the cursor: its item's lines hold _COLS letters each
        for j in range(len(lines)):
            if lines[j][0] == screen.cursor[0]:
                cursor_line = j + screen.cursor[1] // _COLS
                break
    for j in range(a, b):
        line = lines[j]
        asc, desc = _height(line)
        base = y + asc
        x = INDENT
        for run in line[1]:
            x = _draw_run(fb, run, x, base)
        if line[2]:
            x = WIDTH - sum(_run_size(r)[0] for r in line[2])
            for run in line[2]:
                x = _draw_run(fb, run, x, base)
        if line[0] == screen.highlight and line[0] >= 0:
            fb.fill_rect(0, y, 2, asc + desc, 1)
        if j == cursor_line:
            fb.hline(INDENT + (screen.cursor[1] % _COLS) * 8, base + 1, 8, 1)
        y += asc + desc + 1
    display.show()
    return len(pgs)


def _draw_run(fb, run, x, base):
    w, asc, _ = _run_size(run)
    if run[0] == "b":
        run[2].blit(fb, run[1], x, base - asc)
    else:
        fb.text(run[1], x, base - _TEXT_ASCENT, 1)
    return x + w


def load(data_dir, name="km.bin"):
    """The device's Strings (km.bin, or names.km), or (None, why) when it is missing or damaged."""
    try:
        return Strings(data_dir + "/" + name), None
    except KhmerError as e:
        return None, str(e)
