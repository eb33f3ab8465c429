"""The laptop's tools point one way: the simulator (host_tools/sim) builds on enrolctl (its runtime,
its card check); enrolctl starts the simulator as a process and never imports it.  Read from the
import statements, function-level ones included."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def edges(package: str, target: str) -> list[str]:
    return sorted(f"{p.relative_to(ROOT)} imports {m}" for p in (ROOT / "host_tools" / package).rglob("*.py")
                  for m in imported(p) if m == f"host_tools.{target}" or m.startswith(f"host_tools.{target}."))


def test_enrolctl_never_imports_the_simulator() -> None:
    assert edges("enrolctl", "sim") == []
    assert edges("sim", "enrolctl") != []  # the direction that is allowed, so the check can see an edge
