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
    d.type("A" * 33)  # the fault mended: its refusal goes
    assert "Required" not in d.screen()
    assert "Field is full" in d.screen()
    d.press(*[K.DELETE] * 40).type("ANNA").press(K.OK)
    d.type("BA").press(K.OK)
    d.press(K.OK)  # sex: first choice
    for bad, msg in (("31022001", "No such day"), ("01132001", "No such month"), ("01012030", "future"),
                     ("01011850", "120"), ("0101", "DD MM YYYY")):
        d.press(*bad).press(K.OK)
        assert msg in d.screen(), (bad, d.screen())
        d.press(*[K.DELETE] * 8)
        assert msg not in d.screen(), (bad, d.screen())
    d.press(*"29022000").press(K.OK)  # a leap day
    assert flow.fields["birth_date"] == "2000-02-29"
    d.press(K.OK)  # village
    d.press(*"123").press(K.OK)
    assert "8-15 digits" in d.screen()


def test_review_edit_changes_one_field():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("ANNA").press(K.OK).type("BA").press(K.OK).press("2")
    d.press(*"01012000").press(K.OK).press(K.OK).press(K.OK).press(K.OK)
    assert flow.state == "review"
    rows = d.screen().split("\n")
    # the family name first, as on the Khmer identity card; then what decides the money paid
    assert rows[1:5] == [">ANNA", "BA", "Citizen", "Male"]
    d.press(K.DELETE)  # edit the first field
    d.press(*[K.DELETE] * 4).type("EVA").press(K.OK)
    assert flow.state == "review" and flow.fields["family_name"] == "EVA" and flow.fields["sex"] == "M"
    d.press(K.DOWN, K.DOWN, K.DOWN, K.DELETE)  # the fourth row: sex
    assert flow.render().layout()[0][0] == "Sex:"


def test_review_shows_what_decides_the_money_and_says_when_there_is_more():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("SOK").press(K.OK).type("SOPHEA").press(K.OK).press("2", *"09031951", K.OK)
    d.press(K.OK, K.OK, "4", *"20481733", K.OK)  # the village offered, no phone, a veteran and his number
    assert flow.state == "review"
    body = d.screen().split("\n")[1:7]
    assert body[:4] == [">SOK", "SOPHEA", "Veteran", "20481733"]  # a veteran's number decides his pension
    assert body[5] == "*# 1 of 8"  # 8 answers in 5 rows: the last says where the window is
    d.press(*[K.DOWN] * 7)
    body = d.screen().split("\n")[1:7]
    assert body[4] == ">(no phone)" and body[5] == "*# 8 of 8"


def test_the_step_count_follows_the_highlighted_category_and_never_jumps():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("SOK").press(K.OK).type("SOPHEA").press(K.OK).press("2", *"09031951", K.OK)
    d.press(K.OK, K.OK)  # the village offered, no phone: the category
    assert d.screen().startswith("7/7 ") and ">1 Citizen" in d.screen()  # a citizen has no number: 7 steps
    d.press(K.DOWN, K.DOWN, K.DOWN)
    assert d.screen().startswith("7/8 ") and ">4 Veteran" in d.screen()  # a veteran's number is an 8th
    d.press(K.OK)
    assert d.screen().startswith("8/8 ") and "Service no.:" in d.screen()


def _district(n_communes, per_commune):
    """A district's worth of villages in the official code layout (codes are made up, as many as
    the largest district has)."""
    communes = [("0204%02d" % (c + 1), "Commune %d" % (c + 1)) for c in range(n_communes)]

    class Rows:  # made as they are read: as strings they would not fit the device's heap
        def __iter__(self):
            for c in range(n_communes):
                for v in range(per_commune):
                    yield "0204%02d%02d" % (c + 1, v + 1), c, "Village %d-%02d" % (c + 1, v + 1)

        def __getitem__(self, i):
            c, v = divmod(i, per_commune)
            return "0204%02d%02d" % (c + 1, v + 1), c, "Village %d-%02d" % (c + 1, v + 1)

    return communes, Rows()


