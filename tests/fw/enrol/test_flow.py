"""The enrolment flow: login, review, consent, PIN twice, save, card, supervisor, status; bad input."""

from flowkit import Driver, OFFICER_PIN, enrol_person, login, new_flow
from flowkit import due_list, officers_dir
from firmware.enrol.flow import Flow
from firmware.enrol import screens
from firmware.enrol.officer import Officers
from firmware.ui import keymap as K
from firmware.ui.entry import pin_problem
from firmware.ui.screen import Status, say


def test_whole_enrolment_produces_one_save_with_the_typed_fields():
    d = Driver(new_flow())
    login(d)
    assert d.screen().startswith("HOME") and "OF0042    D=help" in d.screen()
    at_home = d.presses
    enrol_person(d)
    enrolment_presses = d.presses - at_home
    saves = d.take("save")
    assert len(saves) == 1
    _, fields, officer, pin = saves[0]
    assert officer == "OF0042"
    assert fields == {"family_name": "CHHUON", "given_name": "SOPHEAP", "sex": "F",
                      "birth_date": "1987-06-14", "village_code": "02040101", "phone": "", "category": "citizen",
                      "service_no": "", "consent": True}
    assert bytes(pin) == b"7391"
    assert "Saving record" in d.screen()
    # two names by multi-tap, a date, village, no phone, category, consent, PIN twice
    assert enrolment_presses < 60, enrolment_presses


def test_a_typical_veteran_takes_fewer_than_60_keys():
    """Issue 17's goal, for a typical Khmer name (family names of 3-5 letters, given names of 4-7)
    and the new fields: category veteran and an 8-digit service number."""
    d = Driver(new_flow())
    login(d)
    at_home = d.presses
    enrol_person(d, family="SOK", given="SOPHEA", birth="09031951", category="4", service="20481733")
    fields = d.take("save")[0][1]
    assert (fields["family_name"], fields["given_name"], fields["category"], fields["service_no"]) == (
        "SOK", "SOPHEA", "veteran", "20481733")
    assert d.presses - at_home < 60, d.presses - at_home


def test_saved_then_card_then_receipt():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    enrol_person(d)
    d.add(flow.saved(3, 17))
    cards = d.take("write_card")
    assert cards and cards[0][1:3] == (3, 17)
    assert "Record SAVED." in d.screen()
    d.add(flow.card_done(True, "K7QX-M2PD"))
    assert "K7QX-M2PD" in d.screen() and "SOPHEAP" in d.screen()
    d.press(K.OK)
    assert "HOME" in d.screen()
    assert flow.fields == {}


def test_card_failure_keeps_asking_and_can_be_left_for_later():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    enrol_person(d)
    d.add(flow.saved(1, 1))
    d.add(flow.card_done(False, "Card removed: tap"))
    assert "Card removed" in d.screen() and "SAVED" in d.screen()
    d.press(K.BACK)  # card later
    assert flow.state == "later"


def test_save_failure_says_not_saved_and_keeps_the_data():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    enrol_person(d)
    d.add(flow.save_failed("Storage full"))
    assert "NOT saved" in d.screen() and "Storage full" in d.screen()
    d.press(K.OK)
    assert flow.state == "review" and flow.fields["given_name"] == "SOPHEAP"


def test_wrong_officer_pin_five_times_locks():
    flow = new_flow()
    d = Driver(flow)
    for i in range(4):
        login(d, pin=b"1111")
        assert "Wrong PIN" in d.screen()
        d.press(("wait", 1000 << i))  # the growing delay: 1, 2, 4, 8 s
        d.press(K.BACK)
    login(d, pin=b"1111")
    assert "Locked" in d.screen()
    d.press(*"0042").press(K.OK)  # the officer cannot even reach the PIN screen
    assert "Locked" in d.screen() and flow.state == "login_id"
    assert flow.officers.locked("OF0042")
    flow.officers.unlock("OF0001", "OF0042")
    d.press(*"0042").press(K.OK).press(*OFFICER_PIN.decode()).press(K.OK)
    assert "HOME" in d.screen()


