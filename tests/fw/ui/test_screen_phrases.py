"""Screens are descriptions in no language (ui/screen.py): fixed words are phrases, which a
language translates whole, and values (names, codes, numbers) are shown as they are.

Two mistakes would show English on a Khmer screen or lose a value: a value glued into a phrase
("Officer " + id: no translation has that phrase), or a word passed as a value (lit("never")).
The walk below collects what every screen of the flow asks for and checks both: each phrase is a
string written in the firmware's source (a catalogue can list it), and no value holds a lowercase
word (values are typed names in capitals, codes, numbers).  A pseudo-language that turns every
letter of a phrase into '#' shows that the renderer's text goes through the translation.
"""

import random

from flowkit import COMMUNES, PROGRAMMES, VILLAGES, Driver, due_list, enrol_person, login, new_flow, walk_payout
from fwtest import IS_MICROPYTHON, skip
from firmware.ui import keymap as K
from firmware.ui.screen import NAME, NUMBERED, PAIR, WRAP, Pair, Screen, Status, Wrap, boot_screen, kind, lit, say

# provisioned names, not words of ours
VILLAGE_WORDS = [w for _, name in VILLAGES + COMMUNES + PROGRAMMES for w in name.split(" ")]


def pseudo(phrase):
    return "".join("#" if ch.isalpha() else ch for ch in phrase)


def values(entry, out):
    """The values an entry shows as they are (a template's arguments, a literal)."""
    k = kind(entry)
    if k == WRAP:
        values(entry[1], out)
    elif k == PAIR:
        values(entry[1], out)
        values(entry[2], out)
    elif k == NAME:
        out.append(entry[2])  # a provisioned name, in Latin letters
    elif k == NUMBERED:
        out.append(str(entry[1]))
        values(entry[2], out)
    elif isinstance(entry, tuple):
        for v in entry[1:]:
            if kind(v) == NAME:
                out.append(v[2])
            else:
                out.append(str(v))
    return out


def phrases(entry):
    """The phrases an entry asks a language for."""
    k = kind(entry)
    if k == WRAP:
        return phrases(entry[1])
    if k == PAIR:
        return phrases(entry[1]) + phrases(entry[2])
    if k == NAME:
        return []
    if k == NUMBERED:
        return phrases(entry[2])
    if isinstance(entry, tuple):
        return [] if entry[0] == "{}" else [entry[0]]
    return [entry] if entry else []


def screen_phrases(screen):
    out = phrases(screen.title) + phrases(screen.hint)
    for item in screen.items:
        out += phrases(item)
    return out


def words(text):
    out = []
    word = ""
    for ch in text + " ":
        if ch.isalpha():
            word += ch
        elif word:
            out.append(word)
            word = ""
    return out


def worded_values(screen):
    """Lowercase words among the values a screen shows (English passed off as a value)."""
    shown = []
    for entry in [screen.title, screen.hint] + screen.items:
        values(entry, shown)
    return [w for v in shown for w in words(v) if w != w.upper() and w not in VILLAGE_WORDS]


def readable(screen):
    """The words left readable in the pseudo-language."""
    return words(screen.text(pseudo))


def test_a_value_is_shown_whole_and_a_phrase_is_translated():
    s = Screen("LOGIN", [("Officer {}", "OF0042"), lit("K7QX-M2PD")])
    assert s.text(pseudo).split("\n")[1:3] == ["####### OF0042", "K7QX-M2PD"]
    assert readable(s) == ["OF", "K", "QX", "M", "PD"] and worded_values(s) == []
    assert worded_values(Screen("STATUS", [("Sync {}", "never")])) == ["never"]  # a word as a value: caught


