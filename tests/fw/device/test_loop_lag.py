"""No task holds the event loop while a card is written (issue 31), both runtimes: a probe task
(loopkit.py) runs beside the card task writing a card (the emulated PN532 with an NTAG215,
in-process) and records the longest gap between two of its turns, in milliseconds and in work
done in that gap: PN532 commands sent, signatures made or checked.  The work is what is asserted
(a loaded test machine stretches milliseconds, not commands); the milliseconds are printed, and
make bench measures them in the device runtime and scales them to the ESP32 (bench_loop_lag.py).
The sync's probe: tests/fw/sync/test_sync_loop_lag.py."""

import asyncio

from cardkit import Secrets, board_with_reader, genuine
from firmware.board_sim import SimI2C
from firmware.crypto import ed25519, originality
from firmware.tasks.card import CardTask
from loopkit import Probe


class CountingBus(SimI2C):
    """The board's I2C bus with a count of the command frames written to the PN532."""

    def __init__(self):
        SimI2C.__init__(self)
        self.frames = 0

    def writeto(self, addr, buf, stop=True):
        if addr == 0x24 and len(buf) > 6:  # a normal information frame (an ACK frame is 6 bytes)
            self.frames += 1
        return SimI2C.writeto(self, addr, buf, stop)


def counted(module, name, tally):
    """module.name wrapped to count its calls in tally[0] (the firmware calls it through the module)."""
    real = getattr(module, name)

    def wrapper(*args, **kw):
        tally[0] += 1
        return real(*args, **kw)

    setattr(module, name, wrapper)
    return real


def test_the_loop_turns_between_the_card_commands_and_signatures_of_a_card_write():
    board, chip = board_with_reader(CountingBus())
    bus = board.bus
    chip.place(genuine())
    sigs = [0]
    real = [(m, n, counted(m, n, sigs)) for m, n in ((ed25519, "sign"), (ed25519, "verify"), (originality, "verify"))]
    events = []
    session = ["write"]

    def report(name, *args):
        events.append(name)
        if name == "card_verified":
            session[0] = None

    task = CardTask(board, Secrets(), lambda: 1767225600, report, lambda: session[0])
    probe = Probe(lambda: bus.frames, lambda: sigs[0])

    async def go():
        watcher = asyncio.create_task(probe.run())
        assert task.start_write(1, 7, "SOPHEAP", bytes(range(16)), 1767225600)
        for _ in range(400):
            await asyncio.sleep(0.01)
            if session[0] is None:
                break
        probe.stop = True
        await watcher

    try:
        asyncio.run(go())
    finally:
        for module, name, fn in real:
            setattr(module, name, fn)
    assert events == ["card_written", "card_verified"]
    assert bus.frames > 54 and sigs[0] >= 3  # the whole write ran: 54 pages and more, signed and checked
    print("card write: worst loop gap", probe.worst_ms, "ms;", probe.worst_work, "(PN532 commands, signatures)")
    assert probe.worst_work[0] <= 2  # at most two card commands between two turns of the loop
    # and at most one signature made or checked, or the originality check, which tries each
    # factory key it knows (NXP's, and on the simulator the emulated factory's)
    assert probe.worst_work[1] <= 2
    assert probe.turns > bus.frames // 2
