"""The card step's error paths in the App (issue 15, item 4), both runtimes: a store that cannot
note the verified card leaves the officer on the receipt with the card valid and the reader
powered down; a card task that dies of a bug is logged, its reader switched off, and the card
step asked again, a bounded number of times."""

import asyncio
import binascii

from firmware import app as app_mod
from firmware.board_sim import SimI2C
from firmware.store.journal import StoreError
from flowkit import Driver, enrol_person, login, new_flow
from host_tools.sim.ntag import NTAG21x
from host_tools.sim.reader import PN532Reader

SEED = binascii.unhexlify("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")


class Board:
    DATA_DIR = "/tmp"
    EXTRA_ORIGINALITY_KEYS = []

    def __init__(self):
        self.lines = []
        self.power = []
        self.screens = []

    def console(self, text):
        self.lines.append(text)

    def nfc_power(self, on):
        self.power.append(bool(on))

    def show_screen(self, screen):
        self.screens.append(screen.text())

    def nfc_pins(self):
        return (None, None)

    def open_i2c(self):
        return self.bus


class Secrets:
    ed25519_seed = SEED
    card_key = bytes(range(32))
    device_id = "dev-0001"
    registry_id = "reg-kh"


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


def app_at_the_card_step():
    board = Board()
    bus = SimI2C()
    chip = PN532Reader()
    bus.attach(0x24, chip)
    board.bus = bus
    a = app_mod.App(board)
    d = Driver(new_flow())
    login(d)
    enrol_person(d)
    (_, fields, _, _), = d.take("save")
    d.add(d.flow.saved(1, 1))
    assert d.flow.state == "card"
    a.flow, a.secrets, a.store, a.audit = d.flow, Secrets(), BrokenStore(), Audit()
    a.last_record_id = bytes(range(16))
    a.card_iat = 1767225600
    a.refresh_status = lambda: None
    return a, board, chip, fields


def test_a_store_error_after_the_card_is_verified_ends_on_the_receipt_with_the_reader_off():
    a, board, chip, fields = app_at_the_card_step()
    chip.place(NTAG21x("NTAG215", uid=b"\x04\x11\x22\x33\x44\x55\x66"))
    reader = a.open_reader()
    asyncio.run(a.card_loop(reader, 1, 1, fields))
    assert a.flow.state == "receipt" and "Card ready for" in board.screens[-1]
    assert board.power[-1] is False and a.reader is None  # RSTPDN low again
    assert [k for k, _ in a.audit.events] == ["store-error"]
    assert any(line.startswith("store: card not noted") for line in board.lines)


def test_a_card_task_that_dies_is_logged_and_the_step_asked_again_a_few_times():
    a, board, chip, fields = app_at_the_card_step()

    async def go():
        a.start_card(1, 1, fields)
        for i in range(app_mod.MAX_TASK_RESTARTS + 2):
            a.task_failed(None, {"exception": ValueError("bug " + str(i))})
            assert board.power[-1] is True or i >= app_mod.MAX_TASK_RESTARTS  # powered again to retry
        if a.card_task is not None:
            a.card_task.cancel()
            await asyncio.sleep(0)

    asyncio.run(go())
    failed = [line for line in board.lines if line.startswith("task failed: ValueError")]
    assert len(failed) == app_mod.MAX_TASK_RESTARTS + 2
    assert [k for k, _ in a.audit.events].count("task-error") == app_mod.MAX_TASK_RESTARTS + 2
    assert "Reader error" in board.screens[-1] and board.power[-1] is False  # given up: the reader off
    assert a.flow.state == "card"  # the record still waits for its card (B = card later)
