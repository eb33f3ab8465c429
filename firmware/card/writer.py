"""Write a credential to an NTAG215/216 and prove it by reading it back.

write(): identify the card (GET_VERSION: NTAG215/216 only) -> read its
configuration (refused: protected by someone else's password, configuration
locked) -> authenticate if it is protected with our per-card password -> look
at what it holds (refused: a capability container that is not NDEF's, a user
page made read-only by a lock bit; our credential already: a supervisor must
confirm a re-issue) -> write the NDEF TLV from page 4 (and the CC on a chip
delivered without one) -> set PWD, PACK, then AUTH0 = 4 (writes need the
password from then on; reads stay free for payout points) -> read every
written byte back and compare.  That is all the card must stay on the reader
for; check() then verifies the signature and the UID binding over what was
read back, with the card already handed back (the citizen holds the card for
the RF work and one signature, not for a verify as well).
Every refusal comes before the first write, so a refused card is left as it was.
Tearing (card pulled away mid-write) raises CardLost: the record is not
marked verified, the officer taps again and write() starts over; it is
idempotent, and after AUTH0 was set it authenticates with the same
password, derived from the device card key and the UID:
    PWD = HMAC-SHA256(card_key, "pwd" || UID)[:4], PACK = next 2 bytes.
"""

from firmware.card import credential, ndef, ntag
from firmware.card.ntag import FIRST_USER_PAGE
from firmware.crypto.hmac_sha256 import hmac_sha256
from firmware.formats import credential_id
from firmware.hw.nfc import CardNak, NfcError

_BLANK_CC = b"\x00\x00\x00\x00"  # (a literal: kept in flash)


class CardRefused(NfcError):
    """The card cannot take a credential; the message is for the officer's screen
    (two OLED lines of 16 once wrapped at spaces: ui.screen.wrap)."""


class NeedsSupervisor(NfcError):
    """The card already holds one of our credentials: re-issue needs a supervisor."""

    def __init__(self, old_credential_id):
        super().__init__("card already issued")
        self.old_credential_id = old_credential_id


def finish(steps):
    """Run a generator of steps to its end at once; its value."""
    try:
        while True:
            next(steps)
    except StopIteration as e:
        return e.value


def card_password(card_key, uid):
    h = hmac_sha256(card_key, b"pwd" + bytes(uid))
    return h[0:4], h[4:6]


