"""The payout point's effect runner: card reads for a payout, claims, the trust list
(firmware/effect_runner.py says how a runner works)."""

from firmware.effect_runner import Runner


class PayoutRunner(Runner):
    def __init__(self, board, flow, display, power, card, audit, payout):
        Runner.__init__(self, board, flow, display, power, card, audit)
        self.payout = payout  # tasks/payout.py: the claim's radio task

    def do_refresh_trust(self):
        self.payout.start_refresh()

    def do_read_card(self):
        if not self.card.start_pay():
            self.apply(self.flow.card_read(False, "No card reader"))

    def on_card_read(self, ok, a, b=None, refused=False):
        """A card refused here: its technical reason goes to the audit log (the technician's), the
        flow says it in plain words."""
        if refused:
            self.audit.record("payout", "card refused: " + a)
        self.apply(self.flow.card_read(ok, a, b, refused))

    def do_pay(self, programme, pin):
        """The card the pay session read, the programme, the PIN (wiped once its block is made)."""
        card = self.card.paid_card
        if card is None:
            from firmware.crypto.wipe import wipe

            wipe(pin)
            self.apply(self.flow.pay_failed("card not read"))
            return
        self.payout.start_claim(card[0], card[1], card[2], programme, pin)
