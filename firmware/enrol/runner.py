"""The enrolment device's effect runner: a save, a card write, the cards due (firmware/effect_runner.py
says how a runner works)."""

from firmware.effect_runner import Runner


class EnrolRunner(Runner):
    def __init__(self, board, flow, display, power, card, audit, store, clock, cards, sync, changed):
        Runner.__init__(self, board, flow, display, power, card, audit)
        self.store = store
        self.clock = clock
        self.cards = cards  # store/cards_due.CardsDue: the cards still to write
        self.sync = sync  # tasks/sync.py: asked to run soon after a save
        self.changed = changed  # changed(): the counts on flash changed (the status model)

    def do_save(self, fields, officer_id, pin):
        """Seal and commit the record, note its card as due (enrol/save.py: the power-loss
        windows), then tell the clock, the sync and the screens."""
        from firmware.enrol.save import save_enrolment
        from firmware.store import StoreError, StoreFull

        try:
            boot, seq, _, _ = save_enrolment(self.store, self.clock, self.cards, fields, officer_id, pin)
        except StoreError as e:  # the detail for the technician; the officer reads what to do
            self.board.console("store: save refused: " + str(e))
            self.apply(self.flow.save_failed("Storage full: sync" if isinstance(e, StoreFull)
                                             else "Storage error: call technician"))
            return
        self.clock.touch()
        self.sync.request()
        self.changed()
        self.apply(self.flow.saved(boot, seq))

    def do_write_card(self, boot, seq, fields):
        if not self.restarting:
            self.task_restarts = 0
        if self.power.low():
            # a write cut by a brown-out leaves a half-written card: refuse it, keep the record
            self.apply(self.flow.card_done(False, "Battery low"))
            return
        due = self.cards.find(boot, seq)  # the record id and issue time the card carries
        if due is None:  # no note of what its card carries (cannot happen: the list keeps it in RAM)
            self.apply(self.flow.card_done(False, "Storage error: call technician"))
            return
        if not self.card.start_write(boot, seq, fields["given_name"], due[2], due[3]):
            self.apply(self.flow.card_done(False, "No card reader"))

    def do_card_later(self, boot, seq):
        self.cards.defer(boot, seq)

    def on_card_verified(self, boot, seq, uid, cred_id, old_id):
        """The card task wrote and checked that record's card: mark it in the store, drop it from
        the cards due, then the flow shows the receipt."""
        from firmware.store import StoreError

        try:
            self.store.mark_card_verified(boot, seq, uid, cred_id, old_id)
            self.cards.done(boot, seq)
        except StoreError as e:
            # the card is written and verified: the person has it.  The record keeps its
            # card-due note, so the step resumes at the next login (the same card then
            # asks for a supervisor's re-issue): nothing is lost, nothing is hidden
            self.board.console("store: card not noted: " + str(e))
            self.audit.record("store-error", "card " + cred_id + " not noted: " + str(e)[:60])
        self.changed()
        self.apply(self.flow.card_done(True, cred_id))
