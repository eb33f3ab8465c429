"""The enrolment flow's screens, by state: a function named after the state where the screen
needs one (Flow.render finds it), else a row of _ROWS.

Each screen is a description (ui/screen.py): phrases, templates with their values, and literals
(what the officer typed, codes, numbers); the renderer lays it out in a language.  A screen
reads the flow and returns a Screen; it changes nothing.
"""

from micropython import const

from firmware.enrol import schema
from firmware.ui import keymap as K
from firmware.ui.screen import BODY_ROWS, Name, Numbered, Pair, Wrap, lit

CHOICE_ROWS = 4  # options shown at once: the field's name above them, a message row below
# Status.last_sync when it is not a time, as the status screen says it (with Wi-Fi, without)
_SYNC_WORDS = (("never", "Sync never", "No WiFi never"), ("failed", "Sync failed", "No WiFi failed"),
               ("setup bad", "Sync setup bad", "No WiFi setup bad"))


def home(flow):
    msg = flow.message
    items = [label for _, label in flow.home_items()]
    room = BODY_ROWS - len(items)
    hint = Pair(lit(flow.officer_id or ""), "D=help")  # the title keeps room for the status icons
    if room > 0:  # the message under the menu, at the bottom
        items.append(Wrap(msg, min(2, room), bottom=True))
    elif msg:  # a full menu (a supervisor with cards due): the message takes the hint row
        hint = msg
    return flow.screen("HOME", items, hint, highlight=flow.review_index)


def field(flow):
    key, label, kind, _ = schema.FIELDS[flow.field_index]
    # The step alone in the title (the status icons leave it as few as 4 columns: a label
    # there was cut to "Gi~"); the field's name heads the body.
    steps = flow.steps(flow.editor.value() if kind == "category" else None)
    head = ("{}/{}", steps.index(flow.field_index) + 1, len(steps))
    msg = flow.message
    if kind == "village":
        return village_screen(flow, head, label, msg)
    if kind in ("choice", "category"):
        return choice_screen(flow, head, label, msg, True)
    shown = flow.editor.shown() if kind == "date" else flow.editor.text()
    return flow.screen(head, [label, lit(shown), "", Wrap(msg, 2)], "A=OK B=bk C=del", (1, flow.editor.cursor()))


def review(flow):
    # up to 8 answers in 6 rows: the window follows the highlight (*#), names and what decides
    # the money first (Flow.review_order), and a last row saying where the window is when the
    # answers do not all fit
    order = flow.review_order()
    n = len(order)
    i = flow.review_index % n
    rows = BODY_ROWS if n <= BODY_ROWS else BODY_ROWS - 1
    top = max(0, min(i - 2, n - rows))
    items = [short(flow, schema.FIELDS[order[j]][0]) for j in range(top, min(n, top + rows))]
    if n > rows:
        items.append(("*# {} of {}", i + 1, n))
    return flow.screen("REVIEW", items, "A=OK B=bk C=edit", highlight=i - top)


def due_pick(flow):
    return choice_screen(flow, "CARDS DUE", "Whose card?", flow.message, False)


# Screens that are phrases and a few of the flow's values: one row each, (state, title, lines,
# hint, the row of a number typed after "OF" that shows the cursor, or -1).  The rows are
# constants (kept in flash); a line is a phrase, or one of these values:
_MSG = const(1)  # the flow's message, on up to two rows
_OF = const(2)  # "OF" and the digits typed so far
_MASKED = const(3)  # the PIN typed, one dot a digit
_OFFICER = const(4)  # ("Officer {}", the officer's number)
_OLD = const(5)  # the credential id a supervisor's re-issue replaces
_NAME = const(6)  # the person's given name
_CODE = const(7)  # the card's code on the receipt (the message), else the record's boot-seq
_CHECKED = const(8)  # what the card check said (its lines)
_KEYS = const(9)  # the keys' meanings (ui/keymap.py)
_COUNTS = const(10)  # the device's counts and state (status_lines)
_ROWS = (
    ("help", "HELP", (_KEYS,), "press any key", -1),
    ("status", "STATUS", (_COUNTS,), "any key", -1),
    ("login_id", "LOGIN", ("Officer number:", _OF, "", _MSG), "A=OK", 1),
    ("login_check", "LOGIN", (_OFFICER, "Checking PIN..."), "", -1),
    ("login_pin", "LOGIN", (_OFFICER, "PIN:", _MASKED, "", _MSG), "A=OK B=back", -1),
    ("check", "CHECK CARD", (_CHECKED,), "B=back", -1),
    ("unlock", "UNLOCK", ("Officer number:", _OF, "", _MSG), "A=OK B=back", -1),
    ("consent", "CONSENT", ("Person agrees to", "enrolment and", "data use?", "", "#=YES  B=back"), "", -1),
    ("pin1", "CITIZEN PIN", ("Person types a", "4-6 digit PIN:", _MASKED, "", _MSG), "A=OK B=back", -1),
    ("pin2", "CITIZEN PIN", ("Type it again:", _MASKED, "", _MSG), "A=OK B=back", -1),
    ("saving", "SAVING", ("Saving record...", "Do not power off"), "", -1),  # 16 columns
    ("save_error", "NOT SAVED", ("Record NOT saved", _MSG, "Nothing is lost:", "A=back to review"), "", -1),
    ("sup_id", "RE-ISSUE", ("Card has", _OLD, "Supervisor no.:", _OF, _MSG), "A=OK B=back", 3),
    ("sup_pin", "RE-ISSUE", ("Replace", _OLD, "Supervisor PIN:", _MASKED, _MSG), "A=OK B=back", -1),
    ("sup_check", "RE-ISSUE", ("Replace", _OLD, "Checking", "supervisor PIN..."), "", -1),
    ("card", "CARD", ("Record SAVED.", "Tap the card on", "the reader.", "", _MSG), "B=card later", -1),
    ("card_check", "CARD", ("Card written.", "Take it off the", "reader.", "Checking it..."), "", -1),
    ("later", "DONE", ("Saved for", _NAME, "NO card yet.", "Write it later:", "HOME, Cards due"), "A=next person", -1),
    ("receipt", "DONE", ("Card ready for", _NAME, "Code:", _CODE), "A=next person", -1),
)


