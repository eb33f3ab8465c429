"""Ticks wrap: MicroPython's ticks_ms() wraps at 2**30 ms (12.4 days, inside one battery charge).
Every timer path runs on a clock that starts 500 ms before the wrap and runs past it (both
runtimes; firmware.ticks wraps the same way on CPython): key scanning, debounce and auto-repeat,
the multi-tap timeout, a whole enrolment, the idle logout, the wait after a wrong PIN."""

from firmware.hw.keypad import DEBOUNCE_MS, REPEAT_DELAY_MS, REPEAT_EVERY_MS, SCAN_MS, Keypad
from firmware.ui.keymap import ALL_KEYS
from firmware.enrol.officer import IDLE_LOGOUT_MS
from firmware.ticks import ticks_add, ticks_diff
from firmware.ui import keymap as K
from firmware.ui.entry import TextEntry
from flowkit import Driver, enrol_person, login, new_flow
from host_tools.sim.keypad import KeyMatrix

WRAP = 1 << 30
START = WRAP - 500


def scan_for(kp, start, ms):
    events, t = [], start
    end = ticks_add(start, ms)
    while ticks_diff(end, t) > 0:
        events += [(e, ticks_diff(t, START)) for e in kp.scan(t)]
        t = ticks_add(t, SCAN_MS)
    return events, t


def test_the_clock_really_wraps_in_these_tests():
    assert ticks_add(START, 1000) == 500  # the raw value went back to near zero
    assert ticks_diff(ticks_add(START, 1000), START) == 1000


def test_keys_debounce_and_auto_repeat_across_the_wrap():
    m = KeyMatrix()
    kp = Keypad(m.rows, m.cols, ALL_KEYS)
    m.press("5")
    m.bounce("5", DEBOUNCE_MS // SCAN_MS + 1)
    events, t = scan_for(kp, START, 200)
    assert [e for e, _ in events] == [("press", "5")]
    m.release("5")
    events, t = scan_for(kp, t, 200)
    assert [e for e, _ in events] == [("release", "5")]
    m.press(K.DELETE)  # C repeats while held
    events, t = scan_for(kp, t, REPEAT_DELAY_MS + 3 * REPEAT_EVERY_MS + SCAN_MS)
    kinds = [e[0] for e, _ in events]
    assert kinds[0] == "press" and 3 <= kinds.count("repeat") <= 4, events
    m.release(K.DELETE)
    events, t = scan_for(kp, t, 200)
    assert [e for e, _ in events] == [("release", K.DELETE)]
    assert ticks_diff(t, START) > 500 and t < START  # the scans ran past the wrap


def test_multi_tap_cycles_and_times_out_across_the_wrap():
    e = TextEntry("", 16, letters=True)
    t = ticks_add(START, 400)  # 100 ms before the wrap
    e.key("2", t)
    e.key("2", ticks_add(t, 300))  # after the wrap, inside the multi-tap window: A -> B
    e.tick(ticks_add(t, 300 + K.MULTITAP_MS - 10))
    assert e.text() in ("", "B") and e.pending is not None  # still open
    e.tick(ticks_add(t, 300 + K.MULTITAP_MS))
    assert e.text() == "B" and e.pending is None


def test_a_whole_enrolment_runs_across_the_wrap():
    d = Driver(new_flow())
    d.now = START
    login(d)
    enrol_person(d)
    saves = d.take("save")
    assert len(saves) == 1 and saves[0][1]["given_name"] == "SOPHEAP"
    assert saves[0][1]["family_name"] == "CHHUON"
    assert d.now < START  # the clock wrapped during it


def test_idle_logout_fires_after_its_time_across_the_wrap():
    d = Driver(new_flow())
    d.now = START
    login(d)
    d.press("1")
    assert d.flow.officer_id is not None
    d.press(("wait", IDLE_LOGOUT_MS - 1000))
    assert d.flow.officer_id is not None  # not yet
    d.press(("wait", 1000))
    assert d.flow.officer_id is None and "Logged out" in d.screen()


def test_the_wait_after_a_wrong_pin_counts_across_the_wrap():
    d = Driver(new_flow())
    d.now = ticks_add(START, 300)
    login(d, pin=b"1111")  # wrong: the next try must wait wait_ms
    wait = d.flow.officers.wait_ms("OF0042")
    assert wait >= 1000
    d.press(*"2468").press(K.OK)  # at once: refused unchecked
    assert "Wait" in d.screen() and d.flow.state != "home"
    d.press(("wait", wait))
    d.press(*"2468").press(K.OK)
    assert d.flow.state == "home", d.screen()
