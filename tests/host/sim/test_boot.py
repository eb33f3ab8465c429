"""boot.py and main.py as the board runs them at reset (board_sim.power_on, through the simulator):
boot screen, clean power-off, safe mode, a good boot clearing the crash count, and the frozen
firmware always winning over modules left on the filesystem (nothing shadows it, nothing pulls
the app back into RAM).  Fatal errors and the crash loop: tests/host/sim/test_sim_bridge.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import ROOT
from simkit import device_root
from host_tools.enrolctl.simrun import sim_command


def power_on(root: Path, data: Path, lines: str = "q\n", **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, ENROL_SIM_ROOT=str(root), ENROL_DATA_DIR=str(data), ENROL_SIM_VIEW="text",
                ENROL_SIM_WIFI="off", **env)
    return subprocess.run(sim_command(), cwd=ROOT, env=full, input=lines, capture_output=True, text=True, timeout=120)


def test_boot_shows_the_boot_screen_and_powers_off_when_asked(tmp_path: Path) -> None:
    proc = power_on(device_root(tmp_path), tmp_path / "flash")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "|ENROL 0.1.0" in proc.stdout
    assert "|Starting...     |" in proc.stdout
    assert proc.stdout.rstrip().endswith("power off")


def test_safe_mode_key_skips_the_app(tmp_path: Path) -> None:
    proc = power_on(device_root(tmp_path), tmp_path / "flash", ENROL_SAFE_KEY="1")
    assert proc.returncode == 0
    assert "SAFE MODE: safe-mode key held" in proc.stdout
    assert "Starting..." not in proc.stdout


def test_a_good_boot_clears_the_crash_count(tmp_path: Path) -> None:
    data = tmp_path / "flash"
    data.mkdir()
    (data / "crashes").write_text("2")  # two fatal resets in a row before this one
    proc = power_on(device_root(tmp_path), data)
    assert proc.returncode == 0 and "Starting..." in proc.stdout
    assert not (data / "crashes").exists()


def test_modules_left_on_the_filesystem_never_shadow_the_frozen_firmware(tmp_path: Path) -> None:
    """A firmware/ copied to the root (or an app/ tree an older deploy staged) is not run: the
    frozen image comes first on sys.path."""
    root = device_root(tmp_path)
    (root / "firmware").mkdir()
    (root / "firmware" / "__init__.py").write_text("VERSION = 'stray'\n")
    (root / "firmware" / "app.py").write_text("def main(board):\n    raise ValueError('stray app ran')\n")
    stage = root / "app" / "0123456789ab" / "firmware"
    stage.mkdir(parents=True)
    (stage / "app.py").write_text("def main(board):\n    raise ValueError('staged app ran')\n")
    (root / "app" / "0123456789ab" / "manifest.json").write_text('{"version": "0.1.0", "files": []}')
    (root / "app" / "current").write_text("0123456789ab")
    proc = power_on(root, tmp_path / "flash")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ran" not in proc.stdout + proc.stderr
    assert "|ENROL 0.1.0" in proc.stdout and proc.stdout.rstrip().endswith("power off")
