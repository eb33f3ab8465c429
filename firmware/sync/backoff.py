"""Retry delays: exponential backoff with full jitter (base 2 s, cap 30 min).

delay = uniform(0, min(cap, base * 2**failures)); a Retry-After from the
registry is a floor.  Full jitter spreads many devices that came back into
reach at the same time (a market day) instead of having them retry together.
"""

from firmware.crypto import rng

BASE_MS = 2000
CAP_MS = 30 * 60 * 1000


def _uniform(limit):
    return int.from_bytes(rng.random_bytes(4), "big") * limit // 0x100000000


class Backoff:
    def __init__(self, base_ms=BASE_MS, cap_ms=CAP_MS):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.failures = 0

    def ceiling_ms(self):
        c = self.base_ms
        for _ in range(self.failures):
            c *= 2
            if c >= self.cap_ms:
                return self.cap_ms
        return c

    def failed(self, retry_after_s=None):
        """Count a failure; returns the delay before the next try, in ms."""
        self.failures += 1
        delay = _uniform(self.ceiling_ms())
        if retry_after_s is not None and retry_after_s > 0:
            delay = max(delay, min(retry_after_s * 1000, self.cap_ms))
        return delay

    def succeeded(self):
        self.failures = 0
