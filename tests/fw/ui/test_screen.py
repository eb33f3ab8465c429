"""Screen model: geometry of the 16x8 text grid, no silent truncation."""

from firmware.ui.screen import COLS, Screen, Status, boot_screen, view


def test_status_row_is_exactly_one_row_with_icons_on_the_right():
    s = Screen("HOME", status=Status(wifi="on", battery_pct=80, pending=3))
    row = s.status_row()
    assert len(row) == COLS
    assert row.startswith("HOME")
    assert row.endswith("^3 W 80%")


def test_long_title_is_marked_not_cut_silently():
    s = Screen("A VERY LONG TITLE HERE", status=Status(wifi="off"))
    row = s.status_row()
    assert len(row) == COLS
    assert "~" in row


def test_a_title_keeps_its_room_and_the_battery_icon_stays():
    wide = Status(wifi="on", battery_pct=100, pending=123)  # "^123 W 100%": 11 columns
    assert Screen("HOME", status=wide).status_row() == "HOME ^123 W 100%"
    # a longer title: the pending count gives way first, then Wi-Fi; the battery never
    assert Screen("CONSENT", status=wide).status_row() == "CONSENT   W 100%"
    assert Screen("CITIZEN PIN", status=wide).status_row() == "CITIZEN PIN 100%"
    assert Screen("CITIZEN PIN", status=Status(pending=4)).status_row() == "CITIZEN PIN ^4 -"
    assert Screen("CITIZEN PIN", status=Status(wifi="on")).status_row() == "CITIZEN PIN    W"


def test_short_line_is_shown_whole():
    s = Screen("T", ["hello"])
    assert view(s.layout()[0][0]) == "hello"


def test_long_line_scrolls_with_edge_markers():
    text = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # 26 columns, 10 more than fit
    s = Screen("T", [text])
    first = view(s.layout()[0][0], 0)
    assert first == "ABCDEFGHIJKLMNO>"  # 15 columns and a marker that more follows
    last = view(s.layout()[0][0], 10)
    assert last == "<LMNOPQRSTUVWXYZ"  # the tail, with a marker that text precedes
    middle = view(s.layout()[0][0], 5)
    assert middle[0] == "<" and middle[-1] == ">"
    # every character is visible at some offset
    seen = set()
    for off in range(11):
        seen.update(view(s.layout()[0][0], off).strip("<>"))
    assert seen == set(text)


def test_text_has_eight_rows_and_full_values():
    s = boot_screen("0.1.0", "dev-123456789abcdef")
    rows = s.text().split("\n")
    assert len(rows) == 8
    assert "dev-123456789abcdef" in rows  # the text form never truncates


def test_highlight_marks_the_selected_line():
    s = Screen("SEX", ["Female", "Male"], highlight=1)
    rows = s.text().split("\n")
    assert rows[1] == "Female"
    assert rows[2] == ">Male"


def test_wrap_breaks_at_spaces_and_never_drops_text():
    from firmware.ui.screen import wrap

    assert wrap("Card read-only: use another card", 2) == ["Card read-only:", "use another card"]
    assert wrap("short", 2) == ["short"]
    assert wrap("", 2) == []
    assert wrap("ABCDEFGHIJKLMNOPQRST", 2) == ["ABCDEFGHIJKLMNOP", "QRST"]  # a long word is split
    three = wrap("one two three four five six seven eight nine", 2)
    assert len(three) == 2 and three[0] == "one two three"
    assert three[1] == "four five six seven eight nine"  # the rest stays whole: the renderer scrolls it
    assert " ".join(three) == "one two three four five six seven eight nine"

