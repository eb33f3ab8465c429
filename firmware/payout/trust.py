"""The trust list a payout device checks cards against (host_tools/registry/trust.py writes it):

  "ETL1" | u8 n | registry_id | issued u32 BE | expires u32 BE | count u16 BE
  | count x (kid 8 | Ed25519 public key 32), sorted by kid | Ed25519 signature (64) over the rest

A fresh list is streamed from the registry into <data>/trust.tmp and renamed over
<data>/trust.bin only once its signature checked out under the registry's trust key (from
payout.json) and its registry id is ours; it is checked again at every power-on (the flash may
have been written by anyone with a cable).  A list past its expiry is refused: a
revoked device's key leaves the list, and an old copy must not keep trusting it.  Lookups read
one 40-byte entry at a time from flash (a few hundred devices would cost kilobytes of RAM).
"""

import struct

from firmware import fsutil

FILE = "/trust.bin"
MAGIC = b"ETL1"
ENTRY = 40
MAX_BYTES = 32 * 1024  # 800 devices; read, checked and searched from flash, never whole in RAM
REFRESH_BEFORE_S = 86400  # fetched again a day before it expires (a payout point may be offline a day)


class TrustError(ValueError):
    """Why a trust list is refused (shown to the officer, logged for the technician)."""


def parse(path, trust_pub, registry_id):
    """(issued, expires, count, offset of the first entry) of the list in the file at path,
    whose signature checks out under trust_pub and whose registry is registry_id."""
    from firmware.crypto import ed25519

    n = fsutil.size(path)
    if n < 0:
        raise TrustError("no trust list")
    if n < 4 + 1 + 10 + 64 or n > MAX_BYTES:
        raise TrustError("trust list: not one")
    with open(path, "rb") as f:
        head = f.read(5)
        if head[:4] != MAGIC:
            raise TrustError("trust list: not one")
        rid = f.read(head[4])
        fields = f.read(10)
        if len(fields) != 10:
            raise TrustError("trust list: cut short")
        issued, expires, count = struct.unpack(">IIH", fields)
        first = 5 + head[4] + 10
        if first + count * ENTRY + 64 != n:
            raise TrustError("trust list: length wrong")
        f.seek(n - 64)
        sig = f.read(64)
        f.seek(0)
        if not ed25519.verify(trust_pub, f, sig, n - 64):
            raise TrustError("trust list: signature invalid")
    if rid != registry_id.encode():
        raise TrustError("trust list: another registry's")
    return issued, expires, count, first


class TrustList:
    """The card-signing keys a payout device trusts: trusted.get(kid) -> public key or None
    (firmware/card/credential.py's `trusted`)."""

    def __init__(self, data_dir, trust_pub, registry_id, now):
        self.path = data_dir + FILE
        self.trust_pub = trust_pub
        self.registry_id = registry_id
        self.now = now  # the device clock's seconds
        self.expires = 0
        self.count = 0
        self.first = 0
        self.problem = "no trust list"

    def load(self):
        """Check the list on flash; False (and self.problem says why) if it cannot be used."""
        try:
            _, self.expires, self.count, self.first = parse(self.path, self.trust_pub, self.registry_id)
        except TrustError as e:
            self.expires = self.count = 0
            self.problem = str(e)
            return False
        except OSError as e:
            self.expires = self.count = 0
            self.problem = "trust list unreadable: " + str(e)
            return False
        self.problem = None
        return True

    def replace(self, fetched):
        """A list fetched from the registry into the file `fetched`: checked, then renamed over
        the old one; TrustError if refused (the old list stays)."""
        import os

        try:
            _, expires, count, first = parse(fetched, self.trust_pub, self.registry_id)
            if expires <= self.now():
                raise TrustError("trust list: expired")
            if self.problem is None and expires < self.expires:
                raise TrustError("trust list: older than the one kept")  # a replayed old list
        except TrustError:
            fsutil.remove(fetched)
            raise
        os.rename(fetched, self.path)
        self.expires, self.count, self.first, self.problem = expires, count, first, None  # checked above

    def usable(self):
        """None, or why cards cannot be checked now (no list, a damaged one, an expired one)."""
        if self.problem is not None:
            return self.problem
        if self.now() >= self.expires:
            return "trust list expired: connect"
        return None

    def due(self):
        """Time to fetch a fresh list (expired, missing, or expiring within a day)."""
        return self.problem is not None or self.now() + REFRESH_BEFORE_S >= self.expires

    def get(self, kid):
        if self.usable() is not None or len(kid) != 8:
            return None
        entry = bytearray(ENTRY)
        with open(self.path, "rb") as f:
            f.seek(self.first)
            for _ in range(self.count):
                if f.readinto(entry) != ENTRY:
                    return None
                if entry[:8] == kid:
                    return bytes(entry[8:])
        return None
