"""NDEF message in a Type 2 Tag TLV (NFC Forum T2T and NDEF specifications).

Card user memory from page 4:  03 <len> <NDEF message> FE
  len: one byte if < 0xFF, else FF hi lo.
One NDEF record, NFC Forum external type (TNF 4) EXTERNAL_TYPE:
  header  MB=1 ME=1 CF=0 SR(=1 if payload < 256) IL=0 TNF=4  -> D4 (short) / C4
  type length, payload length (1 byte if SR, else 4), type, payload
"""

import struct

EXTERNAL_TYPE = b"enrolment.example.org:cred"  # "<our domain>:cred"; a deployment sets its domain
TLV_NDEF = 0x03
TLV_TERMINATOR = 0xFE
TLV_NULL = 0x00
TLV_LOCK, TLV_MEMORY = 0x01, 0x02


class NdefError(ValueError):
    pass


def record(payload, rtype=EXTERNAL_TYPE):
    n = len(payload)
    if n < 256:
        head = bytes((0xD4, len(rtype), n))
    else:
        head = bytes((0xC4, len(rtype))) + struct.pack(">I", n)
    return head + rtype + bytes(payload)


def tlv(message):
    n = len(message)
    if n < 0xFF:
        head = bytes((TLV_NDEF, n))
    elif n <= 0xFFFE:
        head = bytes((TLV_NDEF, 0xFF)) + struct.pack(">H", n)
    else:
        raise NdefError("NDEF message too long")
    return head + bytes(message) + bytes((TLV_TERMINATOR,))


def find_message(user):
    """The NDEF message bytes from card user memory (bytes from page 4 on)."""
    i = 0
    n = len(user)
    while i < n:
        t = user[i]
        if t == TLV_NULL:
            i += 1
            continue
        if t == TLV_TERMINATOR:
            break
        if i + 1 >= n:
            raise NdefError("truncated TLV")
        length = user[i + 1]
        hdr = 2
        if length == 0xFF:
            if i + 3 >= n:
                raise NdefError("truncated TLV length")
            length = (user[i + 2] << 8) | user[i + 3]
            hdr = 4
        start = i + hdr
        if start + length > n:
            raise NdefError("TLV longer than the card")
        if t == TLV_NDEF:
            return bytes(user[start : start + length])
        if t not in (TLV_LOCK, TLV_MEMORY) and t < 0xFD:
            raise NdefError("unknown TLV type")
        i = start + length
    raise NdefError("no NDEF message (blank card)")


def parse_record(message, rtype=EXTERNAL_TYPE):
    """The payload of the single external record of type rtype."""
    if len(message) < 3:
        raise NdefError("NDEF message too short")
    h = message[0]
    if (h & 0x07) != 0x04:
        raise NdefError("not an external-type record: not ours")
    if not (h & 0x80 and h & 0x40) or h & 0x20:
        raise NdefError("expected one unchunked record")
    tlen = message[1]
    if h & 0x10:
        plen = message[2]
        p = 3
    else:
        if len(message) < 6:
            raise NdefError("NDEF record too short")
        plen = struct.unpack(">I", message[2:6])[0]
        p = 6
    if h & 0x08:
        raise NdefError("ID field not expected")
    if p + tlen + plen != len(message):
        raise NdefError("NDEF record length mismatch")
    if bytes(message[p : p + tlen]) != rtype:
        raise NdefError("record type is not ours")
    return bytes(message[p + tlen :])
