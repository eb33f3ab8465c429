"""Drive the enrolment flow with key presses as an officer would (both runtimes)."""

import binascii
import json

from fwtest import tmpdir
from firmware import formats_host
from firmware.enrol.flow import Flow
from firmware.enrol.villages import Villages
from firmware.enrol.officer import Officers, make_verifier
from firmware.ticks import ticks_add
from firmware.ui import keymap as K

# Real villages of Bavel district, Battambang (the official gazetteer: host_tools/enrolctl/gazetteer.py)
COMMUNES = [("020401", "Bavel"), ("020402", "Khnach Romeas")]
VILLAGE_ROWS = [("02040101", 0, "Bavel Muoy"), ("02040104", 0, "Dach Proat"), ("02040105", 0, "Sangkae Vear"),
                ("02040201", 1, "Prey Sangha"), ("02040202", 1, "Kaoh Ream")]
VILLAGES = [(code, name) for code, _, name in VILLAGE_ROWS]
OFFICER_PIN = b"2468"
SUPERVISOR_PIN = b"9713"


def officers_dir(iterations=8):
    path = tmpdir()
    docs = []
    for oid, role, pin in (("OF0042", "officer", OFFICER_PIN), ("OF0001", "supervisor", SUPERVISOR_PIN)):
        salt = (oid * 2).encode()[:16]
        docs.append({"id": oid, "role": role, "salt": binascii.hexlify(salt).decode(), "iterations": iterations,
                     "verifier": binascii.hexlify(make_verifier(pin, salt, iterations)).decode()})
    with open(path + "/officers.json", "w") as f:
        f.write(json.dumps({"v": 1, "officers": docs}))
    return path


def village_list(rows=VILLAGE_ROWS, communes=COMMUNES):
    """villages.bin as enrolctl writes it, opened as the device opens it."""
    path = tmpdir() + "/villages.bin"
    with open(path, "wb") as f:
        formats_host.write_villages(f, communes, rows)  # row by row: a district's list at the device's heap
    return Villages(path)


def due_list(*people, deferred=True):
    """store/cards_due.CardsDue on a fresh flash directory holding these (boot, seq, given name[,
    when saved]), each one "card later" (deferred), or a card step a power cut interrupted
    (deferred=False)."""
    from firmware.store.cards_due import CardsDue

    cards = CardsDue(tmpdir(), bytes(range(32)))
    for person in people:
        boot, seq, name = person[:3]
        cards.add(boot, seq, bytes(range(16)), person[3] if len(person) > 3 else 1767225600, name)
        if deferred:
            cards.defer(boot, seq)
    return cards


PROGRAMMES = [("veteran_pension", "Veteran pension"), ("civil_pension", "Civil pension")]
PAY_ANSWERS = [("paid", 150000, "K7MQ2XHC9P"), ("already paid", 1796000000, "PAY-0002", "RCPT000001"),
               ("already paid", 1796000000, "PAY-0001", "RCPT000001"), ("wrong", 2), ("locked",), ("revoked",),
               ("invalid", "UID mismatch: copied to another card"), ("unknown",), ("held",), ("not entitled",),
               ("unknown programme",), ("wrong period", "2026-12")]


class FakeTrust:
    """payout/trust.TrustList as the payout flow reads it."""

    def __init__(self, problem=None, expires=1796604800):
        self.problem = problem
        self.expires = expires

    def usable(self):
        return self.problem


def new_payout_flow(programmes=PROGRAMMES, problem=None):
    from firmware.payout.flow import PayoutFlow
    from firmware.ui.screen import Status

    off = Officers(officers_dir())
    off.load()
    status = Status()
    status.device_id = "PAY-0001"
    return PayoutFlow(off, status, list(programmes), FakeTrust(problem))


def answer_payout(flow, i):
    """The app's answer to what the payout flow waits for (the i-th of its kind)."""
    st = flow.state
    if st == "trust_fetch":
        flow.trust.problem = None if i % 3 else "no network"
        return flow.trust_done(flow.trust.problem)
    if st == "pay_tap" and i % 2:
        return flow.card_read(True, "SOPHEA", "0123-4567") if i % 3 else flow.card_read(
            False, "credential expired", None, True)
    if st == "paying":
        return flow.pay_failed("no network") if i % 5 == 0 else flow.paid(PAY_ANSWERS[i % len(PAY_ANSWERS)])
    return []


