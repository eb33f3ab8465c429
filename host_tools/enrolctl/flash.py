"""Flash MicroPython onto a board with esptool's library API.

The image file is checked before the port is opened (a wrong file must not cost the
technician an erased board); the chip is detected through its ROM bootloader and must be
one MicroPython ships for and the one the image was built for; then erase, write at the
chip's offset (MicroPython's download page: 0x1000 for ESP32 and ESP32-S2, 0 for the
newer chips), verify, hard reset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EnrolctlError

# chip name as esptool reports it -> (chip id in the image header, write offset)
CHIPS: dict[str, tuple[int, int]] = {
    "ESP32": (0, 0x1000),
    "ESP32-S2": (2, 0x1000),
    "ESP32-S3": (9, 0x0),
    "ESP32-C3": (5, 0x0),
    "ESP32-C6": (13, 0x0),
}
IMAGE_MAGIC = 0xE9  # esp_image_header_t.magic
HEADER_SIZE = 24  # esp_image_header_t incl. the extended header with chip_id at byte 12
MAX_SEGMENTS = 16
ERASE_OPS = frozenset({0xD0, 0xD1, 0x02, 0x10})  # ERASE_FLASH, ERASE_REGION, FLASH_BEGIN, FLASH_DEFL_BEGIN
MAX_IMAGE = 4 * 1024 * 1024  # a WROOM's flash; MicroPython images are ~1.6 MB
# ESP32_GENERIC's partition table (ports/esp32/partitions-4MiBplus.csv): the factory app at
# 0x10000, 0x1F0000 bytes; the filesystem with the records (vfs) from 0x200000 to the end
FACTORY_SIZE = 0x1F0000
VFS_START = 0x200000


@dataclass(frozen=True)
class Image:
    path: Path
    size: int
    chip_id: int  # from the image header


@dataclass(frozen=True)
class Plan:
    chip: str
    offset: int
    image: Image
    update: bool = False  # keep the filesystem (records, provisioning): no chip erase


def check_image(path: Path) -> Image:
    """A readable ESP application image: magic byte, segment count and chip id from its header."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(HEADER_SIZE)
    except FileNotFoundError:
        raise EnrolctlError(f"no such firmware file: {path}") from None
    except IsADirectoryError:
        raise EnrolctlError(f"{path} is a directory, not a firmware file") from None
    except OSError as e:
        raise EnrolctlError(f"cannot read {path}: {e.strerror}") from None
    if size < HEADER_SIZE or head[0] != IMAGE_MAGIC:
        raise EnrolctlError(f"{path} is not an ESP32 firmware image (take the .bin from micropython.org/download)")
    if not 1 <= head[1] <= MAX_SEGMENTS:
        raise EnrolctlError(f"{path} has a damaged image header ({head[1]} segments)")
    if size > MAX_IMAGE:
        raise EnrolctlError(f"{path} is {size} bytes, larger than the board's 4 MB flash")
    (chip_id,) = struct.unpack_from("<H", head, 12)
    return Image(path, size, chip_id)


def plan(chip: str, image: Image, update: bool = False) -> Plan:
    """Where the image goes on this chip, or why it must not be written."""
    if chip not in CHIPS:
        raise EnrolctlError(f"the board is an {chip}: not a chip this firmware supports ({', '.join(CHIPS)})")
    want_id, offset = CHIPS[chip]
    if image.chip_id != want_id:
        built_for = next((name for name, (cid, _) in CHIPS.items() if cid == image.chip_id), f"chip id {image.chip_id}")
        raise EnrolctlError(f"{image.path.name} is built for {built_for}, the board is an {chip}: download the {chip} image")
    if update and offset + image.size > VFS_START:
        raise EnrolctlError(f"{image.path.name} ({image.size} bytes at {offset:#x}) would overwrite the records "
                            f"partition at {VFS_START:#x}: an image for an update must fit the "
                            f"{FACTORY_SIZE // 1024} KB app partition")
    return Plan(chip, offset, image, update)


def _connect(port: str, connect_attempts: int) -> Any:
    from esptool.cmds import detect_chip
    from esptool.util import FatalError

    try:
        return detect_chip(port, connect_attempts=connect_attempts)
    except FatalError as e:
        first = str(e).splitlines()[0]
        if first.startswith("Could not open"):  # esptool says "busy or doesn't exist": tell which
            if not Path(port).exists():
                raise EnrolctlError(f"no device on {port} (is the cable in? `mpremote devs` lists ports)") from None
            raise EnrolctlError(f"{port} is busy: close the program using it (a serial monitor, mpremote)") from None
        raise EnrolctlError(f"no ESP32 bootloader answered on {port}: hold BOOT, press EN, release BOOT and retry "
                            f"({first})") from None


def _write(esp: Any, p: Plan) -> None:
    from esptool.cmds import attach_flash, erase_flash, reset_chip, write_flash

    esp = esp.run_stub()
    attach_flash(esp)
    if not p.update:
        erase_flash(esp)  # a first install: nothing of an earlier firmware may remain
    write_flash(esp, [(p.offset, str(p.image.path))], flash_size="keep", compress=True)  # MD5-verified by esptool
    reset_chip(esp, "hard-reset")
    esp._port.close()


def flash(port: str, firmware: Path, connect_attempts: int = 7,
          connect: Callable[[str, int], Any] = _connect, write: Callable[[Any, Plan], None] = _write,
          update: bool = False) -> Plan:
    """Check the file, detect the chip, then erase and write (update: write only the image's own
    sectors, so the records partition is kept).  Nothing is written unless all checks pass."""
    image = check_image(firmware)
    esp = connect(port, connect_attempts)
    try:
        p = plan(esp.CHIP_NAME, image, update)
    except EnrolctlError:
        esp._port.close()
        raise
    write(esp, p)
    return p
