"""The cards still to write: the card step of each saved record whose card is not verified yet.

The sealed record cannot be read back on the device (it is sealed to the registry), but
a card needs the person's given name, the record id and the credential's issue time.  So
right after a save they are added here (CardsDue, the list's one owner); they stay until that
card is verified.  An
entry is "deferred" once the officer chose "card later" (the person comes back: HOME,
Cards due); one that is not deferred was interrupted by a power cut, and the next login
resumes it.  The file is encrypted and authenticated (AES-256-CBC, then HMAC-SHA256)
under keys derived from the device's card key, so no name is in clear on flash; written
atomically.
    "CD1" || iv[16] || ciphertext || hmac[32]
    plaintext: CBOR [[boot, seq, record_id, iat, given_name, deferred], ...] (at most MAX_DUE,
    oldest first; the first format held one entry without its flag, read as not deferred)
A file that does not authenticate or parse is reported and removed: the records themselves
are safe in the journal and stay counted in "cards due" (the registry can issue their cards).
"""


from firmware import cbor
from firmware.crypto import aes_cbc, rng
from firmware.crypto.hmac_sha256 import compare_digest, hmac_sha256
from firmware import fsutil

NAME = "/card_due.bin"
MAGIC = b"CD1"
_MAC = 32


class CardDueError(ValueError):
    pass


def _keys(card_key):
    return hmac_sha256(card_key, b"card-due enc"), hmac_sha256(card_key, b"card-due mac")


MAX_DUE = 24  # entries kept (about 80 bytes of RAM each while loaded); the oldest go first


def _write(data_dir, card_key, entries):
    if not entries:
        fsutil.remove(data_dir + NAME)
        return
    enc, mac = _keys(card_key)
    iv = rng.random_bytes(16)
    body = MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps([list(e) for e in entries]))
    fsutil.write_atomic(data_dir + NAME, body + hmac_sha256(mac, body))


def _entry(doc):
    if isinstance(doc, list) and len(doc) == 5:
        doc = doc + [False]
    if not isinstance(doc, list) or len(doc) != 6:
        raise ValueError("entry")
    boot, seq, record_id, iat, name, deferred = doc
    if not (isinstance(boot, int) and isinstance(seq, int) and isinstance(record_id, bytes)
            and len(record_id) == 16 and isinstance(iat, int) and isinstance(name, str)
            and isinstance(deferred, bool)):
        raise ValueError("fields")
    return boot, seq, record_id, iat, name, deferred


def load_all(data_dir, card_key):
    """[(boot, seq, record_id, iat, given_name, deferred)], oldest first; CardDueError if damaged."""
    raw = fsutil.read_file(data_dir + NAME)
    if raw is None:
        return []
    if len(raw) < len(MAGIC) + 16 + 16 + _MAC or raw[:3] != MAGIC:
        raise CardDueError("card_due.bin: not ours")
    enc, mac = _keys(card_key)
    body = raw[:-_MAC]
    if not compare_digest(hmac_sha256(mac, body), raw[-_MAC:]):
        raise CardDueError("card_due.bin: does not authenticate")
    try:
        doc = cbor.loads(aes_cbc.decrypt(enc, body[3:19], body[19:]))
        if isinstance(doc, list) and doc and isinstance(doc[0], int):
            doc = [doc]  # the first format: one entry
        if not isinstance(doc, list) or len(doc) > MAX_DUE:
            raise ValueError("not a list")
        return [_entry(e) for e in doc]
    except (ValueError, TypeError) as e:
        raise CardDueError("card_due.bin: " + str(e))


class CardsDue:
    """The one owner of the cards still to write: the list in RAM and card_due.bin on flash.

    The app adds an entry after a save, marks it deferred ("card later") or done (its card is
    verified); the flow reads it (listed(), interrupted()).  Flash that refuses a write costs
    only the file: the list in RAM stays right until the next power-on (say() tells the console)."""

    def __init__(self, data_dir, card_key, say=None):
        self.data = data_dir
        self.key = card_key
        self.say = say if say is not None else (lambda text: None)
        self.entries = []  # (boot, seq, record_id, iat, given_name, deferred), oldest first

    def load(self, still_due):
        """Read the file, keeping only the records still_due (store.cards_due(): their card not
        verified, the record still there).  The reason it was damaged and removed, or None."""
        problem = None
        try:
            entries = load_all(self.data, self.key)
        except CardDueError as e:
            problem = str(e)
            fsutil.remove(self.data + NAME)
            entries = []
        self.entries = entries
        kept = [e for e in entries if (e[0], e[1]) in still_due]
        if len(kept) != len(entries):
            self._set(kept)
        return problem

    def add(self, boot, seq, record_id, iat, given_name):
        """A record saved: its card is due (its card step starts now)."""
        kept = [e for e in self.entries if (e[0], e[1]) != (boot, seq)]
        kept.append((boot, seq, bytes(record_id), iat, given_name, False))
        self._set(kept[-MAX_DUE:])

    def defer(self, boot, seq):
        """The officer chose "card later" for (boot, seq)."""
        self._set([e[:5] + (True,) if (e[0], e[1]) == (boot, seq) else e for e in self.entries])

    def done(self, boot, seq):
        """That record's card is verified: no longer due."""
        if self.find(boot, seq) is not None:
            self._set([e for e in self.entries if (e[0], e[1]) != (boot, seq)])

    def find(self, boot, seq):
        """The entry of (boot, seq), or None."""
        for e in self.entries:
            if (e[0], e[1]) == (boot, seq):
                return e
        return None

    def listed(self):
        """(boot, seq, given name, when saved) of each card still to write, oldest first."""
        return [(e[0], e[1], e[4], e[3]) for e in self.entries]

    def interrupted(self):
        """(boot, seq, given name) of the card step a power cut interrupted (not deferred), or None."""
        found = None
        for e in self.entries:
            if not e[5]:
                found = (e[0], e[1], e[4])
        return found

    def _set(self, entries):
        self.entries = entries  # RAM first: the list is right even if flash refuses the file
        try:
            _write(self.data, self.key, entries)
        except OSError as e:  # the file is put right at the next change, or the next power-on
            self.say("card_due: " + str(e))
