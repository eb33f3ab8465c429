"""Makefile bad input: missing PORT, too old a Python, failed installs are never taken as done."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from conftest import ROOT


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    full.update(env)
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, env=full, timeout=600)


def test_deploy_without_port_says_how_to_find_it() -> None:
    proc = make("deploy")
    assert proc.returncode != 0
    assert "deploy: say which serial port" in proc.stdout + proc.stderr
    assert "mpremote devs" in proc.stdout + proc.stderr


def test_flash_without_port_or_firmware_stops() -> None:
    proc = make("flash")
    assert proc.returncode != 0
    assert "flash: say which serial port" in proc.stdout + proc.stderr
    proc = make("flash", "PORT=/dev/null")
    assert proc.returncode != 0
    assert "FIRMWARE=" in proc.stdout + proc.stderr


def fake_python(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "python-fake"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_old_python_is_refused_in_one_line(tmp_path: Path) -> None:
    old = fake_python(tmp_path, 'case "$1" in --version) echo "Python 3.8.10";; *) exit 1;; esac')
    venv = tmp_path / "venv"
    proc = make("setup", f"PYTHON={old}", f"VENV={venv}")
    assert proc.returncode != 0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("setup:")]
    assert len(lines) == 1 and "need Python >= 3.11" in lines[0] and "3.8.10" in lines[0]
    assert not (venv / ".setup-done").exists()


def test_failed_install_is_not_taken_as_done(tmp_path: Path) -> None:
    # passes the version check, then cannot create the venv
    broken = fake_python(tmp_path, 'case "$1" in -c) exit 0;; *) exit 1;; esac')
    venv = tmp_path / "venv"
    proc = make("setup", f"PYTHON={broken}", f"VENV={venv}")
    assert proc.returncode != 0
    assert "setup: could not create" in proc.stdout
    assert not (venv / ".setup-done").exists()
