"""Carrying out the flow's effects (firmware/effects.py) with the device's services and tasks, and
delivering what the tasks report: a fact for the device's records (a card verified) is kept by
the runner (on_<event>), then told to the flow; everything else goes to the flow as an event.
The flow's answer is carried out in turn.

One runner per role: EnrolRunner here (saves, card writes, the cards due) and PayoutRunner in
payout/runner.py (card reads, claims, the trust list) build on Runner, which does what both do
(screens, officers, the language, the card check, a task that died).  Each effect kind K is the
method do_K.  (The enrolment device's runner lives with the base: one module less on the device
whose heap is the tightest.)
"""

from firmware.ticks import ticks_ms

MAX_TASK_RESTARTS = 3  # a task that always dies is not restarted for ever


class Runner:
    def __init__(self, board, flow, display, power, card, audit):
        self.board = board
        self.flow = flow
        self.display = display  # ui/panel.py: the panel's owner
        self.power = power  # tasks/power.py: the battery (no card write on a low cell)
        self.card = card  # tasks/card.py: the reader's owner
        self.audit = audit
        self.task_restarts = 0  # tasks restarted by task_failed since the last card step began
        self.restarting = False

    def apply(self, effects):
        for e in effects:
            getattr(self, "do_" + e[0])(*e[1:])

    def deliver(self, event, *args):
        """A task's report: kept by this runner (on_event) or given to the flow (its event)."""
        mine = getattr(self, "on_" + event, None)
        if mine is not None:
            mine(*args)
        else:
            self.apply(getattr(self.flow, event)(*args))

    # ---- effects both roles have -----------------------------------------
    def do_show(self, screen):
        self.display.show(screen)

    def do_check_officer(self, officer_id, pin):
        """PBKDF2 against the officer's verifier (about a second on the device), failures counted
        and audited (enrol/officer.py); the PIN wiped."""
        from firmware.crypto.wipe import wipe

        try:
            result = self.flow.officers.check(officer_id, bytes(pin))
        finally:
            wipe(pin)
        self.apply(self.flow.officer_checked(result, ticks_ms()))

    def do_unlock_officer(self, supervisor_id, officer_id):
        self.flow.officers.unlock(supervisor_id, officer_id)

    def do_switch_language(self):
        self.display.language.switch()  # the flow then shows its screen again

    def do_check_card(self):
        if not self.card.start_check():
            self.apply(self.flow.check_done(False, "No card reader"))

    def do_reissue(self, credential_id, supervisor_id):
        self.card.reissue = (credential_id, supervisor_id)
        self.audit.record("card", "re-issue of " + credential_id + " confirmed by " + supervisor_id)

    # ---- a task that died ------------------------------------------------
    def task_failed(self, loop, context):
        """The asyncio exception handler: a task that died of an error nobody caught (a bug) is
        logged, the reader switched off, and the flow ends the step it served (and starts it
        again, a few times)."""
        e = context.get("exception")
        what = repr(e) if e is not None else str(context.get("message"))
        self.board.console("task failed: " + what)
        try:
            if self.audit is not None:
                self.audit.record("task-error", what[:80])
        except Exception:  # noqa: BLE001 - the handler itself must never raise
            pass
        if self.card is not None:
            self.card.close_reader()
        if self.flow is None:
            return
        self.task_restarts += 1
        self.restarting = True
        try:
            self.apply(self.flow.task_failed(self.task_restarts <= MAX_TASK_RESTARTS))
        finally:
            self.restarting = False


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
        """The card task wrote and checked that record's card: mark it in the store, the flow
        shows the receipt, then it leaves the cards due.  That list is rewritten after the screen
        (a flash erase the officer no longer waits for): a power cut before it loses nothing, as
        the list is loaded again keeping only records whose card the journal has not marked."""
        from firmware.store import StoreError

        noted = True
        try:
            self.store.mark_card_verified(boot, seq, uid, cred_id, old_id)
        except StoreError as e:
            # the card is written and verified: the person has it.  The record keeps its
            # card-due note, so the step resumes at the next login (the same card then
            # asks for a supervisor's re-issue): nothing is lost, nothing is hidden
            noted = False
            self.board.console("store: card not noted: " + str(e))
            self.audit.record("store-error", "card " + cred_id + " not noted: " + str(e)[:60])
        self.changed()
        self.apply(self.flow.card_done(True, cred_id))
        if noted:
            self.cards.done(boot, seq)  # RAM first; a file flash refuses is put right at the next change
