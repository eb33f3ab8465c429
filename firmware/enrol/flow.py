"""The enrolment flow as a pure state machine: events in, effects out.

Events:   key(k, now_ms)  tick(now_ms)  saved(boot, seq)  save_failed(message)
          officer_checked(result, now_ms)  card_written()  card_done(ok, message)
Effects (returned lists of tuples, carried out by firmware/app.py):
  ("show", Screen)                      draw it
  ("save", fields, officer_id, pin)     seal and commit the record; answer saved()/save_failed().
                                        pin is a bytearray the effect must wipe after use
  ("write_card", boot, seq, fields)     write and verify the card; answer card_done()
  ("card_later", boot, seq)             the officer left that record's card for later (HOME: Cards due)
  ("check_officer", officer_id, pin)    check an officer's PIN (PBKDF2, counts failures, audits);
                                        answer officer_checked(); pin is a bytearray to wipe
  ("unlock_officer", supervisor, officer) clear that officer's failed-PIN lock
  ("switch_language",)                  Khmer <-> English (the help screen's #)
No clock, no hardware, no flash in here: testable on CPython and MicroPython.

Screens: login id -> login PIN -> home menu -> one screen per field (schema.FIELDS)
-> review (edit any field) -> consent -> citizen PIN twice -> saving -> card -> receipt
(or B: later; HOME's "Cards due" lists those records and writes a card for one).
Cancel (B on the first field, or "cancel" on review) before saving leaves no trace.
"""

from firmware.crypto.wipe import wipe
from firmware.formats import credential_label
from firmware.enrol import schema
from firmware.ticks import ticks_diff
from firmware.ui import keymap as K
from firmware.ui.entry import ChoiceEntry, DateEntry, PinEntry, TextEntry, VillageEntry, pin_problem
from firmware.ui.screen import BODY_ROWS, Name, Pair, Screen, Status, Wrap, lit

HOME_ITEMS = (("new", "1 New enrolment"), ("check", "2 Check a card"), ("status", "3 Status"),
              ("logout", "4 Log out"))
SUPERVISOR_ITEMS = HOME_ITEMS + (("unlock", "5 Unlock officer"),)
# Status.last_sync when it is not a time, as the status screen says it (with Wi-Fi, without)
_SYNC_WORDS = (("never", "Sync never", "No WiFi never"), ("failed", "Sync failed", "No WiFi failed"),
               ("setup bad", "Sync setup bad", "No WiFi setup bad"))
CHOICE_ROWS = 4  # options shown at once: the field's name above them, a message row below
# screens where a session may time out (not while a record or card is in flight)
_IDLE_STATES = ("home", "status", "help", "field", "review", "consent", "pin1", "pin2", "unlock", "receipt",
                "check", "later", "due_pick")


