"""The payout point's flow: the enrolment flow's login, help, status, card check and log-out
(enrol/flow.py), and instead of enrolling, paying.  Events in, effects out, no hardware here.

Screens: HOME "1 Pay" -> (the programme, when the device pays more than one) -> "tap the
card" (the card is checked offline: tasks/card.py) -> the citizen types the PIN (never shown)
-> the registry's answer: paid (amount, receipt), already paid (when, where), wrong PIN (tries
left: A types it again), locked, revoked, not entitled; or no network: nothing paid.  A goes on
to the next citizen of the same programme, B back to HOME.

Events beyond Flow's:  trust_done(problem)  card_read(True, given name, credential id) or
                       card_read(False, reason)  paid(answer)  pay_failed(message)
Effects beyond Flow's:
  ("refresh_trust",)           fetch the registry's trust list; answer trust_done()
  ("read_card",)               read and check the next tapped card; answer card_read()
  ("pay", programme, pin)      claim for the card read; answer paid() or pay_failed().  pin is a
                               bytearray the effect wipes once the PIN block is made
"""

from firmware.clock import local_date, local_hhmm
from firmware.enrol.flow import Flow
from firmware.ui import keymap as K
from firmware.ui.entry import ChoiceEntry, PinEntry
from firmware.ui.screen import Wrap, lit

PAY_HOME = (("pay", "1 Pay"), ("check", "2 Check a card"), ("status", "3 Status"), ("logout", "4 Log out"))
PAY_SUPERVISOR = PAY_HOME + (("unlock", "5 Unlock officer"),)
PAY_IDLE = Flow.IDLE_STATES + ("programme", "pay_tap", "pay_pin", "pay_result")


