"""The laptop's tools point one way: the simulator (host_tools/sim) builds on enrolctl (its runtime,
its card check); enrolctl starts the simulator as a process and never imports it.  Read from the
import statements, function-level ones included."""

from __future__ import annotations

from conftest import ROOT
from importkit import imports_of


def edges(package: str, target: str) -> list[str]:
    return sorted(f"{p.relative_to(ROOT)} imports {m}" for p in (ROOT / "host_tools" / package).rglob("*.py")
                  for m in imports_of(p) if m == f"host_tools.{target}" or m.startswith(f"host_tools.{target}."))


def test_enrolctl_never_imports_the_simulator() -> None:
    assert edges("enrolctl", "sim") == []
    assert edges("sim", "enrolctl") != []  # the direction that is allowed, so the check can see an edge