def test_a_long_village_list_scrolls_types_a_code_and_field_names_are_never_cut():
    from flowkit import text_keys, village_list
    from firmware.ui.screen import Status

    off = Officers(officers_dir())
    off.load()
    communes, rows = _district(10, 30)  # 300 villages: more than the largest district (289)
    flow = Flow(off, village_list(rows, communes), Status(pending=123, battery_pct=100))  # widest icons
    flow.today = (2026, 11, 25)
    d = Driver(flow)
    login(d)
    d.press("1")
    body = d.screen().split("\n")
    assert body[0].startswith("1/7 ") and body[1] == "Family name:"  # the name heads the body, whole
    d.press(*text_keys("NARY"), K.OK, *text_keys("KEO"), K.OK, "1", *list("29022004"), K.OK)
    screen = flow.render()
    layout = screen.layout()[0]
    assert layout[0:4] == ["Village:", "Village 1-01", "Village 1-02", "Village 1-03"]
    assert screen.highlight == 1 and layout[4:6] == ["Commune Commune 1", "1 of 300"]
    for _ in range(40):
        d.press(K.DOWN)
        screen = flow.render()
        layout = screen.layout()[0]
        i = flow.editor.index
        assert layout[screen.highlight] == rows[i][2] and len(layout) == 6  # always in view
        assert layout[4] == "Commune Commune %d" % (i // 30 + 1)
    assert layout[5] == "41 of 300"
    d.press(*"020407")  # the officer types the official code: the list goes to commune 7
    assert flow.render().layout()[0][5] == "Code 020407" and flow.editor.value() == "02040701"
    d.press("9")  # commune 020407 has no village 9x
    assert flow.editor.value() == "02040701" and flow.render().layout()[0][5] == "No code 0204079"
    d.press(K.OK)  # a code that is no village is never saved as the highlighted one
    assert flow.state == "field" and "village_code" not in flow.fields
    assert flow.render().layout()[0][5] == "No village 0204079"
    d.press(K.DELETE, *"15")
    assert flow.editor.value() == "02040715" and flow.render().layout()[0][5] == "Code 02040715"
    d.press("3")  # a code has 8 digits: a ninth is not taken
    assert flow.render().layout()[0][5] == "Code 02040715"
    d.press(K.UP)  # moving forgets the code typed
    assert flow.editor.value() == "02040714" and flow.render().layout()[0][5] == "194 of 300"
    d.press(K.OK)
    assert flow.fields["village_code"] == "02040714"
    d.press(K.BACK)
    d.press(*[K.UP] * 194)  # past the top it wraps to the end
    screen = flow.render()
    assert screen.layout()[0][1:4] == ["Village 10-28", "Village 10-29", "Village 10-30"]
    assert screen.layout()[0][screen.highlight] == "Village 10-30"


def test_a_whole_code_that_is_no_village_is_refused_not_saved_as_another():
    from flowkit import text_keys, village_list

    off = Officers(officers_dir())
    off.load()
    communes, rows = _district(10, 30)  # codes 020401xx-020410xx, villages 01-30 in each
    flow = Flow(off, village_list(rows, communes))
    flow.today = (2026, 11, 25)
    d = Driver(flow)
    login(d)
    d.press("1", *text_keys("NARY"), K.OK, *text_keys("KEO"), K.OK, "1", *list("29022004"), K.OK)
    for code in ("02040199", "99999999", "02049901"):  # no village 99; no such district; no commune 99
        d.press(*code, K.OK)
        assert flow.state == "field" and "village_code" not in flow.fields, code
        assert flow.render().layout()[0][5] == "No village " + code
        d.press(*[K.DELETE] * 8)
    d.press(*"02040130", K.OK)  # the last village of commune 01 is one
    assert flow.fields["village_code"] == "02040130" and flow.state == "field"
    assert flow.render().layout()[0][0] != "Village:"  # on to the next field


def test_the_village_of_the_last_person_is_offered_to_the_next():
    from flowkit import enrol_person

    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("SOK").press(K.OK).type("DARA").press(K.OK).press("1", *"01012000", K.OK)
    d.press(K.DOWN, K.DOWN, K.DOWN, K.OK)  # Prey Sangha, commune Khnach Romeas
    d.press(K.OK, "4")  # no phone, veteran (a digit takes its option)
    assert flow.state == "field" and "Service no.:" in d.screen()
    d.press(*"20481733", K.OK)
    assert flow.state == "review" and "Veteran" in d.screen() and "20481733" in d.screen()
    d.press(*[K.DOWN] * 6)  # eight answers in six rows: the window follows the highlight
    assert ">Prey Sangha" in d.screen()
    d.press(K.BACK)  # back from review: the last field asked, the number
    assert "Service no.:" in d.screen()
    d.press(K.OK, K.OK, K.YES, *"7391", K.OK, *"7391", K.OK)
    assert d.take("save")[0][1]["village_code"] == "02040201"
    flow.saved(1, 1)
    flow.card_done(True, "K7QX-M2PD")
    d.press(K.OK)
    enrol_person(d)  # presses OK on the village and the category offered
    fields = d.take("save")[0][1]
    assert fields["village_code"] == "02040201" and fields["category"] == "veteran" and fields["service_no"] == ""
    d.add(flow.logout())
    login(d)
    enrol_person(d)  # another officer's session starts from the top of the lists again
    fields = d.take("save")[0][1]
    assert fields["village_code"] == "02040101" and fields["category"] == "citizen"


def test_a_category_without_a_number_skips_it_and_a_change_on_review_asks_for_it():
    from flowkit import enrol_person

    flow = new_flow()
    d = Driver(flow)
    login(d)
    enrol_person(d, category="4", service="12345678")
    fields = d.take("save")[0][1]
    assert fields["category"] == "veteran" and fields["service_no"] == "12345678"
    d.add(flow.save_failed("Storage full"))
    d.press(K.OK)  # back on review: change the category to citizen, which has no number
    flow.review_index = flow.review_order().index(6)
    d.press(K.DELETE, "1")
    assert flow.state == "review" and flow.fields["service_no"] == "" and len(flow.steps()) == 7
    assert "(no number)" not in d.screen() and "Citizen" in d.screen()
    flow.review_index = flow.review_order().index(6)
    d.press(K.DELETE, "3")  # retired civil servant: asks the number next
    assert flow.state == "field" and "Service no.:" in d.screen() and "8/8" in d.screen()
    d.press(*"12", K.OK)
    assert "4-16 digits" in d.screen()
    d.press(K.DELETE, K.DELETE, K.OK)  # none at hand: optional
    assert flow.state == "review" and flow.fields["category"] == "retired_civil_servant"
    text = d.screen()
    assert "Retired official" in text and "(no number)" in text
    flow.review_index = 0
    d.press(K.DOWN, K.DOWN, K.DOWN, K.DOWN, K.DOWN, K.DOWN, K.DOWN)
    assert ">(no phone)" in d.screen()  # the window followed the highlight to the last answer


def test_categories_from_provisioning_are_offered_after_the_built_in_ones():
    import json

    from fwtest import tmpdir
    from firmware.enrol import schema

    path = tmpdir()
    assert schema.load_categories(path) == schema.CATEGORIES  # none added
    with open(path + "/categories.json", "w") as f:
        f.write(json.dumps({"v": 1, "categories": [{"code": "disabled", "name": "Disability card", "number": True}]}))
    cats = schema.load_categories(path)
    assert cats[-1] == ("disabled", "Disability card", True) and len(cats) == 5
    off = Officers(officers_dir())
    off.load()
    from flowkit import village_list

    flow = Flow(off, village_list(), None, cats)
    flow.today = (2026, 11, 25)
    d = Driver(flow)
    login(d)
    from flowkit import enrol_person

    enrol_person(d, category="5", service="4711")
    assert d.take("save")[0][1]["category"] == "disabled"
    for raw in ("not json", '{"categories": 5}', '{"categories": [{"code": "veteran", "name": "V", "number": true}]}',
                '{"categories": [{"code": "x", "name": "' + "y" * 17 + '", "number": true}]}',
                '{"categories": [{"code": "x", "name": "y", "number": 1}]}',
                '{"categories": [' + ", ".join('{"code": "c%d", "name": "y", "number": false}' % i for i in range(9)) + ']}'):
        with open(path + "/categories.json", "w") as f:
            f.write(raw)
        assert schema.load_categories(path) is None, raw
    flow = Flow(off, village_list(), None, None)
    d = Driver(flow)
    login(d)
    d.press("1")
    assert flow.state == "home" and "Categories bad:" in d.screen() and "call technician" in d.screen()


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


def test_damaged_village_files_are_not_used():
    import struct

    from flowkit import COMMUNES, VILLAGE_ROWS
    from fwtest import tmpdir
    from firmware import formats, formats_host
    from firmware.enrol import villages

    path = tmpdir()
    assert villages.load(path) == ((), "no village list")  # missing
    good = formats_host.villages_file(COMMUNES, VILLAGE_ROWS)
    flipped = bytearray(good)
    flipped[-3] ^= 1
    huge = bytearray(good)
    struct.pack_into(">H", huge, 4, formats.MAX_VILLAGES + 1)
    for raw, why in ((good[:-1], "damaged"), (good + b"x", "damaged"), (bytes(flipped), "damaged"), (b"", "not a"),
                     (b"VLG2" + good[4:], "not a"), (bytes(huge), "out of range"), (good[:10], "not a")):
        with open(path + "/villages.bin", "wb") as f:
            f.write(raw)
        got, reason = villages.load(path)
        assert got == () and why in reason, (raw[:20], reason)
    with open(path + "/villages.bin", "wb") as f:
        f.write(good)
    got, reason = villages.load(path)
    assert reason is None and len(got) == 5 and got[3] == ("02040201", "Prey Sangha")
    assert got.commune(3) == "Khnach Romeas" and got.index("02040105") == 2 and got.index("02040102") == -1


def test_the_packer_refuses_what_the_device_could_not_read_back():
    from flowkit import COMMUNES, VILLAGE_ROWS
    from firmware import formats, formats_host

    for communes, rows in (([], VILLAGE_ROWS), (COMMUNES, []), (COMMUNES, VILLAGE_ROWS[::-1]),
                           (COMMUNES, VILLAGE_ROWS + VILLAGE_ROWS[-1:]), (COMMUNES, [("0204010", 0, "x")]),
                           (COMMUNES, [("02040101", 2, "x")]), (COMMUNES, [("02040101", 0, "")]),
                           (COMMUNES, [("02040101", 0, "x" * 42)]), ([("02040", "x")], VILLAGE_ROWS),
                           (COMMUNES, [("0204010A", 0, "x")])):
        try:
            formats_host.villages_file(communes, rows)
        except ValueError:
            continue
        raise AssertionError((communes, rows))


def test_a_district_of_villages_is_read_from_flash_a_row_at_a_time():
    """1000 villages (the most a device holds) cost the heap a few hundred bytes, not the ~60 KB
    they would take as strings (MicroPython: gc counts the bytes)."""
    import gc

    from flowkit import village_list

    communes, rows = _district(40, 25)
    gc.collect()
    before = gc.mem_free() if hasattr(gc, "mem_free") else 0
    vl = village_list(rows, communes)
    gc.collect()
    after = gc.mem_free() if hasattr(gc, "mem_free") else 0
    assert len(vl) == 1000 and vl[999] == ("02044025", "Village 40-25") and vl.seek("020440") == 975
    if hasattr(gc, "mem_free"):
        del rows, communes
        assert before - after < 1024, before - after
