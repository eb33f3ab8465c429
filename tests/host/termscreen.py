"""Read the OLED back off the terminal: `make sim`'s pixel view is 32 rows of 128 half-block
characters (each one two pixels of the 128x64 panel); the firmware draws text with framebuf's
8x8 font on an 8-pixel grid, so each 8x8 cell is matched against that font (MicroPython's
extmod/font_petme128_8x8.h, from the runtime's source) as drawn, or inverted (the title bar).
A cell that is no glyph reads '~' (an icon, a half-drawn frame)."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from host_tools.enrolctl.runtime import RUNTIME_DIR

CLEAR = "\x1b[2J\x1b[H"
HALF = {" ": (0, 0), "\u2580": (1, 0), "\u2584": (0, 1), "\u2588": (1, 1)}


@cache
def glyphs() -> dict[bytes, str]:
    src = Path(os.environ.get("MICROPY_SRC") or RUNTIME_DIR / "src")
    text = (src / "extmod" / "font_petme128_8x8.h").read_text()
    found: dict[bytes, str] = {}
    for i, row in enumerate(re.findall(r"^\s*((?:0x[0-9a-fA-F]{2},\s*){8})//", text, re.M)):
        cols = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{2})", row))
        found.setdefault(cols, chr(32 + i))
    return found


def pixels(frame: str) -> list[list[int]] | None:
    """64 rows of 128 pixels from one frame of the pixel view, or None if it is not one."""
    rows = [r for r in frame.replace("\r", "").split("\n") if r and set(r) <= set(HALF) and len(r) == 128][:32]
    if len(rows) != 32:
        return None
    px = [[0] * 128 for _ in range(64)]
    for y2, row in enumerate(rows):
        for x, ch in enumerate(row):
            top, bottom = HALF[ch]
            px[2 * y2][x], px[2 * y2 + 1][x] = top, bottom
    return px


def read(frame: str) -> list[str] | None:
    """The 8 rows of 16 characters the panel shows in this frame (None: no frame, '(display off)')."""
    px = pixels(frame)
    if px is None:
        return None
    font = glyphs()
    lines = []
    for r in range(8):
        line = []
        for c in range(16):
            cols = bytes(sum(px[8 * r + y][8 * c + x] << y for y in range(8)) for x in range(8))
            ch = font.get(cols) or font.get(bytes(255 - v for v in cols))
            line.append(ch if ch is not None else "~")
        lines.append("".join(line))
    return lines


def frames(output: str) -> list[str]:
    """The frames of a pixel-view session, in order (each starts with a clear-screen)."""
    return output.split(CLEAR)[1:]


def last_screen(output: str) -> list[str] | None:
    for frame in reversed(frames(output)):
        screen = read(frame)
        if screen is not None:
            return screen
    return None


def shows_khmer(frame: str, khmer_text: str) -> bool:
    """Whether this frame holds the host's own HarfBuzz + FreeType rendering of khmer_text (as
    enrolctl's khmer.py breaks it into lines), bit for bit, anywhere on the panel."""
    px = pixels(frame)
    if px is None:
        return False
    for line in _rendered(khmer_text):
        stride = (line.width + 7) // 8
        want = [[(line.rows[y * stride + x // 8] >> (7 - x % 8)) & 1 for x in range(line.width)]
                for y in range(line.height)]
        if not any(px[y][x:x + line.width] == want[0] and all(
                px[y + j][x:x + line.width] == want[j] for j in range(1, line.height))
                for y in range(64 - line.height + 1) for x in range(128 - line.width + 1)):
            return False
    return True


@cache
def _rendered(text: str) -> list:
    from host_tools.enrolctl import khmer

    return khmer.Shaper(khmer.FONT).lines(text)
