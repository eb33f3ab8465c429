"""HMAC_DRBG with SHA-256 (NIST SP 800-90A Rev. 1, section 10.1.2), no prediction resistance.

State: Key and V, 32 bytes each, and the reseed counter.  Instantiate with
entropy || nonce || personalization; each generate() returns bytes and updates the state
(with its additional input), so earlier outputs cannot be worked back from the state
(backtracking resistance, 8.6.4).  Tested against the NIST CAVP HMAC_DRBG vectors.
"""

from firmware.crypto.hmac_sha256 import HMAC

OUT_LEN = 32
MAX_REQUEST = 65536  # bytes per generate(): 2**19 bits in 10.1 Table 2
RESEED_INTERVAL = 1 << 48  # requests between reseeds (10.1 Table 2); generate() refuses after


class DrbgError(Exception):
    pass


def _mac(key, *parts):
    h = HMAC(key)
    for p in parts:
        if p:
            h.update(p)
    return h.digest()


class HmacDrbg:
    def __init__(self, entropy, nonce=b"", personalization=b""):
        if len(entropy) < 32:  # security strength 256 bits (8.6.7: at least that much entropy)
            raise DrbgError("drbg: need 32 bytes of entropy")
        self.key = bytes(OUT_LEN)  # 10.1.2.3: Key = 0x00..., V = 0x01...
        self.v = b"\x01" * OUT_LEN
        self._update(bytes(entropy) + bytes(nonce) + bytes(personalization))
        self.counter = 1

    def _update(self, data):
        """10.1.2.2 HMAC_DRBG_Update."""
        self.key = _mac(self.key, self.v, b"\x00", data)
        self.v = _mac(self.key, self.v)
        if data:
            self.key = _mac(self.key, self.v, b"\x01", data)
            self.v = _mac(self.key, self.v)

    def reseed(self, entropy, additional=b""):
        """10.1.2.4: mix in fresh entropy."""
        if len(entropy) < 32:
            raise DrbgError("drbg: need 32 bytes of entropy")
        self._update(bytes(entropy) + bytes(additional))
        self.counter = 1

    def generate(self, n, additional=b""):
        """10.1.2.5: n random bytes."""
        if not 0 <= n <= MAX_REQUEST:
            raise DrbgError("drbg: request too large")
        if self.counter > RESEED_INTERVAL:
            raise DrbgError("drbg: reseed required")
        if additional:
            self._update(bytes(additional))
        out = bytearray(n)
        i = 0
        while i < n:
            self.v = _mac(self.key, self.v)
            k = min(OUT_LEN, n - i)
            out[i : i + k] = self.v[:k]
            i += k
        self._update(bytes(additional))
        self.counter += 1
        return bytes(out)
