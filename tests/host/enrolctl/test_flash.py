"""`enrolctl flash`: the real esptool against an emulated ESP32 bootloader on a pty (esprom.py)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
import serial
from conftest import enrolctl

from esprom import RomBootloader
from host_tools.enrolctl import flash
from host_tools.enrolctl.errors import EnrolctlError



def image(tmp_path: Path, chip_id: int = 0, size: int = 200_000, name: str = "ESP32_GENERIC.bin") -> Path:
    data = bytearray(os.urandom(size))
    data[0], data[1] = flash.IMAGE_MAGIC, 4
    struct.pack_into("<H", data, 12, chip_id)
    path = tmp_path / name
    path.write_bytes(data)
    return path



def test_flash_erases_and_writes_the_image_at_0x1000_through_real_esptool(tmp_path: Path) -> None:
    fw = image(tmp_path)
    with RomBootloader() as rom:
        rom.flash[0:4096] = b"\x00" * 4096  # an old image that the erase must remove
        r = enrolctl("flash", "--port", rom.port, "--firmware", str(fw), "--attempts", "1")
        assert r.returncode == 0, r.stderr
        assert "at 0x1000 on the ESP32" in r.stdout
        data = fw.read_bytes()
        assert rom.erased
        assert bytes(rom.flash[0x1000:0x1000 + len(data)]) == data
        assert rom.flash[:0x1000] == b"\xff" * 0x1000  # erased, not written
        assert rom.flash[0x1000 + len(data):] == b"\xff" * (len(rom.flash) - 0x1000 - len(data))


@pytest.mark.parametrize("chip_id,built_for", [(9, "ESP32-S3"), (5, "ESP32-C3"), (77, "chip id 77")])
def test_an_image_for_another_chip_is_refused_before_anything_is_erased(
        tmp_path: Path, chip_id: int, built_for: str) -> None:
    fw = image(tmp_path, chip_id)
    with RomBootloader() as rom:
        with pytest.raises(EnrolctlError, match=f"built for {built_for}, the board is an ESP32"):
            flash.flash(rom.port, fw, connect_attempts=1)
        assert not rom.erased and not rom.stub
        assert flash.ERASE_OPS.isdisjoint(rom.commands)


def test_an_unknown_chip_is_refused(tmp_path: Path) -> None:
    with RomBootloader("ESP8266") as rom:
        with pytest.raises(EnrolctlError, match="board is an ESP8266: not a chip this firmware supports"):
            flash.flash(rom.port, image(tmp_path), connect_attempts=1)
        assert not rom.erased


@pytest.mark.parametrize("content,message", [
    (b"", "not an ESP32 firmware image"),
    (b"PK\x03\x04" + bytes(100), "not an ESP32 firmware image"),  # a zip downloaded by mistake
    (b"\xe9\x00" + bytes(100), "damaged image header"),
    (b"\xe9\x20" + bytes(100), "damaged image header"),
])
def test_a_wrong_file_is_refused_without_touching_the_port(tmp_path: Path, content: bytes, message: str) -> None:
    fw = tmp_path / "firmware.bin"
    fw.write_bytes(content)
    with RomBootloader() as rom:
        r = enrolctl("flash", "--port", rom.port, "--firmware", str(fw))
        assert r.returncode == 1
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert rom.commands == []


def test_missing_directory_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(EnrolctlError, match="no such firmware file"):
        flash.check_image(tmp_path / "nope.bin")
    with pytest.raises(EnrolctlError, match="is a directory"):
        flash.check_image(tmp_path)
    with pytest.raises(EnrolctlError, match="larger than the board's 8 MB flash"):
        flash.check_image(image(tmp_path, size=flash.MAX_IMAGE + 1))


def test_the_layout_fills_the_named_modules_8_mb_and_a_4_mb_board_is_refused_before_any_erase(
        tmp_path: Path) -> None:
    # ESP32-WROOM-32E-N8: 8 MB of flash (Espressif's ESP32-WROOM-32E datasheet, ordering table)
    assert flash.LAYOUT.end == 8 * 1024 * 1024
    assert flash.LAYOUT.find("vfs").offset + flash.LAYOUT.find("vfs").size == flash.LAYOUT.end
    fw = image(tmp_path)
    with RomBootloader(flash_size=4 * 1024 * 1024) as rom:
        rom.flash[0:4096] = b"\x00" * 4096
        r = enrolctl("flash", "--port", rom.port, "--firmware", str(fw), "--attempts", "1")
        assert r.returncode == 1
        assert "the board has 4MB of flash; the firmware's records partition needs 8 MB" in r.stderr, r.stderr
        assert not rom.erased and flash.ERASE_OPS.isdisjoint(rom.commands)
        assert rom.flash[0:4096] == b"\x00" * 4096
    with RomBootloader(flash_size=16 * 1024 * 1024) as rom:  # more flash than the layout: fine
        r = enrolctl("flash", "--port", rom.port, "--firmware", str(fw), "--attempts", "1")
        assert r.returncode == 0, r.stderr
        assert bytes(rom.flash[0x1000:0x1000 + fw.stat().st_size]) == fw.read_bytes()


def test_offsets_follow_the_chip(tmp_path: Path) -> None:
    assert flash.plan("ESP32", flash.check_image(image(tmp_path, 0))).offset == 0x1000
    assert flash.plan("ESP32-S3", flash.check_image(image(tmp_path, 9))).offset == 0x0


def test_no_device_busy_port_and_silent_board(tmp_path: Path) -> None:
    fw = image(tmp_path)
    r = enrolctl("flash", "--port", str(tmp_path / "ttyUSB9"), "--firmware", str(fw))
    assert r.returncode == 1 and "no device on" in r.stderr, r.stderr
    with RomBootloader() as rom:
        with serial.Serial(rom.port, exclusive=True):  # a serial monitor holds the port
            with pytest.raises(EnrolctlError, match="is busy"):
                flash.flash(rom.port, fw, connect_attempts=1)
    with RomBootloader(answer=False) as rom:  # not in download mode: says nothing
        with pytest.raises(EnrolctlError, match="no ESP32 bootloader answered .* hold BOOT"):
            flash.flash(rom.port, fw, connect_attempts=1)
        assert not rom.erased
