"""A payout device's radio task: each claim, and each fetch of the trust list, brings Wi-Fi up,
asks the registry over TLS (payout/client.py) and takes Wi-Fi down again (net/radio.py).  A claim is made only
while the citizen waits for it: nothing is queued, so without a network nothing is paid.  The
PIN block is made and the PIN wiped before any network work starts.  It reports to the flow
through events(name, *args): paid(answer), pay_failed(message), trust_done(problem).
"""

import asyncio

from firmware.payout.client import MAX_ANSWER
from firmware.payout.trust import MAX_BYTES, TrustError


class PayoutTask:
    def __init__(self, board, secrets, clock, audit, status, trust, events):
        self.board = board
        self.secrets = secrets
        self.clock = clock
        self.audit = audit
        self.status = status
        self.trust = trust
        self.events = events
        self.client = None
        self.radio = None  # net/radio.RadioSession
        self.task = None
        self.busy = False
        self.due_ms = None  # never wakes the device by itself (tasks/power.py reads it)
        self.problem = None  # why the registry cannot be asked (device.json's URL or CA unusable)

    def open(self):
        """The TLS context and the reply buffer (2 KB; a trust list goes to flash), made at power-on."""
        from firmware.net import http
        from firmware.net.radio import RadioSession
        from firmware.payout.client import PayoutClient

        radio = RadioSession(self.board, self.secrets, self.status)
        try:
            connect = radio.connector()
        except http.HttpError as e:
            self.problem = "setup bad: " + str(e)
            self.audit.record("error", "payouts disabled: " + str(e))
            return
        self.client = PayoutClient(self.secrets, self.clock, connect, radio.host, MAX_ANSWER)
        self.radio = radio

    # what tasks/power.py asks of the radio's task: a payout point has nothing to send by itself
    def wake(self):
        pass

    def request(self):
        pass

    def deinit(self):
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.radio is not None:
            self.radio.down()

    # ---- effects ---------------------------------------------------------
    def start_claim(self, credential, uid, credential_id, programme, pin):
        """Form the PIN block (ISO 9564 format 4 under this point's key), wipe the PIN, then claim."""
        from firmware.crypto import pin_block
        from firmware.crypto.wipe import wipe

        try:
            block = pin_block.encipher_account(self.secrets.pin_key, pin, pin_block.credential_account(credential_id))
        except ValueError as e:  # a credential id or PIN it cannot form a block for: nothing is sent
            self.board.console("payout: no PIN block: " + str(e))
            self.events("pay_failed", "card id unusable")
            return
        finally:
            wipe(pin)
        self.task = asyncio.create_task(self._claim(credential, uid, programme, block))

    def start_refresh(self):
        self.task = asyncio.create_task(self._refresh())

    async def _online(self, work):
        """work() with Wi-Fi up; the failure's message, or None."""
        from firmware.payout.client import ClaimError

        if self.client is None:
            return self.problem or "no registry"
        self.busy = True
        try:
            if not await self.radio.up():
                return "no network"
            await work()
            return None
        except ClaimError as e:
            return str(e)
        finally:
            self.client.close()
            self.radio.down()
            self.busy = False

    async def _claim(self, credential, uid, programme, block):
        answer = []

        async def work():
            answer.append(await self.client.claim(credential, uid, programme, block))
            if self.trust.due():  # online anyway: the next list, before this one runs out
                await self._fetch()

        try:
            why = await self._online(work)
        except MemoryError:
            import gc

            gc.collect()
            why = "out of memory"
        if answer:
            a = answer[0]
            detail = a[0] + " " + programme  # no name, no credential, no PIN: what happened
            if a[0] == "invalid":
                detail += ": " + a[1]  # the registry's reason, for the technician
            self.audit.record("payout", detail)
            self.events("paid", a)
        else:
            self.board.console("payout: " + str(why))
            self.audit.record("payout-error", str(why)[:60])
            self.events("pay_failed", why)

    async def _fetch(self):
        from firmware.payout.client import ClaimError

        fetched = self.trust.path[:-4] + ".tmp"
        try:
            await self.client.trust_list(fetched, MAX_BYTES)
            self.trust.replace(fetched)
        except TrustError as e:
            raise ClaimError(str(e))
        except OSError as e:
            raise ClaimError("trust list not written: " + str(e))
        self.audit.record("trust", "list of " + str(self.trust.count) + " keys, until " + str(self.trust.expires))

    async def _refresh(self):
        try:
            why = await self._online(self._fetch)
        except MemoryError:
            import gc

            gc.collect()
            why = "out of memory"
        if why is None:
            why = self.trust.usable()
        if why is not None:
            self.board.console("trust: " + why)
        self.events("trust_done", why)
