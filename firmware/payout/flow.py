"""The payout point's flow: the enrolment flow's login, help, status, card check and log-out
(enrol/flow.py), and instead of enrolling, paying.  Events in, effects out, no hardware here.

Screens: HOME "1 Pay" -> (the programme, when the device pays more than one) -> "tap the
card" (the card is checked offline: tasks/card.py) -> the citizen types the PIN (never shown)
-> the registry's answer: paid (amount, receipt), already paid (when, where), wrong PIN (tries
left: A types it again), locked, revoked, not entitled; or no network: nothing paid.  A goes on
to the next citizen of the same programme, B back to HOME.

Events beyond Flow's:  trust_done(problem)  trust_lost(problem)  card_read(True, given name,
                       credential id) or card_read(False, reason)  paid(answer)  pay_failed(message)
Effects beyond Flow's (firmware/effects.py): refresh_trust, read_card, pay.
"""

from firmware.enrol.flow import Flow
from firmware.payout import screens
from firmware.ui import keymap as K
from firmware.ui.entry import ChoiceEntry, PinEntry

PAY_HOME = (("pay", "1 Pay"), ("check", "2 Check a card"), ("status", "3 Status"), ("logout", "4 Log out"))
PAY_SUPERVISOR = (("pay", "1 Pay"), ("check", "2 Check a card"), ("status", "3 Status"), ("logout", "4 Log out"),
                  ("unlock", "5 Unlock officer"))  # literal: kept in flash


class PayoutFlow(Flow):
    # Flow.tick logs an idle officer out of these (their PIN entry wiped)
    # (the enrolment flow's spelt again: a literal tuple stays in flash, a sum of two is made in the heap)
    IDLE_STATES = ("home", "status", "help", "field", "review", "consent", "pin1", "pin2", "unlock", "receipt",
                   "check", "later", "due_pick", "programme", "pay_tap", "pay_pin", "pay_result")
    # a card read, a claim, a fetch of the trust list under way: no light sleep
    BUSY_STATES = ("card", "card_check", "sup_id", "sup_pin", "sup_check", "check", "saving", "pay_tap", "paying",
                   "trust_fetch")

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

    def card_session(self):
        return "pay" if self.state == "pay_tap" else Flow.card_session(self)

    def task_failed(self, again):
        st = self.state
        if st == "pay_tap":
            out = self.card_read(False, "Error: tap again" if again else "Reader error: B=back")
            return out + ([("read_card",)] if again else [])
        if st == "paying":  # the claim's task died: whether it reached the registry is unknown
            return self.pay_failed("error: ask registry before paying")
        if st == "trust_fetch":
            return self.trust_done("error")
        return Flow.task_failed(self, again)

    def choose(self, choice):
        if choice != "pay":
            return Flow.choose(self, choice)
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
        """payout/screens.py's screen for the payout's own states, else the enrolment flow's."""
        draw = getattr(screens, self.state, None)
        return draw(self) if draw is not None else Flow.render(self)