class PayoutFlow(Flow):
    IDLE_STATES = PAY_IDLE  # Flow.tick logs an idle officer out of these (their PIN entry wiped)

    def __init__(self, officers, status, programmes, trust):
        super().__init__(officers, (), status, None)
        self.programmes = programmes  # [(code, name)] from payout.json
        self.trust = trust  # payout/trust.TrustList: read here (usable(), expires), kept by the app
        self.programme = None
        self.payee = None  # (given name, credential id) of the card read
        self.answer = None  # the registry's answer (payout/client.py) or ("no answer", why)
        self.refusal = None  # why the card just tapped is not valid

    def home_items(self):
        return PAY_SUPERVISOR if self.session_role == "supervisor" else PAY_HOME

    def logout(self):
        self.payee = None
        self.answer = None
        return super().logout()

    def _key_home(self, k, now):
        if self._home_pick(k) != "pay":
            return super()._key_home(k, now)
        if self.status.battery_low:
            self.message = "Battery low"
            return None
        if self.trust.usable() is not None:  # no usable list of genuine cards: fetch one first (it needs the network)
            self.state = "trust_fetch"
            self.message = ""
            return [("show", self.render()), ("refresh_trust",)]
        return self._choose_programme()

    def _choose_programme(self):
        if len(self.programmes) == 1:
            self.programme = self.programmes[0]
            return self._ask_card("")
        self.state = "programme"
        self.editor = ChoiceEntry([(p, p[1]) for p in self.programmes], 0, pick_takes=True)
        self.message = ""
        return None

    def _ask_card(self, message):
        self.state = "pay_tap"
        self.refusal = None
        self.payee = None
        self.answer = None
        self.message = message
        return [("show", self.render()), ("read_card",)]

    def trust_lost(self, problem):
        """The card task found the trust list unusable (it expired while the device was on)."""
        if self.state == "pay_tap":
            self.state = "home"
            self.message = "No card list: connect to network"
            return self.show()
        return []

    def trust_done(self, problem):
        """The trust list fetched (problem None) or not (why)."""
        if self.state != "trust_fetch":
            return []
        if problem is None:
            out = self._choose_programme()
            return out if out is not None else self.show()
        self.state = "home"
        self.message = "No card list: connect to network"
        return self.show()

    def _key_trust_fetch(self, k, now):
        return []  # the device asks the registry: keys wait for its answer

    _key_paying = _key_trust_fetch

    def _key_programme(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.state = "home"
        elif r == "ok" and self.editor.value() is not None:
            self.programme = self.editor.value()
            return self._ask_card("")
        return None

    def _key_pay_tap(self, k, now):
        if k == K.BACK:
            self.state = "home"  # the card task sees the state change and stops
            self.message = ""
        return None

    def card_read(self, ok, a, b=None, refused=False):
        """The tapped card: valid (given name, credential id), or not: refused (a the reason it
        is not valid: card/*.py's fixed phrases) or unread (a the message); the reader waits
        for the next card."""
        if self.state != "pay_tap":
            return []
        if not ok:
            self.refusal = a if refused else None
            self.message = "" if refused else a
            return self.show()
        self.payee = (a, b)
        return self._ask_pin("")

    def _ask_pin(self, message):
        self.editor = PinEntry()
        self.state = "pay_pin"
        self.message = message
        return self.show()

    def _key_pay_pin(self, k, now):
        r = self.editor.key(k, now)
        if r == "back":
            self.editor.wipe()
            return self._ask_card("")
        if r != "ok":
            return None
        if self.editor.n < 4:
            self.message = "PIN is 4-6 digits"
            return None
        pin = self.editor.value()
        self.editor.wipe()
        self.state = "paying"
        self.message = ""
        return [("show", self.render()), ("pay", self.programme[0], pin)]

    def paid(self, answer):
        if self.state != "paying":
            return []
        self.answer = answer
        if answer[0] == "wrong":  # the same citizen types it again (the screen says how often still)
            return self._ask_pin("")
        self.state = "pay_result"
        return self.show()

    def pay_failed(self, message):
        """No answer from the registry (no network, refused, not its signature): nothing paid."""
        if self.state != "paying":
            return []
        self.answer = ("no answer", message)
        self.state = "pay_result"
        return self.show()

    def _key_pay_result(self, k, now):
        if self.answer is not None and self.answer[0] == "no answer" and k == K.OK:
            return self._ask_pin("")  # the card is still read: the PIN again, once the network is back
        if k == K.OK:
            return self._ask_card("")  # the next citizen
        if k == K.BACK:
            self.state = "home"
            self.payee = None
            self.answer = None
        return None

    # ---- screens ---------------------------------------------------------
    def render(self):
        st = self.state
        msg = self.message
        if st == "trust_fetch":
            return self.screen("PAY", ["Getting the list", "of genuine cards", "from the registry..."])
        if st == "programme":
            return self._choice_screen("PAY", "Which programme?", msg, False)
        if st == "pay_tap":
            if self.refusal is not None:
                return self.screen("PAY", ["NOT VALID:", Wrap(self.refusal, 3), "Next card, or", "B=back"])
            return self.screen("PAY", [lit(self.programme[1]), "Tap the card on", "the reader.", "", Wrap(msg, 2)],
                               "B=back")
        if st == "pay_pin":
            a = self.answer
            if a is not None and a[0] == "wrong":
                return self.screen("PAY", [lit(self.payee[0]), "Wrong PIN.", ("{} tries left", a[1]), "Type it again:",
                                           lit(self.editor.masked()), Wrap(msg, 1)], "A=OK B=back")
            return self.screen("PAY", [lit(self.payee[0]), "Type your PIN:", lit(self.editor.masked()), "",
                                       Wrap(msg, 2)], "A=OK B=back")
        if st == "paying":
            return self.screen("PAY", ["Asking the", "registry...", "", lit(self.payee[0])])
        if st == "pay_result":
            return self._result_screen()
        return super().render()

    def status_lines(self):
        st = self.status
        t = self.trust
        if t.usable() is None:
            y, m, d = local_date(t.expires)
            cards = ("Card list to {}", "%02d/%02d/%04d" % (d, m, y))
        else:
            cards = "No card list"
        return [cards, ("Pays {} programmes", len(self.programmes)),
                ("Bat {} v{}", "?" if st.battery_pct is None else str(st.battery_pct) + "%", st.version),
                ("ID {}", st.device_id)]

    def _result_screen(self):
        a = self.answer
        r = a[0]
        name = lit(self.payee[0]) if self.payee else ""
        if r == "paid":
            return self.screen("PAID", [name, "Hand over:", ("{} riel", _riel(a[1])), "Receipt:", lit(a[2])],
                               "A=next B=home")
        if r == "already paid":
            # the same month's payment: here (a claim whose answer was lost: the receipt tells the
            # officer whether the money was handed over) or at another payout point
            y, m, d = local_date(a[1])
            here = a[2] == self.status.device_id
            return self.screen("NOT PAID", ["Already paid", ("On {}", "%02d/%02d/%04d" % (d, m, y)),
                                            ("At {}", local_hhmm(a[1])), "HERE" if here else ("By {}", a[2]),
                                            "Receipt:", lit(a[3])], "A=next B=home")
        if r == "no answer":  # whether the registry recorded it is not known: asking again tells
            why = "No network." if a[1] == "no network" else lit(a[1])  # else the technician's detail
            return self.screen("NOT PAID", ["No answer:", "DO NOT PAY.", "A=ask again", Wrap(why, 2)],
                               "A=again B=home")
        lines = {"locked": ["Card locked:", "3 wrong PINs.", "Go to the", "registry office."],
                 "revoked": ["Card cancelled:", "a new card was", "issued, or it was", "reported lost."],
                 "not entitled": ["Not in this", "programme."],
                 "unknown": ["Card not yet", "in the registry:", "come back later."],
                 # a likely duplicate or an unconfirmed re-issue: a person at the office decides
                 "held": ["Being checked", "at the registry:", "Go to the", "registry office."],
                 "unknown programme": ["Programme not", "known: call", "technician"],
                 "wrong period": ["Device date", "wrong: call", "technician"],
                 # the registry's reason is for the technician (the audit log): the card passed here
                 "invalid": ["Card refused:", "by the registry."]}.get(r, ["Card refused:", "by the registry."])
        return self.screen("NOT PAID", [name] + lines, "A=next B=home")


def _riel(n):
    """120000 -> '120,000' (how amounts are written on a receipt)."""
    s = str(n)
    out = ""
    while len(s) > 3:
        out = "," + s[-3:] + out
        s = s[:-3]
    return s + out
