"""Read a device's record journal on the host (format: firmware/formats.py, the firmware's own).

Used to pull records over USB or from a simulator's flash directory: yields
the KEY and RECORD envelopes of every segment, checking each frame's CRC.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from firmware import formats
from firmware.formats import T_CARD, T_KEY, T_RECORD, T_SYNCED


class JournalFormatError(ValueError):
    pass


def entries(segment: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(offset, type, payload) of each well-formed entry; stops at the first bad frame."""
    off = 0
    while off + formats.FRAME_OVERHEAD <= len(segment):
        head = formats.frame_head(segment[off : off + formats.FRAME_HEAD])
        end = off + formats.FRAME_HEAD + (head[1] if head else 0)
        if head is None or end + 4 > len(segment):
            raise JournalFormatError(f"bad frame at offset {off}")
        (crc,) = struct.unpack_from(">I", segment, end)
        if crc != formats.frame_crc(segment[off : off + formats.FRAME_HEAD], segment[off + formats.FRAME_HEAD : end]):
            raise JournalFormatError(f"CRC mismatch at offset {off}")
        yield off, head[0], segment[off + formats.FRAME_HEAD : end]
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


@dataclass
class CardEntry:
    payload: bytes  # the CARD payload (firmware/formats.py), as a batch's CARD item carries it
    result: int | None = None  # the registry's answer, None until it gave one


def segment_summary(segment: bytes
                    ) -> tuple[bytes | None, list[tuple[int, int, bytes]], dict[int, int], dict[int, CardEntry]]:
    """(key envelope, [(boot, seq, record envelope)], {seq: registry result}, {seq: its verified card's
    entry}) of one segment file, read up to its first bad frame."""
    key = None
    records: list[tuple[int, int, bytes]] = []
    results: dict[int, int] = {}
    cards: dict[int, CardEntry] = {}
    try:
        for _, etype, payload in entries(segment):
            if etype == T_KEY and key is None:
                key = bytes(payload)
            elif etype == T_RECORD:
                origin = formats.record_origin(payload)
                if origin is None:
                    raise JournalFormatError("a record entry too short for its header")
                records.append((origin[1], origin[2], bytes(payload)))
            elif etype == T_CARD:
                cards[formats.card_of(payload)[1]] = CardEntry(bytes(payload))
            elif etype == T_SYNCED:
                for seq, result in formats.synced_of(payload)[2]:
                    if not result & formats.CARD_RESULT:
                        results[seq] = result
                    elif seq in cards:
                        cards[seq].result = result & ~formats.CARD_RESULT
    except JournalFormatError:
        pass  # the device's recovery deals with a damaged tail; what came before is good
    return key, records, results, cards
