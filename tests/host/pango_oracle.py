"""Pango's layout of text, as the independent oracle of the desk's Khmer shaping (enrolctl's
khmer.py): Pango itemises a line into script runs itself (pango_itemize, its own UAX #24 script
iterator) and shapes each run.  Pango through ctypes (Debian's libpango-1.0 and libpangoft2-1.0,
whose public structs PangoLayoutLine, PangoGlyphItem, PangoItem and PangoGlyphString are
declared in pango-layout.h, pango-glyph-item.h, pango-item.h and pango-glyph.h), no binding.

Run as a program: FONT on the command line, a JSON list of strings on stdin; prints a JSON list
with, for each string, its runs as [script name, [glyph ids]].  Fontconfig is pointed at FONT's
folder alone (FONTCONFIG_FILE, set before Pango loads), so Pango lays out with that font only.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

# GUnicodeScript (glib/gunicode.h): the two the catalogue uses, and Common
SCRIPTS = {0: "Zyyy", 23: "Khmr", 25: "Latn"}
GLYPH_EMPTY = 0x0FFFFFFF  # PANGO_GLYPH_EMPTY: a zero-width character drawn as nothing


class GSList(ctypes.Structure):
    pass


GSList._fields_ = [("data", ctypes.c_void_p), ("next", ctypes.POINTER(GSList))]


class Analysis(ctypes.Structure):  # PangoAnalysis
    _fields_ = [("shape_engine", ctypes.c_void_p), ("lang_engine", ctypes.c_void_p), ("font", ctypes.c_void_p),
                ("level", ctypes.c_uint8), ("gravity", ctypes.c_uint8), ("flags", ctypes.c_uint8),
                ("script", ctypes.c_uint8), ("language", ctypes.c_void_p), ("extra_attrs", ctypes.c_void_p)]


class Item(ctypes.Structure):  # PangoItem
    _fields_ = [("offset", ctypes.c_int), ("length", ctypes.c_int), ("num_chars", ctypes.c_int),
                ("analysis", Analysis)]


class GlyphInfo(ctypes.Structure):  # PangoGlyphInfo: glyph, geometry (width, x, y offset), attr
    _fields_ = [("glyph", ctypes.c_uint32), ("width", ctypes.c_int32), ("x_offset", ctypes.c_int32),
                ("y_offset", ctypes.c_int32), ("attr", ctypes.c_uint32)]


class GlyphString(ctypes.Structure):  # PangoGlyphString
    _fields_ = [("num_glyphs", ctypes.c_int), ("glyphs", ctypes.POINTER(GlyphInfo)),
                ("log_clusters", ctypes.POINTER(ctypes.c_int)), ("space", ctypes.c_int)]


class GlyphItem(ctypes.Structure):  # PangoGlyphItem (a PangoLayoutRun)
    _fields_ = [("item", ctypes.POINTER(Item)), ("glyphs", ctypes.POINTER(GlyphString))]


class LayoutLine(ctypes.Structure):  # PangoLayoutLine
    _fields_ = [("layout", ctypes.c_void_p), ("start_index", ctypes.c_int), ("length", ctypes.c_int),
                ("runs", ctypes.POINTER(GSList))]


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL, ctypes.CDLL]:
    pango = ctypes.CDLL("libpango-1.0.so.0")
    ft2 = ctypes.CDLL("libpangoft2-1.0.so.0")
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    ft2.pango_ft2_font_map_new.restype = ctypes.c_void_p
    pango.pango_font_map_create_context.restype = ctypes.c_void_p
    pango.pango_font_map_create_context.argtypes = [ctypes.c_void_p]
    pango.pango_layout_new.restype = ctypes.c_void_p
    pango.pango_layout_new.argtypes = [ctypes.c_void_p]
    pango.pango_font_description_from_string.restype = ctypes.c_void_p
    pango.pango_font_description_from_string.argtypes = [ctypes.c_char_p]
    pango.pango_layout_set_font_description.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    pango.pango_layout_set_text.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    pango.pango_layout_get_line_count.argtypes = [ctypes.c_void_p]
    pango.pango_layout_get_line_readonly.restype = ctypes.POINTER(LayoutLine)
    pango.pango_layout_get_line_readonly.argtypes = [ctypes.c_void_p, ctypes.c_int]
    pango.pango_context_set_language.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    pango.pango_language_from_string.restype = ctypes.c_void_p
    pango.pango_language_from_string.argtypes = [ctypes.c_char_p]
    gobject.g_object_unref.argtypes = [ctypes.c_void_p]
    return pango, ft2, gobject


def layout_runs(texts: list[str]) -> list[list[tuple[str, list[int]]]]:
    pango, ft2, gobject = _libs()
    fontmap = ft2.pango_ft2_font_map_new()
    context = pango.pango_font_map_create_context(fontmap)
    desc = pango.pango_font_description_from_string(b"Noto Sans Khmer 14px")
    out = []
    for text in texts:
        layout = pango.pango_layout_new(context)
        pango.pango_layout_set_font_description(layout, desc)
        raw = text.encode()
        pango.pango_layout_set_text(layout, raw, len(raw))
        if pango.pango_layout_get_line_count(layout) != 1:
            raise ValueError(f"{text!r} is not one line")
        runs = []
        node = pango.pango_layout_get_line_readonly(layout, 0).contents.runs
        while node:
            run = ctypes.cast(node.contents.data, ctypes.POINTER(GlyphItem)).contents
            item, glyphs = run.item.contents, run.glyphs.contents
            ids = [glyphs.glyphs[i].glyph for i in range(glyphs.num_glyphs)]
            runs.append((SCRIPTS.get(item.analysis.script, str(item.analysis.script)),
                         [g for g in ids if g != GLYPH_EMPTY]))
            node = node.contents.next
        gobject.g_object_unref(layout)
        out.append(runs)
    return out


def main() -> None:
    font = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "fonts.conf"
        conf.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                        f"<dir>{escape(str(font.parent))}</dir><cachedir>{escape(tmp)}/cache</cachedir></fontconfig>")
        os.environ["FONTCONFIG_FILE"] = str(conf)
        json.dump(layout_runs(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
