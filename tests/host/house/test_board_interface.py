"""The board interface is firmware/board.py's: its public functions (each with a docstring
saying what it does) and NAME, DATA_DIR, EXTRA_ORIGINALITY_KEYS, SYNC_RETRY_CAP_MS.
firmware/board_sim.py must offer exactly the same functions, with the same parameters, and
the same settings, so the firmware cannot come to depend on something only one board has."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SETTINGS = ("NAME", "DATA_DIR", "EXTRA_ORIGINALITY_KEYS", "SYNC_RETRY_CAP_MS")


def interface(path: Path) -> tuple[dict[str, tuple[list[str], str | None]], set[str]]:
    tree = ast.parse(path.read_text(), str(path))
    functions = {n.name: ([a.arg for a in n.args.args], ast.get_docstring(n)) for n in tree.body
                 if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
    names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    return functions, names


def test_both_boards_offer_the_same_functions_and_settings() -> None:
    real, real_names = interface(ROOT / "firmware" / "board.py")
    sim, sim_names = interface(ROOT / "firmware" / "board_sim.py")
    assert sorted(real) == sorted(sim)
    assert {name: params for name, (params, _) in real.items()} == {name: params for name, (params, _) in sim.items()}
    assert set(SETTINGS) <= real_names and set(SETTINGS) <= sim_names
    assert [name for name, (_, doc) in real.items() if not doc] == []  # the interface is written down
    assert len(real) >= 15


def test_the_firmware_asks_the_board_for_nothing_else() -> None:
    """Every `board.X` / `self.board.X` the firmware uses is in the interface."""
    real, names = interface(ROOT / "firmware" / "board.py")
    offered = set(real) | names
    used: set[str] = set()
    for path in (ROOT / "firmware").rglob("*.py"):
        if path.name.startswith("board") or "__pycache__" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
                owner = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
                if owner == "board":
                    used.add(node.attr)
    assert used and sorted(used - offered) == []
