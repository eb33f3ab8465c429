"""The card reader's task: the PN532 is powered for one card operation (the card step's write
session, verify mode's check session, a payout's pay session) and powered down however that
ends (try/finally: finished, cancelled, an error).  It reports facts through events(name,
*args), which the app delivers (to its effect runner or the flow: the flow decides what the
screen says); it asks the flow what it wants through session() (Flow.card_session: "write",
"hold", "check", "pay" or None).

The write session: wait for a tap; write the credential and read it back while the citizen
holds the card (card/writer.py); then, the card handed back, check our signature over what was
read back and NXP's originality signature; card_verified(boot, seq, uid, credential id, old id)
tells the app (the store, the cards due) that the record has its card.  The check session says
each tapped card's holder, or exactly why it fails.  A payout device's pay session reads cards
until one passes every offline check (against its trust list) and keeps its credential and UID
for the claim (paid_card).  No step holds the event loop for long: the reader's waits are
awaits, and the write yields between the card's commands.
"""

import asyncio

_POLL_S = 0.2  # between two looks when the card there is not to be read again, or the reader waits
# The reader listens for a card _LISTEN_MS at a time (InListPassiveTarget, its IRQ looked at every
# 5 ms between awaits) with only _GAP_S between two listens: a card is found within ~15 ms of
# entering the field.  Before, 100 ms of listening alternated with 200 ms of not: 0-200 ms more.
_LISTEN_MS = 300
_GAP_S = 0.01


