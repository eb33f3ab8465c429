"""The device's Khmer: each phrase of km_catalogue shaped with HarfBuzz and rasterised with
FreeType into 1-bit lines, packed into km.bin (firmware/formats.py), which the device draws
from flash (firmware/ui/khmer.py).  The device cannot shape Khmer itself: coeng subscripts,
pre-base and split vowels and stacked marks need OpenType shaping.

The font is Noto Sans Khmer at 14 pixels (PyPI fontpkg-noto-sans-khmer, pinned): in FreeType's
monochrome mode its strokes stay 1-2 pixels wide where Khmer OS Battambang's and Khmer OS's thin
to 1 and break up, it is about 10 % narrower than Battambang (more of a phrase on a 128-pixel
line), and its subscripts reach 3-7 pixels below the baseline, not 8.  At 14 pixels a line takes
16-22 pixels with its marks: three lines under the status row.
"""

from __future__ import annotations

import io
import struct
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import freetype
import uharfbuzz as hb
from fontpkg_noto_sans_khmer import ROOT as NOTO_ROOT

from firmware import formats

from .errors import EnrolctlError
from .gazetteer import Area
from .km_catalogue import KHMER

PX = 14
LINE_PX = 121  # the panel's 128 less the highlight and page bars (firmware/ui/khmer.py ROOM)
FONT = next(Path(NOTO_ROOT).rglob("NotoSansKhmer*.ttf"), None) if NOTO_ROOT else None


_LANGUAGE = {"Khmr": "km", "Latn": "en"}
_OPENING = {"(": ")", "[": "]", "{": "}", "\u2039": "\u203a", "\u00ab": "\u00bb"}
_CLOSING = set(_OPENING.values())


def _script(ch: str) -> str | None:
    """A character's script (Unicode's Scripts.txt) as far as the catalogue needs it: Khmer's two
    blocks, Latin letters; None for what belongs to no one script (spaces, digits, punctuation:
    Common) or to its neighbour's (combining marks: Inherited)."""
    o = ord(ch)
    if 0x1780 <= o <= 0x17FF or 0x19E0 <= o <= 0x19FF:
        return "Khmr"
    if ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
        return "Latn"
    return None


def script_runs(text: str) -> list[tuple[str, str]]:
    """text split into runs of one script each, as a text layout engine itemises it (UAX #24:
    a Common or Inherited character joins the run before it, or at the start the run after).
    "A=យល់ព្រម" is ("Latn", "A="), ("Khmr", "យល់ព្រម"): shaped in one buffer as Latin, the
    coeng-ro stayed after its consonant and the split vowels were not split.  The two halves of
    a bracket pair take the script of the opening one, as UAX #24 section 5.2 asks."""
    runs: list[list] = []  # [script, text]
    opened: list[tuple[str, int]] = []  # (closing bracket, the run its opening one is in)
    for ch in text:
        sc = _script(ch)
        if ch in _CLOSING and opened and opened[-1][0] == ch:  # a pair's two halves: one script
            sc = runs[opened.pop()[1]][0]
        if runs and (sc is None or sc == runs[-1][0]):
            runs[-1][1] += ch
        elif runs and runs[-1][0] is None:  # leading Common characters take the first script
            runs[-1] = [sc, runs[-1][1] + ch]
        else:
            runs.append([sc, ch])
        if ch in _OPENING:
            opened.append((_OPENING[ch], len(runs) - 1))
    return [(sc or "Latn", t) for sc, t in runs]


@dataclass(frozen=True)
class Line:
    width: int
    height: int
    ascent: int
    rows: bytes  # MONO_HLSB


