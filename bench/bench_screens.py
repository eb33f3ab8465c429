"""The screens as a person reads them (issue 32): key presses for a veteran's enrolment as the
README's walkthrough types it, and, on a Khmer screen (a page holds the title and two or three
lines and turns every 3 s), how many pages a person waits through before each money screen's
key fact (goal 0): the amount and the name on PAID, when and where on an already paid card, that
a card is not valid and why."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from mp import ROOT

# the firmware's flows on CPython, as its tests run them (tests/cpython: MicroPython's cryptolib)
sys.path[:0] = [str(ROOT / "tests" / "cpython"), str(ROOT / "tests" / "fw"), str(ROOT / "tests" / "fw" / "payout")]

KEYS = "0123456789ABCD*#"


def enrolment_keys() -> int:
    """Keys from HOME to the card step of the walkthrough's veteran (SOK SOPHEA, his service
    number), login excluded; '.' (waiting a second between two letters on a key) is no key."""
    from host_tools.sim.pictures import VISIT

    lines = list(VISIT)
    start, end = lines.index("?HOME") + 1, lines.index("?Tap the card")
    return sum(1 for line in lines[start:end] if not line.startswith("?") for ch in line if ch in KEYS)


def pages_to_key_fact() -> list[tuple[str, int]]:
    from test_payout import NOW, Driver, at_pin, login, new_flow

    from firmware.ui import keymap as K
    from firmware.ui import khmer as fw_khmer
    from host_tools.enrolctl import khmer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "km.bin"
        path.write_bytes(khmer.build())
        km = fw_khmer.Strings(str(path))

        def page_of(screen, items: set[int]) -> int:
            """The page a person must wait for until every item in items has been shown."""
            lines = fw_khmer.lay_out(km, screen)
            pages = fw_khmer.pages(lines)
            return max(next(p for p, (a, b) in enumerate(pages) for j in range(a, b) if lines[j][0] == i)
                       for i in items)

        out = []
        d = Driver(new_flow())
        at_pin(d)
        d.press("1", "3", "5", "7", K.OK)
        d.add(d.flow.paid(("paid", 150000, "K7MQ2XHC9P")))
        out.append(("PAID: the amount and the name", page_of(d.flow.render(), {-1, 0, 1})))
        d.add(d.flow.paid(("already paid", NOW, "PAY-0002", "RCPT000001")))
        out.append(("NOT PAID, already paid: when and where", page_of(d.flow.render(), {-1, 0, 1})))
        d = Driver(new_flow())
        login(d)
        d.press("1")
        d.add(d.flow.card_read(False, "UID mismatch: copied to another card", None, True))
        out.append(("NOT VALID (a copy): not genuine, do not pay", page_of(d.flow.render(), {-1, 0, 1})))
        return out


def run():
    rows = [("key presses: a veteran's enrolment, HOME to the card step (README walkthrough)", enrolment_keys(),
             "keys", "count")]
    for what, pages in pages_to_key_fact():
        rows.append((f"Khmer pages waited through before the key fact: {what} (goal 0)", pages, "pages",
                     "firmware layout, CPython"))
    return rows