def walk_payout(make_driver, runs, presses):
    """Random keys through the payout flow (seeded by the caller's random.seed), with the app's
    and the registry's answers; make_driver(flow) is the caller's Driver, which keeps what it needs."""
    import random

    from firmware.ui.screen import Status

    for run in range(runs):
        flow = new_payout_flow(PROGRAMMES[: 1 + run % 2], "no trust list" if run % 4 == 0 else None)
        flow.status = Status(wifi="on", battery_pct=100, pending=0)  # the widest icons
        flow.status.device_id = "PAY-0001"
        d = make_driver(flow)
        login(d)
        d.press("1")
        for i in range(presses):
            d.add(answer_payout(flow, i + run))
            d.press(K.ALL_KEYS[random.randrange(16)] if i % 3 == 0 else random.choice("1357" + K.OK))
            d.effects = []  # keep RAM flat on MicroPython


def new_flow():
    off = Officers(officers_dir())
    off.load()
    flow = Flow(off, village_list())
    flow.today = (2026, 11, 25)
    return flow


# The keypad's letters as printed on it: ITU-T E.161 for 2-9, and the device's space (0) and
# hyphen/apostrophe (1) keys (README, the keypad) - written here, not read from ui/keymap.py
KEYPAD_LETTERS = (("2", "ABC"), ("3", "DEF"), ("4", "GHI"), ("5", "JKL"), ("6", "MNO"), ("7", "PQRS"),
                  ("8", "TUV"), ("9", "WXYZ"), ("0", " "), ("1", "-'"))


def text_keys(text):
    """Key presses for `text` by multi-tap, with a pause where two letters share a key."""
    out = []
    prev = None
    for ch in text:
        for key, letters in KEYPAD_LETTERS:
            if ch in letters:
                if key == prev:
                    out.append(("wait", K.MULTITAP_MS + 50))
                for _ in range(letters.index(ch) + 1):
                    out.append(key)
                prev = key
                break
        else:
            raise ValueError("cannot type " + ch)
    return out


class Driver:
    """Presses keys 150 ms apart.  Keeps the other effects and only the last screen
    (every screen kept would not fit the MicroPython heap); shown_texts records
    what each screen said when check_screens is set."""

    def __init__(self, flow, check_screens=None):
        self.flow = flow
        self.now = 1000
        self.effects = []
        self.last_screen = None
        self.presses = 0
        self.check_screens = check_screens  # callable(screen text) run on every screen

    def add(self, effects):
        for e in effects:
            if e[0] == "show":
                self.last_screen = e[1]
                if self.check_screens is not None:
                    self.check_screens(e[1].text())
            elif e[0] == "check_officer":  # carried out as the app does (App.check_officer)
                from firmware.crypto.wipe import wipe

                result = self.flow.officers.check(e[1], bytes(e[2]))
                wipe(e[2])
                self.effects.append(("checked", e[1], result))
                self.add(self.flow.officer_checked(result, self.now))
            elif e[0] == "unlock_officer":
                self.flow.officers.unlock(e[1], e[2])
                self.effects.append(e)
            else:
                self.effects.append(e)

    def press(self, *keys):
        for k in keys:
            if isinstance(k, tuple):
                self.now = ticks_add(self.now, k[1])
                self.add(self.flow.tick(self.now))
                continue
            self.now = ticks_add(self.now, 150)  # as the device's ticks: they wrap (at 2**30 ms)
            self.add(self.flow.tick(self.now))
            self.add(self.flow.key(k, self.now))
            self.presses += 1
        return self

    def type(self, text):
        return self.press(*text_keys(text))

    def screen(self):
        return self.last_screen.text() if self.last_screen is not None else ""

    def take(self, kind):
        found = [e for e in self.effects if e[0] == kind]
        self.effects = [e for e in self.effects if e[0] != kind]
        return found


def login(d, number="0042", pin=OFFICER_PIN):
    d.press(*number).press(K.OK).press(*pin.decode()).press(K.OK)


def enrol_person(d, given="SOPHEAP", family="CHHUON", birth="14061987", pin="7391", category=None, service=""):
    """A whole enrolment from the home screen up to the save effect: family name first, as the
    Khmer identity card writes it.  category: its number on the list (None: as offered, citizen
    for the first person); service: the service or pension number a numbered category asks."""
    d.press("1")
    d.type(family).press(K.OK)
    d.type(given).press(K.OK)
    d.press("1")  # Female: a digit takes its option
    d.press(*birth).press(K.OK)
    d.press(K.OK)  # the village offered (the first, or the last person's)
    d.press(K.OK)  # no phone
    d.press(K.OK if category is None else category)
    if d.flow.state == "field":  # a category with a number
        d.press(*service).press(K.OK)
    d.press(K.OK)  # review OK
    d.press(K.YES)  # consent
    d.press(*pin).press(K.OK)
    d.press(*pin).press(K.OK)