def test_unknown_officer_is_refused():
    d = Driver(new_flow())
    login(d, number="9999")
    assert "Unknown officer" in d.screen()


def test_trivial_and_mismatched_citizen_pins_are_refused():
    assert pin_problem(bytearray(b"0000")) and pin_problem(bytearray(b"1234")) and pin_problem(bytearray(b"987654"))
    assert pin_problem(bytearray(b"123")) and pin_problem(bytearray(b"1111111")[:7])
    assert pin_problem(bytearray(b"2580")) and pin_problem(bytearray(b"7391")) is None
    flow = new_flow()
    d = Driver(flow)
    login(d)
    enrol_person(d, pin="1111")
    assert "Too simple" in d.screen() and not d.take("save")
    d.press(*"7391").press(K.OK).press(*"7392").press(K.OK)
    assert "PINs differ" in d.screen() and not d.take("save")
    d.press(*"7391").press(K.OK).press(*"7391").press(K.OK)
    assert len(d.take("save")) == 1


def test_pin_digits_never_appear_on_screen():
    seen = [0]

    def no_pin(text):
        seen[0] += 1
        assert "7391" not in text and "2468" not in text, text

    d = Driver(new_flow(), check_screens=no_pin)
    login(d)
    enrol_person(d, pin="7391")
    assert seen[0] > 40


def test_cancel_before_save_leaves_no_trace():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("ZED").press(K.OK).type("ZO").press(K.OK)
    d.press(K.BACK, K.BACK, K.BACK)  # back through the fields to the first, then out
    assert flow.state == "home" and flow.fields == {}
    assert not d.take("save")


def test_keypad_mashing_never_crashes_any_screen():
    import random

    from flowkit import text_keys

    random.seed(7)
    # a good enrolment's keys: mashing starts after a random prefix of it, so it reaches every screen
    good = ["1"] + text_keys("CHHUON") + [K.OK] + text_keys("SOPHEAP") + [K.OK, "1"] + list("14061987")
    good += [K.OK, K.OK, K.OK, "4"] + list("20481733") + [K.OK, K.OK, K.YES] + list("7391") + [K.OK] + list("7391")
    good += [K.OK]
    hints = []
    titles = []

    def rows_fit(text):
        rows = text.split("\n")
        if len(rows[-1]) > 16 and rows[-1] not in hints:
            hints.append(rows[-1])
        if ("~" in rows[0] or not rows[0].endswith("100%")) and rows[0] not in titles:
            titles.append(rows[0])  # a title cut, or the battery icon pushed out

    keys = K.ALL_KEYS
    visited = []
    answers = [0, 0]  # the app's answers to saves and card taps, taken in turn
    for run in range(60):
        flow = new_flow()
        flow.status = Status(wifi="on", battery_pct=100, pending=123)  # the widest icons: "^123 W 100%"
        d = Driver(flow, rows_fit)
        login(d)
        # a third of the runs from the saving screen on (the card steps), the rest from anywhere
        d.press(*good[: len(good) if run % 3 == 0 else random.randrange(len(good) + 1)])
        for _ in range(25):
            if flow.state not in visited:
                visited.append(flow.state)
            d.press(keys[random.randrange(len(keys))])
            # the app's answers, good and bad: a save that fails, a card moved, a card already issued
            if flow.state == "saving":
                answers[0] += 1
                if answers[0] % 2:
                    d.add(flow.saved(1, len(d.take("save"))))
                else:
                    d.take("save")
                    d.add(flow.save_failed("flash write failed (EIO)"))
            elif flow.state == "card":
                answers[1] += 1
                answer = answers[1] % 3
                if answer == 0:
                    d.add(flow.card_done(False, "Card read-only: use another card"))
                elif answer == 1:
                    d.add(flow.needs_supervisor("ABCD-1234"))
                else:
                    d.add(flow.card_done(True, "X"))
            if flow.state not in visited:
                visited.append(flow.state)
            assert len(flow.render().layout()[0]) <= 6, flow.state  # more body lines would be lost unmarked
            d.effects = []  # keep RAM flat on MicroPython
        assert flow.state in ("login_id", "login_pin", "home", "status", "field", "review", "consent", "pin1",
                              "pin2", "receipt", "help", "card", "save_error", "check", "unlock", "sup_id",
                              "sup_pin", "later", "due_pick")
    assert hints == []  # every key hint fits the OLED's 16 columns
    assert titles == []  # every title whole beside the battery icon
    for state in ("field", "review", "consent", "pin1", "pin2", "home", "card", "save_error", "sup_id"):
        assert state in visited, (state, visited)


