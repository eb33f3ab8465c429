"""The other side of formats.py: the writers of the files the device reads (villages.bin) and
the readers of what the device sends (a CARD entry, a record envelope's id), for enrolctl, the
registry and the tests.  The formats and their constants are formats.py's; this module is not
loaded on the device (its functions would cost the heap there, for nothing)."""

import binascii
import struct

from firmware.formats import (COMMUNE_REC, MAX_COMMUNES, MAX_CREDENTIAL_ID, MAX_DEVICE_ID, MAX_UID, MAX_VILLAGES,
                              RECORD_ID_LEN, VILLAGE_REC, VILLAGES_HEAD, VILLAGES_MAGIC)


def card_fields(payload):
    """(boot, seq, uid bytes, credential id, old credential id or "") of a CARD payload, checked
    byte for byte (the registry reads it from the network): ValueError if it is not one."""
    if len(payload) < 10:
        raise ValueError("card entry too short")
    boot, seq, n = struct.unpack_from(">IIB", payload, 0)
    at = 9
    if not 4 <= n <= MAX_UID or at + n + 1 > len(payload):
        raise ValueError("card entry UID length %d" % n)
    uid = bytes(payload[at : at + n])
    at += n
    ids = []
    while at < len(payload) and len(ids) < 2:
        m = payload[at]
        if not 1 <= m <= MAX_CREDENTIAL_ID or at + 1 + m > len(payload):
            raise ValueError("card entry credential id length %d" % m)
        ids.append(bytes(payload[at + 1 : at + 1 + m]).decode())  # UnicodeError is a ValueError
        at += 1 + m
    if not ids or at != len(payload):
        raise ValueError("card entry malformed")
    return boot, seq, uid, ids[0], ids[1] if len(ids) > 1 else ""


def record_id_of(env):
    """The record id from a record envelope's clear header (16 zero bytes if it has none), so
    that even a record that does not open gets an answer the device can match."""
    if len(env) > 6 and 1 <= env[5] <= MAX_DEVICE_ID and len(env) >= 6 + env[5] + 8 + RECORD_ID_LEN:
        p = 6 + env[5] + 8
        return bytes(env[p : p + RECORD_ID_LEN])
    return bytes(RECORD_ID_LEN)


def villages_file(communes, villages):
    """villages.bin as bytes (write_villages)."""
    import io

    f = io.BytesIO()
    write_villages(f, communes, villages)
    return f.getvalue()


def write_villages(f, communes, villages):
    """Write villages.bin to f (a seekable binary file), row by row.  communes: [(code 6 digits
    str, name)]; villages: an iterable of (code 8 digits str, commune index, name) sorted by code.
    ValueError on anything the device could not read back."""
    f.write(bytes(VILLAGES_HEAD))  # the head, with the counts and CRC, once they are known
    crc = 0
    nc = 0
    for code, name in communes:
        crc = _put(f, crc, _named(struct.pack(">I", _code(code, 6)), name, COMMUNE_REC))
        nc += 1
    n = 0
    last = -1
    for code, commune, name in villages:
        c = _code(code, 8)
        if c <= last or not 0 <= commune < nc:
            raise ValueError("villages not sorted by code, repeated, or of no commune")
        last = c
        crc = _put(f, crc, _named(struct.pack(">IH", c, commune), name, VILLAGE_REC))
        n += 1
    if not 0 < n <= MAX_VILLAGES or not 0 < nc <= MAX_COMMUNES:
        raise ValueError("village or commune count out of range")
    f.seek(0)
    f.write(VILLAGES_MAGIC + struct.pack(">HHI", n, nc, crc & 0xFFFFFFFF) + bytes(4))


def _put(f, crc, row):
    f.write(row)
    return binascii.crc32(row, crc)


def _code(code, digits):
    if len(code) != digits or not code.isdigit():
        raise ValueError("a code is not %d digits" % digits)
    return int(code)


def _named(fixed, name, size):
    raw = name.encode()
    room = size - len(fixed) - 1
    if not 0 < len(raw) <= room or len(raw) != len(name) or not all(32 <= b < 127 for b in raw):
        raise ValueError("a name is empty, too long or not printable ASCII")
    return fixed + bytes((len(raw),)) + raw + bytes(room - len(raw))
