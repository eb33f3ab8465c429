"""Technician tooling: bytes and seconds to bring boot.py and main.py up to date (enrolctl deploy:
the code itself is in the image), and the time to provision one device, with real mpremote over
a pseudo-terminal to the simulated device's runtime.  A pty moves bytes far faster than a
115200-baud USB UART, so the modeled cable time at 115200 baud (10 bits a byte) is printed too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mp import ROOT

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests")]

from ptydevice import PtyDevice  # noqa: E402
from registrykit import RegistryProcess, make_registry  # noqa: E402

from host_tools.enrolctl.build import build, firmware_version, write_manifest  # noqa: E402
from host_tools.enrolctl.deploy import deploy  # noqa: E402

UART_BYTES_PER_S = 115200 / 10
ENROLCTL = Path(sys.executable).parent / "enrolctl"
CONFIG = {"device_prefix": "KH", "wifi": [{"ssid": "hub", "psk": "k"}],
          "officers": [{"id": "OF0042", "role": "officer", "pin": "2468"}],
          "districts": ["0204"]}  # Bavel, Battambang: 103 villages from the official gazetteer


def boot_changed(a: Path, b: Path) -> None:
    shutil.copytree(a, b)
    (b / "boot.py").write_text((a / "boot.py").read_text() + "# bench\n")
    write_manifest(b, firmware_version())


def run() -> list[tuple[str, float | int, str, str]]:
    out: list[tuple[str, float | int, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        a, b = tmp / "a", tmp / "b"
        build(a)
        boot_changed(a, b)
        root = tmp / "device"
        (root / "data").mkdir(parents=True)
        with PtyDevice(root / "data", root=root) as dev:
            for label, build_dir in (("deploy to a new board", a), ("deploy of a changed boot.py", b)):
                t = time.perf_counter()
                r = deploy(dev.port, build_dir)
                seconds = time.perf_counter() - t
                out += [(f"{label}: files sent", len(r.written), "files", "pty+mpremote"),
                        (f"{label}: bytes sent", r.bytes_sent, "B", "pty+mpremote"),
                        (f"{label}: seconds (pty)", round(seconds, 2), "s", "pty+mpremote"),
                        (f"{label}: file bytes at 115200 baud", round(r.bytes_sent / UART_BYTES_PER_S, 2), "s",
                         "model")]
        reg = make_registry(tmp / "reg")
        cfg = tmp / "provision.json"
        cfg.write_text(json.dumps(CONFIG))
        data = tmp / "flash"
        data.mkdir()
        with RegistryProcess(reg, f"sqlite:///{tmp / 'reg' / 'registry.db'}") as server:
            url = f"https://127.0.0.1:{server.port}"
            desk = reg.session_env(tmp / "registrar-a", "registrar-a", ("registrar",))  # a signed-in registrar
            with PtyDevice(data) as dev:
                t = time.perf_counter()
                proc = subprocess.run([str(ENROLCTL), "device", "provision", "--port", dev.port, "--keys",
                                       str(reg.keys_dir), "--registry", url, "--config", str(cfg),
                                       "--district", "0204", "--commune", "020501"],
                                      capture_output=True, text=True, timeout=300, env=desk)
                seconds = time.perf_counter() - t
        if proc.returncode:
            raise RuntimeError(f"provision failed: {proc.stderr.strip()}")
        out.append(("provision one device (CLI start to end)", round(seconds, 2), "s", "pty+mpremote"))
    return out
