"""The enrolment flow as a pure state machine: events in, effects out.

Events:   key(k, now_ms)  tick(now_ms)  saved(boot, seq)  save_failed(message)
          officer_checked(result, now_ms)  card_written()  needs_supervisor(old id)
          card_done(ok, message)  check_done(ok, ...)  task_failed(again)
Effects:  firmware/effects.py (each kind, what it asks, the event that answers it), carried out
          by the app's effect runner.
The flow owns its states: which are busy (never light-sleep), which may time out, which are
the card step; the tasks ask it (busy(), card_session(), in_card_step()), never spell them.
No clock, no hardware, no flash in here: testable on CPython and MicroPython.

Screens (enrol/screens.py, one per state): login id -> login PIN -> home menu -> one screen per
field (schema.FIELDS) -> review (edit any field) -> consent -> citizen PIN twice -> saving ->
card -> receipt (or B: later; HOME's "Cards due" lists those records and writes a card for one).
Cancel (B on the first field, or "cancel" on review) before saving leaves no trace.
"""

from firmware.crypto.wipe import wipe
from firmware.formats import credential_label
from firmware.enrol import schema, screens
from firmware.ticks import ticks_diff
from firmware.clock import when_said
from firmware.ui import keymap as K
from firmware.ui.entry import ChoiceEntry, DateEntry, PinEntry, TextEntry, VillageEntry, pin_problem
from firmware.ui.screen import Name, Screen, Status, Wrap, lit

# the fields REVIEW lists first: who the person is, then what decides the money paid
_REVIEW_FIRST = ("family_name", "given_name", "category", "service_no")
HOME_ITEMS = (("new", "1 New enrolment"), ("check", "2 Check a card"), ("status", "3 Status"),
              ("logout", "4 Log out"))
SUPERVISOR_ITEMS = (("new", "1 New enrolment"), ("check", "2 Check a card"), ("status", "3 Status"),
                    ("logout", "4 Log out"), ("unlock", "5 Unlock officer"))  # literal: kept in flash


