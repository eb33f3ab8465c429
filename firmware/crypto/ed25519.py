"""Ed25519 signatures (RFC 8032 section 5.1) over the image's native module edsig.

edsig is C compiled into the firmware (host_tools/runtime/usermod/edsig: Monocypher's curve
arithmetic, mbedtls's SHA-512), in the ESP32 image and in the simulator's runtime from the same
source.  There is no pure-Python fallback: a build without it is refused at build time, and this
import fails at boot rather than a card step being 50 times slower.  The device signs its card
credentials with its own key; verify() checks a card read back, and a payout point's trust list.
"""

import edsig

sha512 = edsig.sha512


class BadSignature(ValueError):
    pass


def public_key(seed):
    return edsig.public_key(seed)


def sign(seed, msg, pub=None):
    """RFC 8032 5.1.6.  The public key is derived from the seed inside edsig, never taken on trust:
    a wrong one would reuse the nonce r with another k and give the key away.  `pub`, if given,
    must be that key (ValueError otherwise, from edsig, which derives it once)."""
    return edsig.sign(seed, msg, pub)


def verify(pub, msg, sig, msg_len=None):
    """True if sig is pub's signature of msg (RFC 8032 5.1.7, cofactorless: OpenSSL's answer).
    With msg_len, msg is a file open at the message's first byte: its msg_len bytes are hashed 256
    at a time (a long message, a trust list, never whole in RAM)."""
    if len(sig) != 64 or len(pub) != 32:
        return False
    h = edsig.sha512(memoryview(sig)[:32])
    h.update(pub)
    if msg_len is None:
        h.update(msg)
    else:
        chunk = bytearray(256)
        left = msg_len
        while left > 0:
            got = msg.readinto(chunk) if left >= 256 else msg.readinto(memoryview(chunk)[:left])
            if not got:
                return False  # shorter than it said
            h.update(memoryview(chunk)[:got])
            left -= got
    return edsig.check(pub, sig, h.digest())
