"""`enrolctl flash --update`: the app into the slot not running, then the otadata switch, against
the real esptool and an emulated ESP32 whose flash the bootloader model of esprom.py boots.
An update cut at any flash block leaves the old version booting; one that never confirms itself
is rolled back at the next reset."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
from conftest import enrolctl

from esprom import OTA_ABORTED, RomBootloader
from host_tools.enrolctl import flash, ota
from host_tools.enrolctl.errors import EnrolctlError

LAYOUT = ota.project_layout()
SLOT0, SLOT1 = (s.offset for s in LAYOUT.slots)
VFS = LAYOUT.find("vfs")
OTADATA = LAYOUT.otadata


def esp_image(size: int) -> bytes:
    """An ESP application image (esp_image_format.h): header, one segment, the XOR checksum at
    the end of a 16-byte block, the appended SHA-256."""
    body = os.urandom(size)
    head = struct.pack("<BBBBIB3sHBHH4sB", 0xE9, 1, 2, 0x20, 0x40080000, 0xEE, b"\0\0\0", 0, 0, 0, 0xFFFF,
                       b"\0" * 4, 1)
    out = bytearray(head + struct.pack("<II", 0x3F400020, size) + body)
    checksum = 0xEF
    for byte in body:
        checksum ^= byte
    out += b"\0" * (15 - len(out) % 16) + bytes((checksum,))
    return bytes(out + hashlib.sha256(out).digest())


def table(layout: ota.Layout) -> bytes:
    """The binary partition table gen_esp32part.py makes: 32-byte entries, the MD5 entry, 0xFF."""
    raw = b"".join(ota.ENTRY.pack(ota.ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size,
                                  p.label.encode().ljust(16, b"\0"), 0) for p in layout.partitions)
    raw += ota.MD5_MAGIC + b"\xff" * 14 + hashlib.md5(raw).digest()
    return raw.ljust(ota.TABLE_SIZE, b"\xff")


def combined(app: bytes, layout: ota.Layout = LAYOUT) -> bytes:
    """firmware.bin as make image writes it for an ESP32: from 0x1000, bootloader, table, app."""
    out = bytearray(esp_image(20_000)).ljust(ota.TABLE_OFFSET - 0x1000, b"\xff") + table(layout)
    return bytes(out.ljust(layout.slots[0].offset - 0x1000, b"\xff") + app)


def installed(rom: RomBootloader, app: bytes) -> bytes:
    """A board after `enrolctl flash` of a first version, with records in its filesystem."""
    image = combined(app)
    rom.flash[0x1000:0x1000 + len(image)] = image
    records = os.urandom(8192)
    rom.flash[VFS.offset:VFS.offset + len(records)] = records
    return records


def write(tmp_path: Path, app: bytes, name: str = "firmware.bin", layout: ota.Layout = LAYOUT) -> Path:
    path = tmp_path / name
    path.write_bytes(combined(app, layout))
    return path


def update(rom: RomBootloader, fw: Path) -> flash.Plan:
    return flash.flash(rom.port, fw, connect_attempts=1, update=True)


def test_the_layout_is_two_aligned_slots_then_the_records_to_the_end_of_8_mb() -> None:
    parts = sorted(LAYOUT.partitions, key=lambda p: p.offset)
    assert all(a.offset + a.size <= b.offset for a, b in zip(parts, parts[1:]))  # no overlap
    assert LAYOUT.two_slots and all(s.offset % 0x10000 == 0 for s in LAYOUT.slots)  # ESP-IDF: apps 64 KB aligned
    assert LAYOUT.slots[0].size == LAYOUT.slots[1].size
    assert VFS.offset == SLOT1 + LAYOUT.slots[1].size and VFS.offset + VFS.size == 8 * 1024 * 1024
    # the records filesystem starts on a 64 KB block boundary (a NOR erase block)
    assert VFS.offset % 0x10000 == 0 and VFS.size % 0x10000 == 0


def test_an_update_on_a_board_with_too_little_flash_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    old = esp_image(40_000)
    with RomBootloader(flash_size=4 * 1024 * 1024) as rom:
        image = combined(old)
        rom.flash[0x1000:0x1000 + len(image)] = image
        before = bytes(rom.flash)
        with pytest.raises(EnrolctlError, match="the board has 4MB of flash"):
            update(rom, write(tmp_path, esp_image(40_000)))
        assert bytes(rom.flash) == before and flash.ERASE_OPS.isdisjoint(rom.commands)


def test_otadata_crc_matches_espressifs_published_values() -> None:
    # esp_rom_crc32_le(UINT32_MAX, &seq, 4) for seq 1 and 2, as otadata dumps of real boards show
    assert ota.seq_crc(1) == 0x4743989A and ota.seq_crc(2) == 0x55F63774


def test_an_update_goes_to_the_other_slot_and_the_board_boots_it(tmp_path: Path) -> None:
    old, new = esp_image(150_000), esp_image(160_000)
    with RomBootloader() as rom:
        records = installed(rom, old)
        assert rom.boot() == SLOT0  # blank otadata: ota_0
        r = enrolctl("flash", "--update", "--port", rom.port, "--firmware", str(write(tmp_path, new)),
                     "--attempts", "1")
        assert r.returncode == 0, r.stderr
        assert "written to ota_1 at 0x1c0000" in " ".join(r.stdout.split())
        assert not rom.erased and {0xD0, 0xD1}.isdisjoint(rom.commands)  # no chip or region erase
        assert bytes(rom.flash[SLOT1:SLOT1 + len(new)]) == new
        assert bytes(rom.flash[SLOT0:SLOT0 + len(old)]) == old  # the old version stays until the next update
        assert bytes(rom.flash[VFS.offset:VFS.offset + len(records)]) == records
        assert rom.boot() == SLOT1
        third = esp_image(140_000)  # the next update goes back to ota_0, over the old version
        p = update(rom, write(tmp_path, third, "third.bin"))
        assert p.update is not None and p.update.slot == LAYOUT.slots[0]
        assert rom.boot() == SLOT0 and bytes(rom.flash[SLOT0:SLOT0 + len(third)]) == third
        assert bytes(rom.flash[VFS.offset:VFS.offset + len(records)]) == records


def test_an_update_cut_at_any_flash_block_leaves_the_old_version_booting(tmp_path: Path) -> None:
    old, new = esp_image(100_000), esp_image(90_000)
    fw = write(tmp_path, new)
    with RomBootloader() as rom:  # how many flash data blocks a whole update takes
        installed(rom, old)
        update(rom, fw)
        blocks = rom.blocks
    assert blocks >= 3  # the app in several blocks, then the otadata sector
    for cut in range(blocks):
        with RomBootloader(cut_after=cut) as rom:
            records = installed(rom, old)
            with pytest.raises(EnrolctlError, match="the update was interrupted .* still starts the version it had"):
                update(rom, fw)
            assert rom.cut
            assert rom.boot() == SLOT0, f"cut after block {cut}: the board does not start the old version"
            assert bytes(rom.flash[VFS.offset:VFS.offset + len(records)]) == records
            flash_after_cut = bytes(rom.flash)
        with RomBootloader() as rom:  # the cable back in: the same command again
            rom.flash[:] = flash_after_cut
            update(rom, fw)
            assert rom.boot() == SLOT1 and bytes(rom.flash[SLOT1:SLOT1 + len(new)]) == new


def test_a_version_that_never_confirms_itself_is_rolled_back_at_the_next_reset(tmp_path: Path) -> None:
    old, bad, fixed = esp_image(100_000), esp_image(100_000), esp_image(100_000)
    with RomBootloader() as rom:
        installed(rom, old)
        update(rom, write(tmp_path, bad))
        assert rom.boot(confirms=False) == SLOT1  # the new version starts and fails before its first screen
        assert rom.boot() == SLOT0  # the next reset: the bootloader aborts it and starts the old one
        states = [struct.unpack_from("<I", rom.flash, OTADATA.offset + i * 0x1000 + 24)[0] for i in (0, 1)]
        assert OTA_ABORTED in states
        assert rom.boot() == SLOT0  # and stays there
        p = update(rom, write(tmp_path, fixed, "fixed.bin"))  # the next update replaces the aborted one
        assert p.update is not None and p.update.slot == LAYOUT.slots[1]
        assert rom.boot() == SLOT1 and bytes(rom.flash[SLOT1:SLOT1 + len(fixed)]) == fixed
        assert rom.boot() == SLOT1  # confirmed: it stays


def test_an_update_on_a_single_app_board_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    single = ota.Layout((ota.Partition("nvs", 1, 2, 0x9000, 0x6000), ota.Partition("phy_init", 1, 1, 0xF000, 0x1000),
                         ota.Partition("factory", 0, 0, 0x10000, 0x1F0000)))
    with RomBootloader() as rom:
        rom.flash[ota.TABLE_OFFSET:ota.TABLE_OFFSET + ota.TABLE_SIZE] = table(single)
        before = bytes(rom.flash)
        with pytest.raises(EnrolctlError, match="single-app layout .* install afresh"):
            update(rom, write(tmp_path, esp_image(50_000)))
        assert bytes(rom.flash) == before and rom.blocks == 0


def test_an_image_with_another_layout_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    parts = list(LAYOUT.partitions)
    vfs_at = parts.index(VFS)
    parts[vfs_at] = ota.Partition("vfs", VFS.type, VFS.subtype, VFS.offset + 0x10000, VFS.size - 0x10000)
    with RomBootloader() as rom:
        installed(rom, esp_image(50_000))
        before = bytes(rom.flash)
        with pytest.raises(EnrolctlError, match="partition table is not the board's"):
            update(rom, write(tmp_path, esp_image(50_000), layout=ota.Layout(tuple(parts))))
        assert bytes(rom.flash) == before and rom.blocks == 0


@pytest.mark.parametrize("content,message", [
    (None, "not a two-slot image"),  # a plain app image, or MicroPython's single-app download
    (b"damaged table", "checksum is wrong"),
    (b"no app", "no app image at 0x10000"),
    (b"too big", "over the 1728 KB app slot"),
])
def test_an_image_unfit_for_an_update_is_refused_before_anything_is_written(
        tmp_path: Path, content: bytes | None, message: str) -> None:
    good = combined(esp_image(30_000))
    if content is None:
        data = esp_image(30_000)
    elif content == b"damaged table":
        raw = bytearray(good)
        raw[ota.TABLE_OFFSET - 0x1000 + 20] ^= 1  # one bit of an offset
        data = bytes(raw)
    elif content == b"no app":
        data = good[:LAYOUT.slots[0].offset - 0x1000] + b"\xff" * 100
    else:
        data = good + b"\0" * LAYOUT.slots[0].size
    fw = tmp_path / "firmware.bin"
    fw.write_bytes(data)
    with RomBootloader() as rom:
        installed(rom, esp_image(50_000))
        before = bytes(rom.flash)
        with pytest.raises(EnrolctlError, match=message):
            update(rom, fw)
        assert bytes(rom.flash) == before and rom.blocks == 0


def test_switch_to_follows_esp_idf_and_keeps_the_good_entry_after_a_rollback() -> None:
    blank = b"\xff" * 0x2000
    at, sector = ota.switch_to(blank, 1)
    assert at == 0 and ota.read_entries(sector + b"\xff" * 0x1000)[0].seq == 2  # (2 - 1) % 2 = ota_1
    valid1 = ota.OTA_ENTRY.pack(1, b"\xff" * 20, ota.STATE_VALID, ota.seq_crc(1)).ljust(0x1000, b"\xff")
    aborted2 = ota.OTA_ENTRY.pack(2, b"\xff" * 20, ota.STATE_ABORTED, ota.seq_crc(2)).ljust(0x1000, b"\xff")
    data = valid1 + aborted2
    assert ota.running_slot(data) == 0
    at, sector = ota.switch_to(data, 1)
    assert at == 0x1000 and ota.read_entries(b"\xff" * 0x1000 + sector)[1].seq == 2  # the aborted one replaced
    wrong_crc = ota.OTA_ENTRY.pack(5, b"\xff" * 20, ota.STATE_VALID, 0).ljust(0x1000, b"\xff")
    assert ota.running_slot(valid1 + wrong_crc) == 0  # a torn sector does not count
