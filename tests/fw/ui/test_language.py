"""The screens' language (ui/language.py): Khmer from km.bin, English when the file is missing
or damaged (logged, never a crash), the help screen's # switching it and the switch kept on
flash.  Drawing needs framebuf: MicroPython only."""

from flowkit import Driver, login, new_flow
from fwtest import IS_MICROPYTHON, skip, tmpdir
from firmware.ui import keymap as K
from firmware.ui.screen import Screen, lit


class Panel:
    width = 128
    height = 64

    def __init__(self):
        import framebuf

        self.buf = bytearray(1024)
        self.fb = framebuf.FrameBuffer(self.buf, 128, 64, framebuf.MONO_VLSB)
        self.shown = 0

    def show(self):
        self.shown += 1


def english_pixels(screen):
    from firmware.ui import render

    p = Panel()
    render.draw(p, screen)
    return bytes(p.buf)


def test_without_a_khmer_file_the_screens_are_english_and_the_fault_is_logged():
    if not IS_MICROPYTHON:
        skip("framebuf")
    from firmware.ui.language import Language

    d = tmpdir()
    logged = []
    screen = Screen("LOGIN", ["Officer number:", lit("OF0042")], "A=OK")
    good_head = b"KMS1" + b"\x00\x01" + bytes(10)  # one entry, a CRC that does not match
    for damage in (None, b"", b"KMS1" + bytes(12), b"junk" * 40, good_head + bytes(20)):
        if damage is not None:
            with open(d + "/km.bin", "wb") as f:
                f.write(damage)
        lang = Language(d, "km", logged.append)
        p = Panel()
        lang.draw(p, screen, 0)
        assert bytes(p.buf) == english_pixels(screen) and p.shown == 1
        assert lang.pages == 1 and not lang.page_due(10000)
    assert len(logged) == 5 and all("English shown" in m for m in logged), logged
    assert ["no Khmer" in logged[0], "not a Khmer" in logged[1], "out of range" in logged[2],
            "not a Khmer" in logged[3], "damaged" in logged[4]] == [True] * 5, logged


def test_the_help_screens_hash_switches_the_language_and_it_is_kept():
    from firmware.ui.language import Language

    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press(K.HELP)
    assert "# = language" in d.screen()
    d.press(K.YES)
    assert d.take("switch_language") == [("switch_language",)] and flow.state == "home"
    d.press(K.HELP, "5")  # any other key only leaves help
    assert d.take("switch_language") == [] and flow.state == "home"
    data = tmpdir()
    logged = []
    lang = Language(data, "km", logged.append)
    lang.switch()
    assert lang.lang == "en" and Language(data, "km", logged.append).lang == "en"  # kept across a power cut
    lang.switch()
    assert Language(data, "en", logged.append).lang == "km"


def tiny_km(path):
    """A km.bin of one phrase, "LOGIN", as a 9x3 bitmap (the layout of firmware/formats.py)."""
    import binascii
    import struct

    from firmware import formats

    rows = bytes((0xFF, 0x80, 0x81, 0x00, 0xFF, 0x80))  # 9 wide: 2 bytes a row
    entry = bytes((1, 9, 3, 2)) + rows
    body = struct.pack(">II", formats.km_id("LOGIN"), formats.KM_HEAD + formats.KM_INDEX) + entry
    head = formats.KM_MAGIC + struct.pack(">HHI", 1, 0, binascii.crc32(body) & 0xFFFFFFFF) + bytes(4)
    with open(path, "wb") as f:
        f.write(head + body)


def test_a_phrase_is_blitted_from_flash_and_a_file_damaged_later_falls_back_to_english():
    if not IS_MICROPYTHON:
        skip("framebuf")
    from firmware.ui import khmer
    from firmware.ui.language import Language

    d = tmpdir()
    tiny_km(d + "/km.bin")
    logged = []
    lang = Language(d, "km", logged.append)
    screen = Screen("LOGIN", [lit("OF0042")])
    p = Panel()
    lang.draw(p, screen, 0)
    assert lang.strings is not None and len(logged) == 1 and "names.km" in logged[0]  # no place names: Latin
    del logged[:]
    y0 = khmer.TOP
    got = [[p.fb.pixel(khmer.INDENT + x, y0 + y) for x in range(9)] for y in range(3)]
    assert got == [[1] * 9, [1, 0, 0, 0, 0, 0, 0, 1, 0], [1] * 9]  # the bitmap, bit for bit
    with open(d + "/km.bin", "wb") as f:  # the file cut short under the device
        f.write(b"KMS1")
    lang.draw(p, screen, 0)
    assert bytes(p.buf) == english_pixels(screen) and len(logged) == 1 and "English shown" in logged[0]


def test_a_long_highlighted_row_scrolls_in_english_until_it_is_read_whole():
    """A village name of 38 letters in a 16-column row: each turn moves it 8 columns on, and
    the turns together show every letter (the App turns it every PAGE_MS, as a Khmer page)."""
    from firmware.ui import render
    from firmware.ui.screen import view

    name = "Boeng Chet Pram Techou Chhneah Chhneah"
    assert render.steps(name) == 4 and render.steps("Bavel Muoy") == 1
    seen = set()
    for turn in range(render.steps(name)):
        shown = view(name, turn * render.SCROLL_COLS)
        seen.update(i for i in range(len(name)) if name[max(0, i - 5):i + 1] in shown.strip("<>"))
    assert seen == set(range(len(name)))
    if not IS_MICROPYTHON:
        return
    import framebuf

    screen = Screen("LIST", ["Village:", lit(name), lit("Bavel Muoy")], highlight=1)
    for turn in range(4):
        p = Panel()
        assert render.draw(p, screen, None, turn) == 4
        want = bytearray(128)
        ref = framebuf.FrameBuffer(want, 128, 8, framebuf.MONO_VLSB)
        ref.text(view(name, turn * render.SCROLL_COLS), 0, 0, 1)
        ref.rect(0, 0, 128, 8, 1)
        assert bytes(p.buf[256:384]) == bytes(want), turn  # body row 1 (the third 8-pixel row)
