"""Draw a Screen (ui/screen.py) into a Display's frame buffer and show it, in English with
framebuf's 8x8 font: the status bar in inverse video, the body rows (a highlighted item framed,
the cursor underlined and kept in view), the hint row under a rule.  16 columns, BODY_ROWS rows.
The screen is a description; this is where it becomes rows and pixels."""

from firmware.ui.screen import BODY_ROWS, COLS, row_of, view

_CHAR_PX = 8


def draw(display, screen, tr=None):
    fb = display.fb
    width, height = display.width, display.height
    rows, first = screen.layout(tr)
    mark = row_of(first, screen.highlight)
    cursor_row = row_of(first, screen.cursor[0]) if screen.cursor else None
    col = screen.cursor[1] if cursor_row is not None else 0
    fb.fill(0)
    fb.fill_rect(0, 0, width, _CHAR_PX, 1)
    fb.text(screen.status_row(tr), 0, 0, 0)
    for i in range(min(BODY_ROWS, len(rows))):
        y = (i + 1) * _CHAR_PX
        offset = col - (COLS - 1) if i == cursor_row and col > COLS - 1 else 0  # keep the cursor in view
        fb.text(view(rows[i], offset), 0, y, 1)
        if i == mark:
            fb.rect(0, y, width, _CHAR_PX, 1)
        if i == cursor_row:
            fb.hline((col - offset) * _CHAR_PX, y + _CHAR_PX - 1, _CHAR_PX, 1)
    fb.hline(0, height - _CHAR_PX - 1, width, 1)
    fb.text(screen.hint_row(tr), 0, height - _CHAR_PX, 1)
    display.show()