class CardTask:
    def __init__(self, board, secrets, clock_s, events, session, trust=None):
        self.board = board
        self.secrets = secrets
        self.clock_s = clock_s  # the device clock's seconds (a card's expiry is checked against it)
        self.events = events
        self.session = session
        self.trust = trust  # a payout device's trust list (payout/trust.py), or None
        self.reader = None
        self.task = None
        self.reissue = None  # (credential id, supervisor id) a supervisor confirmed replacing
        self._pub = None
        self.paid_card = None  # (COSE bytes, UID, credential id) of the card a payout session read
        # a write session is on: a key the officer pressed meanwhile may have left the card step
        # (the event loop runs between the card's commands), yet the sync must still wait
        self.writing = False

    # ---- the reader ------------------------------------------------------
    def open_reader(self):
        """The PN532, powered up for one card operation (its code is loaded at the first)."""
        if self.reader is None:
            from firmware.hw import nfc

            pins = self.board.nfc_pins()
            self.board.nfc_power(True)
            try:
                self.reader = nfc.open_reader(self.board.open_i2c(), pins[0] if pins else None)
            except nfc.NfcError as e:
                self.board.nfc_power(False)
                self.board.console("nfc: " + str(e))
                return None
        return self.reader

    def close_reader(self):
        """Field off and the PN532 in hard power-down (RSTPDN low) until the next card operation."""
        if self.reader is not None:
            self.reader.release()
            self.reader = None
        self.board.nfc_power(False)

    def deinit(self):
        """The task stopped and the reader off (power-off, a task that died)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.close_reader()

    # ---- sessions --------------------------------------------------------
    def start_write(self, boot, seq, given_name, record_id, iat):
        """The write session for record (boot, seq); False if the reader cannot be had."""
        try:
            reader = self.open_reader()
        except MemoryError:
            # the record is saved; the card can be written later (B) - never end the app here
            import gc

            gc.collect()
            self.board.console("nfc: out of memory")
            reader = None
        if reader is None:
            return False
        self.task = asyncio.create_task(self.write_loop(reader, boot, seq, given_name, record_id, iat))
        return True

    def start_check(self):
        reader = self.open_reader()
        if reader is None:
            return False
        self.task = asyncio.create_task(self._closing(self._check_session(reader)))
        return True

    async def write_loop(self, reader, boot, seq, given_name, record_id, iat):
        """Wait for a tap, write and check, note the record; keep asking until done or 'later'."""
        self.writing = True
        try:
            await self._write_session(reader, boot, seq, given_name, record_id, iat)
        finally:
            self.writing = False
            self.close_reader()

    async def _closing(self, session):
        """A session run to its end, the reader powered down however it ends."""
        try:
            await session
        finally:
            self.close_reader()

    async def _write_session(self, reader, boot, seq, given_name, record_id, iat):
        from firmware.card.credential import CredentialError
        from firmware.card.writer import CardRefused, CardWriter, NeedsSupervisor
        from firmware.hw.nfc import CardNak, NfcError

        s = self.secrets
        self.trusted_keys()  # computes self._pub once
        writer = CardWriter(reader, s.ed25519_seed, self._pub, s.card_key, s.device_id, s.registry_id)
        self.reissue = None
        not_genuine = None  # the UID of a copy refused in this card step
        while self.session() in ("write", "hold"):
            if self.session() != "write":  # a supervisor is typing: the reader waits
                await asyncio.sleep(_POLL_S)
                continue
            try:
                found = await reader.wait_card_async(_LISTEN_MS)
            except NfcError as e:
                found = None
                self.board.console("nfc: " + str(e))
            if found is None:
                await asyncio.sleep(_GAP_S)
                continue
            uid, sel = found
            if uid == not_genuine:  # still on the reader: it is not written again
                await asyncio.sleep(_POLL_S)
                continue
            try:
                steps = writer.write_steps(uid, sel, record_id, given_name, iat, iat + 5 * 365 * 86400,
                                           self.reissue[0] if self.reissue else False)
                cred_id, old, payload = await _stepped(steps)
                steps = None  # a finished generator keeps its locals (the card's bytes): the check needs the room
                try:  # the NXP originality signature: read now, with the card here; checked below
                    chip_sig = reader.read_sig()
                except CardNak:
                    chip_sig = None  # no READ_SIG: not an NXP NTAG21x
            except NeedsSupervisor as e:
                self.events("needs_supervisor", e.old_credential_id)
            except CardRefused as e:
                self.events("card_done", False, str(e))
            except NfcError:
                self.events("card_done", False, "Moved: tap again")
            except MemoryError:
                # never end the card step (and leave the officer stuck on it): free memory, ask again
                import gc

                gc.collect()
                self.board.console("nfc: out of memory")
                self.events("card_done", False, "Retry: tap again")
            else:
                # Everything from here needs no card: the citizen takes it back now
                self.events("card_written")
                await asyncio.sleep(0)
                problem = None
                try:
                    writer.check(payload, uid)
                except CredentialError:
                    problem = "Card check failed: tap again"
                except MemoryError:  # the card is written; checked at the next tap
                    import gc

                    gc.collect()
                    self.board.console("nfc: out of memory")
                    problem = "Card check failed: tap again"
                await asyncio.sleep(0)
                if problem is None and not self.genuine_sig(uid, chip_sig):
                    # our credential is on it, but bound to a copy's UID, and this record is not
                    # marked: the registry learns the genuine card's UID once one is written
                    problem = "Not a genuine card: use another"
                    not_genuine = uid
                if problem is not None:
                    self.board.console("card: " + problem)
                    self.events("card_done", False, problem)
                    await asyncio.sleep(0.5)
                    continue
                self.events("card_verified", boot, seq, uid, cred_id, old or "")
                break
            await asyncio.sleep(0.5)

    # ---- checks ----------------------------------------------------------
    def trusted_keys(self):
        """Card-signing keys this device trusts: a payout device's trust list (payout/trust.py);
        an enrolment device's own key."""
        from firmware.card import credential
        from firmware.crypto import ed25519

        if self.trust is not None:
            return self.trust
        if self._pub is None:
            self._pub = ed25519.public_key(self.secrets.ed25519_seed)
        return {credential.key_id(self._pub): self._pub}

    def genuine_chip(self, reader, uid):
        """The chip's NXP originality signature over its UID (a copy on a UID-changeable chip has none)."""
        from firmware.hw.nfc import CardNak

        try:
            sig = reader.read_sig()
        except CardNak:
            return False  # a chip without READ_SIG is not an NXP NTAG21x
        return self.genuine_sig(uid, sig)

    def genuine_sig(self, uid, sig):
        """Whether sig (READ_SIG's 32 bytes, None if it had none) is NXP's over this UID."""
        from firmware.crypto import originality

        if sig is None:
            return False
        for key in (originality.NXP_NTAG21X,) + tuple(self.board.EXTRA_ORIGINALITY_KEYS):
            if originality.verify(uid, sig, key):
                return True
        return False

    async def _read_checked(self, reader, checker, uid, sel, trusted):
        """(claims, COSE bytes) of the tapped card's credential, every offline check passed: a
        genuine NXP chip, NDEF formatted, our registry's, signed by a trusted key, bound to this
        UID, not expired.  CardRefused / NdefError / CredentialError / CardNak / NfcError say why not."""
        from firmware.card import credential, ndef
        from firmware.card.writer import CardRefused

        _, _, dyn, model_cc = checker.identify(sel)
        await asyncio.sleep(0)
        if not self.genuine_chip(reader, uid):
            raise CardRefused("not a genuine NXP chip: a copy")
        await asyncio.sleep(0)
        _, cc, user = checker.read_tlv(dyn)
        if cc != model_cc:  # a payout point's phone or reader would not find the NDEF message
            raise CardRefused("not NDEF formatted (capability container)")
        payload = ndef.parse_record(ndef.find_message(user))
        await asyncio.sleep(0)
        claims = credential.verify(payload, trusted, uid, self.clock_s())
        if claims[credential.CLAIM_ISS] != self.secrets.registry_id:
            raise credential.CredentialError("issued for another registry")
        return claims, payload

    async def _check_session(self, reader):
        from firmware.card import credential, ndef
        from firmware.card.writer import CardRefused, CardWriter
        from firmware.hw.nfc import CardNak, NfcError

        trusted = self.trusted_keys()
        checker = CardWriter(reader, None, None, None, None, None)
        while self.session() == "check":
            try:
                found = await reader.wait_card_async(_LISTEN_MS)
            except NfcError:
                found = None
            if found is None:
                await asyncio.sleep(_GAP_S)
                continue
            uid, sel = found
            try:
                claims, _ = await self._read_checked(reader, checker, uid, sel, trusted)
                said = (True, claims[credential.CLAIM_GIVEN_NAME], str(claims[credential.CLAIM_SUB]))
            except (CardRefused, ndef.NdefError, credential.CredentialError) as e:
                said = (False, str(e))  # the reason: a fixed phrase (card/*.py)
            except CardNak:  # it answers, but will not be read: read-protected by someone else
                said = (False, "card refuses to be read: not ours")
            except NfcError:
                said = (False, None)  # moved away
            self.events("check_done", *said)
            await asyncio.sleep(1.0)

    # ---- the payout role: the card read for a claim ----------------------
    def start_pay(self):
        """Read the next tapped card for a payout (while the flow wants "pay"); False without a reader."""
        reader = self.open_reader()
        if reader is None:
            return False
        self.paid_card = None
        self.task = asyncio.create_task(self._closing(self._pay_session(reader)))
        return True

    async def _pay_session(self, reader):
        """Until a card passes every offline check: its credential and UID are kept for the claim
        (self.paid_card), and the flow told whose it is; a card that fails says why, and the
        reader waits for the next one."""
        from firmware.card import credential, ndef
        from firmware.card.writer import CardRefused, CardWriter
        from firmware.hw.nfc import CardNak, NfcError

        checker = CardWriter(reader, None, None, None, None, None)
        refused = None  # the UID just refused: not read again while it lies on the reader
        while self.session() == "pay":
            problem = self.trust.usable()
            if problem is not None:
                self.events("trust_lost", problem)
                return
            try:
                found = await reader.wait_card_async(_LISTEN_MS)
            except NfcError:
                found = None
            if found is None:
                refused = None
                await asyncio.sleep(_GAP_S)
                continue
            uid, sel = found
            if uid == refused:
                await asyncio.sleep(0.3)
                continue
            try:
                claims, payload = await self._read_checked(reader, checker, uid, sel, self.trust)
            except (CardRefused, ndef.NdefError, credential.CredentialError) as e:
                why = str(e)
            except CardNak:
                why = "card refuses to be read: not ours"
            except NfcError:
                self.events("card_read", False, "Card moved: tap again")
                await asyncio.sleep(0.3)
                continue
            else:
                self.paid_card = (bytes(payload), bytes(uid), claims[credential.CLAIM_SUB])
                self.events("card_read", True, claims[credential.CLAIM_GIVEN_NAME], claims[credential.CLAIM_SUB])
                return
            refused = uid
            self.board.console("pay: card refused: " + why)
            self.events("card_read", False, why, None, True)
            await asyncio.sleep(0.3)


async def _stepped(steps):
    """Run a generator of steps (card/writer.py), the event loop running between two; its value."""
    try:
        while True:
            next(steps)
            await asyncio.sleep(0)
    except StopIteration as e:
        return e.value