class CardWriter:
    def __init__(self, reader, seed, pub, card_key, device_id, registry_id):
        self.reader = reader
        self.seed = seed
        self.pub = pub
        self.card_key = card_key
        self.device_id = device_id
        self.registry_id = registry_id

    def identify(self, sel_res):
        if sel_res & 0x60:
            raise CardRefused("Phone/bank card: use an NTAG215")
        if sel_res != 0x00:
            raise CardRefused("MIFARE Classic: use an NTAG215")
        try:
            version = self.reader.get_version()
        except CardNak:
            raise CardRefused("Unknown card: use an NTAG215")
        if len(version) != 8 or version[1] != 0x04 or version[2] != 0x04:
            raise CardRefused("Unknown card: use an NTAG215")
        model = ntag.model(version[6])
        if model is None:
            raise CardRefused("Card too small: use an NTAG215")
        return model  # (name, pages, dynamic lock page, CC)

    def existing_credential(self, user, uid):
        """The credential id already on the card if it is one of ours (any signature state)."""
        try:
            payload = ndef.parse_record(ndef.find_message(user))
            claims = credential.verify(payload, {credential.key_id(self.pub): self.pub}, uid)
        except (ndef.NdefError, credential.CredentialError):
            return None
        return claims[credential.CLAIM_SUB]

    def read_tlv(self, dyn):
        """(static lock bytes, CC, the TLV area from page 4 as long as its first TLV says).

        One READ gives pages 2-5 (lock bytes, CC, the first 8 TLV bytes); the rest of the
        TLV, bounded by the card's user memory, comes in one FAST_READ.
        """
        head = self.reader.read4(2)
        lock, cc, user = head[2:4], head[4:8], head[8:16]
        if user[0] != ndef.TLV_NDEF:
            return lock, cc, user
        n = user[1] + 3 if user[1] != 0xFF else ((user[2] << 8) | user[3]) + 5
        last = min(dyn - 1, FIRST_USER_PAGE + (n + 3) // 4)
        if last > FIRST_USER_PAGE + 1:
            user = user + self.reader.read_pages(FIRST_USER_PAGE + 2, last)
        return lock, cc, user

    def config(self, dyn):
        """The dynamic lock page, CFG0 and CFG1 (12 bytes).  CardRefused if someone else's
        password also protects reading them (ACCESS.PROT: our cards stay readable)."""
        try:
            return self.reader.read_pages(dyn, dyn + 2)
        except CardNak:
            raise CardRefused("Card locked by another issuer")

    def write(self, uid, sel_res, record_id, given_name, iat, exp, reissue=False):
        """Write and read back; returns (credential id, old credential id or None, the COSE
        payload read back, for check())."""
        return finish(self.write_steps(uid, sel_res, record_id, given_name, iat, exp, reissue))

    def write_steps(self, uid, sel_res, record_id, given_name, iat, exp, reissue=False):
        """write() as a generator that yields between the card's commands and the signature, so
        that a task can let the event loop run between them (tasks/card.py); its value is
        write()'s."""
        name, pages, dyn, model_cc = self.identify(sel_res)
        yield
        r = self.reader
        pwd, pack = card_password(self.card_key, uid)
        cfg = self.config(dyn)
        dyn_lock, cfg0 = cfg[0:4], cfg[4:8]
        if cfg[8] & ntag.ACCESS_CFGLCK:  # AUTH0 and ACCESS can never be set: no protection possible
            raise CardRefused("Settings locked: use another card")
        if cfg0[3] < pages:  # protected: it must be ours
            try:
                got = r.pwd_auth(pwd)
            except CardNak:
                raise CardRefused("Card locked by another issuer")
            if got != pack:
                raise CardRefused("Card answered a wrong PACK")
        yield
        lock, cc, user = self.read_tlv(dyn)
        if cc != model_cc and (cc != _BLANK_CC or ntag.cc_locked(lock)):
            raise CardRefused("Wrong format: use another card")
        if ntag.first_locked_page(lock, dyn_lock, FIRST_USER_PAGE, dyn - 1) is not None:
            raise CardRefused("Card read-only: use another card")
        cred_id = credential_id(record_id)
        yield
        old = self.existing_credential(user, uid)
        if old == cred_id:
            old = None  # this record's own credential (a tap again after tearing, a resumed card step)
        if old is not None and not (reissue is True or reissue == old):
            raise NeedsSupervisor(old)  # reissue: True, or the credential id a supervisor confirmed replacing
        yield
        cose = credential.issue(self.seed, self.pub, self.registry_id, cred_id, given_name, self.device_id,
                                uid, iat, exp)
        yield
        data = ndef.tlv(ndef.record(cose))
        data = data + bytes((-len(data)) % 4)
        last_user = dyn - 1
        if FIRST_USER_PAGE + len(data) // 4 - 1 > last_user:
            raise CardRefused("Credential does not fit")
        try:
            if cc == _BLANK_CC:  # a chip delivered without a CC: OTP bits, set once
                r.write_page(3, model_cc)
            for i in range(len(data) // 4):
                r.write_page(FIRST_USER_PAGE + i, data[4 * i : 4 * i + 4])
                yield
            r.write_page(dyn + 3, pwd)
            r.write_page(dyn + 4, pack + b"\x00\x00")
            yield
            r.write_page(dyn + 2, bytes((0x07, 0x00, 0x00, 0x00)))  # ACCESS: PROT=0 (reads free), AUTHLIM=7
            r.write_page(dyn + 1, bytes(cfg0[0:3]) + bytes((FIRST_USER_PAGE,)))  # AUTH0 last
        except CardNak:
            # the checks above passed, yet a page refused (a worn EEPROM, a lock they could not
            # see): tapping again would fail the same way
            raise CardRefused("Write refused: use another card")
        yield
        back = r.read_pages(FIRST_USER_PAGE, FIRST_USER_PAGE + len(data) // 4 - 1)
        if back != data:
            raise NfcError("read-back differs from what was written")
        return cred_id, old, ndef.parse_record(ndef.find_message(back))

    def check(self, payload, uid):
        """Our own signature over the credential the card holds, bound to its UID (a signing fault
        or a bug must not leave with the citizen): CredentialError if not."""
        credential.verify(payload, {credential.key_id(self.pub): self.pub}, uid)