class Flow:
    # screens where a session may time out (not while a record or card is in flight)
    IDLE_STATES = ("home", "status", "help", "field", "review", "consent", "pin1", "pin2", "unlock", "receipt",
                   "check", "later", "due_pick")
    # the card step: waiting for a tap, its check after the card is handed back, and a
    # supervisor confirming a re-issue in it (no sync meanwhile: tasks/sync.py)
    CARD_STATES = ("card", "card_check", "sup_id", "sup_pin", "sup_check")
    # a card, a save or a check under way: the device never light-sleeps (tasks/power.py).  The
    # card step's states again, not CARD_STATES + (...): a literal tuple stays in flash
    BUSY_STATES = ("card", "card_check", "sup_id", "sup_pin", "sup_check", "check", "saving")
    # states without a key handler wait for an answer (login_check, sup_check, card_check ...): a
    # key redraws the screen, or in these is not even that (a record being committed, a claim)
    KEYS_IGNORED = ("saving", "trust_fetch", "paying")

    def __init__(self, officers, villages, status=None, categories=schema.CATEGORIES, cards=None):
        self.officers = officers
        self.villages = villages  # enrol/villages.Villages (read from flash), or () when it is missing
        self.categories = categories  # ((code, name, has a number), ...), or None when damaged
        # the village and category of the last person: the next one in a village meeting is
        # likely the same (one key, not a search); cleared at log-out
        self.last = {}
        self.status = status if status is not None else Status()  # the app writes it, screens read it
        self.today = None  # (y, m, d) from the device clock, or None when unknown
        self.state = "login_id"
        self.editor = TextEntry("", 8, letters=False)
        self.message = ""
        self.officer_id = None
        self.session_role = None
        self.fields = {}
        self.field_index = 0
        self.review_index = 0
        self.pin1 = None
        self.receipt = None
        self.editing_from_review = False
        self.help_return = "login_id"
        self.last_key_ms = None
        self.failed_at = None  # time of the last wrong officer PIN (growing delay before the next try)
        self.check_lines = []
        self.cards = cards  # store/cards_due.CardsDue: the cards still to write (its owner; read here)
        self.reissue_of = None  # credential id on the tapped card, which a supervisor may confirm replacing
        self.supervisor_id = None

    # ---- helpers ---------------------------------------------------------
    def screen(self, title, lines, hint="", cursor=None, highlight=None):
        return Screen(title, lines, hint, cursor, highlight, self.status)

    def show(self):
        return [("show", self.render())]

    # ---- what the tasks ask of the flow's state --------------------------
    def busy(self):
        """A card, a save, a check or a claim under way: no light sleep now."""
        return self.state in self.BUSY_STATES

    def in_card_step(self):
        return self.state in self.CARD_STATES

    def card_session(self):
        """What the card task's session should do now: "write" (a tap writes the card), "hold"
        (the card step waits: a check, a supervisor typing), "check", "pay", or None (end it)."""
        st = self.state
        if st == "card":
            return "write"
        if st in self.CARD_STATES:
            return "hold"
        if st == "check":
            return "check"
        return None

    def due(self):
        """(boot, seq, given name, when saved) of the saved records whose card is still to write."""
        return self.cards.listed() if self.cards is not None else []

    def _field(self, i):
        return schema.FIELDS[i]

    def steps(self, category=None):
        """The indexes of schema.FIELDS this person is asked: service_no only for a category
        that has a number (the person's, or the one given: the category screen counts the steps
        with the highlighted one, so the count does not jump from 7/7 to 8/8)."""
        numbered = schema.category_has_number(self.categories or (), category or self.fields.get("category"))
        return [i for i, f in enumerate(schema.FIELDS) if f[0] != "service_no" or numbered]

    def review_order(self):
        """The steps as REVIEW lists them: who the person is, then what decides the money paid
        (the category, the service number), then the rest."""
        steps = self.steps()
        first = [i for key in _REVIEW_FIRST for i in steps if schema.FIELDS[i][0] == key]
        return first + [i for i in steps if i not in first]

    def category_options(self):
        # the built-in names are phrases (translated); those added at provisioning are names
        return [(c, name if i < len(schema.CATEGORIES) else Name("k" + c, name))
                for i, (c, name, _) in enumerate(self.categories or ())]

    def _open_field(self, i):
        key, label, kind, required = self._field(i)
        self.field_index = i
        cur = self.fields.get(key, self.last.get(key, ""))
        if kind == "text":
            self.editor = TextEntry(cur, schema.NAME_MAX, letters=True)
        elif kind == "digits":
            self.editor = TextEntry(cur, schema.PHONE_MAX, letters=False)
        elif kind == "number":
            self.editor = TextEntry(cur, schema.SERVICE_NO_MAX, letters=False)
        elif kind == "date":
            d = cur.replace("-", "")
            self.editor = DateEntry(d[6:8] + d[4:6] + d[0:4] if d else "")
        elif kind in ("choice", "category"):
            opts = list(schema.SEX_CHOICES) if kind == "choice" else self.category_options()
            sel = [v for v, _ in opts].index(cur) if cur in [v for v, _ in opts] else 0
            self.editor = ChoiceEntry(opts, sel, pick_takes=True)
        else:  # village: the list stays on flash
            self.editor = VillageEntry(self.villages, max(0, self.villages.index(cur) if cur else 0))
        self.state = "field"
        self.message = ""

    def _accept_field(self):
        key, label, kind, required = self._field(self.field_index)
        if kind == "text":
            value, err = schema.validate_name(self.editor.text())
        elif kind == "digits":
            value, err = schema.validate_phone(self.editor.text())
        elif kind == "date":
            value, err = schema.validate_date(self.editor.text(), self.today)
        elif kind == "number":
            value, err = schema.validate_service_no(self.editor.text())
        elif kind == "choice":
            value, err = schema.validate_choice(self.editor.value(), schema.SEX_CHOICES)
        elif kind == "category":
            value, err = schema.validate_choice(self.editor.value(), self.category_options())
        elif self.editor.typed and not self.editor.found:  # a code that is no village: never the highlight
            value, err = None, ("No village {}", self.editor.typed)
        else:
            value, err = schema.validate_village(self.editor.value(), self.villages)
        if err:
            self.message = err
            return False
        self.fields[key] = value
        if kind in ("village", "category"):
            self.last[key] = value
        if kind == "category" and "service_no" not in [schema.FIELDS[i][0] for i in self.steps()]:
            self.fields["service_no"] = ""  # this category has no number (a changed one loses its number)
        return True

    def _clear_enrolment(self):
        self._wipe_pin1()
        if isinstance(self.editor, PinEntry):
            self.editor.wipe()
        self.fields = {}

    # ---- events ----------------------------------------------------------
    def tick(self, now):
        from firmware.enrol.officer import IDLE_LOGOUT_MS

        if (self.officer_id is not None and self.state in self.IDLE_STATES and self.last_key_ms is not None
                and ticks_diff(now, self.last_key_ms) >= IDLE_LOGOUT_MS):
            out = self.logout()
            self.message = "Logged out: idle"
            return out[:-1] + self.show()
        before = self.editor.text() if isinstance(self.editor, TextEntry) else None
        self.editor.tick(now)
        if before is not None and self.editor.text() != before:
            return self.show()
        return []

    def key(self, k, now):
        self.last_key_ms = now
        handler = getattr(self, "_key_" + self.state, None)
        if handler is None:  # a PIN or a card being checked: keys wait for its answer
            return [] if self.state in self.KEYS_IGNORED else self.show()
        out = handler(k, now)
        return out if out is not None else self.show()

    def _key_help(self, k, now):
        self.state = self.help_return
        if k == K.YES:  # "# = language": Khmer or English, the app's setting
            return [("switch_language",)] + self.show()
        return None

    def _help(self, k):
        if k == K.HELP:
            self.help_return = self.state
            self.state = "help"
            return True
        return False

    def _typed_officer(self, role, unknown, locked):
        """The officer number in the editor if it may log in (with `role`, if given): the
        editor then takes the PIN; else None, the reason shown and the number cleared."""
        oid = "OF" + self.editor.text()
        problem = None
        if not self.officers.exists(oid) or (role is not None and self.officers.role(oid) != role):
            problem = unknown
        elif self.officers.locked(oid):
            problem = locked
        if problem is not None:
            self.message = problem
            self.editor = TextEntry("", 8, letters=False)
            return None
        self.editor = PinEntry()
        self.message = ""
        return oid

    def _key_login_id(self, k, now):
        if self._help(k):
            return None
        r = self.editor.key(k, now)
        if r == "ok":
            oid = self._typed_officer(None, "Unknown officer", "Locked: call sup.")
            if oid is None:
                return None
            self.officer_id = oid
            self.state = "login_pin"
        return None

    def _pin_entered(self, k, now, back_state):
        """A key for the PIN editor: True on OK; B wipes the PIN and goes back to back_state."""
        r = self.editor.key(k, now)
        if r == "back":
            self.editor.wipe()
            self.editor = TextEntry("", 8, letters=False)
            self.state = back_state
        return r == "ok"

    def _key_login_pin(self, k, now):
        if not self._pin_entered(k, now, "login_id"):
            return None
        wait = 0 if self.failed_at is None else self.officers.wait_ms(self.officer_id) - ticks_diff(now, self.failed_at)
        if wait > 0:
            self.editor.wipe()  # too soon after a wrong PIN: not even checked
            self.message = ("Wait {} s", (wait + 999) // 1000)
            return None
        pin = self.editor.value()
        self.editor.wipe()
        self.state = "login_check"
        self.message = ""
        return [("show", self.render()), ("check_officer", self.officer_id, pin)]

    def officer_checked(self, result, now):
        """The answer to a check_officer effect: 'ok', 'wrong', 'locked' or 'unknown'."""
        if self.state == "sup_check":
            if result != "ok":
                self.reissue_of = None
                self._back_to_card("Sup. PIN wrong" if result == "wrong" else "Sup. locked")
                return self.show()
            self._back_to_card("Re-issue: tap")
            return [("show", self.render()), ("reissue", self.reissue_of, self.supervisor_id)]
        if self.state != "login_check":
            return []
        self.failed_at = None if result == "ok" else now
        if result == "ok":
            self.session_role = self.officers.role(self.officer_id)
            self.state = "home"
            self.review_index = 0
            self.message = ""
            resume = self.cards.interrupted() if self.cards is not None else None
            if resume is not None:  # a card step a power cut interrupted
                return self._resume_card(resume)
        elif result == "locked":
            self.message = "Locked: call sup."
            self.state = "login_id"
            self.editor = TextEntry("", 8, letters=False)
        else:
            self.message = "Wrong PIN"
            self.state = "login_pin"
        return self.show()
        return None

    def home_items(self):
        items = SUPERVISOR_ITEMS if self.session_role == "supervisor" else HOME_ITEMS
        due = self.due()
        if due:  # the person came back for the card "card later" left unwritten
            items = items + (("due", ("{} Cards due: {}", len(items) + 1, len(due))),)
        return items

    def home_pick(self, k):
        """The HOME item a key chooses (its digit, or A on the highlighted one), or None."""
        items = self.home_items()
        if k in K.DIGITS and 1 <= int(k) <= len(items):
            return items[int(k) - 1][0]
        if k == K.OK:
            return items[self.review_index % len(items)][0]
        return None

    def _key_home(self, k, now):
        if self._help(k):
            return None
        n = len(self.home_items())
        choice = self.home_pick(k)
        if k == K.UP:
            self.review_index = (self.review_index - 1) % n
        elif k == K.DOWN:
            self.review_index = (self.review_index + 1) % n
        elif choice is not None:
            return self.choose(choice)
        return None

    def choose(self, choice):
        """A HOME item chosen (a role's flow adds its own items and passes the rest here)."""
        if choice == "new":
            state, pct = self.status.storage
            if self.status.battery_low:
                self.message = "Battery low"  # no enrolment whose card it could not write
                return None
            if state == "full":
                self.message = "Storage full: sync"
                return None
            if not self.villages:  # villages.bin missing or damaged: no record could be valid
                self.message = "No village list: call technician"
                return None
            if not self.categories:  # categories.json damaged: a person would be put in the wrong one
                self.message = "Categories bad: call technician"
                return None
            self._clear_enrolment()
            self._open_field(0)
            if state == "warn":
                self.message = ("Storage {}%", pct)
        elif choice == "status":
            self.state = "status"
        elif choice == "check":
            self.state = "check"
            self.check_lines = ["Tap a card on", "the reader."]  # then the card task's answer (check_done)
            return [("show", self.render()), ("check_card",)]
        elif choice == "due":
            self.state = "due_pick"
            # the name and when the record was saved: what tells the officer two people apart
            self.editor = ChoiceEntry([((b, q, name), name + " " + when_said(t, self.today)) for b, q, name, t in self.due()])
            self.message = ""
        elif choice == "unlock":
            self.state = "unlock"
            self.editor = TextEntry("", 8, letters=False)
            self.message = ""
        else:
            return self.logout()
        return None

    def _key_due_pick(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.state = "home"
        elif r == "ok" and self.editor.value() is not None:
            boot, seq, name = self.editor.value()
            self.fields = {"given_name": name}
            self.receipt = (boot, seq)
            self.state = "card"
            self.message = ""
            return [("show", self.render()), ("write_card", boot, seq, dict(self.fields))]
        return None

    def _key_check(self, k, now):
        if k == K.BACK or k == K.OK:
            self.state = "home"  # the app's check loop sees the state change and stops
        return None

    def check_done(self, ok, a=None, b=None):
        """What the tapped card said: valid (a its holder's given name, b the credential id), or
        not (a the reason, a fixed phrase of card/*.py; None when the card moved away)."""
        if ok:
            self.check_lines = ["VALID", lit(a), lit(credential_label(str(b)))]
        elif a is None:
            self.check_lines = ["Card moved:", "tap again"]
        else:
            self.check_lines = ["NOT VALID:", Wrap(a, 4)]
        return self.show()

    def _key_unlock(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.state = "home"
        elif r == "ok":
            oid = "OF" + self.editor.text()
            if not self.officers.exists(oid):
                self.message = "Unknown officer"
            else:
                self.message = ("{} unlocked", oid)
                self.state = "home"
                return [("unlock_officer", self.officer_id, oid)] + self.show()
        return None

    def logout(self):
        self._clear_enrolment()
        self.last = {}
        self.officer_id = None
        self.state = "login_id"
        self.editor = TextEntry("", 8, letters=False)
        self.message = ""
        return self.show()

    def _key_status(self, k, now):
        self.state = "home"
        return None

    def _key_field(self, k, now):
        if self._help(k):
            return None
        self.message = ""  # a refusal says what was wrong with the value: it goes once it changes
        r = self.editor.key(k, now)
        steps = self.steps()
        at = steps.index(self.field_index)
        if r == "ok":
            if self._accept_field():
                steps = self.steps()  # the category decides whether a number follows
                nxt = steps.index(self.field_index) + 1
                if nxt < len(steps) and schema.FIELDS[steps[nxt]][0] == "service_no" and self.editing_from_review:
                    self._open_field(steps[nxt])  # a category changed on review to one with a number
                elif self.editing_from_review or nxt >= len(steps):
                    self.editing_from_review = False
                    self.state = "review"
                else:
                    self._open_field(steps[nxt])
        elif r == "back":
            if self.editing_from_review:
                self.editing_from_review = False
                self.state = "review"  # the edit is dropped, the old value stays
            elif at == 0:
                self._clear_enrolment()  # cancel before save: no trace
                self.state = "home"
            else:
                self._open_field(steps[at - 1])
        elif isinstance(self.editor, TextEntry) and self.editor.full:
            self.message = "Field is full"
        return None

    def _key_review(self, k, now):
        if self._help(k):
            return None
        order = self.review_order()
        n = len(order)
        self.review_index %= n
        if k == K.UP:
            self.review_index = (self.review_index - 1) % n
        elif k == K.DOWN:
            self.review_index = (self.review_index + 1) % n
        elif k == K.DELETE:  # C on review: edit the highlighted field
            self.editing_from_review = True
            self._open_field(order[self.review_index])
        elif k == K.OK:
            self.editing_from_review = False
            self.state = "consent"
        elif k == K.BACK:
            self.editing_from_review = False
            self._open_field(self.steps()[-1])
        return None

    def _key_consent(self, k, now):
        if k == K.YES:
            self.fields["consent"] = True
            self.editor = PinEntry()
            self.state = "pin1"
            self.message = ""
        elif k == K.BACK:
            self.state = "review"
        return None

    def _key_pin1(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.editor.wipe()
            self.state = "consent"
        elif r == "ok":
            pin = self.editor.value()
            problem = pin_problem(pin)
            self.editor.wipe()
            if problem:
                wipe(pin)
                self.message = problem
                return None
            self.pin1 = pin
            self.state = "pin2"
            self.message = ""
        return None

    def _key_pin2(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.editor.wipe()
            self._wipe_pin1()
            self.state = "pin1"
        elif r == "ok":
            pin = self.editor.value()
            self.editor.wipe()
            same = bytes(pin) == bytes(self.pin1)
            wipe(pin)
            if not same:
                self._wipe_pin1()
                self.message = "PINs differ: again"
                self.state = "pin1"
                return None
            pin = self.pin1
            self.pin1 = None
            self.state = "saving"
            self.message = ""
            return [("show", self.render()), ("save", dict(self.fields), self.officer_id, pin)]
        return None

    def _wipe_pin1(self):
        wipe(self.pin1)
        self.pin1 = None

    def _key_save_error(self, k, now):
        if k == K.OK or k == K.BACK:
            self.state = "review"  # nothing was saved; the data is still here to try again
        return None

    def _resume_card(self, due):
        boot, seq, name = due
        self.fields = {"given_name": name}
        self.receipt = (boot, seq)
        self.state = "card"
        self.message = ("Resumed: {}", name)  # whose card: the officer may not remember
        return [("show", self.render()), ("write_card", boot, seq, dict(self.fields))]

    def _key_card(self, k, now):
        if k == K.BACK:
            self.state = "later"  # the record is saved without a card: HOME, Cards due writes it
            self.message = ""
            boot, seq = self.receipt
            return [("show", self.render()), ("card_later", boot, seq)]
        return None

    # ---- re-issue: a supervisor confirms replacing a card's credential ----------
    def needs_supervisor(self, old_credential_id):
        """The tapped card holds one of our credentials: a supervisor's number and PIN, or B."""
        self.reissue_of = old_credential_id
        self.state = "sup_id"
        self.editor = TextEntry("", 8, letters=False)
        self.message = ""
        return self.show()

    def _back_to_card(self, message):
        self.state = "card"
        self.message = message
        return None

    def _key_sup_id(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.reissue_of = None
            return self._back_to_card("Use a new card")
        if r != "ok":
            return None
        sid = self._typed_officer("supervisor", "Not a supervisor", "Locked")
        if sid is not None:
            self.supervisor_id = sid
            self.state = "sup_pin"
        return None

    def _key_sup_pin(self, k, now):
        if not self._pin_entered(k, now, "sup_id"):
            return None
        pin = self.editor.value()
        self.editor.wipe()
        self.state = "sup_check"
        self.message = ""
        return [("show", self.render()), ("check_officer", self.supervisor_id, pin)]

    def _key_receipt(self, k, now):
        if k == K.OK or k == K.BACK:
            self._clear_enrolment()
            self.state = "home"
            self.message = ""  # the receipt's code is not a message for HOME
        return None

    _key_later = _key_receipt

    # ---- results of effects ----------------------------------------------
    def saved(self, boot, seq):
        self.receipt = (boot, seq)
        self.state = "card"
        self.message = ""
        return [("show", self.render()), ("write_card", boot, seq, dict(self.fields))]

    def save_failed(self, message):
        self.state = "save_error"
        self.message = message
        return self.show()

    def card_written(self):
        """Written and read back: the citizen takes the card while the app checks it."""
        self.state = "card_check"
        self.message = ""
        return self.show()

    def task_failed(self, again):
        """A task died of an error nobody caught (a bug: the app logged it and switched the reader
        off).  The step it served ends with a message and, if again, starts over."""
        st = self.state
        if st in self.CARD_STATES:
            out = self.card_done(False, "Error: tap again" if again else "Reader error: B=later")
            if again and self.receipt is not None:  # the record waits for its card: ask again
                out = out + [("write_card", self.receipt[0], self.receipt[1], dict(self.fields))]
            return out
        if st == "check":
            self.check_lines = ["Error:", "tap again" if again else "B=back"]
            return self.show() + ([("check_card",)] if again else [])
        return []

    def card_done(self, ok, message=""):
        if ok:  # message: the credential id written; a person reads its label
            self.state = "receipt"
            self.message = credential_label(message)
        else:
            if self.state == "card_check":  # the check failed: a tap again (or another card)
                self.state = "card"
            self.message = message or "Card failed"
        return self.show()

    # ---- screens ---------------------------------------------------------
    def render(self):
        """The screen of the current state (enrol/screens.py: a function or a row per state)."""
        draw = getattr(screens, self.state, None)
        shown = draw(self) if draw is not None else screens.from_rows(self)
        return shown if shown is not None else self.screen(lit(self.state), [self.message])