def test_low_battery_refuses_a_new_enrolment():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    flow.status.battery_low = True
    d.press("1")
    assert flow.state == "home" and "Battery low" in d.screen()
    flow.status.battery_low = False
    d.press("1")
    assert flow.state == "field"


def test_status_screen_and_storage_limits():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    st = flow.status
    st.pending, st.unverified, st.storage, st.device_id, st.version = 12, 1, ("warn", 83), "dev-0001", "0.1.0"
    d.press("3")
    text = d.screen()
    assert "To sync: 12" in text and "Storage 83% !" in text and "dev-0001" in text and "Cards due: 1" in text
    assert "Sync never" in text and "Bat ? v0.1.0" in text
    assert all(len(say(line)) <= 16 for line in screens.status_lines(flow))  # the OLED's 16 columns, nothing cut
    st.wifi, st.last_sync, st.battery_pct = "none", "11:25", 64
    assert [say(line) for line in screens.status_lines(flow)[3:5]] == ["No WiFi 11:25", "Bat 64% v0.1.0"]
    d.press(K.OK)
    d.press("1")
    assert flow.state == "field" and "Storage 83%" in d.screen()  # warned, allowed
    d.press(K.BACK)
    st.storage = ("full", 96)
    d.press("1")
    assert flow.state == "home" and "Storage full" in d.screen()  # refused with a reason


def test_idle_session_logs_out_and_forgets_the_typed_data():
    from firmware.enrol.officer import IDLE_LOGOUT_MS

    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("ANNA")
    d.press(("wait", IDLE_LOGOUT_MS + 1000))
    assert flow.state == "login_id" and flow.fields == {} and "Logged out: idle" in d.screen()
    assert flow.officer_id is None


def test_supervisor_unlocks_a_locked_officer_from_the_keypad():
    from flowkit import SUPERVISOR_PIN

    flow = new_flow()
    d = Driver(flow)
    for i in range(5):
        login(d, pin=b"1111")
        d.press(("wait", 1000 << i))  # past each growing delay
        d.press(K.BACK)
    assert flow.officers.locked("OF0042")
    login(d, number="0001", pin=SUPERVISOR_PIN)
    assert "5 Unlock officer" in d.screen()
    d.press("5").press(*"0042").press(K.OK)
    assert "OF0042 unlocked" in d.screen() and not flow.officers.locked("OF0042")
    d.press("4")  # log out; the officer can log in again
    login(d)
    assert d.screen().startswith("HOME") and "OF0042    D=help" in d.screen() and "Unlock" not in d.screen()


def test_check_a_card_asks_the_app_and_shows_its_answer():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("2")
    assert d.take("check_card") and "Tap a card" in d.screen()
    d.add(flow.check_done(True, "SOPHEAP", "7F4Y-VXQ7"))
    assert "SOPHEAP" in d.screen() and "7F4Y-VXQ7" in d.screen()
    d.press(K.BACK)
    assert flow.state == "home"


