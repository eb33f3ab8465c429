"""The trust list a payout device checks cards against (host_tools/registry/trust.py writes it):

  "ETL1" | u8 n | registry_id | issued u32 BE | expires u32 BE | count u16 BE
  | count x (kid 8 | Ed25519 public key 32), sorted by kid | Ed25519 signature (64) over the rest

<data>/trust.bin is written only after its signature checked out under the registry's trust
key (from payout.json) and its registry id is ours; it is checked again at every power-on (the
flash may have been written by anyone with a cable).  A list past its expiry is refused: a
revoked device's key leaves the list, and an old copy must not keep trusting it.  Lookups read
one 40-byte entry at a time from flash (a few hundred devices would cost kilobytes of RAM).
"""

import struct

from firmware import fsutil

FILE = "/trust.bin"
MAGIC = b"ETL1"
ENTRY = 40
MAX_BYTES = 12 * 1024  # 300 devices: one request's answer (one allocation under 16 KB)
REFRESH_BEFORE_S = 86400  # fetched again a day before it expires (a payout point may be offline a day)


class TrustError(ValueError):
    """Why a trust list is refused (shown to the officer, logged for the technician)."""


def parse(data, trust_pub, registry_id):
    """(issued, expires, count, offset of the first entry) of a list whose signature checks out."""
    from firmware.crypto import ed25519

    n = len(data)
    if n < 4 + 1 + 10 + 64 or n > MAX_BYTES or bytes(data[:4]) != MAGIC:
        raise TrustError("trust list: not one")
    rid_len = data[4]
    head = 5 + rid_len + 10
    if n < head + 64:
        raise TrustError("trust list: cut short")
    issued, expires, count = struct.unpack(">IIH", data[5 + rid_len : head])
    if head + count * ENTRY + 64 != n:
        raise TrustError("trust list: length wrong")
    mv = memoryview(data)
    if not ed25519.verify(trust_pub, mv[: n - 64], mv[n - 64 :]):
        raise TrustError("trust list: signature invalid")
    if bytes(data[5 : 5 + rid_len]) != registry_id.encode():
        raise TrustError("trust list: another registry's")
    return issued, expires, count, head


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
        data = fsutil.read_file(self.path)
        if data is None:
            self.problem = "no trust list"
            return False
        try:
            _, self.expires, self.count, self.first = parse(data, self.trust_pub, self.registry_id)
        except TrustError as e:
            self.expires = self.count = 0
            self.problem = str(e)
            return False
        self.problem = None
        return True

    def replace(self, data):
        """A list fetched from the registry: checked, then written over the old one; TrustError if refused."""
        issued, expires, _, _ = parse(data, self.trust_pub, self.registry_id)
        if expires <= self.now():
            raise TrustError("trust list: expired")
        if self.problem is None and expires < self.expires:
            raise TrustError("trust list: older than the one kept")  # a replayed old list
        fsutil.write_atomic(self.path, data)
        self.load()

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
