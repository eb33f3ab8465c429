"""SHA-512 (FIPS 180-4) in pure Python: MicroPython's hashlib has no sha512, Ed25519 needs it.

Slow (64-bit words are big integers on MicroPython) but only a few blocks
are hashed per signature.  Interface like hashlib: sha512(data).digest().
"""

import struct

_M = 0xFFFFFFFFFFFFFFFF

_K = (
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC, 0x3956C25BF348B538,
    0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118, 0xD807AA98A3030242, 0x12835B0145706FBE,
    0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2, 0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235,
    0xC19BF174CF692694, 0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5, 0x983E5152EE66DFAB,
    0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4, 0xC6E00BF33DA88FC2, 0xD5A79147930AA725,
    0x06CA6351E003826F, 0x142929670A0E6E70, 0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED,
    0x53380D139D95B3DF, 0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30, 0xD192E819D6EF5218,
    0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8, 0x19A4C116B8D2D0C8, 0x1E376C085141AB53,
    0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8, 0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373,
    0x682E6FF3D6B2B8A3, 0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B, 0xCA273ECEEA26619C,
    0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178, 0x06F067AA72176FBA, 0x0A637DC5A2C898A6,
    0x113F9804BEF90DAE, 0x1B710B35131C471B, 0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC,
    0x431D67C49C100D4C, 0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
)

_H0 = (0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
       0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179)


# The message schedule as a window of its last 16 words (FIPS 180-4 6.4.2: W[t] needs only W[t-2],
# W[t-7], W[t-15], W[t-16]), allocated once at import and shared by every hasher (a block runs to
# its end without yielding).  Every 64-bit word is a big integer here (about 32 bytes of heap):
# all 80 at once were 2.5 KB live in the middle of a card check, the card step's heap peak.
_W = [0] * 16


class sha512:  # noqa: N801 - hashlib's name
    def __init__(self, data=b""):
        self._h = list(_H0)
        self._buf = b""
        self._len = 0
        if data:
            self.update(data)

    def update(self, data):
        n = len(data)
        self._len += n
        i = 0
        if self._buf:
            i = min(128 - len(self._buf), n)
            self._buf += bytes(data[:i])
            if len(self._buf) < 128:
                return
            self._block(self._buf, 0)
            self._buf = b""
        while i + 128 <= n:  # whole blocks straight from the caller's bytes, no copy
            self._block(data, i)
            i += 128
        if i < n:
            self._buf = bytes(data[i:])

    def _block(self, data, off):
        w = _W
        t = 0
        for v in struct.unpack_from(">16Q", data, off):
            w[t] = v
            t += 1
        # A 64-bit rotation is one shift of the word doubled (x | x << 64) and a mask; the masks of
        # a sigma's three rotations are merged into one.  Ch and Maj in their 3- and 4-operation
        # forms (no ~e: a negative big integer is slower to AND).  About 1.5x faster than
        # rotating each time on MicroPython, where every 64-bit word is a big integer.
        m = _M
        a, b, c, d, e, f, g, h = self._h
        k = _K
        for t in range(80):
            j = t & 15
            if t >= 16:  # W[t] replaces W[t-16] in the window
                x, y = w[(t - 15) & 15], w[(t - 2) & 15]
                xx, yy = x | (x << 64), y | (y << 64)
                s0 = (((xx >> 1) ^ (xx >> 8)) & m) ^ (x >> 7)
                s1 = (((yy >> 19) ^ (yy >> 61)) & m) ^ (y >> 6)
                w[j] = (w[j] + s0 + w[(t - 7) & 15] + s1) & m
            ee, aa = e | (e << 64), a | (a << 64)
            t1 = h + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & m) + (g ^ (e & (f ^ g))) + k[t] + w[j]
            t2 = (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & m) + ((a & b) | (c & (a | b)))
            h, g, f, e, d, c, b, a = g, f, e, (d + t1) & m, c, b, a, (t1 + t2) & m
        hs = self._h
        for i, v in enumerate((a, b, c, d, e, f, g, h)):
            hs[i] = (hs[i] + v) & _M
        for t in range(16):  # keep no big integer alive between blocks: each pins a hole in the heap
            w[t] = 0

    def digest(self):
        saved = (list(self._h), self._buf, self._len)
        n = self._len
        pad = b"\x80" + bytes((111 - n) % 128) + struct.pack(">QQ", 0, n * 8)
        self.update(pad)
        out = struct.pack(">8Q", *self._h)
        self._h, self._buf, self._len = saved
        return out