def test_a_retry_right_after_a_wrong_pin_must_wait():
    flow = new_flow()
    d = Driver(flow)
    login(d, pin=b"1111")
    d.press(*OFFICER_PIN.decode()).press(K.OK)  # at once: refused without being checked
    assert "Wait 1 s" in d.screen() and flow.state == "login_pin"
    assert flow.officers.fails["OF0042"] == 1  # the refused try did not count as a guess
    d.press(("wait", 1100))
    d.press(*OFFICER_PIN.decode()).press(K.OK)
    assert d.screen().startswith("HOME") and "OF0042    D=help" in d.screen()


def to_card_step(d):
    from flowkit import enrol_person

    login(d)
    enrol_person(d)
    assert d.take("save")
    d.add(d.flow.saved(1, 7))
    assert d.flow.state == "card" and d.take("write_card")


def test_a_card_already_issued_needs_a_supervisor_number_and_pin():
    from flowkit import SUPERVISOR_PIN

    flow = new_flow()
    d = Driver(flow)
    to_card_step(d)
    d.add(flow.needs_supervisor("7K3M-Q2XA"))
    assert flow.state == "sup_id" and "7K3M-Q2XA" in d.screen()
    d.press(*"0042").press(K.OK)  # an officer is not a supervisor
    assert flow.state == "sup_id" and "Not a supervisor" in d.screen()
    d.press(*"0001").press(K.OK)
    assert flow.state == "sup_pin" and "9713" not in d.screen()
    d.press(*"1111").press(K.OK)  # wrong PIN: back to the card step, nothing confirmed
    assert flow.state == "card" and "Sup. PIN wrong" in d.screen() and not d.take("reissue")
    d.add(flow.needs_supervisor("7K3M-Q2XA"))
    d.press(*"0001").press(K.OK).press(*SUPERVISOR_PIN.decode()).press(K.OK)
    assert flow.state == "card" and "Re-issue: tap" in d.screen()
    assert d.take("reissue") == [("reissue", "7K3M-Q2XA", "OF0001")]
    assert all(len(line) <= 16 for line in d.screen().split("\n")[1:])  # nothing cut on the OLED


def test_back_at_the_supervisor_screen_asks_for_another_card():
    flow = new_flow()
    d = Driver(flow)
    to_card_step(d)
    d.add(flow.needs_supervisor("7K3M-Q2XA"))
    d.press(K.BACK)
    assert flow.state == "card" and "Use a new card" in d.screen() and flow.reissue_of is None


def test_card_later_tells_the_app_and_the_receipt_says_no_card_was_written():
    flow = new_flow()
    d = Driver(flow)
    to_card_step(d)
    d.press(K.BACK)
    assert flow.state == "later" and d.take("card_later") == [("card_later", 1, 7)]
    text = d.screen()
    assert "NO card yet" in text and "Cards due" in text and "Card ready" not in text and "SOPHEAP" in text


def test_cards_due_on_home_writes_the_card_of_the_person_who_came_back():
    flow = new_flow()
    d = Driver(flow)
    login(d)
    assert "Cards due" not in d.screen()  # nothing due: no such entry
    # the app's list: saved at 07:53 and 09:53 on 30/11/2026 in Phnom Penh (date(1) says so)
    flow.cards = due_list((1, 7, "SOPHEAP", 1796000000), (2, 3, "DARA", 1796000000 + 7200))
    d.add(flow.show())
    assert "5 Cards due: 2" in d.screen()
    flow.today = (2026, 11, 30)
    d.press("5")  # each listed with the hour it was saved: two of one name are told apart
    assert flow.state == "due_pick" and "SOPHEAP 07:53" in d.screen() and "DARA 09:53" in d.screen()
    d.press(K.BACK)
    flow.today = (2026, 12, 1)
    d.press("5")  # saved on an earlier day: the date
    assert "SOPHEAP 30/11" in d.screen() and "DARA 30/11" in d.screen()
    d.press(K.BACK)
    assert flow.state == "home"
    d.press("5", K.DOWN, K.OK)
    assert flow.state == "card" and d.take("write_card") == [("write_card", 2, 3, {"given_name": "DARA"})]
    d.add(flow.card_done(True, "PPCT-1234"))
    assert flow.state == "receipt" and "DARA" in d.screen() and "PPCT-1234" in d.screen()
    d.press(K.OK)
    assert flow.state == "home" and "PPCT-1234" not in d.screen()  # the code stays on the receipt


