"""PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2) for officer PIN verifiers."""

import struct

from firmware.crypto.hmac_sha256 import HMAC


def pbkdf2_sha256(password, salt, iterations, dklen=32):
    if iterations < 1 or dklen < 1:
        raise ValueError("iterations and dklen must be positive")
    out = bytearray()
    block = 1
    while len(out) < dklen:
        u = HMAC(password, salt + struct.pack(">I", block)).digest()
        acc = int.from_bytes(u, "big")  # XOR as one big integer: C speed, not 32 bytecode steps
        for _ in range(iterations - 1):
            u = HMAC(password, u).digest()
            acc ^= int.from_bytes(u, "big")
        out.extend(acc.to_bytes(32, "big"))
        block += 1
    return bytes(out[:dklen])