class Flow:
    IDLE_STATES = _IDLE_STATES

    def __init__(self, officers, villages, status=None, categories=schema.CATEGORIES):
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
        self.card_due = None  # (boot, seq, given_name): a saved record whose card step a power cut interrupted
        self.due = []  # (boot, seq, given_name) of saved records whose card is still to write (the app's list)
        self.reissue_of = None  # credential id on the tapped card, which a supervisor may confirm replacing
        self.supervisor_id = None

    # ---- helpers ---------------------------------------------------------
    def screen(self, title, lines, hint="", cursor=None, highlight=None):
        return Screen(title, lines, hint, cursor, highlight, self.status)

    def show(self):
        return [("show", self.render())]

    def _field(self, i):
        return schema.FIELDS[i]

    def steps(self):
        """The indexes of schema.FIELDS this person is asked: service_no only for a category
        that has a number."""
        numbered = schema.category_has_number(self.categories or (), self.fields.get("category"))
        return [i for i, f in enumerate(schema.FIELDS) if f[0] != "service_no" or numbered]

    def _category_options(self):
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
            opts = list(schema.SEX_CHOICES) if kind == "choice" else self._category_options()
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
            value, err = schema.validate_choice(self.editor.value(), self._category_options())
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
        handler = getattr(self, "_key_" + self.state)
        out = handler(k, now)
        return out if out is not None else self.show()

    def _key_card_check(self, k, now):
        return None  # a few seconds of checking: keys wait for its answer

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

    def _key_login_check(self, k, now):
        return None  # the PIN is being checked (about a second on the device): keys wait

    _key_sup_check = _key_login_check

    def officer_checked(self, result, now):
        """The answer to a ("check_officer", ...) effect: 'ok', 'wrong', 'locked' or 'unknown'."""
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
            if self.card_due is not None:
                return self._resume_card()
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
        if self.due:  # the person came back for the card "card later" left unwritten
            items = items + (("due", ("{} Cards due: {}", len(items) + 1, len(self.due))),)
        return items

    def _home_pick(self, k):
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
        choice = self._home_pick(k)
        if k == K.UP:
            self.review_index = (self.review_index - 1) % n
        elif k == K.DOWN:
            self.review_index = (self.review_index + 1) % n
        elif choice is not None:
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
                self.editor = ChoiceEntry([((b, q, name), name + " " + str(b) + "-" + str(q)) for b, q, name in self.due])
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

    def check_done(self, lines):
        """What the tapped card said: its holder and code, or why it fails."""
        self.check_lines = lines
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
        steps = self.steps()
        n = len(steps)
        self.review_index %= n
        if k == K.UP:
            self.review_index = (self.review_index - 1) % n
        elif k == K.DOWN:
            self.review_index = (self.review_index + 1) % n
        elif k == K.DELETE:  # C on review: edit the highlighted field
            self.editing_from_review = True
            self._open_field(steps[self.review_index])
        elif k == K.OK:
            self.editing_from_review = False
            self.state = "consent"
        elif k == K.BACK:
            self.editing_from_review = False
            self._open_field(steps[-1])
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

    def _key_saving(self, k, now):
        return []  # keys are ignored while the record is committed

    def _key_save_error(self, k, now):
        if k == K.OK or k == K.BACK:
            self.state = "review"  # nothing was saved; the data is still here to try again
        return None

    def _resume_card(self):
        boot, seq, name = self.card_due
        self.card_due = None
        self.fields = {"given_name": name}
        self.receipt = (boot, seq)
        self.state = "card"
        self.message = "(resumed)"
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
    # Each screen is a description (ui/screen.py): phrases, templates with their values, and
    # literals (what the officer typed, codes, numbers); the renderer lays it out in a language.
    def render(self):
        st = self.state
        msg = self.message
        if st == "help":
            return self.screen("HELP", list(K.HELP_LINES), "press any key")
        if st == "login_id":
            return self.screen("LOGIN", ["Officer number:", lit("OF" + self.editor.text()), "", Wrap(msg, 2)], "A=OK",
                               (1, 2 + self.editor.cursor()))
        if st == "login_check":
            return self.screen("LOGIN", [("Officer {}", self.officer_id), "Checking PIN..."])
        if st == "sup_check":
            return self.screen("RE-ISSUE", ["Replace", lit(self.reissue_of), "Checking", "supervisor PIN..."])
        if st == "login_pin":
            return self.screen("LOGIN", [("Officer {}", self.officer_id), "PIN:", lit(self.editor.masked()), "",
                                          Wrap(msg, 2)],
                               "A=OK B=back")
        if st == "home":
            items = [label for _, label in self.home_items()]
            room = BODY_ROWS - len(items)
            hint = Pair(lit(self.officer_id or ""), "D=help")  # the title keeps room for the status icons
            if room > 0:  # the message under the menu, at the bottom
                items.append(Wrap(msg, min(2, room), bottom=True))
            elif msg:  # a full menu (a supervisor with cards due): the message takes the hint row
                hint = msg
            return self.screen("HOME", items, hint, highlight=self.review_index)
        if st == "status":
            return self.screen("STATUS", self.status_lines(), "any key")
        if st == "check":
            return self.screen("CHECK CARD", self.check_lines, "B=back")
        if st == "unlock":
            return self.screen("UNLOCK", ["Officer number:", lit("OF" + self.editor.text()), "", Wrap(msg, 2)],
                               "A=OK B=back")
        if st == "field":
            key, label, kind, _ = self._field(self.field_index)
            # The step alone in the title (the status icons leave it as few as 4 columns: a label
            # there was cut to "Gi~"); the field's name heads the body.
            steps = self.steps()
            head = ("{}/{}", steps.index(self.field_index) + 1, len(steps))
            if kind == "village":
                return self._village_screen(head, label, msg)
            if kind in ("choice", "category"):
                return self._choice_screen(head, label, msg, True)
            shown = self.editor.shown() if kind == "date" else self.editor.text()
            return self.screen(head, [label, lit(shown), "", Wrap(msg, 2)], "A=OK B=bk C=del", (1, self.editor.cursor()))
        if st == "review":
            # up to 8 rows of answers in 6: the window follows the highlight (*#)
            steps = self.steps()
            n = len(steps)
            i = self.review_index % n
            top = max(0, min(i - 2, n - BODY_ROWS))
            return self.screen("REVIEW", [self._short(schema.FIELDS[steps[j]][0]) for j in range(top, min(n, top + BODY_ROWS))],
                               "A=OK B=bk C=edit", highlight=i - top)
        if st == "consent":
            return self.screen("CONSENT", ["Person agrees to", "enrolment and", "data use?", "", "#=YES  B=back"])
        if st == "pin1":
            return self.screen("CITIZEN PIN", ["Person types a", "4-6 digit PIN:", lit(self.editor.masked()), "",
                                                 Wrap(msg, 2)],
                               "A=OK B=back")
        if st == "pin2":
            return self.screen("CITIZEN PIN", ["Type it again:", lit(self.editor.masked()), "", Wrap(msg, 2)],
                               "A=OK B=back")
        if st == "saving":
            return self.screen("SAVING", ["Saving record...", "Do not power off"])  # 16 columns
        if st == "save_error":
            return self.screen("NOT SAVED", ["Record NOT saved", Wrap(msg, 2), "Nothing is lost:", "A=back to review"])
        if st == "sup_id":
            return self.screen("RE-ISSUE", ["Card has", lit(self.reissue_of), "Supervisor no.:",
                                            lit("OF" + self.editor.text()), Wrap(msg, 2)], "A=OK B=back",
                               (3, 2 + self.editor.cursor()))
        if st == "sup_pin":
            return self.screen("RE-ISSUE", ["Replace", lit(self.reissue_of), "Supervisor PIN:",
                                            lit(self.editor.masked()), Wrap(msg, 2)], "A=OK B=back")
        if st == "card":
            return self.screen("CARD", ["Record SAVED.", "Tap the card on", "the reader.", "", Wrap(msg, 2)],
                               "B=card later")
        if st == "card_check":
            return self.screen("CARD", ["Card written.", "Take it off the", "reader.", "Checking it..."])
        if st == "later":
            return self.screen("DONE", ["Saved for", lit(self.fields.get("given_name", "")), "NO card yet.",
                                        "Write it later:", "HOME, Cards due"], "A=next person")
        if st == "due_pick":
            return self._choice_screen("CARDS DUE", "Whose card?", msg, False)
        if st == "receipt":
            b, s = self.receipt
            return self.screen("DONE", ["Card ready for", lit(self.fields.get("given_name", "")), "Code:",
                                        lit(msg or ("%d-%d" % (b, s)))], "A=next person")
        return self.screen(lit(st), [msg])

    def _choice_screen(self, head, label, msg, phrased):
        """A list in CHOICE_ROWS rows that follow the highlight (a province has dozens of
        villages), the last row the message or where in the list the highlight is.  phrased:
        the options are words a language translates (Female, Male), not names (villages)."""
        options = self.editor.options
        n = len(options)
        i = self.editor.index
        top = max(0, min(i - 1, n - CHOICE_ROWS))
        items = [label] + [options[j][1] if phrased else lit(options[j][1]) for j in range(top, min(n, top + CHOICE_ROWS))]
        items += [""] * (1 + CHOICE_ROWS - len(items))
        items.append(msg or (("{} of {}", i + 1, n) if n > CHOICE_ROWS else ""))
        return self.screen(head, items, "*# move A=OK", highlight=1 + i - top if n else None)

    def _village_screen(self, head, label, msg):
        """Three villages of the list around the highlight, the highlighted one's commune, and
        the code typed so far (digits find a village by its official code)."""
        v = self.villages
        n = len(v)
        i = self.editor.index
        rows = CHOICE_ROWS - 1
        top = max(0, min(i - 1, n - rows))
        items = [label]
        for j in range(top, min(n, top + rows)):
            code, name = v[j]
            items.append(Name("v" + code, name))  # its Khmer name on a Khmer screen
        items += [""] * (1 + rows - len(items))
        if n:
            code, name = v.commune_of(i)
            items.append(("Commune {}", Name("c" + code, name)))
        else:
            items.append("")
        typed = self.editor.typed
        if msg:
            items.append(msg)
        elif typed:
            items.append(("Code {}", typed) if self.editor.found else ("No code {}", typed))
        else:
            items.append(("{} of {}", i + 1, n))
        return self.screen(head, items, "*# or code A=OK", highlight=1 + i - top if n else None)

    def status_lines(self):
        st = self.status
        state, pct = st.storage
        sync = ("No WiFi {}", st.last_sync) if st.wifi == "none" else ("Sync {}", st.last_sync)  # at a time
        for word, said, no_wifi in _SYNC_WORDS:  # or never, or what went wrong
            if st.last_sync == word:
                sync = no_wifi if st.wifi == "none" else said
        return [
            ("To sync: {}", st.pending),
            ("Cards due: {}", st.unverified),
            ("Storage {}% FULL" if state == "full" else "Storage {}% !" if state == "warn" else "Storage {}%", pct),
            sync,
            ("Bat {} v{}", "?" if st.battery_pct is None else str(st.battery_pct) + "%", st.version),
            ("ID {}", st.device_id),
        ]

    def _short(self, key):
        v = self.fields.get(key, "")
        if key == "sex":
            for code, label in schema.SEX_CHOICES:
                if code == v:
                    return label
        if key == "phone" and not v:
            return "(no phone)"
        if key == "service_no" and not v:
            return "(no number)"
        if key == "category":
            for code, label in self._category_options():
                if code == v:
                    return label
        if key == "village_code" and self.villages:
            i = self.villages.index(v)
            if i >= 0:
                return Name("v" + v, self.villages[i][1])
        if key == "birth_date" and len(v) == 10:  # stored ISO, shown as typed and as on the card: DD/MM/YYYY
            return lit(v[8:10] + "/" + v[5:7] + "/" + v[0:4])
        return lit(v)
