"""The two-slot layout and the OTA selection data, as ESP-IDF's bootloader reads them.

Sources: ESP-IDF's "Partition Tables" (binary entries of 32 bytes at 0x8000: magic AA 50, type,
subtype, offset, size, label, flags; an MD5 entry EB EB, then 0xFF) and "Over The Air Updates"
(the otadata partition is two flash sectors, each holding one ``esp_ota_select_entry_t``:
ota_seq u32, seq_label[20], ota_state u32, crc u32, the CRC-32 covering ota_seq alone; the
bootloader boots slot ``(seq - 1) % slots`` of the valid entry with the highest seq, and both
sectors erased means ota_0).  An update writes the sector *not* holding the running entry, so a
cut while writing it leaves the old entry whole and the old version booting.

The layout itself is the project's ``host_tools/esp32_board/partitions.csv``, the file the
image is built with.
"""

from __future__ import annotations

import csv
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from .errors import EnrolctlError
from .paths import ROOT

PARTITIONS_CSV = ROOT / "host_tools" / "esp32_board" / "partitions.csv"
TABLE_OFFSET = 0x8000  # CONFIG_PARTITION_TABLE_OFFSET, ESP-IDF's default
TABLE_SIZE = 0xC00
ENTRY = struct.Struct("<2sBBII16sI")
ENTRY_MAGIC, MD5_MAGIC = b"\xaa\x50", b"\xeb\xeb"
SECTOR = 0x1000
OTA_ENTRY = struct.Struct("<I20sII")
# esp_ota_img_states_t
STATE_NEW, STATE_PENDING_VERIFY, STATE_VALID, STATE_INVALID, STATE_ABORTED = 0, 1, 2, 3, 4
STATE_UNDEFINED = 0xFFFFFFFF
_TYPES = {"app": 0x00, "data": 0x01}
_SUBTYPES = {"factory": 0x00, "ota_0": 0x10, "ota_1": 0x11, "ota": 0x00, "phy": 0x01, "nvs": 0x02, "fat": 0x81}
_APP, _DATA, _OTA_DATA = 0x00, 0x01, 0x00


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int


@dataclass(frozen=True)
class Layout:
    partitions: tuple[Partition, ...]

    def find(self, label: str) -> Partition | None:
        return next((p for p in self.partitions if p.label == label), None)

    @property
    def slots(self) -> tuple[Partition, ...]:
        """The OTA app slots, ota_0 first."""
        return tuple(sorted((p for p in self.partitions if p.type == _APP and 0x10 <= p.subtype < 0x20),
                            key=lambda p: p.subtype))

    @property
    def otadata(self) -> Partition | None:
        return next((p for p in self.partitions if p.type == _DATA and p.subtype == _OTA_DATA), None)

    @property
    def end(self) -> int:
        """The first byte past the last partition: the flash the board must have."""
        return max((p.offset + p.size for p in self.partitions), default=0)

    @property
    def two_slots(self) -> bool:
        return len(self.slots) == 2 and self.otadata is not None and self.otadata.size == 2 * SECTOR


def _int(text: str) -> int:
    return int(text.strip(), 0)


def project_layout(path: Path = PARTITIONS_CSV) -> Layout:
    """The partition table the image is built with (ESP-IDF's CSV format)."""
    parts = []
    with path.open() as f:
        for row in csv.reader(line for line in f if line.strip() and not line.lstrip().startswith("#")):
            label, typ, sub, offset, size = (c.strip() for c in row[:5])
            parts.append(Partition(label, _TYPES[typ], _SUBTYPES[sub], _int(offset), _int(size)))
    return Layout(tuple(parts))


def parse_table(raw: bytes) -> Layout | None:
    """A binary partition table, or None if ``raw`` holds none (erased, or another format).
    A table whose MD5 entry does not match its entries is refused."""
    parts = []
    for at in range(0, len(raw) - ENTRY.size + 1, ENTRY.size):
        magic, typ, sub, offset, size, label, _flags = ENTRY.unpack_from(raw, at)
        if magic == ENTRY_MAGIC:
            parts.append(Partition(label.rstrip(b"\x00").decode("ascii", "replace"), typ, sub, offset, size))
            continue
        if magic == MD5_MAGIC:
            if raw[at + 16:at + 32] != hashlib.md5(raw[:at]).digest():
                raise EnrolctlError("the partition table's checksum is wrong: the table is damaged")
        break
    return Layout(tuple(parts)) if parts else None


@dataclass(frozen=True)
class OtaEntry:
    seq: int
    state: int
    crc: int

    @property
    def bootable(self) -> bool:
        """Whether the bootloader will choose this entry at the next boot: written, CRC right,
        not marked invalid or aborted, and not PENDING_VERIFY (an app that booted and never
        confirmed itself: the bootloader aborts it at the next boot and rolls back)."""
        return (self.seq != 0xFFFFFFFF and self.crc == seq_crc(self.seq)
                and self.state not in (STATE_INVALID, STATE_ABORTED, STATE_PENDING_VERIFY))


def seq_crc(seq: int) -> int:
    """esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4): zlib's CRC-32 started from 0xFFFFFFFF."""
    return zlib.crc32(struct.pack("<I", seq), 0xFFFFFFFF)


def read_entries(otadata: bytes) -> tuple[OtaEntry, OtaEntry]:
    def one(at: int) -> OtaEntry:
        seq, _label, state, crc = OTA_ENTRY.unpack_from(otadata, at)
        return OtaEntry(seq, state, crc)

    return one(0), one(SECTOR)


def running_slot(otadata: bytes) -> int:
    """The slot the bootloader selects at the next boot: the valid entry with the highest seq, else ota_0."""
    bootable = [e for e in read_entries(otadata) if e.bootable]
    if not bootable:
        return 0
    return (max(e.seq for e in bootable) - 1) % 2


def switch_to(otadata: bytes, slot: int) -> tuple[int, bytes]:
    """The otadata sector to write (its offset in the partition, its 4 KB) so the bootloader
    boots ``slot`` next, as esp_ota_set_boot_partition() writes it with rollback on: the smallest
    seq above the running one that selects ``slot``, state NEW (the bootloader makes it
    PENDING_VERIFY; the new app, once up, marks it VALID; a reset before that rolls back),
    written to the sector not holding the running entry.

    One difference from ESP-IDF: it takes the running entry among the *bootable* ones, so after a
    rollback the aborted entry's sector is the one rewritten and the known-good entry is kept
    (ESP-IDF would count the aborted entry as the active one and overwrite the good one)."""
    entries = read_entries(otadata)
    bootable = [(e.seq, i) for i, e in enumerate(entries) if e.bootable]
    if bootable:
        seq, active = max(bootable)
        new = seq + 1 if (seq - 1) % 2 != slot else seq + 2
        sector = 1 - active
    else:
        new, sector = slot + 1, 0
    entry = OTA_ENTRY.pack(new, b"\xff" * 20, STATE_NEW, seq_crc(new))
    return sector * SECTOR, entry + b"\xff" * (SECTOR - len(entry))
