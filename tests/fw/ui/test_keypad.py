"""Keypad scanning against a pin-level matrix: presses, bounce, ghosting, auto-repeat."""

from firmware.hw.keypad import DEBOUNCE_MS, REPEAT_DELAY_MS, REPEAT_EVERY_MS, SCAN_MS, Keypad
from firmware.ui.keymap import ALL_KEYS
from host_tools.sim.keypad import KeyMatrix


def setup():
    m = KeyMatrix()
    return m, Keypad(m.rows, m.cols, ALL_KEYS)


def scan_for(kp, start, ms):
    events = []
    t = start
    while t < start + ms:
        events += kp.scan(t)
        t += SCAN_MS
    return events, t


def test_every_key_is_found_at_its_place():
    m, kp = setup()
    t = 0
    for k in "123A456B789C*0#D":
        m.press(k)
        ev, t = scan_for(kp, t, 60)
        m.release(k)
        ev2, t = scan_for(kp, t, 60)
        assert ev == [("press", k)], (k, ev)
        assert ev2 == [("release", k)]


def test_bouncing_contact_gives_one_press():
    # contacts bounce for a few ms; at one scan per SCAN_MS that is at most the
    # scans inside DEBOUNCE_MS after the change
    bounce_scans = DEBOUNCE_MS // SCAN_MS + 1
    m, kp = setup()
    m.press("5")
    m.bounce("5", bounce_scans)
    ev, t = scan_for(kp, 0, 200)
    assert ev == [("press", "5")]
    m.release("5")
    m.bounce("5", bounce_scans)
    ev, t = scan_for(kp, t, 200)
    assert ev == [("release", "5")]


def test_ghost_rectangle_is_ignored():
    m, kp = setup()
    for k in ("1", "2", "4"):  # rows 0,1 x cols 0,1: '5' would read as pressed too
        m.press(k)
    ev, t = scan_for(kp, 0, 100)
    assert ev == [] and kp.ghosts > 0


def test_two_keys_in_different_rows_and_columns_are_both_seen():
    m, kp = setup()
    m.press("1")
    m.press("6")
    ev, _ = scan_for(kp, 0, 60)
    assert sorted(ev) == [("press", "1"), ("press", "6")]


def test_delete_repeats_when_held_but_digits_do_not():
    m, kp = setup()
    m.press("C")
    ev, t = scan_for(kp, 0, REPEAT_DELAY_MS + 5 * REPEAT_EVERY_MS)
    assert ev[0] == ("press", "C")
    repeats = [e for e in ev if e[0] == "repeat"]
    assert 4 <= len(repeats) <= 6
    m.release("C")
    scan_for(kp, t, 100)
    m.press("7")
    ev, _ = scan_for(kp, t + 100, 2000)
    assert ev == [("press", "7")]
    assert DEBOUNCE_MS > SCAN_MS
