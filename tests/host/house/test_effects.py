"""The effects a flow asks for (firmware/effects.py) are the documented ones, each with its number
of values, and each is carried out by a runner: read from the code, not from a list kept beside it.
The flows are walked as an officer and a payout officer would (tests/fw/flowkit.py) and every
effect they return is checked; the runners' do_<kind> methods are read with ast."""

from __future__ import annotations

import ast
import random

from conftest import ROOT

from firmware import effects

KINDS = dict(effects.KINDS)


def runner_methods() -> set[str]:
    found: set[str] = set()
    for rel in ("effect_runner.py", "payout/runner.py"):
        tree = ast.parse((ROOT / "firmware" / rel).read_text())
        found |= {n.name[3:] for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("do_")}
    return found


def literal_effect_kinds() -> set[str]:
    """Every ("kind", ...) tuple the flows spell, read from their source."""
    found: set[str] = set()
    for rel in ("enrol/flow.py", "payout/flow.py"):
        for node in ast.walk(ast.parse((ROOT / "firmware" / rel).read_text())):
            if isinstance(node, ast.Tuple) and node.elts and isinstance(node.elts[0], ast.Constant) \
                    and isinstance(node.elts[0].value, str) and node.elts[0].value in KINDS:
                found.add(node.elts[0].value)
    return found


def test_every_documented_kind_is_carried_out_and_made_by_a_flow() -> None:
    assert set(KINDS) == runner_methods()
    assert literal_effect_kinds() == set(KINDS)
    for kind in KINDS:
        assert f"  {kind} " in effects.__doc__  # a row of the table says what it asks


def test_every_effect_a_walked_flow_returns_is_documented_with_its_values() -> None:
    from flowkit import Driver, answer_payout, enrol_person, login, new_flow, new_payout_flow

    from firmware.ui import keymap as K

    seen: list[tuple] = []

    class Recording(Driver):
        def add(self, effs):
            seen.extend(effs)
            Driver.add(self, effs)

    random.seed(31)
    for run in range(6):
        d = Recording(new_flow())
        login(d)
        enrol_person(d)
        d.add(d.flow.saved(1, run))
        for _ in range(60):
            d.press(K.ALL_KEYS[random.randrange(16)])
    for run in range(6):
        d = Recording(new_payout_flow())
        login(d)
        for i in range(60):
            d.press(K.ALL_KEYS[random.randrange(16)])
            d.add(answer_payout(d.flow, i))
    kinds = {e[0] for e in seen}
    assert {"show", "save", "write_card", "check_officer"} <= kinds and {"read_card", "pay"} & kinds
    bad = [e for e in seen if KINDS.get(e[0]) != len(e) - 1]
    assert bad == []
