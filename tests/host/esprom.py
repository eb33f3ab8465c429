"""An ESP32's serial bootloader (ROM download mode, then esptool's flasher stub) on a
pseudo-terminal, with 4 MB of emulated SPI flash, for running the real esptool.

As Espressif's serial protocol documentation gives it: SLIP frames (0xC0 end, 0xDB
escapes); a request is [0x00, op, size:u16, checksum:u32, data], a reply [0x01, op,
size:u16, value:u32, data, status]; 4 status bytes (status, error, 0, 0).  SYNC is
answered eight times; GET_SECURITY_INFO is unknown to the ESP32 ROM (status 1, error 0x05);
READ_REG of 0x40001000 gives the chip-detect magic; the stub, uploaded with MEM_BEGIN /
MEM_DATA / MEM_END, greets with "OHAI" and then erases (ERASE_FLASH), writes
(FLASH_BEGIN/DATA or FLASH_DEFL_BEGIN/DATA/END, zlib), and hashes (SPI_FLASH_MD5, 16 raw
bytes).  The SPI peripheral answers the flash-ID command (RDID) as a 4 MB part; the UART
clock divider says a 40 MHz crystal.  Unknown commands get status 1, error 0x05.
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
ERASE_FLASH = 0xD0
SPI_BASE, UART_CLKDIV_REG = 0x3FF42000, 0x3FF40014
FLASH_SIZE = 4 * 1024 * 1024
FLASH_ID = 0x1640EF  # RDID of a 4 MB (size code 0x16) part
CHIP_DETECT_MAGIC_REG = 0x40001000
MAGIC = {"ESP32": 0x00F01D83, "ESP8266": 0xFFF0C101}
INVALID_COMMAND = 0x05


def slip(payload: bytes) -> bytes:
    return b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class RomBootloader:
    def __init__(self, chip: str = "ESP32", answer: bool = True) -> None:
        self.magic = MAGIC[chip]
        self.answer = answer  # False: a board not in download mode (says nothing)
        self.commands: list[int] = []
        self.flash = bytearray(b"\xff" * FLASH_SIZE)
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
        os.close(self._master)
        os.close(self._slave)

    def _reply(self, op: int, value: int = 0, status: int = 0, error: int = 0, data: bytes = b"") -> bytes:
        body = data + bytes((status, error, 0, 0))
        return slip(struct.pack("<BBHI", 1, op, len(body), value) + body)

    def _program(self, data: bytes) -> None:
        end = self._write_at + len(data)
        if end > FLASH_SIZE:
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
            value = {CHIP_DETECT_MAGIC_REG: self.magic, SPI_BASE + 0x80: FLASH_ID}.get(addr, self.regs.get(addr, 0))
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
            self.flash[:] = b"\xff" * FLASH_SIZE
            self.erased = True
            return self._reply(op)
        if op in (FLASH_BEGIN, FLASH_DEFL_BEGIN):
            self._write_at = struct.unpack_from("<I", data, 12)[0]
            self._inflate = zlib.decompressobj() if op == FLASH_DEFL_BEGIN else None
            return self._reply(op)
        if op in (FLASH_DATA, FLASH_DEFL_DATA):
            (length,) = struct.unpack_from("<I", data)
            block = data[16:16 + length]
            self._program(self._inflate.decompress(block) if self._inflate else block)
            return self._reply(op)
        if op in (FLASH_END, FLASH_DEFL_END):
            return self._reply(op)
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
                if out:
                    os.write(self._master, out)
