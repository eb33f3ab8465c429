"""NTAG215/216 memory map: what the writer and verify mode read before they trust a card.

NXP NTAG213/215/216 datasheet rev 3.2, section 8.5:
  page 2   UID3^..^UID6 (BCC1), internal, static lock bytes 0 and 1
  page 3   capability container (OTP): E1 10 3E 00 on NTAG215, E1 10 6D 00 on NTAG216
  page 4.. user memory up to the page before the dynamic lock bytes
  dyn      dynamic lock bytes 0-2, RFUI (0x82 on NTAG215, 0xE2 on NTAG216)
  dyn+1    CFG0: MIRROR, RFUI, MIRROR_PAGE, AUTH0
  dyn+2    CFG1: ACCESS (PROT bit 7, CFGLCK bit 6, AUTHLIM bits 2-0), RFUI x3
  dyn+3    PWD, dyn+4 PACK + RFUI (both read as zeros)
Static lock bits: byte 0 bit 3 locks the CC, bits 4-7 pages 4-7; byte 1 bits 0-7 pages 8-15
(bits 0-2 of byte 0 are block-lock bits: they freeze lock bits, not pages).
Dynamic lock bits (NTAG215/216 granularity: 16 pages): bit i of (byte 0 | byte 1 << 8)
makes pages 16 + 16 i .. 31 + 16 i read-only; byte 2 holds block-lock bits.
Lock bits are OTP: a locked page never becomes writable again.
"""

from micropython import const

# (GET_VERSION storage-size byte, name, total pages, dynamic lock page, capability container):
# a literal tuple, kept in flash (model() looks one up)
MODELS = (
    (0x11, "NTAG215", 135, 0x82, b"\xe1\x10\x3e\x00"),
    (0x13, "NTAG216", 231, 0xE2, b"\xe1\x10\x6d\x00"),
)


def model(size_byte):
    """(name, total pages, dynamic lock page, capability container) of an NTAG21x by its
    GET_VERSION storage-size byte, or None."""
    for m in MODELS:
        if m[0] == size_byte:
            return m[1:]
    return None
FIRST_USER_PAGE = const(4)
ACCESS_PROT = const(0x80)
ACCESS_CFGLCK = const(0x40)
_LOCK_CC_BIT = const(3)


def cc_locked(static_lock):
    """True if the static lock bits make the capability container (page 3) read-only."""
    return bool(static_lock[0] >> _LOCK_CC_BIT & 1)


def first_locked_page(static_lock, dyn_lock, first, last):
    """The first page of first..last that a lock bit made read-only, or None.

    static_lock: the two static lock bytes (page 2, bytes 2-3); dyn_lock: dynamic lock
    bytes 0 and 1 (page dyn, bytes 0-1).
    """
    s = static_lock[0] | (static_lock[1] << 8)
    d = dyn_lock[0] | (dyn_lock[1] << 8)
    for page in range(first, last + 1):
        if page < 16:
            if s >> page & 1:
                return page
        elif d >> ((page - 16) >> 4) & 1:
            return page
    return None
