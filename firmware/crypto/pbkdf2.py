"""PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2) for officer PIN verifiers: the image's native module
edsig (C over mbedtls's SHA-256, host_tools/runtime/usermod/edsig).  In Python, 4,096 iterations took
47 ms on the host and about 5 s on an ESP32; an officer waited for it at every login."""

import edsig


def pbkdf2_sha256(password, salt, iterations, dklen=32):
    if iterations < 1 or dklen < 1:
        raise ValueError("iterations and dklen must be positive")
    return edsig.pbkdf2_sha256(password, salt, iterations, dklen)
