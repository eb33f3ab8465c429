"""The card step's error paths in the App (issue 15, item 4), both runtimes: a store that cannot
note the verified card leaves the officer on the receipt with the card valid and the reader
powered down; a card task that dies of a bug is logged, its reader switched off, and the card
step asked again, a bounded number of times."""

import asyncio

from firmware import effect_runner
from firmware.effect_runner import EnrolRunner
from firmware.store.cards_due import CardsDue
from firmware.store.journal import StoreError
from host_tools.sim.ntag import NTAG21x
from firmware.tasks.card import CardTask
from firmware.ui.panel import PanelOwner
from fwtest import tmpdir
from cardkit import FACTORY, Secrets, board_with_reader, genuine
from flowkit import Driver, enrol_person, login, new_flow

class NotingStore:
    def __init__(self):
        self.marked = []

    def mark_card_verified(self, *args):
        self.marked.append(args)

    def counts(self):
        return {"pending": 1, "cards_due": 1, "records": 1, "synced": 0, "conflicts": 0}

    def cards_due(self):
        return [(1, 1)]


class BrokenStore:
    def mark_card_verified(self, *args):
        raise StoreError("flash refused the write")

    def counts(self):
        return {"pending": 1, "cards_due": 1, "records": 1, "synced": 0, "conflicts": 0}

    def cards_due(self):
        return [(1, 1)]


class Audit:
    def __init__(self):
        self.events = []

    def record(self, kind, text):
        self.events.append((kind, text))


class Power:
    def low(self):
        return False


class Runner(EnrolRunner):
    """The enrolment device's effect runner, with its card task, over a store that refuses to
    note a card (or another, set by a test), at the card step of one saved record."""

    def __init__(self, board):
        d = Driver(new_flow())
        login(d)
        enrol_person(d)
        (_, fields, _, _), = d.take("save")
        cards = CardsDue(tmpdir(), bytes(range(32)))
        cards.add(1, 1, bytes(range(16)), 1767225600, fields["given_name"])
        d.add(d.flow.saved(1, 1))
        assert d.flow.state == "card"
        self.secrets = Secrets()
        card = CardTask(board, self.secrets, lambda: 1767225600, self.deliver, d.flow.card_session)
        EnrolRunner.__init__(self, board, d.flow, PanelOwner(board, None), Power(), card, Audit(), BrokenStore(),
                             None, cards, None, lambda: None)
        self.fields = fields
        self.last_record_id = bytes(range(16))
        self.card_iat = 1767225600


def app_at_the_card_step():
    board, chip = board_with_reader()
    a = Runner(board)
    return a, board, chip, a.fields


def test_a_store_error_after_the_card_is_verified_ends_on_the_receipt_with_the_reader_off():
    a, board, chip, fields = app_at_the_card_step()
    chip.place(genuine())
    reader = a.card.open_reader()
    asyncio.run(a.card.write_loop(reader, 1, 1, fields["given_name"], a.last_record_id, a.card_iat))
    assert a.flow.state == "receipt" and "Card ready for" in board.screens[-1]
    # written and read back, the card was handed back before its checks: that screen came first
    assert "Take it off the" in board.screens[-2]
    assert board.power[-1] is False and a.card.reader is None  # RSTPDN low again
    assert [k for k, _ in a.audit.events] == ["store-error"]
    assert any(line.startswith("store: card not noted") for line in board.lines)


def test_a_card_task_that_dies_is_logged_and_the_step_asked_again_a_few_times():
    a, board, chip, fields = app_at_the_card_step()

    async def go():
        a.do_write_card(1, 1, fields)
        for i in range(effect_runner.MAX_TASK_RESTARTS + 2):
            a.task_failed(None, {"exception": ValueError("bug " + str(i))})
            assert board.power[-1] is True or i >= effect_runner.MAX_TASK_RESTARTS  # powered again to retry
        if a.card.task is not None:
            a.card.task.cancel()
            await asyncio.sleep(0)

    asyncio.run(go())
    failed = [line for line in board.lines if line.startswith("task failed: ValueError")]
    assert len(failed) == effect_runner.MAX_TASK_RESTARTS + 2
    assert [k for k, _ in a.audit.events].count("task-error") == effect_runner.MAX_TASK_RESTARTS + 2
    assert "Reader error" in board.screens[-1] and board.power[-1] is False  # given up: the reader off
    assert a.flow.state == "card"  # the record still waits for its card (B = card later)


def test_a_copy_is_written_but_refused_not_noted_not_written_again_and_a_genuine_card_then_taken():
    """A chip without NXP's originality signature over its UID (a UID-changeable copy): its
    check after the card is handed back refuses it; the record stays unmarked (the registry
    binds the genuine card's UID); left on the reader it is not written again; a genuine card
    then ends the step on the receipt."""
    a, board, chip, fields = app_at_the_card_step()
    a.store = NotingStore()
    copy = NTAG21x("NTAG215", uid=b"\x04\x99\x88\x77\x66\x55\x44")  # READ_SIG: 32 zero bytes
    chip.place(copy)
    reader = a.card.open_reader()

    async def go():
        task = asyncio.create_task(a.card.write_loop(reader, 1, 1, fields["given_name"], a.last_record_id,
                                                     a.card_iat))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any("Not a genuine" in s for s in board.screens):
                break
        assert any("Not a genuine" in s for s in board.screens), board.screens[-1]
        assert a.store.marked == [] and a.flow.state == "card"
        writes = copy.writes
        await asyncio.sleep(1.5)  # still on the reader: several turns of the loop
        assert copy.writes == writes, "the copy was written again"
        chip.place(genuine())
        await task

    asyncio.run(go())
    assert a.flow.state == "receipt" and len(a.store.marked) == 1
    assert a.store.marked[0][2] == b"\x04\x11\x22\x33\x44\x55\x66"  # the genuine card's UID is noted
    assert any(line == "card: Not a genuine card: use another" for line in board.lines)


def test_the_card_task_on_its_own_writes_checks_reports_and_powers_the_reader_down():
    """No App: the task, a board, and two callables standing for the app."""
    board, chip = board_with_reader()
    state = ["write"]
    events = []

    def report(name, *args):
        events.append((name,) + args)
        if name == "card_verified":
            state[0] = None  # the flow has left the card step: the receipt

    task = CardTask(board, Secrets(), lambda: 1767225600, report, lambda: state[0])
    chip.place(genuine())

    async def go():
        assert task.start_write(1, 7, "SOPHEAP", bytes(range(16)), 1767225600)
        assert board.power == [True]
        for _ in range(100):
            await asyncio.sleep(0.05)
            if state[0] is None:
                break
        await asyncio.sleep(0.05)

    asyncio.run(go())
    names = [e[0] for e in events]
    assert names == ["card_written", "card_verified"]
    assert events[1][1:4] == (1, 7, b"\x04\x11\x22\x33\x44\x55\x66")
    assert board.power[-1] is False and task.reader is None
