"""NTAG213/215/216 emulator (NXP NTAG213/215/216 datasheet, rev 3.2), at the level of its NFC-A commands.

Memory: 4-byte pages.  Page 0: UID0-2 + BCC0 (0x88^UID0^UID1^UID2); page 1: UID3-6;
page 2: BCC1 (UID3^..^UID6), internal, static lock bytes; page 3: capability
container (OTP; E1 10 12/3E/6D 00 for 213/215/216); user memory from page 4;
then the dynamic lock bytes and the configuration pages CFG0 (MIRROR, RFUI,
MIRROR_PAGE, AUTH0), CFG1 (ACCESS ...), PWD, PACK.
Commands: GET_VERSION 60h, READ 30h (16 bytes, rolls over to page 0 at the end),
FAST_READ 3Ah, WRITE A2h, COMPATIBILITY_WRITE is not emulated, READ_CNT 39h,
PWD_AUTH 1Bh, READ_SIG 3Ch.  From page AUTH0 on, writes (and reads when
ACCESS.PROT=1) need a PWD_AUTH in this session.  AUTHLIM (ACCESS bits 2-0, 8.8.2
"Limiting negative verification attempts"): 000b disables the limit; otherwise each
wrong password is counted (in EEPROM: the count outlives the session), a right one
before the limit resets the count, and once the count reaches AUTHLIM itself (not
2^AUTHLIM, which is the NTAG I2C plus rule) every PWD_AUTH fails, right password or
not, with NAK 4h.
NFC counter (8.6 "NFC counter function", 10.6 READ_CNT): with ACCESS.NFC_CNT_EN (bit 4)
set, the 24-bit counter counts the first valid READ or FAST_READ of each session in the
field and stops at FFFFFFh; READ_CNT (argument 02h only) answers it LSB first, and
NAKs while NFC_CNT_EN is 0, or while NFC_CNT_PWD_PROT (bit 3) is set and the session
is not authenticated.
Answers: data bytes, ACK (0x0A, 4 bits) or NAK (0x0 invalid argument/address,
0x1 parity or CRC, 0x4 invalid authentication counter, 0x5 EEPROM write error).
A card image (memory dump) is what the wallet stores: image()/from_image().
Lock bits (OTP: static lock bytes in page 2, dynamic lock bytes 0-1 in page dyn,
16 pages a bit) and ACCESS.CFGLCK make writes to the pages they cover NAK; the
block-lock bits that freeze lock bits themselves are not emulated.
Fault modes: tear_after_writes(n) makes the card leave the field after n
more page writes (the (n+1)th write is lost: "removed during the write");
wear_out(page) makes every WRITE to that page fail with NAK 5h (EEPROM write
error, 10.5), the page left as it was.
"""

import os

ACK = 0x0A
NAK_ARG = 0x00
NAK_CRC = 0x01
NAK_AUTHLIM = 0x04
NAK_EEPROM = 0x05
ACCESS_NFC_CNT_EN = 0x10  # ACCESS byte (8.5.7, Table 12): PROT 80h, CFGLCK 40h, NFC_CNT_EN 10h,
ACCESS_NFC_CNT_PWD_PROT = 0x08  # NFC_CNT_PWD_PROT 08h, AUTHLIM 07h

_MODELS = {
    # name: (total pages, CC size byte, GET_VERSION storage size byte, dynamic lock page)
    "NTAG213": (45, 0x12, 0x0F, 0x28),
    "NTAG215": (135, 0x3E, 0x11, 0x82),
    "NTAG216": (231, 0x6D, 0x13, 0xE2),
}


class CardGone(Exception):
    """The card left the RF field: no answer at all."""


