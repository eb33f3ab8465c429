"""NXP originality signature of an NTAG21x: ECDSA on secp128r1 over the 7-byte UID.

READ_SIG (3Ch) returns 32 bytes, r || s (16 bytes each, big-endian).  NXP signs the UID
itself, without a hash (AN11350); a 56-bit UID is shorter than the 128-bit group order, so
the message integer is the UID read big-endian.  A genuine NXP chip verifies under NXP's
published NTAG21x key; a clone (a UID-changeable "magic" card) cannot carry a valid
signature for the UID it claims.  Verify only (no secret on the device), in C: the image's
edsig module (host_tools/runtime/usermod/edsig), 16x faster than the Python integers it replaced,
whose group law now serves the simulator's factory (host_tools/sim/secp128r1.py).
"""

# SEC 2 secp128r1
P = 0xFFFFFFFDFFFFFFFFFFFFFFFFFFFFFFFF
A = 0xFFFFFFFDFFFFFFFFFFFFFFFFFFFFFFFC
B = 0xE87579C11079F43DD824993C2CEE5ED3
N = 0xFFFFFFFE0000000075A30D1B9038A115
G = (0x161FF7528B899B2D0C28607CA52C5B86, 0xCF5AC8395BAFEB13C02DA292DDED7A83)

# NXP's public key for NTAG21x (and MIFARE Ultralight) originality signatures
# (04494E1A386D3D3CFE3DC10E5DE68A499B1C202DB5B132393E89ED19FE5BE8BC61, as a literal kept in flash)
NXP_NTAG21X = (b"\x04\x49\x4e\x1a\x38\x6d\x3d\x3c\xfe\x3d\xc1\x0e\x5d\xe6\x8a\x49\x9b"
               b"\x1c\x20\x2d\xb5\xb1\x32\x39\x3e\x89\xed\x19\xfe\x5b\xe8\xbc\x61")


UID_BYTES = 7  # an NTAG21x's UID (NTAG213/215/216 datasheet, 8.5: 7-byte UID)


def verify(uid, signature, key=NXP_NTAG21X):
    """True if `signature` (r || s, 32 bytes) is the originality signature of the 7-byte `uid`
    under `key` (04 || X || Y); False for anything malformed (a card is attacker-controlled input)."""
    import edsig  # here, not above: the desk's tools read this module's constants on CPython

    if len(signature) != 32 or len(uid) != UID_BYTES:
        return False
    return edsig.secp128r1_verify(bytes(uid), bytes(signature), bytes(key))
