"""The enrolment flow's screens: one function per state, named after it (Flow.render finds it).

Each screen is a description (ui/screen.py): phrases, templates with their values, and literals
(what the officer typed, codes, numbers); the renderer lays it out in a language.  A function
reads the flow and returns a Screen; it changes nothing.
"""

from firmware.enrol import schema
from firmware.ui import keymap as K
from firmware.ui.screen import BODY_ROWS, Name, Pair, Wrap, lit

CHOICE_ROWS = 4  # options shown at once: the field's name above them, a message row below
# Status.last_sync when it is not a time, as the status screen says it (with Wi-Fi, without)
_SYNC_WORDS = (("never", "Sync never", "No WiFi never"), ("failed", "Sync failed", "No WiFi failed"),
               ("setup bad", "Sync setup bad", "No WiFi setup bad"))


def help(flow):  # noqa: A001 - the state's name
    return flow.screen("HELP", list(K.HELP_LINES), "press any key")


def login_id(flow):
    return flow.screen("LOGIN", ["Officer number:", lit("OF" + flow.editor.text()), "", Wrap(flow.message, 2)],
                       "A=OK", (1, 2 + flow.editor.cursor()))


def login_check(flow):
    return flow.screen("LOGIN", [("Officer {}", flow.officer_id), "Checking PIN..."])


def sup_check(flow):
    return flow.screen("RE-ISSUE", ["Replace", lit(flow.reissue_of), "Checking", "supervisor PIN..."])


def login_pin(flow):
    return flow.screen("LOGIN", [("Officer {}", flow.officer_id), "PIN:", lit(flow.editor.masked()), "",
                                 Wrap(flow.message, 2)], "A=OK B=back")


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


def status(flow):
    return flow.screen("STATUS", status_lines(flow), "any key")


def check(flow):
    return flow.screen("CHECK CARD", flow.check_lines, "B=back")


def unlock(flow):
    return flow.screen("UNLOCK", ["Officer number:", lit("OF" + flow.editor.text()), "", Wrap(flow.message, 2)],
                       "A=OK B=back")


def field(flow):
    key, label, kind, _ = schema.FIELDS[flow.field_index]
    # The step alone in the title (the status icons leave it as few as 4 columns: a label
    # there was cut to "Gi~"); the field's name heads the body.
    steps = flow.steps()
    head = ("{}/{}", steps.index(flow.field_index) + 1, len(steps))
    msg = flow.message
    if kind == "village":
        return village_screen(flow, head, label, msg)
    if kind in ("choice", "category"):
        return choice_screen(flow, head, label, msg, True)
    shown = flow.editor.shown() if kind == "date" else flow.editor.text()
    return flow.screen(head, [label, lit(shown), "", Wrap(msg, 2)], "A=OK B=bk C=del", (1, flow.editor.cursor()))


def review(flow):
    # up to 8 rows of answers in 6: the window follows the highlight (*#)
    steps = flow.steps()
    n = len(steps)
    i = flow.review_index % n
    top = max(0, min(i - 2, n - BODY_ROWS))
    return flow.screen("REVIEW", [short(flow, schema.FIELDS[steps[j]][0]) for j in range(top, min(n, top + BODY_ROWS))],
                       "A=OK B=bk C=edit", highlight=i - top)


def consent(flow):
    return flow.screen("CONSENT", ["Person agrees to", "enrolment and", "data use?", "", "#=YES  B=back"])


def pin1(flow):
    return flow.screen("CITIZEN PIN", ["Person types a", "4-6 digit PIN:", lit(flow.editor.masked()), "",
                                       Wrap(flow.message, 2)], "A=OK B=back")


def pin2(flow):
    return flow.screen("CITIZEN PIN", ["Type it again:", lit(flow.editor.masked()), "", Wrap(flow.message, 2)],
                       "A=OK B=back")


def saving(flow):
    return flow.screen("SAVING", ["Saving record...", "Do not power off"])  # 16 columns


def save_error(flow):
    return flow.screen("NOT SAVED", ["Record NOT saved", Wrap(flow.message, 2), "Nothing is lost:",
                                     "A=back to review"])


def sup_id(flow):
    return flow.screen("RE-ISSUE", ["Card has", lit(flow.reissue_of), "Supervisor no.:",
                                    lit("OF" + flow.editor.text()), Wrap(flow.message, 2)], "A=OK B=back",
                       (3, 2 + flow.editor.cursor()))


def sup_pin(flow):
    return flow.screen("RE-ISSUE", ["Replace", lit(flow.reissue_of), "Supervisor PIN:",
                                    lit(flow.editor.masked()), Wrap(flow.message, 2)], "A=OK B=back")


def card(flow):
    return flow.screen("CARD", ["Record SAVED.", "Tap the card on", "the reader.", "", Wrap(flow.message, 2)],
                       "B=card later")


def card_check(flow):
    return flow.screen("CARD", ["Card written.", "Take it off the", "reader.", "Checking it..."])


def later(flow):
    return flow.screen("DONE", ["Saved for", lit(flow.fields.get("given_name", "")), "NO card yet.",
                                "Write it later:", "HOME, Cards due"], "A=next person")


def due_pick(flow):
    return choice_screen(flow, "CARDS DUE", "Whose card?", flow.message, False)


def receipt(flow):
    b, s = flow.receipt
    return flow.screen("DONE", ["Card ready for", lit(flow.fields.get("given_name", "")), "Code:",
                                lit(flow.message or ("%d-%d" % (b, s)))], "A=next person")


# ---- the pieces several screens share --------------------------------------
def choice_screen(flow, head, label, msg, phrased):
    """A list in CHOICE_ROWS rows that follow the highlight (a province has dozens of
    villages), the last row the message or where in the list the highlight is.  phrased:
    the options are words a language translates (Female, Male), not names (villages)."""
    options = flow.editor.options
    n = len(options)
    i = flow.editor.index
    top = max(0, min(i - 1, n - CHOICE_ROWS))
    items = [label] + [options[j][1] if phrased else lit(options[j][1]) for j in range(top, min(n, top + CHOICE_ROWS))]
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
