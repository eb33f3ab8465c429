"""AES-256-CBC with PKCS#7 padding on MicroPython's cryptolib (C implementation)."""

import cryptolib

_MODE_CBC = 2
BLOCK = 16


class PaddingError(ValueError):
    pass


def padded_len(n):
    return (n // BLOCK + 1) * BLOCK


def encrypt(key, iv, plaintext):
    """PKCS#7-pad and encrypt; returns the ciphertext (always at least one block)."""
    n = len(plaintext)
    total = padded_len(n)
    buf = bytearray(total)
    buf[:n] = plaintext
    pad = total - n
    for i in range(n, total):
        buf[i] = pad
    cryptolib.aes(key, _MODE_CBC, iv).encrypt(buf, buf)
    return buf


def decrypt(key, iv, ciphertext):
    """Decrypt and strip PKCS#7 padding; PaddingError if it is malformed.

    Only call this after the MAC has been verified (encrypt-then-MAC), so a
    padding error never becomes an oracle.
    """
    if not ciphertext or len(ciphertext) % BLOCK:
        raise PaddingError("ciphertext length")
    buf = bytearray(ciphertext)
    cryptolib.aes(key, _MODE_CBC, iv).decrypt(buf, buf)
    pad = buf[-1]
    if pad < 1 or pad > BLOCK:
        raise PaddingError("padding")
    for i in range(len(buf) - pad, len(buf)):
        if buf[i] != pad:
            raise PaddingError("padding")
    return bytes(buf[: len(buf) - pad])
