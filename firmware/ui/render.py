"""Draw a Screen (ui/screen.py) into a Display's frame buffer and show it, in English with
framebuf's 8x8 font: the status bar and the hint row in inverse video, the body rows between
(a highlighted item framed, the cursor underlined and kept in view).  16 columns, BODY_ROWS rows.
The screen is a description; this is where it becomes rows and pixels."""

from firmware.ui.screen import BODY_ROWS, COLS, row_of, view

_CHAR_PX = 8


SCROLL_COLS = 8  # a highlighted row wider than the panel moves this far each turn


def steps(text):
    """How many turns show all of a row: 1 when it fits, else enough to reach its end."""
    over = len(text) - COLS
    return 1 if over <= 0 else 2 + (over - 1) // SCROLL_COLS


def draw(display, screen, tr=None, turn=0):
    """Draw screen; returns how many turns it has (a highlighted row wider than the panel
    scrolls by SCROLL_COLS each turn, so a long village name is read whole; the App turns
    the screen every few seconds, as it turns a Khmer screen's pages)."""
    fb = display.fb
    width, height = display.width, display.height
    rows, first = screen.layout(tr)
    mark = row_of(first, screen.highlight)
    cursor_row = row_of(first, screen.cursor[0]) if screen.cursor else None
    col = screen.cursor[1] if cursor_row is not None else 0
    turns = steps(rows[mark]) if mark is not None and mark < len(rows) else 1
    fb.fill(0)
    fb.fill_rect(0, 0, width, _CHAR_PX, 1)
    fb.text(screen.status_row(tr), 0, 0, 0)
    for i in range(min(BODY_ROWS, len(rows))):
        y = (i + 1) * _CHAR_PX
        offset = col - (COLS - 1) if i == cursor_row and col > COLS - 1 else 0  # keep the cursor in view
        if i == mark and turns > 1:
            offset = (turn % turns) * SCROLL_COLS
        fb.text(view(rows[i], offset), 0, y, 1)
        if i == mark:
            fb.rect(0, y, width, _CHAR_PX, 1)
        if i == cursor_row:
            fb.hline((col - offset) * _CHAR_PX, y + _CHAR_PX - 1, _CHAR_PX, 1)
    # the hint row in inverse video, like the status bar: a rule above it took the last body
    # row's bottom pixel row, so that row's text ran into it ("(no phone)" read as underlined)
    fb.fill_rect(0, height - _CHAR_PX, width, _CHAR_PX, 1)
    fb.text(screen.hint_row(tr), 0, height - _CHAR_PX, 0)
    display.show()
    return turns
