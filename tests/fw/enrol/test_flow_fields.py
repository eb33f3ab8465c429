"""The enrolment fields: multi-tap entry, every bad value with its message, review and edit, the
village list (long, missing, damaged) and field screens that never cut a name."""

from flowkit import Driver, login, new_flow
from flowkit import officers_dir
from firmware.enrol.flow import Flow
from firmware.enrol.officer import Officers
from firmware.ui import keymap as K
from firmware.ui.entry import TextEntry


def test_multitap_letters_with_timeout_and_same_key_pause():
    e = TextEntry()
    t = 0
    for k in "2", "2", "2":  # A B C: same key cycles
        t += 100
        e.key(k, t)
    assert e.text() == "C"
    e.tick(t + 2000)  # accepted after the timeout
    e.key("2", t + 2100)
    assert e.text() == "CA"
    e.key("3", t + 2200)  # another key accepts the pending letter at once
    assert e.text() == "CAD"
    e.key(K.DELETE, t + 2300)  # deletes the pending letter
    assert e.text() == "CA"
    e.key(K.DELETE, t + 2400)
    assert e.text() == "C"


def test_bad_field_values_get_clear_messages():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1")
    d.press(K.OK)  # empty name
    assert "Required" in d.screen()
    d.type("A" * 33)
    assert "Field is full" in d.screen()
    d.press(*[K.DELETE] * 40).type("ANNA").press(K.OK)
    d.type("BA").press(K.OK)
    d.press(K.OK)  # sex: first choice
    for bad, msg in (("31022001", "No such day"), ("01132001", "No such month"), ("01012030", "future"),
                     ("01011850", "120"), ("0101", "DD MM YYYY")):
        d.press(*bad).press(K.OK)
        assert msg in d.screen(), (bad, d.screen())
        d.press(*[K.DELETE] * 8)
    d.press(*"29022000").press(K.OK)  # a leap day
    assert flow.fields["birth_date"] == "2000-02-29"
    d.press(K.OK)  # village
    d.press(*"123").press(K.OK)
    assert "8-15 digits" in d.screen()


def test_review_edit_changes_one_field():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("ANNA").press(K.OK).type("BA").press(K.OK).press("2", K.OK)
    d.press(*"01012000").press(K.OK).press(K.OK).press(K.OK)
    assert flow.state == "review"
    d.press(K.DELETE)  # edit the first field
    d.press(*[K.DELETE] * 4).type("EVA").press(K.OK)
    assert flow.state == "review" and flow.fields["given_name"] == "EVA" and flow.fields["sex"] == "M"


def test_a_long_village_list_scrolls_with_the_highlight_and_field_names_are_never_cut():
    from flowkit import text_keys

    off = Officers(officers_dir())
    off.load()
    villages = [("BF-V-%02d" % i, "Village %02d" % i) for i in range(1, 21)]
    from firmware.ui.screen import Status

    flow = Flow(off, villages, Status(pending=123, battery_pct=100))  # the widest icons: "^123 - 100%"
    flow.today = (2026, 11, 25)
    d = Driver(flow)
    login(d)
    d.press("1")
    rows = d.screen().split("\n")
    assert rows[0].startswith("1/6 ") and rows[1] == "Given name:"  # the name heads the body, whole
    d.press(*text_keys("ZOE"), K.OK, *text_keys("KABORE"), K.OK, "1", K.OK, *list("29022004"), K.OK)
    screen = flow.render()
    assert screen.layout()[0][0] == "Village:" and screen.layout()[0][1:5] == ["Village 01", "Village 02", "Village 03",
                                                                  "Village 04"]
    assert screen.highlight == 1 and screen.layout()[0][5] == "1 of 20"
    for _ in range(14):
        d.press(K.DOWN)
        screen = flow.render()
        assert screen.layout()[0][screen.highlight] == "Village %02d" % (flow.editor.index + 1)  # always in view
        assert len(screen.layout()[0]) == 6
    assert screen.layout()[0][5] == "15 of 20"
    d.press(*[K.DOWN] * 6)  # past the end it wraps to the top
    assert flow.render().layout()[0][1:3] == ["Village 01", "Village 02"] and flow.render().highlight == 1
    d.press(K.UP)
    screen = flow.render()
    assert screen.layout()[0][1:5] == ["Village 17", "Village 18", "Village 19", "Village 20"]
    assert screen.layout()[0][screen.highlight] == "Village 20"
    d.press(K.OK)
    assert flow.fields["village_code"] == "BF-V-20"


def test_a_device_without_a_village_list_refuses_new_enrolments_and_does_not_crash():
    off = Officers(officers_dir())
    off.load()
    flow = Flow(off, [])
    flow.today = (2026, 11, 25)
    d = Driver(flow)
    login(d)
    d.press("1")
    assert flow.state == "home" and "No village list:" in d.screen() and "call technician" in d.screen()
    from firmware.ui.entry import ChoiceEntry

    empty = ChoiceEntry([])
    for k in (K.UP, K.DOWN, "1", K.OK):  # a list that is empty anyway: no key crashes it
        empty.key(k, 0)
    assert empty.value() is None


def test_damaged_village_files_give_an_empty_list():
    from fwtest import tmpdir
    from firmware.enrol.schema import load_villages

    path = tmpdir()
    assert load_villages(path) == []  # missing
    for raw in ('{"v": 1, "villages": [{"code": "BF-1", "name": "Kadiogo"}]}', "not json", '{"villages": 5}',
                '{"villages": [{"code": 7, "name": "x"}]}', '{"villages": [{"code": "", "name": "x"}]}', "[1, 2]"):
        with open(path + "/villages.json", "w") as f:
            f.write(raw)
        got = load_villages(path)
        assert got == ([("BF-1", "Kadiogo")] if raw.startswith('{"v"') else []), (raw, got)


def test_a_village_list_larger_than_a_device_holds_is_refused_without_reading_it_whole():
    from fwtest import tmpdir
    from firmware.enrol.schema import MAX_VILLAGES, VILLAGES_FILE_MAX, load_villages

    path = tmpdir()

    def write(n):
        with open(path + "/villages.json", "w") as f:
            f.write('{"v": 1, "villages": [')
            for i in range(n):
                f.write(('{"code": "V%d", "name": "%s"}' % (i, "Kadiogo village")) + (", " if i + 1 < n else ""))
            f.write("]}")

    write(MAX_VILLAGES)
    assert len(load_villages(path)) == MAX_VILLAGES
    write(MAX_VILLAGES + 1)
    assert load_villages(path) == []
    with open(path + "/villages.json", "w") as f:  # one village, but a file too large to read into RAM
        f.write('{"v": 1, "villages": [{"code": "V1", "name": "')
        for _ in range(VILLAGES_FILE_MAX // 1024 + 1):
            f.write("x" * 1024)
        f.write('"}]}')
    assert load_villages(path) == []