def walk():
    """Random keys through the flow, with the app's answers: {state: [screens]} of what it showed."""
    random.seed(7)
    keys = K.ALL_KEYS
    found = {"phrases": [], "states": [], "worded": [], "readable": []}

    class Looking(Driver):
        def add(self, effects):
            for e in effects:
                if e[0] == "show":
                    s = e[1]
                    st = self.flow.state
                    if st not in found["states"]:
                        found["states"].append(st)
                    for p in screen_phrases(s):
                        if p not in found["phrases"]:
                            found["phrases"].append(p)
                    for w in worded_values(s):
                        found["worded"].append((st, w))
                    names = [w for v in values_of(s) for w in words(v)]
                    for w in readable(s):
                        if w not in names and w not in ("W",):  # "W": the Wi-Fi icon
                            found["readable"].append((st, w))
            Driver.add(self, effects)

    for run in range(12):
        flow = new_flow()
        flow.status = Status(wifi="on", battery_pct=100, pending=3)
        flow.status.storage = ("warn", 83) if run % 3 == 0 else ("ok", 10)
        flow.cards = due_list((1, 4, "BOPHA")) if run % 2 else None
        d = Looking(flow)
        if run % 4 == 0:
            d.press("0", "0", "0", "1", K.OK, "9", "7", "1", "3", K.OK)  # the supervisor
        else:
            login(d)
        if run % 3 == 1:  # check a card, then the status screen (random keys find them on one runtime only)
            d.press("2")
            d.add(flow.check_done(True, "BOPHA", "K7QX-M2PD"))
            d.press(K.BACK, "3", K.OK)
        if run % 2:
            enrol_person(d, given="BOPHA", family="MEAS")
        for _ in range(30):
            d.press(keys[random.randrange(len(keys))])
            if flow.state == "saving":
                d.take("save")
                d.add(flow.saved(1, 2) if run % 3 else flow.save_failed("Storage full: sync"))
            elif flow.state == "card":
                answer = random.randrange(4)
                if answer == 0:
                    d.add(flow.card_done(False, "Card read-only: use another card"))
                elif answer == 1:
                    d.add(flow.needs_supervisor("ABCD-1234"))
                elif answer == 2:
                    d.add(flow.card_written())
                    d.add(flow.card_done(True, "K7QX-M2PD"))
            elif flow.state == "check":
                d.add(flow.check_done(False, "signature invalid: tampered"))
                d.add(flow.check_done(True, "BOPHA", "K7QX-M2PD"))
            d.effects = []  # keep RAM flat on MicroPython
    walk_payout(Looking, 8, 40)  # the payout point's screens, with the app's and the registry's answers
    return found


def values_of(screen):
    shown = [screen.status.icons()]
    for entry in [screen.title, screen.hint] + screen.items:
        values(entry, shown)
    return shown


def test_every_screen_of_the_flow_shows_words_as_phrases_and_values_as_values():
    found = walk()
    assert found["worded"] == []  # no English word passed as a value
    assert found["readable"] == []  # in the pseudo-language only values stay readable
    for state in ("login_id", "login_pin", "login_check", "home", "status", "field", "review", "consent", "pin1",
                  "pin2", "saving", "card", "card_check", "receipt", "check", "help", "sup_id"):
        assert state in found["states"], (state, found["states"])
    for state in ("trust_fetch", "programme", "pay_tap", "pay_pin", "paying", "pay_result"):  # the payout point's
        assert state in found["states"], (state, found["states"])
    assert len(found["phrases"]) > 50  # the walk met most of the device's words


def test_every_phrase_is_a_string_of_the_firmware_source():
    """A phrase with a value glued in ("Officer OF0042") is no string of the source: no catalogue
    could translate it.  (The source is read with ast: CPython only; the walk is the same.)"""
    if IS_MICROPYTHON:
        skip("reads the firmware source with ast")
    import ast
    from pathlib import Path

    written = set()
    for path in Path("firmware").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                written.add(node.value)
    phrases = walk()["phrases"] + ["Setup data bad:", "ENROL {}", "Not provisioned"]
    assert [p for p in phrases if p not in written] == []


def test_the_app_screens_say_their_words_through_the_language():
    for s in (boot_screen("0.3.1", "KH-BTB-3F9A2C01"), boot_screen("0.3.1", None)):
        assert worded_values(s) == [] and [w for w in readable(s) if w not in ("KH", "BTB", "F", "A", "C")] == []
    err = Screen("ERROR", ["Setup data bad:", "call technician", "", Wrap(lit("secrets.json: bad MAC"), 3)])
    assert readable(err) == ["secrets", "json", "bad", "MAC"]  # the technician's detail, as it is
    assert "secrets.json:" in err.text() and "secrets" in err.text(pseudo)  # a value, for the technician


def test_a_template_keeps_its_values_whole_in_any_language():
    s = Screen(("{}/{}", 3, 6), [("Storage {}%", 83), Pair(lit("OF0042"), "D=help")], hint=("Wait {} s", 12))
    assert s.text().split("\n") == ["3/6" + " " * 12 + "-", "Storage 83%", "OF0042    D=help", "", "", "", "", "Wait 12 s"]
    assert s.text(pseudo).split("\n")[1:3] == ["####### 83%", "OF0042    #=####"]
    assert say(("{} unlocked", "OF0007"), pseudo) == "OF0007 ########"
    assert screen_phrases(s) == ["{}/{}", "Wait {} s", "Storage {}%", "D=help"]
