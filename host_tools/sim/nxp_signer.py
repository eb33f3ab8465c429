"""The NTAG21x factory's originality signer, for emulated cards (runs under MicroPython too).

Real cards carry NXP's signature; the simulator cannot, so it makes its own secp128r1 key
(random; the simulator keeps it in its wallet folder, beside the card images it signed, so
cards from an earlier run stay genuine) and tells board_sim to trust it next to NXP's.
ECDSA without hashing, as NXP does: the message integer is the 7-byte UID.
"""

import os

from host_tools.sim import secp128r1 as o


class FactorySigner:
    def __init__(self, d=None):
        self.d = d if d is not None else int.from_bytes(os.urandom(16), "big") % (o.N - 1) + 1
        x, y = o.affine(o.mul(self.d, o.G))
        self.public_key = b"\x04" + x.to_bytes(16, "big") + y.to_bytes(16, "big")

    def sign(self, uid):
        e = int.from_bytes(bytes(uid), "big")
        while True:
            k = int.from_bytes(os.urandom(16), "big") % (o.N - 1) + 1
            r = o.affine(o.mul(k, o.G))[0] % o.N
            s = pow(k, o.N - 2, o.N) * (e + r * self.d) % o.N
            if r and s:
                return r.to_bytes(16, "big") + s.to_bytes(16, "big")
