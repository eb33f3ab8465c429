"""The production firmware image: MicroPython's esp32 port, the board of
host_tools/esp32_board/ (ESP32_GENERIC as its OTA variant builds it, with the project's
two-slot partition table), with the device image frozen from the project's manifest.py (the
same file the simulator's runtime freezes).  Needs ESP-IDF (IDF_PATH, with its toolchain installed by its own install.sh);
without it, one line says what is missing and nothing is built.

Output: build/image/firmware.bin, the combined image (bootloader, partition table, app)
that `enrolctl flash --firmware build/image/firmware.bin` writes at 0x1000 on a new board, and
whose app `enrolctl flash --update` writes into the slot not running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import EnrolctlError
from . import native, ota
from .paths import ROOT
from .runtime import RUNTIME_DIR, source_tree

BOARD_DIR = ROOT / "host_tools" / "esp32_board"
IMAGE_DIR = ROOT / "build" / "image"


def check_idf(env: dict[str, str] | None = None) -> Path:
    """ESP-IDF's root from IDF_PATH, or one line saying what is missing."""
    env = dict(os.environ if env is None else env)
    given = env.get("IDF_PATH")
    if not given:
        raise EnrolctlError("image: IDF_PATH is not set: install ESP-IDF (v5.2-v5.4, its install.sh esp32), "
                            "source its export.sh, then run make image")
    idf = Path(given)
    if not (idf / "tools" / "idf.py").is_file():
        raise EnrolctlError(f"image: IDF_PATH={given} is not an ESP-IDF checkout (no tools/idf.py)")
    if shutil.which("xtensa-esp32-elf-gcc", path=env.get("PATH")) is None:
        raise EnrolctlError("image: the ESP32 compiler (xtensa-esp32-elf-gcc) is not on PATH: "
                            f"run {idf}/install.sh esp32, then source {idf}/export.sh")
    return idf


def build(log_to: Path | None = None) -> Path:
    """Build build/image/firmware.bin; refuses an app larger than its slot, saying by how much."""
    check_idf()
    src = source_tree()
    native.fetch_monocypher()
    port = src / "ports" / "esp32"
    if not (port / "Makefile").is_file():
        raise EnrolctlError(f"image: {src} has no ports/esp32")
    out = RUNTIME_DIR / "esp32"
    log = log_to or (IMAGE_DIR / "build.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as f:
        proc = subprocess.run(["make", "-C", str(port), f"BOARD_DIR={BOARD_DIR}", f"BUILD={out}",
                               f"FROZEN_MANIFEST={ROOT / 'manifest.py'}",
                               f"USER_C_MODULES={native.USERMOD / 'micropython.cmake'}"], stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise EnrolctlError(f"image: the esp32 build failed (see {log})")
    app, combined = out / "micropython.bin", out / "firmware.bin"
    slot = ota.project_layout().slots[0].size
    if app.stat().st_size > slot:
        raise EnrolctlError(f"image: the app is {app.stat().st_size} bytes, {app.stat().st_size - slot} over the "
                            f"{slot // 1024} KB app slot (host_tools/esp32_board/partitions.csv)")
    native.require_in_image(out / "micropython.map")
    IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(combined, IMAGE_DIR / "firmware.bin")
    return IMAGE_DIR / "firmware.bin"
