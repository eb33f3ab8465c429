"""Draw a Screen (ui/screen.py) into a Display's frame buffer and show it: the status bar in
inverse video, the body rows (a highlighted row framed, the cursor underlined and kept in view),
the hint row under a rule.  8x8 font: 16 columns, BODY_ROWS rows."""

from firmware.ui.screen import BODY_ROWS

_CHAR_PX = 8


def draw(display, screen):
    fb = display.fb
    width, height = display.width, display.height
    fb.fill(0)
    fb.fill_rect(0, 0, width, _CHAR_PX, 1)
    fb.text(screen.status_row(), 0, 0, 0)
    for i in range(min(BODY_ROWS, len(screen.lines))):
        y = (i + 1) * _CHAR_PX
        offset = 0
        if screen.cursor and i == screen.cursor[0]:
            # keep the cursor in view: scroll so its column is visible
            col = screen.cursor[1]
            offset = col - 15 if col > 15 else 0
        fb.text(screen.view_line(i, offset), 0, y, 1)
        if i == screen.highlight:
            fb.rect(0, y, width, _CHAR_PX, 1)
        if screen.cursor and i == screen.cursor[0]:
            x = (screen.cursor[1] - offset) * _CHAR_PX
            fb.hline(x, y + _CHAR_PX - 1, _CHAR_PX, 1)
    fb.hline(0, height - _CHAR_PX - 1, width, 1)
    fb.text(screen.hint, 0, height - _CHAR_PX, 1)
    display.show()
