"""The payout flow's own screens: one function per state, named after it (PayoutFlow.render
finds it; the login, help, check and HOME screens are the enrolment flow's, enrol/screens.py).
A function reads the flow and returns a Screen; it changes nothing."""

from firmware.clock import local_date, local_hhmm
from firmware.enrol.screens import choice_screen
from firmware.ui.screen import Wrap, lit


def trust_fetch(flow):
    return flow.screen("PAY", ["Getting the list", "of genuine cards", "from the registry..."])


def programme(flow):
    return choice_screen(flow, "PAY", "Which programme?", flow.message, False)


# Why a card is not valid, in words a citizen understands: card/*.py's technical reasons (kept in
# the audit log) fall into a copy, an expired card, or a card that is not (or no longer) readable
# as the registry's.  A card signed by a key this point does not trust is in the last: it may be
# genuine and the point's trust list old.  (Tuples of constants: kept in flash.)
_COPY = ("UID mismatch: copied to another card", "not a genuine NXP chip: a copy", "signature invalid: tampered")
_EXPIRED = ("credential expired",)
_CARD_WORDS = (("Not a genuine", "card: DO NOT PAY", "Go to the", "registry office."),
               ("This card has", "expired: a new", "one is made at", "registry office."),
               ("Not a registry", "card, or it is", "damaged: go to", "registry office."))


def card_words(reason):
    """The plain words for a card refused for reason (card/*.py's fixed phrases)."""
    if reason in _COPY:
        return _CARD_WORDS[0]
    if reason in _EXPIRED:
        return _CARD_WORDS[1]
    return _CARD_WORDS[2]


def pay_tap(flow):
    if flow.refusal is not None:
        return flow.screen("NOT VALID", list(card_words(flow.refusal)), "next card B=back")
    return flow.screen("PAY", [lit(flow.programme[1]), "Tap the card on", "the reader.", "", Wrap(flow.message, 2)],
                       "B=back")


def pay_pin(flow):
    a = flow.answer
    if a is not None and a[0] == "wrong":
        left = "1 try left" if a[1] == 1 else ("{} tries left", a[1])
        return flow.screen("PAY", [lit(flow.payee[0]), "Wrong PIN.", left, "Type it again:",
                                   lit(flow.editor.masked()), Wrap(flow.message, 1)], "A=OK B=back")
    return flow.screen("PAY", [lit(flow.payee[0]), "Type your PIN:", lit(flow.editor.masked()), "",
                               Wrap(flow.message, 2)], "A=OK B=back")


def paying(flow):
    return flow.screen("PAY", ["Asking the", "registry...", "", lit(flow.payee[0])])


def status(flow):
    return flow.screen("STATUS", status_lines(flow), "any key")


def status_lines(flow):
    st = flow.status
    t = flow.trust
    if t.usable() is None:
        y, m, d = local_date(t.expires)
        cards = ("Card list to {}", "%02d/%02d/%04d" % (d, m, y))
    else:
        cards = "No card list"
    return [cards, ("Pays {} programmes", len(flow.programmes)),
            ("Bat {} v{}", "?" if st.battery_pct is None else str(st.battery_pct) + "%", st.version),
            ("ID {}", st.device_id)]


# The registry's refusals in words (a tuple of constants: kept in flash, not in the heap)
_REFUSALS = (("locked", ("Card locked:", "3 wrong PINs.", "Go to the", "registry office.")),
             ("revoked", ("Card cancelled:", "a new card was", "issued, or it was", "reported lost.")),
             ("not entitled", ("Not in this", "programme.")),
             ("unknown", ("Card not yet", "in the registry:", "come back later.")),
             # a likely duplicate or an unconfirmed re-issue: a person at the office decides
             ("held", ("Being checked", "at the registry:", "Go to the", "registry office.")),
             ("unknown programme", ("Programme not", "known: call", "technician")),
             ("wrong period", ("Device date", "wrong: call", "technician")),
             # the registry's reason for "invalid" is for the technician (the audit log): the card passed here
             (None, ("Card refused:", "by the registry.")))


def pay_result(flow):
    a = flow.answer
    r = a[0]
    name = lit(flow.payee[0]) if flow.payee else ""
    # the key fact first: on a Khmer screen a page holds the title and two lines, and a person must
    # not wait for a page to turn to learn the amount and whose it is, or when and where it was paid
    # (the same month's payment: the day and hour say it)
    if r == "paid":
        return flow.screen("PAID", [("{} riel", riel(a[1])), name, "Receipt:", lit(a[2])], "A=next B=home")
    if r == "already paid":
        # the same month's payment: here (a claim whose answer was lost: the receipt tells the
        # officer whether the money was handed over) or at another payout point
        y, m, d = local_date(a[1])
        here = a[2] == flow.status.device_id
        return flow.screen("NOT PAID", [("Paid {}", "%02d/%02d %s" % (d, m, local_hhmm(a[1]))),
                                        "HERE" if here else ("By {}", a[2]), "Receipt:", lit(a[3])],
                           "A=next B=home")
    if r == "no answer":  # whether the registry recorded it is not known: asking again tells
        why = "No network." if a[1] == "no network" else lit(a[1])  # else the technician's detail
        # A asks the registry again (the PIN again): said once, in the hint, never beside DO NOT PAY
        return flow.screen("NOT PAID", ["No answer:", "DO NOT PAY.", "", Wrap(why, 2)], "A=retry B=home")
    for answer, lines in _REFUSALS:
        if answer == r or answer is None:
            return flow.screen("NOT PAID", [name] + list(lines), "A=next B=home")


def riel(n):
    """120000 -> '120,000' (how amounts are written on a receipt)."""
    s = str(n)
    out = ""
    while len(s) > 3:
        out = "," + s[-3:] + out
        s = s[:-3]
    return s + out
