"""An ESP32's serial bootloader (ROM download mode, then esptool's flasher stub) on a
pseudo-terminal, with emulated SPI flash (8 MB unless told), for running the real esptool.

As Espressif's serial protocol documentation gives it: SLIP frames (0xC0 end, 0xDB
escapes); a request is [0x00, op, size:u16, checksum:u32, data], a reply [0x01, op,
size:u16, value:u32, data, status]; 4 status bytes (status, error, 0, 0).  SYNC is
answered eight times; GET_SECURITY_INFO is unknown to the ESP32 ROM (status 1, error 0x05);
READ_REG of 0x40001000 gives the chip-detect magic; the stub, uploaded with MEM_BEGIN /
MEM_DATA / MEM_END, greets with "OHAI" and then erases (ERASE_FLASH), writes
(FLASH_BEGIN/DATA or FLASH_DEFL_BEGIN/DATA/END, zlib; the sectors of a write are erased at its
BEGIN, as the stub erases ahead of writing), reads (READ_FLASH: data frames of one sector each,
then the 16-byte MD5 frame; the host's acknowledgements are not needed with the stub's window
of 64 frames), and hashes (SPI_FLASH_MD5, 16 raw bytes).  The SPI peripheral answers the flash-ID command (RDID) as a Winbond
W25Q-series part of that size (JEDEC ID EF 40, then the capacity code log2(bytes): 0x16 for
4 MB, 0x17 for 8 MB: the W25Q32JV/W25Q64JV datasheets, "Read JEDEC ID (9Fh)"); the UART
clock divider says a 40 MHz crystal.  Unknown commands get status 1, error 0x05.

``cut_after`` pulls the cable: after that many flash data blocks the board goes silent and its
port closes, as when the USB cable comes out in the middle of a write.

``boot()`` is ESP-IDF's second-stage bootloader reading this flash (bootloader_utility.c,
``bootloader_utility_get_selected_boot_partition`` with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE,
and esp_image_format.c's checks of the image it loads).
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import struct
import threading
import tty
import zlib

FLASH_BEGIN, FLASH_DATA, FLASH_END, MEM_BEGIN, MEM_END, MEM_DATA = 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG, SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE = 0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5, GET_SECURITY_INFO = 0x10, 0x11, 0x12, 0x13, 0x14
ERASE_FLASH, READ_FLASH = 0xD0, 0xD2
SECTOR = 0x1000
SPI_BASE, UART_CLKDIV_REG = 0x3FF42000, 0x3FF40014
FLASH_SIZE = 8 * 1024 * 1024  # the project's named module, an ESP32-WROOM-32E-N8
CHIP_DETECT_MAGIC_REG = 0x40001000
MAGIC = {"ESP32": 0x00F01D83, "ESP8266": 0xFFF0C101}
INVALID_COMMAND = 0x05
# esp_ota_img_states_t
OTA_NEW, OTA_PENDING_VERIFY, OTA_VALID, OTA_INVALID, OTA_ABORTED = 0, 1, 2, 3, 4


def slip(payload: bytes) -> bytes:
    return b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class RomBootloader:
    def __init__(self, chip: str = "ESP32", answer: bool = True, cut_after: int | None = None,
                 flash_size: int = FLASH_SIZE) -> None:
        self.magic = MAGIC[chip]
        self.size = flash_size
        # RDID as read back from SPI_W0: manufacturer, memory type, capacity, low byte first
        self.flash_id = 0x40EF | (flash_size.bit_length() - 1) << 16
        self.cut_after = cut_after  # flash data blocks before the cable is pulled
        self.blocks = 0
        self.cut = False
        self.answer = answer  # False: a board not in download mode (says nothing)
        self.commands: list[int] = []
        self.flash = bytearray(b"\xff" * flash_size)
        self.erased = False
        self.stub = False
        self.regs: dict[int, int] = {UART_CLKDIV_REG: 40_000_000 // 115200}
        self._write_at = 0
        self._inflate: zlib._Decompress | None = None
        self._stop = threading.Event()

    def __enter__(self) -> RomBootloader:
        self._master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self._master >= 0:
            os.close(self._master)
        os.close(self._slave)

    # ---- the second-stage bootloader reading this flash -------------------------------------
    def boot(self, confirms: bool = True) -> int | None:
        """One power-on: the offset of the app the bootloader starts (None: nothing bootable).
        It writes otadata as the bootloader does (a PENDING_VERIFY entry that was never confirmed
        becomes ABORTED, a NEW one PENDING_VERIFY); ``confirms``: the app reaches the point where
        it calls esp_ota_mark_app_valid_cancel_rollback() (its state becomes VALID)."""
        apps, otadata = self._partitions()
        entries = [self._entry(otadata + i * SECTOR) for i in (0, 1)] if otadata is not None else []
        for i, (seq, state) in enumerate(entries):
            if seq is not None and state == OTA_PENDING_VERIFY:  # booted before, never confirmed
                self._set_state(otadata + i * SECTOR, OTA_ABORTED)
                entries[i] = (seq, OTA_ABORTED)
        usable = [(seq, i) for i, (seq, state) in enumerate(entries)
                  if seq is not None and state not in (OTA_INVALID, OTA_ABORTED)]
        slots = [off for sub, off in sorted(apps.items()) if 0x10 <= sub < 0x20]
        if usable and slots:
            seq, i = max(usable)
            want = slots[(seq - 1) % len(slots)]
        else:  # no OTA data: the factory app, else ota_0
            want = apps.get(0x00, slots[0] if slots else None)
            i = None
        if want is not None and self.image_ok(want):
            if i is not None and otadata is not None:
                if entries[i][1] == OTA_NEW:
                    self._set_state(otadata + i * SECTOR, OTA_PENDING_VERIFY)
                if confirms:
                    self._set_state(otadata + i * SECTOR, OTA_VALID)
            return want
        # the selected image does not load: the bootloader tries the other app partitions
        return next((off for _sub, off in sorted(apps.items()) if off != want and self.image_ok(off)), None)

    def _partitions(self) -> tuple[dict[int, int], int | None]:
        apps: dict[int, int] = {}
        otadata = None
        for at in range(0x8000, 0x8C00, 32):
            magic, typ, sub, offset, _size = struct.unpack_from("<2sBBII", self.flash, at)
            if magic != b"\xaa\x50":
                break
            if typ == 0:
                apps[sub] = offset
            elif typ == 1 and sub == 0:
                otadata = offset
        return apps, otadata

    def _entry(self, at: int) -> tuple[int | None, int]:
        """(seq, state) of a valid esp_ota_select_entry_t; seq None if erased or its CRC is wrong
        (bootloader_common_ota_select_valid: the CRC covers ota_seq alone)."""
        seq, state, crc = struct.unpack_from("<I20xII", self.flash, at)
        ok = seq != 0xFFFFFFFF and crc == zlib.crc32(struct.pack("<I", seq), 0xFFFFFFFF)
        return (seq if ok else None), state

    def _set_state(self, at: int, state: int) -> None:
        struct.pack_into("<I", self.flash, at + 24, state)

    def image_ok(self, offset: int) -> bool:
        """esp_image_format.c: magic 0xE9, each segment's header in range, the XOR checksum byte
        after the segments (at the end of a 16-byte aligned block) and, with hash_appended, the
        SHA-256 of everything before it."""
        if self.flash[offset] != 0xE9:
            return False
        count, hash_appended = self.flash[offset + 1], self.flash[offset + 23]
        at, checksum = offset + 24, 0xEF
        for _ in range(count):
            _load, length = struct.unpack_from("<II", self.flash, at)
            if length > self.size or at + 8 + length > self.size:
                return False
            for b in self.flash[at + 8:at + 8 + length]:
                checksum ^= b
            at += 8 + length
        at += 15 - (at - offset) % 16  # pad so the checksum byte ends a 16-byte block
        if self.flash[at] != checksum:
            return False
        at += 1
        return not hash_appended or hashlib.sha256(self.flash[offset:at]).digest() == self.flash[at:at + 32]

    def _reply(self, op: int, value: int = 0, status: int = 0, error: int = 0, data: bytes = b"") -> bytes:
        body = data + bytes((status, error, 0, 0))
        return slip(struct.pack("<BBHI", 1, op, len(body), value) + body)

    def _program(self, data: bytes) -> None:
        end = self._write_at + len(data)
        if end > self.size:
            raise ValueError("write past the end of flash")
        self.flash[self._write_at:end] = data
        self._write_at = end

    def _handle(self, frame: bytes) -> bytes:
        if len(frame) < 8 or frame[0] != 0:
            return b""
        op, size = frame[1], struct.unpack_from("<H", frame, 2)[0]
        data = frame[8:8 + size]
        self.commands.append(op)
        if op == SYNC:
            return self._reply(SYNC, 0x20120707) * 8
        if op == READ_REG and len(data) == 4:
            (addr,) = struct.unpack("<I", data)
            value = {CHIP_DETECT_MAGIC_REG: self.magic, SPI_BASE + 0x80: self.flash_id}.get(addr, self.regs.get(addr, 0))
            if addr == SPI_BASE:
                value = 0  # SPI_CMD_REG: the user command has finished
            return self._reply(op, value)
        if op == WRITE_REG and len(data) >= 8:
            addr, value = struct.unpack_from("<II", data)
            self.regs[addr] = value
            return self._reply(op)
        if op in (MEM_BEGIN, MEM_DATA, SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE):
            return self._reply(op)
        if op == MEM_END:
            self.stub = True
            return self._reply(op) + slip(b"OHAI")
        if not self.stub:
            return self._reply(op, status=1, error=INVALID_COMMAND)
        if op == ERASE_FLASH:
            self.flash[:] = b"\xff" * self.size
            self.erased = True
            return self._reply(op)
        if op in (FLASH_BEGIN, FLASH_DEFL_BEGIN):
            size, _blocks, _block_size, self._write_at = struct.unpack_from("<IIII", data)
            end = min(self.size, self._write_at + -(-size // SECTOR) * SECTOR)
            self.flash[self._write_at:end] = b"\xff" * (end - self._write_at)
            self._inflate = zlib.decompressobj() if op == FLASH_DEFL_BEGIN else None
            return self._reply(op)
        if op in (FLASH_DATA, FLASH_DEFL_DATA):
            if self.cut_after is not None and self.blocks >= self.cut_after:
                self.cut = True
                return b""
            self.blocks += 1
            (length,) = struct.unpack_from("<I", data)
            block = data[16:16 + length]
            self._program(self._inflate.decompress(block) if self._inflate else block)
            return self._reply(op)
        if op in (FLASH_END, FLASH_DEFL_END):
            return self._reply(op)
        if op == READ_FLASH:
            addr, size, sector, _in_flight = struct.unpack_from("<IIII", data)
            out = self._reply(op)
            for at in range(addr, addr + size, sector):
                out += slip(bytes(self.flash[at:min(at + sector, addr + size)]))
            return out + slip(hashlib.md5(self.flash[addr:addr + size]).digest())
        if op == SPI_FLASH_MD5:
            addr, size = struct.unpack_from("<II", data)
            return self._reply(op, data=hashlib.md5(self.flash[addr:addr + size]).digest())
        return self._reply(op, status=1, error=INVALID_COMMAND)

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            if not self.answer:
                continue
            buf += chunk
            while True:  # split SLIP frames
                start = buf.find(b"\xc0")
                end = buf.find(b"\xc0", start + 1) if start >= 0 else -1
                if end < 0:
                    break
                raw = bytes(buf[start + 1:end])
                del buf[:end]
                if not raw:
                    continue
                frame = raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
                out = self._handle(frame)
                if self.cut:  # the cable is out: the port goes away under esptool
                    os.close(self._master)
                    self._master = -1
                    return
                if out:
                    os.write(self._master, out)