def test_a_supervisor_with_cards_due_sees_six_items_and_messages_on_the_hint_row():
    from flowkit import SUPERVISOR_PIN

    flow = new_flow()
    d = Driver(flow)
    login(d, "0001", SUPERVISOR_PIN)
    flow.cards = due_list((1, 7, "SOPHEAP"))
    flow.status.battery_low = True
    d.add(flow.show())
    assert "6 Cards due: 1" in d.screen() and "5 Unlock officer" in d.screen()
    d.press("1")  # refused: battery low
    assert len(flow.render().layout()[0]) <= 6 and flow.render().hint == "Battery low"


def test_a_card_step_cut_by_power_resumes_after_login():
    flow = new_flow()
    flow.cards = due_list((4, 12, "NARY"), deferred=False)
    d = Driver(flow)
    login(d)
    assert flow.state == "card" and "Resumed: NARY" in d.screen()  # whose card it is
    assert d.take("write_card") == [("write_card", 4, 12, {"given_name": "NARY"})]
    d.add(flow.card_done(True, "7K3M-Q2XA"))
    assert "NARY" in d.screen()
    flow.cards.done(4, 12)  # what the app does with a verified card
    d.press(K.OK, "4")  # the receipt, then log out
    login(d)
    assert flow.state == "home" and d.take("write_card") == []  # not resumed again


def test_the_supervisors_longer_menu_still_shows_a_refusal_whole():
    off = Officers(officers_dir())
    off.load()
    flow = Flow(off, [])
    d = Driver(flow)
    login(d, "0001", b"9713")
    d.press("1")
    screen = flow.render()
    assert len(screen.layout()[0]) == 6 and screen.layout()[0][-1] == "No village list: call technician"  # scrolls


def test_damaged_officer_files_are_refused_and_bad_counters_reset_with_an_audit_event():
    import binascii
    import json

    from fwtest import tmpdir
    from firmware.enrol.officer import OfficerError, make_verifier

    good = {"id": "OF0042", "role": "officer", "salt": "00" * 16, "iterations": 8,
            "verifier": binascii.hexlify(make_verifier(b"2468", bytes(16), 8)).decode()}

    def with_(**over):
        o = dict(good)
        o.update(over)
        return json.dumps({"v": 1, "officers": [o]})

    cases = ["not json", "[1, 2]", '{"officers": 5}', '{"officers": ["OF0042"]}', '{"officers": []}',
             with_(role="admin"), with_(iterations=0), with_(iterations=10 ** 9), with_(iterations="8"),
             with_(salt="zz"), with_(salt="0011"), with_(verifier="00" * 31), with_(id=""), with_(id=42)]
    for raw in cases:
        path = tmpdir()
        with open(path + "/officers.json", "w") as f:
            f.write(raw)
        off = Officers(path)
        try:
            off.load()
        except OfficerError:
            pass
        else:
            raise AssertionError("accepted: " + raw)
        assert not off.exists("OF0042")

    class Audit:
        def __init__(self):
            self.events = []

        def record(self, kind, detail=""):
            self.events.append((kind, detail))

    for lockout in ('["OF0042"]', '{"OF0042": "5"}', '{"OF0042": -1}', "{broken"):
        path = tmpdir()
        with open(path + "/officers.json", "w") as f:
            f.write(with_())
        with open(path + "/lockout.json", "w") as f:
            f.write(lockout)
        audit = Audit()
        off = Officers(path, audit)
        off.load()
        assert not off.locked("OF0042") and off.check("OF0042", b"2468") == "ok", lockout
        assert ("error", "lockout file unreadable, counters reset") in audit.events
    path = tmpdir()
    with open(path + "/officers.json", "w") as f:
        f.write(with_())
    with open(path + "/lockout.json", "w") as f:
        f.write('{"OF0042": 1000000000}')  # a count past the lockout stays a lockout, and a small number
    off = Officers(path)
    off.load()
    assert off.locked("OF0042") and off.wait_ms("OF0042") == 1000 * 16


