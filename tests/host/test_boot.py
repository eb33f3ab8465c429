"""boot.py/main.py on the unix port: boot screen, clean power-off, safe mode, fatal errors logged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_micropython
from host_tools.enrolctl.build import build, compile_module


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("device")
    build(out)
    return out


def boot(image: Path, data: Path, **env: str):
    """Power on the image as the ESP32 ROM would: boot.py, then main.py, with /lib on the path."""
    script = "exec(open('boot.py').read())\nexec(open('main.py').read())\n"
    return run_micropython(
        ["-c", script],
        cwd=image,
        env={"MICROPYPATH": ":.frozen:lib", "ENROL_DATA_DIR": str(data), **env},
        timeout=60,
    )


def test_boot_shows_the_boot_screen_and_powers_off_when_asked(image: Path, tmp_path: Path) -> None:
    proc = boot(image, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "|ENROL 0.1.0" in proc.stdout
    assert "|Starting...     |" in proc.stdout
    assert proc.stdout.rstrip().endswith("power off")


def test_main_alone_runs_like_the_simulator_does(image: Path, tmp_path: Path) -> None:
    proc = run_micropython(["main.py"], cwd=image, input="q\n",
                           env={"MICROPYPATH": ":.frozen:lib", "ENROL_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "Starting..." in proc.stdout


def test_safe_mode_key_skips_the_app(image: Path, tmp_path: Path) -> None:
    proc = boot(image, tmp_path, ENROL_SAFE_KEY="1")
    assert proc.returncode == 0
    assert "SAFE MODE: safe-mode key held" in proc.stdout
    assert "Starting..." not in proc.stdout


def broken_image(image: Path, tmp_path: Path) -> Path:
    """A copy of the image whose app raises at start (like a bad deploy)."""
    copy = tmp_path / "broken"
    shutil.copytree(image, copy)
    src = tmp_path / "app.py"
    src.write_text("def main(board):\n    raise ValueError('boom at start')\n")
    compile_module(src, copy / "firmware" / "app.mpy", "firmware/app.py")
    return copy


def test_fatal_error_is_logged_to_flash_and_exits_non_zero(image: Path, tmp_path: Path) -> None:
    data = tmp_path / "flash"
    broken = broken_image(image, tmp_path)
    proc = boot(broken, data)
    assert proc.returncode == 1
    assert "ValueError: boom at start" in proc.stderr + proc.stdout
    log = (data / "fault.log").read_text()
    assert "ValueError: boom at start" in log
    assert "firmware/app.py" in log
    assert (data / "crashes").read_text() == "1"


def test_crash_loop_ends_in_safe_mode_and_a_good_boot_clears_it(image: Path, tmp_path: Path) -> None:
    data = tmp_path / "flash"
    broken = broken_image(image, tmp_path)
    codes = [boot(broken, data).returncode for _ in range(4)]
    assert codes == [1, 1, 1, 0]  # the 4th boot does not start the app
    assert boot(broken, data).stdout.count("SAFE MODE: too many crashes") == 1
    assert (data / "fault.log").read_text().count("--- fatal") == 3
    # a technician deploys a good image and clears the counter: the app runs again
    (data / "crashes").unlink()
    ok = boot(image, data)
    assert ok.returncode == 0 and "Starting..." in ok.stdout
    assert not (data / "crashes").exists()
