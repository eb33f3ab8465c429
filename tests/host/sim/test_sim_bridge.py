"""The simulator's bridge: the device process (frozen firmware, 32-bit runtime) and the host's
emulators agree on the wire format, the host answers garbage with an error status, and a bridge
that dies or lies mid-frame stops the device cleanly: a fatal error logged to its flash, exit 1,
no hang, and after three such boots safe mode (faultlog), as a board with broken hardware does."""

from __future__ import annotations

import ast
import socket
import struct
import threading
from pathlib import Path

import pytest

from conftest import MICROPYTHON, ROOT, run_micropython
from host_tools.sim import bridge
from simkit import device_root
from host_tools.sim.host import BOARD_PATH, BOARD_RESET


def constants(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text())
    found = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int)):
            name = node.targets[0].id.lstrip("_")
            if name.split("_")[0] in ("OP", "ST", "PIN", "WLAN", "HEADER", "MAX"):
                found[name] = node.value.value
    return found


def test_both_ends_use_the_same_wire_format() -> None:
    """One definition (firmware/bridge_wire.py), imported by both ends: neither defines a code of its own."""
    from firmware import board_sim, bridge_wire

    wire = constants(ROOT / "firmware" / "bridge_wire.py")
    assert len(wire) >= 25
    assert constants(ROOT / "firmware" / "board_sim.py") == {} == constants(ROOT / "host_tools" / "sim" / "bridge.py")
    for name, value in wire.items():
        assert getattr(board_sim.W, name) == getattr(bridge, name) == getattr(bridge_wire, name) == value


class Echo:
    def handle(self, op: int, now: int, payload: bytes) -> bytes:
        if op == 99:
            raise bridge.Refused(bridge.ST_BAD)
        return struct.pack("<BI", op, now) + payload


def test_the_host_answers_each_request_and_refuses_garbage() -> None:
    a, b = socket.socketpair()
    a.settimeout(10)
    t = threading.Thread(target=lambda: result.append(bridge.serve(b, Echo())), daemon=True)
    result: list[str] = []
    t.start()
    a.sendall(struct.pack("<BHI", 4, 2, 1234) + b"hi")
    assert a.recv(100) == struct.pack("<BH", 0, 7) + struct.pack("<BI", 4, 1234) + b"hi"
    a.sendall(struct.pack("<BHI", 99, 0, 0))
    assert a.recv(100) == struct.pack("<BH", bridge.ST_BAD, 0)
    a.sendall(struct.pack("<BHI", 1, bridge.MAX_PAYLOAD + 1, 0))  # a length no device sends
    t.join(5)
    assert result == ["bad frame"]
    a.close()
    b.close()


def fake_host(behaviour: str) -> tuple[socket.socket, threading.Thread]:
    """A bridge that accepts the device and then misbehaves."""
    srv = bridge.listen()
    srv.settimeout(30)

    def run() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            if behaviour == "close":
                return
            head = conn.recv(bridge.HEADER)
            if behaviour == "mid-frame" and head:
                conn.sendall(b"\x00\x08")  # two bytes of a header, then the cable is gone
            elif behaviour == "too long" and head:
                conn.sendall(struct.pack("<BH", 0, 60000))
            elif behaviour == "refuse" and head:
                conn.sendall(struct.pack("<BH", bridge.ST_BAD, 0))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv, t


def power_on(root: Path, data: Path, port: int):
    return run_micropython(["-c", BOARD_RESET], cwd=root, timeout=60,
                           env={"MICROPYPATH": BOARD_PATH, "ENROL_DATA_DIR": str(data), "ENROL_SIM_BRIDGE": str(port)})


@pytest.mark.parametrize("behaviour", ["close", "mid-frame", "too long", "refuse"])
def test_a_bridge_that_dies_or_lies_stops_the_device_with_its_fault_logged(tmp_path: Path, behaviour: str) -> None:
    data = tmp_path / "flash"
    srv, t = fake_host(behaviour)
    with srv:
        proc = power_on(device_root(tmp_path), data, srv.getsockname()[1])
    t.join(5)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = (data / "fault.log").read_text()
    assert "BridgeGone" in log and "bridge:" in log
    assert (data / "crashes").read_text() == "1"


def test_three_fatal_boots_in_a_row_end_in_safe_mode(tmp_path: Path) -> None:
    data, root = tmp_path / "flash", device_root(tmp_path)
    codes = []
    for _ in range(4):
        srv, t = fake_host("close")
        with srv:
            proc = power_on(root, data, srv.getsockname()[1])
            codes.append(proc.returncode)
        t.join(5)
    assert codes == [1, 1, 1, 0]  # the 4th boot does not start the app
    assert "SAFE MODE: too many crashes" in proc.stdout
    assert (data / "fault.log").read_text().count("--- fatal") == 3


def test_without_a_bridge_the_device_says_how_to_run_it(tmp_path: Path) -> None:
    data = tmp_path / "flash"
    proc = run_micropython(["-c", BOARD_RESET], cwd=device_root(tmp_path),
                           env={"MICROPYPATH": BOARD_PATH, "ENROL_DATA_DIR": str(data)}, timeout=60)
    assert proc.returncode == 1
    assert "make sim" in (data / "fault.log").read_text()


def test_the_device_process_holds_the_frozen_firmware_and_no_emulator(tmp_path: Path) -> None:
    """What the simulated device imports comes from the image (.frozen), and no emulator is in it."""
    code = ("import sys\nfrom firmware import app, board_sim\nimport firmware\n"
            "print('FILE', firmware.__file__)\n"
            "print('SIM', [m for m in sys.modules if m.startswith('host_tools')])\n")
    proc = run_micropython(["-c", code], cwd=tmp_path, env={"MICROPYPATH": ".frozen"})
    assert proc.returncode == 0, proc.stderr
    assert "FILE firmware/__init__.py" in proc.stdout and not (tmp_path / "firmware").exists()  # frozen: no file
    assert "SIM []" in proc.stdout
    assert MICROPYTHON.name == "micropython" and MICROPYTHON.parent.name == "runtime"


def test_garbage_typed_into_the_simulator_is_named_and_the_device_goes_on(tmp_path: Path) -> None:
    from simkit import LOGIN, new_device, run_sim

    flash = new_device(tmp_path)
    lines = ["xyz!", "bhigh", "tap", "+abc", "\x1b[A"] + [*LOGIN] + ["3", "?To sync", "B", "?HOME"]
    run = run_sim(flash, lines, tmp_path, ENROL_SIM_WIFI="off")
    assert run.rc == 0, run.out[-2000:] + run.err[-2000:]
    assert "sim: ignored 'xyz!': not keys" in run.out and "sim: ignored '+abc'" in run.out
    assert "sim: 'tap' needs a card" in run.out  # and it pressed no A
    assert "sim: battery: give mV (b3700), bnoise or bnone, not bhigh" in run.out
    assert "|To sync: 0" in run.out and "Traceback" not in run.out + run.err