class _QueriesOnly:
    """The officers as the flow may use them: questions answered from memory; a PIN check or an
    unlock (PBKDF2, the lockout file, the audit log) is the app's effect, never the flow's."""

    def __init__(self, real):
        self.real = real

    def exists(self, oid):
        return self.real.exists(oid)

    def locked(self, oid):
        return self.real.locked(oid)

    def role(self, oid):
        return self.real.role(oid)

    def wait_ms(self, oid):
        return self.real.wait_ms(oid)

    def check(self, *args):
        raise AssertionError("the flow checked a PIN itself")

    def unlock(self, *args):
        raise AssertionError("the flow wrote the lockout itself")


def test_the_flow_asks_for_the_pin_check_as_an_effect_and_takes_its_answer():
    real = Officers(officers_dir())
    real.load()
    flow = Flow(_QueriesOnly(real), [("02040101", "Bavel Muoy")])
    for k in "0042" + K.OK + OFFICER_PIN.decode():
        flow.key(k, 1000)
    out = flow.key(K.OK, 1000)
    asked = [e for e in out if e[0] == "check_officer"]
    assert len(asked) == 1 and asked[0][1] == "OF0042" and bytes(asked[0][2]) == OFFICER_PIN
    assert flow.state == "login_check" and "Checking PIN" in flow.render().text()
    assert flow.key("5", 1100)[0][1].text() == flow.render().text()  # keys wait for the answer
    flow.officer_checked("wrong", 1200)
    assert flow.state == "login_pin" and "Wrong PIN" in flow.render().text()
    for k in OFFICER_PIN.decode():
        flow.key(k, 9000)
    flow.key(K.OK, 9000)
    flow.officer_checked("ok", 9100)
    assert flow.state == "home"


def test_long_messages_wrap_on_the_panel_and_are_never_cut():
    """Messages longer than 16 columns ("PINs differ: again", "Starts/ends with a mark", "Locked:
    call sup.") take two rows of the 16-column panel instead of running off its edge."""
    def whole(screen, *words):
        rows = screen.text().split("\n")
        assert all(len(r) <= 16 for r in rows), rows
        for w in words:
            assert any(w in r for r in rows), (w, rows)

    flow = new_flow()
    d = Driver(flow)
    login(d)
    d.press("1").type("ANNA-").press(K.OK)
    whole(d.last_screen, "Starts/ends with", "a mark")
    d.press(K.DELETE).press(K.OK).type("BA").press(K.OK).press(K.OK).press(*"01012000").press(K.OK)
    d.press(K.OK, K.OK, K.OK, K.OK, K.YES)  # village, no phone, citizen, review
    d.press(*"7391").press(K.OK).press(*"7392").press(K.OK)
    assert flow.state == "pin1"
    whole(d.last_screen, "PINs differ:", "again")
    d.press(K.BACK, K.BACK, *[K.BACK] * 8)
    flow2 = new_flow()
    d2 = Driver(flow2)
    for _ in range(6):  # officer 0042 locked out by wrong PINs
        d2.press(*"0042").press(K.OK).press(*"1111").press(K.OK, ("wait", 70000))
        if flow2.state == "login_id":
            break
        d2.press(K.BACK)
    d2.press(*"0042").press(K.OK)
    whole(d2.last_screen, "Locked: call", "sup.")
    flow.state, flow.message = "save_error", "Storage error: call technician"
    whole(flow.render(), "Record NOT saved", "Storage error:", "call technician")
