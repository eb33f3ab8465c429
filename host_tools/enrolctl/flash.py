"""Flash MicroPython onto a board with esptool's library API.

The image file is checked before the port is opened (a wrong file must not cost the
technician an erased board); the chip is detected through its ROM bootloader and must be
one MicroPython ships for and the one the image was built for; then erase, write at the
chip's offset (MicroPython's download page: 0x1000 for ESP32 and ESP32-S2, 0 for the
newer chips), verify, hard reset.  An update (--update) writes no erase: the combined image's
app goes into the app slot not running, and the otadata switch is written last (ota.py), so a
cable pulled at any moment leaves a board that boots.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import ota
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
# The board's layout is the project's (host_tools/esp32_board/partitions.csv, read by ota.py):
# two app slots from 0x10000, the records filesystem after them to the end of the named module's
# 8 MB.  A board with less flash is refused before anything is erased.
LAYOUT = ota.project_layout()
MAX_IMAGE = LAYOUT.end  # MicroPython images are ~1.6 MB


@dataclass(frozen=True)
class Image:
    path: Path
    size: int
    chip_id: int  # from the image header


@dataclass(frozen=True)
class Update:
    """What an update writes: the app of the combined image into the slot not running."""
    app: bytes
    table: ota.Layout  # the image's partition table, which must be the board's
    slot: ota.Partition | None = None  # known once the board's otadata is read


@dataclass(frozen=True)
class Plan:
    chip: str
    offset: int
    image: Image
    update: Update | None = None  # keep the filesystem (records, provisioning): no chip erase


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
        raise EnrolctlError(f"{path} is {size} bytes, larger than the board's {MAX_IMAGE >> 20} MB flash")
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
    return Plan(chip, offset, image, split_update(image, offset) if update else None)


def split_update(image: Image, offset: int) -> Update:
    """The app and the partition table inside a combined image (bootloader at ``offset``, the
    table at 0x8000, the app at its first slot), as `make image` and micropython.org ship it."""
    data = image.path.read_bytes()
    table = ota.parse_table(data[ota.TABLE_OFFSET - offset:ota.TABLE_OFFSET - offset + ota.TABLE_SIZE])
    if table is None or not table.two_slots:
        raise EnrolctlError(f"{image.path.name} is not a two-slot image (no ota_0/ota_1 partition table in it): "
                            "an update needs the image `make image` builds")
    first = table.slots[0]
    app = data[first.offset - offset:]
    if not app or app[0] != IMAGE_MAGIC:
        raise EnrolctlError(f"{image.path.name} has no app image at {first.offset:#x}")
    if len(app) > first.size:
        raise EnrolctlError(f"the app in {image.path.name} is {len(app)} bytes, over the "
                            f"{first.size // 1024} KB app slot")
    return Update(app, table)


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


def _write(esp: Any, p: Plan) -> Plan:
    from esptool.cmds import attach_flash, erase_flash, reset_chip, write_flash

    esp = esp.run_stub()
    attach_flash(esp)
    check_flash_size(esp)
    if p.update is not None:
        p = _write_update(esp, p)
    else:
        erase_flash(esp)  # a first install: nothing of an earlier firmware may remain
        write_flash(esp, [(p.offset, str(p.image.path))], flash_size="keep", compress=True)  # MD5-verified
    reset_chip(esp, "hard-reset")
    esp._port.close()
    return p


def check_flash_size(esp: Any) -> None:
    """The board's flash chip (its JEDEC ID, through esptool) must hold the project's layout:
    on a 4 MB module the records partition would run past the end of the chip."""
    from esptool.cmds import detect_flash_size
    from esptool.util import flash_size_bytes

    found = detect_flash_size(esp)
    have = flash_size_bytes(found) if found else None
    if have is None:
        raise EnrolctlError("the board's flash chip did not say its size (JEDEC ID unknown): not written. "
                            f"The firmware needs {LAYOUT.end >> 20} MB of flash (an ESP32-WROOM-32E-N8)")
    if have < LAYOUT.end:
        raise EnrolctlError(f"the board has {found} of flash; the firmware's records partition needs "
                            f"{LAYOUT.end >> 20} MB (an ESP32-WROOM-32E-N8): nothing was written")


def _write_update(esp: Any, p: Plan) -> Plan:
    """The app into the slot not running, then (only once esptool has verified it) the otadata
    sector that switches the bootloader to it.  A cut before the last step leaves the old
    version booting; the records partition is never written."""
    from esptool.cmds import write_flash

    assert p.update is not None
    board = ota.parse_table(esp.read_flash(ota.TABLE_OFFSET, ota.TABLE_SIZE))
    if board is None or not board.two_slots:
        raise EnrolctlError("this board has the single-app layout of an older image: an update cannot change "
                            "the layout. Sync its records (or copy them off with `enrolctl records`), then "
                            "install afresh with `enrolctl flash` without --update (it erases the board)")
    if board != p.update.table:
        raise EnrolctlError("the image's partition table is not the board's: an update cannot change the layout "
                            "(install afresh with `enrolctl flash` without --update, after a sync)")
    otadata_part = board.otadata
    assert otadata_part is not None
    otadata = esp.read_flash(otadata_part.offset, otadata_part.size)
    target = 1 - ota.running_slot(otadata)
    slot = board.slots[target]
    write_flash(esp, [(slot.offset, p.update.app)], flash_size="keep", compress=True)  # MD5-verified
    sector_at, sector = ota.switch_to(otadata, target)
    write_flash(esp, [(otadata_part.offset + sector_at, sector)], flash_size="keep", compress=True)
    return replace(p, update=replace(p.update, slot=slot))


def flash(port: str, firmware: Path, connect_attempts: int = 7,
          connect: Callable[[str, int], Any] = _connect, write: Callable[[Any, Plan], Plan] = _write,
          update: bool = False) -> Plan:
    """Check the file, detect the chip, then erase and write (update: the app into the slot not
    running, then the switch; the records partition is kept).  Nothing is written unless all
    checks pass; a cable pulled during an update leaves the old version booting."""
    from esptool.util import FatalError
    from serial import SerialException

    image = check_image(firmware)
    esp = connect(port, connect_attempts)
    try:
        p = plan(esp.CHIP_NAME, image, update)
        return write(esp, p)
    except (FatalError, SerialException, OSError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        if update:
            raise EnrolctlError(f"the update was interrupted ({first}): the board still starts the version it "
                                "had; connect it again and run the same command") from None
        raise EnrolctlError(f"flashing was interrupted ({first}): the board will not start; connect it again "
                            "and run the same command") from None
    finally:
        try:
            esp._port.close()
        except Exception:  # noqa: BLE001 - already closed by a reset, or the cable is gone
            pass