def from_rows(flow):
    """The screen of the flow's state from _ROWS, or None when it has no row."""
    for state, title, spec, hint, at in _ROWS:
        if state == flow.state:
            lines = []
            for item in spec:
                if item == _CHECKED:
                    lines.extend(flow.check_lines)
                elif item == _KEYS:
                    lines.extend(K.HELP_LINES)
                elif item == _COUNTS:
                    lines.extend(status_lines(flow))
                else:
                    lines.append(_value(flow, item) if isinstance(item, int) else item)
            return flow.screen(title, lines, hint, (at, 2 + flow.editor.cursor()) if at >= 0 else None)
    return None


def _value(flow, item):
    if item == _MSG:
        return Wrap(flow.message, 2)
    if item == _OF:
        return lit("OF" + flow.editor.text())
    if item == _MASKED:
        return lit(flow.editor.masked())
    if item == _OFFICER:
        return ("Officer {}", flow.officer_id)
    if item == _OLD:
        return lit(flow.reissue_of)
    if item == _NAME:
        return lit(flow.fields.get("given_name", ""))
    b, s = flow.receipt  # _CODE
    return lit(flow.message or ("%d-%d" % (b, s)))


# ---- the pieces several screens share --------------------------------------
def choice_screen(flow, head, label, msg, phrased):
    """A list in CHOICE_ROWS rows that follow the highlight (a province has dozens of
    villages), the last row the message or where in the list the highlight is.  phrased:
    the options are words a language translates (Female, Male), not names (villages)."""
    options = flow.editor.options
    n = len(options)
    i = flow.editor.index
    top = max(0, min(i - 1, n - CHOICE_ROWS))
    # a short list's options with the digit that picks them (ChoiceEntry pick_takes: up to 9)
    digits = phrased and n <= 9
    items = [label] + [Numbered(j + 1, options[j][1]) if digits else options[j][1] if phrased else lit(options[j][1])
                       for j in range(top, min(n, top + CHOICE_ROWS))]
    items += [""] * (1 + CHOICE_ROWS - len(items))
    items.append(msg or (("{} of {}", i + 1, n) if n > CHOICE_ROWS else ""))
    return flow.screen(head, items, "*# move A=OK", highlight=1 + i - top if n else None)


def village_screen(flow, head, label, msg):
    """Three villages of the list around the highlight, the highlighted one's commune, and
    the code typed so far (digits find a village by its official code)."""
    v = flow.villages
    n = len(v)
    i = flow.editor.index
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
    typed = flow.editor.typed
    if msg:
        items.append(msg)
    elif typed:
        items.append(("Code {}", typed) if flow.editor.found else ("No code {}", typed))
    else:
        items.append(("{} of {}", i + 1, n))
    return flow.screen(head, items, "*# or code A=OK", highlight=1 + i - top if n else None)


def status_lines(flow):
    st = flow.status
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


def short(flow, key):
    """One answer as REVIEW lists it."""
    v = flow.fields.get(key, "")
    if key == "sex":
        for code, label in schema.SEX_CHOICES:
            if code == v:
                return label
    if key == "phone" and not v:
        return "(no phone)"
    if key == "service_no" and not v:
        return "(no number)"
    if key == "category":
        for code, label in flow.category_options():
            if code == v:
                return label
    if key == "village_code" and flow.villages:
        i = flow.villages.index(v)
        if i >= 0:
            return Name("v" + v, flow.villages[i][1])
    if key == "birth_date" and len(v) == 10:  # stored ISO, shown as typed and as on the card: DD/MM/YYYY
        return lit(v[8:10] + "/" + v[5:7] + "/" + v[0:4])
    return lit(v)