class NTAG21x:
    def __init__(self, model="NTAG215", uid=None, signature=None):
        pages, cc, size, dyn = _MODELS[model]
        self.model = model
        self.pages = pages
        self.dyn = dyn
        self.mem = bytearray(pages * 4)
        uid = uid or (b"\x04" + os.urandom(6))
        m = self.mem
        m[0:3] = uid[0:3]
        m[3] = 0x88 ^ uid[0] ^ uid[1] ^ uid[2]
        m[4:8] = uid[3:7]
        m[8] = uid[3] ^ uid[4] ^ uid[5] ^ uid[6]
        m[9] = 0x48
        m[12:16] = bytes((0xE1, 0x10, cc, 0x00))
        m[16:20] = b"\x03\x00\xfe\x00"  # empty NDEF TLV, as delivered
        cfg0 = (dyn + 1) * 4
        m[dyn * 4 : dyn * 4 + 4] = b"\x00\x00\x00\xbd"
        m[cfg0 : cfg0 + 4] = b"\x04\x00\x00\xff"  # AUTH0 = FF: no protection
        m[cfg0 + 4 : cfg0 + 8] = b"\x00\x00\x00\x00"  # ACCESS
        m[cfg0 + 8 : cfg0 + 12] = b"\xff\xff\xff\xff"  # PWD (reads as 00 00 00 00)
        m[cfg0 + 12 : cfg0 + 16] = b"\x00\x00\x00\x00"  # PACK
        self.version = bytes((0x00, 0x04, 0x04, 0x02, 0x01, 0x00, size, 0x03))
        self.signature = signature if signature is not None else bytes(32)
        self.counter = 0
        self.counted = False  # this session's first READ/FAST_READ has counted
        self.auth_fails = 0
        self.authenticated = False
        self.tear_after = None
        self.worn_pages = set()  # pages whose EEPROM write fails (NAK 5h)
        self.writes = 0
        self.gone = False

    # ---- wallet ----------------------------------------------------------
    def image(self):
        return bytes(self.mem)

    @classmethod
    def from_image(cls, data, signature=None):
        for name, spec in _MODELS.items():
            if spec[0] * 4 == len(data):
                card = cls(name, bytes(data[0:3]) + bytes(data[4:8]), signature)
                card.mem[:] = data
                return card
        raise ValueError("not an NTAG213/215/216 image")

    def uid(self):
        return bytes(self.mem[0:3]) + bytes(self.mem[4:8])

    def select(self):
        """A new session in the field: authentication is forgotten, the counter may count again."""
        self.authenticated = False
        self.counted = False

    def _count_read(self):
        """8.6: the first valid READ or FAST_READ of a session counts, if NFC_CNT_EN is set."""
        if self._access() & ACCESS_NFC_CNT_EN and not self.counted:
            self.counted = True
            self.counter = min(self.counter + 1, 0xFFFFFF)

    def _read_cnt(self, addr):
        access = self._access()
        if addr != 0x02 or not access & ACCESS_NFC_CNT_EN:
            return NAK_ARG
        if access & ACCESS_NFC_CNT_PWD_PROT and not self.authenticated:
            return NAK_ARG
        c = self.counter
        return bytes((c & 0xFF, (c >> 8) & 0xFF, c >> 16))

    def wear_out(self, page):
        self.worn_pages.add(page)

    def tear_after_writes(self, n):
        self.tear_after = self.writes + n

    # ---- config ----------------------------------------------------------
    def _cfg(self, i):
        return self.mem[(self.dyn + 1) * 4 + i]

    def _auth0(self):
        return self._cfg(3)

    def _access(self):
        return self._cfg(4)

    def _protected(self, page, write):
        if page < self._auth0() or self.authenticated:
            return False
        return write or bool(self._access() & 0x80)

    def _readable(self, page):
        """What a READ returns for a page: PWD and PACK read as zeros."""
        if page >= self.pages:
            return bytes(4)
        if page in (self.dyn + 3, self.dyn + 4):
            return bytes(4)
        return bytes(self.mem[page * 4 : page * 4 + 4])

    # ---- commands --------------------------------------------------------
    def command(self, data):
        """The card's answer (bytes), or an int ACK/NAK.  Raises CardGone if out of the field."""
        if self.gone:
            raise CardGone()
        if not data:
            return NAK_CRC
        cmd = data[0]
        if cmd == 0x60:
            return self.version
        if cmd == 0x30 and len(data) == 2:
            page = data[1]
            if page >= self.pages:
                return NAK_ARG
            out = b""
            for i in range(4):
                p = (page + i) % self.pages  # roll-over to page 0
                if self._protected(p, False):
                    return NAK_ARG
                out += self._readable(p)
            self._count_read()
            return out
        if cmd == 0x3A and len(data) == 3:
            start, end = data[1], data[2]
            if start > end or end >= self.pages:
                return NAK_ARG
            out = b""
            for p in range(start, end + 1):
                if self._protected(p, False):
                    return NAK_ARG
                out += self._readable(p)
            self._count_read()
            return out
        if cmd == 0xA2 and len(data) == 6:
            return self._write(data[1], data[2:6])
        if cmd == 0x39 and len(data) == 2:
            return self._read_cnt(data[1])
        if cmd == 0x1B and len(data) == 5:
            limit = self._access() & 0x07
            if limit and self.auth_fails >= limit:
                return NAK_AUTHLIM
            pwd_at = (self.dyn + 3) * 4
            if bytes(data[1:5]) == bytes(self.mem[pwd_at : pwd_at + 4]):
                self.authenticated = True
                self.auth_fails = 0
                return bytes(self.mem[pwd_at + 4 : pwd_at + 6])  # PACK
            self.auth_fails += 1
            return NAK_ARG
        if cmd == 0x3C and len(data) == 2 and data[1] == 0:
            return self.signature
        return NAK_ARG

    def _write(self, page, data):
        if page < 2 or page >= self.pages:
            return NAK_ARG
        if self._protected(page, True):
            return NAK_ARG
        if self.tear_after is not None and self.writes >= self.tear_after:
            self.gone = True  # card pulled away: the write never happens
            self.tear_after = None
            raise CardGone()
        if self._locked(page):
            return NAK_ARG
        if page in self.worn_pages:
            return NAK_EEPROM
        self.writes += 1
        at = page * 4
        if page == 2:  # static lock bytes: OR in, the rest read-only
            self.mem[at + 2] |= data[2]
            self.mem[at + 3] |= data[3]
        elif page == 3 or page == self.dyn:  # CC and dynamic lock bytes 0-2 are OTP: bits only set
            for i in range(4 if page == 3 else 3):
                self.mem[at + i] |= data[i]
        else:
            self.mem[at : at + 4] = data
        return ACK

    def _locked(self, page):
        """Write-locked by a lock bit (datasheet 8.5.1/8.5.2) or by CFGLCK (8.5.7)."""
        if 3 <= page <= 15:  # static lock bytes: bit 3 of byte 0 = CC, bits 4-15 = pages 4-15
            lock = self.mem[10] | (self.mem[11] << 8)
            return bool(lock & (1 << page))
        if 16 <= page < self.dyn:  # dynamic lock bytes 0-1: one bit per 16 pages from page 16
            lock = self.mem[self.dyn * 4] | (self.mem[self.dyn * 4 + 1] << 8)
            return bool(lock & (1 << ((page - 16) >> 4)))
        if page in (self.dyn + 1, self.dyn + 2):  # CFG0/CFG1 frozen by ACCESS.CFGLCK (PWD, PACK stay)
            return bool(self._access() & 0x40)
        return False
