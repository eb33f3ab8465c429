"""The English renderer's rows (ui/render.py) against framebuf's own drawing of the same text: the
last body row keeps its pixels to itself (a rule above the hint used to run through its bottom
row: "(no phone)" read as underlined, a descender joined the rule), and the hint row is in
inverse video, like the status bar.  Drawing needs framebuf: MicroPython only."""

from fwtest import IS_MICROPYTHON, skip
from firmware.ui.screen import Screen, lit


def _pixels(draw):
    import framebuf

    buf = bytearray(1024)
    fb = framebuf.FrameBuffer(buf, 128, 64, framebuf.MONO_VLSB)
    draw(fb)
    return fb


def test_the_last_body_row_and_the_hint_row_do_not_touch():
    if not IS_MICROPYTHON:
        skip("framebuf")
    from firmware.ui import render

    class Panel:
        width = 128
        height = 64

        def __init__(self):
            self.fb = _pixels(lambda fb: None)

        def show(self):
            pass

    p = Panel()
    rows = ["SOK", "SOPHEA", "Veteran", "20481733", "Male", "(no phone) gjpqy"]
    render.draw(p, Screen("REVIEW", [lit(r) for r in rows], "A=OK B=bk C=edit"))
    # framebuf alone: the sixth row's text at its place, the hint's text inverted on a lit row
    alone = _pixels(lambda fb: fb.text(rows[5], 0, 48, 1))
    hint = _pixels(lambda fb: (fb.fill_rect(0, 56, 128, 8, 1), fb.text("A=OK B=bk C=edit", 0, 56, 0)))
    for y in range(48, 56):  # the sixth body row, its bottom pixel row included, is only its text
        assert [p.fb.pixel(x, y) for x in range(128)] == [alone.pixel(x, y) for x in range(128)], y
    for y in range(56, 64):
        assert [p.fb.pixel(x, y) for x in range(128)] == [hint.pixel(x, y) for x in range(128)], y
    assert sum(p.fb.pixel(x, 63) for x in range(128)) > 100  # inverse video: a lit row under the hint
