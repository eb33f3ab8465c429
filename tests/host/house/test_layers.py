"""The firmware's layers, read from its import statements (function-level imports included):
every import points down or sideways, never up, and no two rooms of one layer import each
other in a circle.  A new module must be given a layer here (README, Layout)."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT
from importkit import imports_of

# Lowest first.  A module belongs to the longest prefix that names it; the package modules in
# EXACT name themselves only (a new firmware/enrol/x.py must be placed, not land at the bottom).
EXACT = ("firmware", "firmware.enrol", "firmware.payout")
LAYERS: tuple[tuple[str, ...], ...] = (
    # what anyone may use: the package's VERSION, crypto, CBOR, ticks, the fs helper, the byte formats,
    # the effects a flow asks for (and the empty markers of the enrol and payout packages)
    ("firmware", "firmware.enrol", "firmware.payout", "firmware.crypto", "firmware.cbor", "firmware.ticks",
     "firmware.fsutil", "firmware.formats", "firmware.formats_host", "firmware.effects"),
    # the board (only these touch machine and network) and what runs before the app
    ("firmware.board", "firmware.board_sim", "firmware.bridge_wire", "firmware.board_select", "firmware.faultlog",
     "firmware.safemode"),
    # drivers
    ("firmware.hw",),
    # the radio and the registry's wire (Wi-Fi, HTTP over TLS, signed requests): below sync and payout
    ("firmware.net",),
    # services: storage (the cards due with it), sync, the card, the officers, the device's clock and power
    ("firmware.store", "firmware.sync", "firmware.card", "firmware.clock", "firmware.battery", "firmware.power",
     "firmware.enrol.record", "firmware.enrol.officer", "firmware.enrol.schema",
     "firmware.enrol.save", "firmware.enrol.villages", "firmware.payout.trust", "firmware.payout.client"),
    # the flows, their screens, and the ui (the panel's task with it)
    ("firmware.enrol.flow", "firmware.enrol.screens", "firmware.payout.flow", "firmware.payout.screens",
     "firmware.ui"),
    # the tasks that own the hardware: they report facts (through the app) and never import a
    # flow or a screen
    ("firmware.tasks",),
    # the wiring: the app and its effect runners (one per role)
    ("firmware.app", "firmware.effect_runner", "firmware.payout.runner"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for level, rooms in enumerate(LAYERS):
        for room in rooms:
            if (module == room or (room not in EXACT and module.startswith(room + "."))) and \
                    (best is None or len(room) > len(best[1])):
                best = (level, room)
    return best


def firmware_imports() -> dict[str, set[str]]:
    """module -> the firmware modules it imports (an `from a import b` counts a.b if b is a module)."""
    modules = {module_name(p): p for p in (ROOT / "firmware").rglob("*.py") if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in imports_of(path, with_names=True) if m in modules and m != name}
    return graph


def test_every_firmware_module_has_a_layer() -> None:
    assert [m for m in firmware_imports() if room_of(m) is None] == []


def up_edges(graph: dict[str, set[str]]) -> list[str]:
    up = []
    for module, targets in graph.items():
        here = room_of(module)
        for target in targets:
            there = room_of(target)
            if here is not None and there is not None and there[0] > here[0]:
                up.append(f"{module} (layer {here[0]}) imports {target} (layer {there[0]})")
    return up


def circles(graph: dict[str, set[str]]) -> list[str]:
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        a = room_of(module)
        for target in targets:
            b = room_of(target)
            if a and b and a[1] != b[1]:
                edges.setdefault(a[1], set()).add(b[1])

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    return sorted(f"{a} <-> {b}" for a in edges for b in edges[a] if reaches(b, a, {b}))


def test_imports_never_point_up() -> None:
    assert up_edges(firmware_imports()) == []


def test_no_circle_between_rooms_of_a_layer() -> None:
    assert circles(firmware_imports()) == []


def test_the_checks_see_the_edges_this_code_once_had() -> None:
    """The driver that imported the UI, and store <-> enrol (secrets took the record's schema
    from enrol.record while enrol's modules used store's fs helper)."""
    assert up_edges({"firmware.hw.display": {"firmware.ui.screen"}}) != []
    assert circles({"firmware.store.secrets": {"firmware.sync.client"},
                    "firmware.sync.client": {"firmware.store.journal"}}) != []
    assert room_of("firmware.enrol.flow") == (5, "firmware.enrol.flow")


def test_tasks_report_facts_and_hold_no_screens() -> None:
    """tasks/ import no flow, no screen and nothing of ui/ (the flow says what a screen shows)."""
    screens = ("firmware.ui", "firmware.enrol.flow", "firmware.enrol.screens", "firmware.payout.flow",
               "firmware.payout.screens")
    found = [f"{m} imports {t}" for m, targets in firmware_imports().items() if m.startswith("firmware.tasks")
             for t in targets if any(t == s or t.startswith(s + ".") for s in screens)]
    assert found == []
    assert screens_check_sees({"firmware.tasks.card": {"firmware.ui.screen"}})


def screens_check_sees(graph: dict[str, set[str]]) -> bool:
    return any(t.startswith("firmware.ui") for m, ts in graph.items() if m.startswith("firmware.tasks") for t in ts)


def test_the_flow_owns_its_states() -> None:
    """A state's name is spelled in the flows and their screens only: the tasks and the app ask
    the flow (busy(), card_session(), in_card_step()), so a renamed state cannot leave them behind."""
    owners = {"enrol/flow.py", "enrol/screens.py", "payout/flow.py", "payout/screens.py"}
    states = ("card_check", "sup_id", "sup_pin", "sup_check", "pay_tap", "paying", "trust_fetch", "saving",
              "login_check", "due_pick")
    spelled = []
    for path in (ROOT / "firmware").rglob("*.py"):
        rel = path.relative_to(ROOT / "firmware").as_posix()
        if rel in owners or "__pycache__" in path.parts:
            continue
        text = path.read_text()
        spelled += [f"{rel}: {st}" for st in states if f'"{st}"' in text]
    assert spelled == []


def test_app_py_only_wires() -> None:
    """app.py builds the services and tasks and runs the loop: at most 300 lines (issue 31)."""
    assert len((ROOT / "firmware" / "app.py").read_text().splitlines()) <= 300


def test_the_flows_state_sets_agree() -> None:
    """The state sets are literal tuples (kept in flash); the payout flow's include the enrolment
    flow's, and the busy states include the card step."""
    from firmware.enrol.flow import Flow
    from firmware.payout.flow import PayoutFlow

    from firmware.enrol.flow import HOME_ITEMS, SUPERVISOR_ITEMS
    from firmware.payout.flow import PAY_HOME, PAY_SUPERVISOR

    assert SUPERVISOR_ITEMS[:-1] == HOME_ITEMS and PAY_SUPERVISOR[:-1] == PAY_HOME
    assert set(Flow.CARD_STATES) <= set(Flow.BUSY_STATES)
    assert set(Flow.IDLE_STATES) <= set(PayoutFlow.IDLE_STATES) and set(Flow.BUSY_STATES) <= set(PayoutFlow.BUSY_STATES)
    assert not set(Flow.IDLE_STATES) & set(Flow.CARD_STATES)  # no idle log-out in the card step


def test_the_contract_modules_are_not_loaded_on_the_device() -> None:
    """effects.py (what a flow may ask) and formats_host.py (the desk's side of the formats) cost
    the heap nothing: no firmware module imports them."""
    graph = firmware_imports()
    assert [m for m, targets in graph.items() if {"firmware.effects", "firmware.formats_host"} & targets] == []