class Shaper:
    """HarfBuzz shaping and FreeType monochrome rasterising of one font at one size."""

    def __init__(self, font: Path, px: int = PX) -> None:
        self.path = str(font)
        blob = hb.Blob.from_file_path(self.path)
        self.hb_face = hb.Face(blob)
        self.font = hb.Font(self.hb_face)
        self.upem = self.hb_face.upem
        self.font.scale = (self.upem, self.upem)
        self.ft = freetype.Face(self.path)
        self.ft.set_pixel_sizes(0, px)
        self.px = px

    def glyphs(self, text: str) -> list[tuple[int, int, int, int]]:
        """(glyph id, x, y offset, advance) in pixels x 64 of the shaped text, each script run
        shaped as its own script (script_runs); EnrolctlError for a character the font does not
        have."""
        out = []
        s = 64 * self.px / self.upem
        for script, run in script_runs(text):
            buf = hb.Buffer()
            buf.add_str(run)
            buf.direction = "ltr"
            buf.script = script
            buf.language = _LANGUAGE[script]
            hb.shape(self.font, buf, {})
            for info, pos in zip(buf.glyph_infos, buf.glyph_positions):
                if info.codepoint == 0:
                    bad = run[info.cluster] if info.cluster < len(run) else "?"
                    raise EnrolctlError(f"the Khmer font has no glyph for {bad!r} (U+{ord(bad):04X}) in {text!r}")
                out.append((info.codepoint, round(pos.x_offset * s), round(pos.y_offset * s),
                            round(pos.x_advance * s)))
        return out

    def width(self, text: str) -> int:
        """Pixels the text takes, ink included (a mark may reach past the pen's advance)."""
        return self.render(text).width

    def render(self, text: str) -> Line:
        """One line, cropped to its ink (its ascent says where the baseline is)."""
        marks: list[tuple[int, int]] = []
        pen = 0
        for gid, dx, dy, adv in self.glyphs(text):
            self.ft.load_glyph(gid, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_TARGET_MONO)
            g = self.ft.glyph
            bm = g.bitmap
            x0 = (pen + dx) // 64 + g.bitmap_left
            y0 = -(dy // 64) - g.bitmap_top  # rows above the baseline are negative
            for r in range(bm.rows):
                for c in range(bm.width):
                    if bm.buffer[r * bm.pitch + c // 8] & (0x80 >> (c % 8)):
                        marks.append((x0 + c, y0 + r))
            pen += adv
        if not marks:
            raise EnrolctlError(f"{text!r} draws no pixels")
        left = min(0, min(x for x, _ in marks))
        top = min(y for _, y in marks)
        bottom = max(y for _, y in marks)
        width = max(max(x for x, _ in marks) - left + 1, (pen + 63) // 64)
        height = bottom - top + 1
        stride = (width + 7) // 8
        rows = bytearray(stride * height)
        for x, y in marks:
            x -= left
            y -= top
            rows[y * stride + x // 8] |= 0x80 >> (x % 8)
        return Line(width, height, -top, bytes(rows))

    def lines(self, text: str, room: int = LINE_PX) -> list[Line]:
        """text broken at its spaces into lines no wider than room."""
        out: list[str] = []
        for word in text.split(" "):
            if out and self.width(out[-1] + " " + word) <= room:
                out[-1] += " " + word
            else:
                out.append(word)
        lines = [self.render(t) for t in out if t]
        for t, line in zip(out, lines):
            if line.width > room:
                raise EnrolctlError(f"Khmer {t!r} is {line.width} pixels wide and has no break point: "
                                    f"a line of the panel is {room}")
        return lines


def entries(shaper: Shaper, catalogue: dict[str, str]) -> dict[int, list[Line]]:
    """{id: lines} for every phrase and every part of every template."""
    out: dict[int, list[Line]] = {}
    keys: dict[int, str] = {}
    for english, khmer in catalogue.items():
        if not khmer.strip():
            raise EnrolctlError(f"no Khmer for {english!r}")
        if english.count("{}") != khmer.count("{}"):
            raise EnrolctlError(f"Khmer for {english!r} has {khmer.count('{}')} values, the English "
                                f"{english.count('{}')}")
        parts = khmer.split("{}")
        for i, part in enumerate(parts):
            if not part.strip():
                continue
            pid = formats.km_id(english, i)
            if pid in keys:
                raise EnrolctlError(f"{english!r} and {keys[pid]!r} have the same id: rename one")
            keys[pid] = english
            # a template's part stays on one line, beside its values; a phrase may take several
            out[pid] = shaper.lines(part.strip()) if len(parts) == 1 else [shaper.render(part)]
            if len(parts) > 1 and out[pid][0].width > LINE_PX:
                raise EnrolctlError(f"Khmer {part!r} of {english!r} does not fit a line")
    return out


def km_file(found: dict[int, list[Line]]) -> bytes:
    body = io.BytesIO()
    ids = sorted(found)
    if not 0 < len(ids) <= formats.KM_MAX_ENTRIES:
        raise EnrolctlError("too many or no Khmer phrases")
    base = formats.KM_HEAD + formats.KM_INDEX * len(ids)
    blobs = bytearray()
    index = bytearray()
    for pid in ids:
        index += struct.pack(">II", pid, base + len(blobs))
        blobs.append(len(found[pid]))
        for line in found[pid]:
            if len(line.rows) > formats.KM_LINE_MAX or line.width > 128 or line.height > 255:
                raise EnrolctlError("a Khmer line too large for the device")
            blobs += struct.pack("BBB", line.width, line.height, line.ascent) + line.rows
    body.write(index)
    body.write(blobs)
    data = body.getvalue()
    head = formats.KM_MAGIC + struct.pack(">HHI", len(ids), 0, zlib.crc32(data)) + bytes(4)
    return head + data


def build(catalogue: dict[str, str] = KHMER, font: Path | None = None) -> bytes:
    """km.bin for the device; EnrolctlError (one line) if a phrase cannot be drawn."""
    font = font or FONT
    if font is None or not Path(font).exists():
        raise EnrolctlError("the Khmer font (Noto Sans Khmer, PyPI fontpkg-noto-sans-khmer) is not installed")
    return km_file(entries(Shaper(Path(font)), catalogue))


def names_file(area: Area, categories: Sequence[tuple[str, str]] = ()) -> bytes:
    """names.km: the Khmer names of the device's villages ("v" + code), communes ("c" + code)
    and of the categories added at provisioning ("k" + code), as ui/screen.Name entries ask."""
    font = FONT
    if font is None or not Path(font).exists():
        raise EnrolctlError("the Khmer font (Noto Sans Khmer, PyPI fontpkg-noto-sans-khmer) is not installed")
    shaper = Shaper(Path(font))
    found: dict[int, list[Line]] = {}
    named = [("c" + c.code, c.name_km) for c in area.communes]
    named += [("v" + v.code, v.name_km) for v in area.villages]
    named += [("k" + code, km) for code, km in categories]
    for key, km in named:
        pid = formats.km_id(key)
        if pid in found:
            raise EnrolctlError(f"the names of {key} collide with another's: give it another code")
        found[pid] = shaper.lines(km)
    return km_file(found)
