"""Read a device's record journal on the host (format: firmware/store/journal.py).

Used to pull records over USB or from a simulator's flash directory: yields
the KEY and RECORD envelopes of every segment, checking each frame's CRC.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

MAGIC = 0xE5
T_KEY, T_RECORD, T_CARD, T_SYNCED = 1, 2, 3, 4


class JournalFormatError(ValueError):
    pass


def entries(segment: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(offset, type, payload) of each well-formed entry; stops at the first bad frame."""
    off = 0
    while off + 8 <= len(segment):
        magic, etype, n = struct.unpack_from(">BBH", segment, off)
        end = off + 4 + n
        if magic != MAGIC or end + 4 > len(segment):
            raise JournalFormatError(f"bad frame at offset {off}")
        (crc,) = struct.unpack_from(">I", segment, end)
        if crc != zlib.crc32(segment[off:end]):
            raise JournalFormatError(f"CRC mismatch at offset {off}")
        yield off, etype, segment[off + 4 : end]
        off = end + 4


def envelopes(journal_dir: Path) -> Iterator[tuple[bytes, bytes]]:
    """(key envelope, record envelope) for every record in the journal, oldest first."""
    for seg in sorted(journal_dir.glob("*.seg")):
        key = None
        for _, etype, payload in entries(seg.read_bytes()):
            if etype == T_KEY and key is None:
                key = payload
            elif etype == T_RECORD:
                if key is None:
                    raise JournalFormatError(f"{seg.name}: record before any key")
                yield key, payload


def segment_summary(segment: bytes) -> tuple[bytes | None, list[tuple[int, int, bytes]], dict[int, int], set[int]]:
    """(key envelope, [(boot, seq, record envelope)], {seq: registry result}, {seqs with a verified card})
    of one segment file, read up to its first bad frame."""
    key = None
    records: list[tuple[int, int, bytes]] = []
    results: dict[int, int] = {}
    cards: set[int] = set()
    try:
        for _, etype, payload in entries(segment):
            if etype == T_KEY and key is None:
                key = bytes(payload)
            elif etype == T_RECORD:
                dlen = payload[5]
                boot, seq = struct.unpack_from(">II", payload, 6 + dlen)
                records.append((boot, seq, bytes(payload)))
            elif etype == T_CARD:
                cards.add(struct.unpack_from(">I", payload, 4)[0])
            elif etype == T_SYNCED:
                rlen = payload[8]
                count = payload[9 + rlen]
                for i in range(count):
                    seq, result = struct.unpack_from(">IB", payload, 10 + rlen + 5 * i)
                    results[seq] = result
    except JournalFormatError:
        pass  # the device's recovery deals with a damaged tail; what came before is good
    return key, records, results, cards
