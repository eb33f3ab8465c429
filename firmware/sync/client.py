"""Uploading pending records, and the card entries that bind them to their cards, to the registry:
batches streamed from flash, results from receipts.

One sync = (time fix if the clock is not synced) + batches until nothing is
pending.  A batch is planned in one pass over flash (record ids, per-record
SHA-256 for the receipts, the body's SHA-256 for the request signature) and
streamed in a second pass, one record in a preallocated buffer at a time, so
RAM holds a few dozen bytes per record, never the batch.  A record is marked
synced only from a result whose receipt MAC checks out under the device
secret, inside an answer whose signature binds it to this request's nonce.
Anything else (refused connection, certificate of another CA, garbage or
oversized answer, wrong MACs) raises SyncError: the records stay pending and
the caller backs off.  A CARD entry (the card's UID, the credential a re-issue replaced) goes
in the batch that carries its record, or in any batch once its record was answered.

Power-loss windows: nothing is written before the answer is checked; then
store.mark_results() commits one SYNCED entry per segment.  Power lost
before that commit -> the records are sent again and the registry answers
"duplicate" with the original receipt; after -> done.
"""

import asyncio
import gc
import hashlib
import json

from firmware import cbor
from firmware.crypto import seal
from firmware import formats
from firmware.formats import MAX_PAYLOAD
from firmware.store import StoreError
from firmware.net import http, protocol

TIMEOUT_S = 45  # one request, connect to last byte: a stalled network must not hold the sync forever
# Records per batch: a quarter of a segment (~5 KB streamed from flash).  What a batch needs
# while it is in flight (its plan, the answer being checked, the journal's mark) came on top of
# the whole device's heap: with 64 a sync of 64 records needed 100 KB, with 32 84 KB, with 16
# 80 KB (make bench).  The price is a request per 16 records (~0.9 KB of headers, key and
# signature each): a few per day's sync, on one TLS connection.
BATCH_RECORDS = 16
_ID = 48  # a planned record's bytes in _Plan.ids: its record id (16), its envelope's SHA-256 (32)
MIN_BATCH = 4
_SEND_BUFFER = 1500  # bytes per write: TLS records of about this size (each costs ~29 bytes of framing)
MAX_ANSWER = 2048  # 16 rows of at most 111 bytes (the registry cuts a reason to 64 bytes)
PATH_BATCHES = "/v1/batches"
PATH_TIME = "/v1/time"


class SyncError(Exception):
    def __init__(self, message, retry_after=None, local=False):
        super().__init__(message)
        self.retry_after = retry_after
        self.local = local  # the device's own trouble (RAM), not the network's: retry soon

class _Plan:
    def __init__(self):
        self.nums = []  # segment numbers, in order
        self.keys = []  # their KEY envelopes
        self.items = []  # (boot, seq, num, offset, length); record i's id and digest in ids[i * _ID:]
        self.ids = None  # the client's ids buffer: not two bytes objects a record (~100 bytes each)
        self.cards = []  # (boot, seq, num, offset, length, digest) of CARD entries
        self.body_len = 4
        self.body_sha = None


class Client:
    def __init__(self, store, secrets, clock, connect, host, audit=None, batch_records=BATCH_RECORDS):
        self.store = store
        self.device_id = secrets.device_id
        self.secret = secrets.hmac_secret
        self.clock = clock
        self.connect = connect
        self.host = host
        self.audit = audit
        self.batch_records = batch_records
        self.on_step = None  # tests: called with each step's name (power-cut points)
        self.conn = http.Connection(connect, host, MAX_ANSWER)
        # One record envelope at a time, and what goes into one TLS record: both in the reply
        # buffer (2.5 KB less heap), whose bytes they never need at the same time: a batch is
        # planned and sent before its reply is read, and a reply is done with before the next plan.
        self.buf = memoryview(self.conn.buf)[:MAX_PAYLOAD]
        self.out = memoryview(self.conn.buf)[MAX_PAYLOAD : MAX_PAYLOAD + _SEND_BUFFER]
        self.ids = bytearray(batch_records * _ID)  # made with the rest: asked for at each plan, found no run

    def use_connector(self, connect):
        """The connect() of this sync's TLS connection, given once the client's buffers are made
        (they are the larger objects: made first, from the whole heap)."""
        self.connect = connect
        self.conn.connect = connect

    def _step(self, name):
        if self.on_step is not None:
            self.on_step(name)

    def _event(self, kind, detail):
        if self.audit is not None:
            self.audit.record(kind, detail)

    async def _request(self, method, path, headers, body_len, body, max_answer):
        gc.collect()  # a TLS session needs tens of KB in few pieces: start from a compacted heap
        try:
            return await asyncio.wait_for(self.conn.request(method, path, headers, body_len, body, max_answer),
                                          TIMEOUT_S)
        except asyncio.TimeoutError:
            self.conn.close()
            raise SyncError("no answer in " + str(TIMEOUT_S) + " s")
        except http.HttpError as e:
            raise SyncError(str(e))

    # ---- time ------------------------------------------------------------
    async def fix_time(self):
        reply = await self._request("GET", PATH_TIME, {}, 0, None, 256)
        if reply.status != 200:
            raise SyncError("time: HTTP " + str(reply.status), reply.retry_after())
        try:
            t = json.loads(bytes(reply.body))["time"]
        except (ValueError, KeyError, TypeError):
            raise SyncError("time: garbled answer")
        if not self.clock.fix(t):
            raise SyncError("time: bad value")
        self._step("time")

    # ---- batches ---------------------------------------------------------
    def plan(self):
        """The next batch of pending records, or None when nothing is pending."""
        p = _Plan()
        for boot, seq, num, off, length in self.store.iter_pending():
            if num not in p.nums:
                p.nums.append(num)
            p.items.append((boot, seq, num, off, length))
            if len(p.items) >= self.batch_records:
                break
        for boot, seq, final, num, off, length in self.store.iter_pending_cards():
            if len(p.items) + len(p.cards) >= self.batch_records:  # the answer stays under MAX_ANSWER
                break
            if final or self._in_plan(p, boot, seq):  # the registry must know the record first
                p.cards.append((boot, seq, num, off, length))
        if not p.items and not p.cards:
            return None
        sha = hashlib.sha256(formats.BATCH_MAGIC)
        p.ids = self.ids
        for num in p.nums:
            key = self.store.read_key(num)
            p.keys.append(key)
            sha.update(protocol.item_header(formats.ITEM_KEY, len(key)))
            sha.update(key)
            p.body_len += 3 + len(key)
        for i in range(len(p.items)):
            boot, seq, num, off, length = p.items[i]
            env = self.store.read_record(num, off, length, self.buf)
            try:
                rid = seal.parse_record(env).record_id
            except ValueError as e:
                raise SyncError("record %d/%d unreadable: %s" % (boot, seq, e))
            if len(rid) != 16:
                raise SyncError("record %d/%d unreadable: record id" % (boot, seq))
            sha.update(protocol.item_header(formats.ITEM_RECORD, len(env)))
            sha.update(env)
            p.ids[i * _ID : i * _ID + 16] = rid
            p.ids[i * _ID + 16 : i * _ID + _ID] = hashlib.sha256(env).digest()
            p.body_len += 3 + len(env)
        for i in range(len(p.cards)):
            boot, seq, num, off, length = p.cards[i]
            entry = self.store.read_record(num, off, length, self.buf)
            sha.update(protocol.item_header(formats.ITEM_CARD, len(entry)))
            sha.update(entry)
            p.cards[i] = (boot, seq, num, off, length, hashlib.sha256(entry).digest())
            p.body_len += 3 + len(entry)
        p.body_sha = sha.digest()
        return p

    @staticmethod
    def _in_plan(p, boot, seq):
        for it in p.items:
            if it[0] == boot and it[1] == seq:
                return True
        return False

    async def _flush(self, writer, n):
        writer.write(memoryview(self.out)[:n])
        await writer.drain()
        return 0

    async def _put(self, writer, n, kind, item):
        """Append one item to the output buffer, sending the buffer first if it would overflow."""
        if n + 3 + len(item) > len(self.out):
            n = await self._flush(writer, n)
        self.out[n : n + 3] = protocol.item_header(kind, len(item))
        self.out[n + 3 : n + 3 + len(item)] = item
        return n + 3 + len(item)

    async def _write_body(self, p, writer):
        """Stream the batch: items are gathered in one preallocated buffer and written a few
        records at a time, so each TLS record carries ~1.4 KB (a TLS record costs ~29 bytes)."""
        self.out[0:4] = formats.BATCH_MAGIC
        n = 4
        for key in p.keys:
            n = await self._put(writer, n, formats.ITEM_KEY, key)
        for boot, seq, num, off, length in p.items:
            env = self.store.read_record(num, off, length, self.buf)
            n = await self._put(writer, n, formats.ITEM_RECORD, env)
        for boot, seq, num, off, length, _ in p.cards:
            n = await self._put(writer, n, formats.ITEM_CARD, self.store.read_record(num, off, length, self.buf))
        if n:
            await self._flush(writer, n)

    async def send(self, p):
        """Upload one planned batch and apply its valid results; returns (applied, refused)."""
        headers, nonce = protocol.signed_headers(self.secret, self.device_id, self.clock.now(), PATH_BATCHES,
                                                 p.body_sha, "application/octet-stream")

        async def body(writer):
            await self._write_body(p, writer)
            self._step("sent")

        reply = await self._request("POST", PATH_BATCHES, headers, p.body_len, body, MAX_ANSWER)
        self._step("answered")
        if reply.status != 200:
            reason = ""
            try:
                reason = json.loads(bytes(reply.body))["error"]
            except (ValueError, KeyError, TypeError):
                pass
            if reply.status == 401 and "timestamp" in str(reason):
                self.clock.synced = False  # fetch the registry's time before the next try
            raise SyncError("HTTP " + str(reply.status) + (": " + str(reason)[:40] if reason else ""),
                            reply.retry_after())
        signature = reply.headers.get("x-enrol-signature")
        if not protocol.response_ok(self.secret, 200, nonce, reply.body, signature):
            raise SyncError("answer signature wrong")
        # MAC-checked above, so the registry's: as many items as its bytes (a result per record).
        # Each row is checked as it is decoded and dropped: the decoded answer whole (a list, two
        # bytes objects and a text a row) was the sync's peak of heap.
        check = _Check(self.secret, p)
        try:
            doc = cbor.loads(reply.body, MAX_ANSWER, max_items=MAX_ANSWER,
                             each={"results": check.result, "cards": check.card})
            server_time = doc["time"]
            doc["results"]  # noqa: B018 - an answer without results is garbled
        except (ValueError, KeyError, TypeError, AttributeError):  # CBORError is a ValueError
            raise SyncError("answer garbled")
        self.clock.fix(server_time)  # signed, so it may move the clock
        valid, refused = check.valid, check.refused
        for kind, detail in check.events:
            self._event(kind, detail)
        del doc, check
        if valid:
            self.store.mark_results(valid, self.clock.now(), protocol.unhex(signature))
            self._step("applied")
        if refused:
            self._event("sync-error", str(refused) + " results refused (bad MAC or unknown record)")
        return len(valid), refused

    async def sync(self):
        """Upload everything pending.  Returns the number of records applied; SyncError on failure.

        Batches are sized to the RAM there is: after running out of memory the next try
        sends half as many records per batch (down to MIN_BATCH)."""
        gc.collect()
        try:
            return await self._sync()
        except MemoryError:
            self.conn.close()
            gc.collect()
            was = self.batch_records
            self.batch_records = max(MIN_BATCH, was // 2)
            # retried soon while a smaller batch may fit; at MIN_BATCH it waits like any failure
            raise SyncError("out of memory (batches of " + str(self.batch_records) + " next)",
                            local=self.batch_records < was)
        finally:
            self.conn.close()

    async def _sync(self):
        if not self.clock.synced:
            await self.fix_time()
        total = 0
        while True:
            try:
                p = self.plan()
            except StoreError as e:
                raise SyncError(str(e))
            if p is None:
                break
            self._step("planned")
            applied, _ = await self.send(p)
            if not applied:
                raise SyncError("no valid receipt in the answer")
            total += applied
        return total


class _Check:
    """A batch answer's rows, checked one at a time as they are decoded (cbor.loads each=)."""

    def __init__(self, secret, p):
        self.secret = secret
        self.p = p
        self.valid = []  # (boot, seq, result), results of CARD entries flagged CARD_RESULT
        self.refused = 0
        self.seen = bytearray(len(p.items))  # a result per record: a second one is refused
        self.cards_seen = []
        self.events = []  # (kind, detail): logged once the whole answer has decoded

    def _planned(self, rid):
        """The index of the planned record with this id, or -1."""
        p = self.p
        at = p.ids.find(rid)
        while 0 <= at < len(p.items) * _ID:  # the bytes after the plan's are an earlier plan's
            if at % _ID == 0:
                return at // _ID
            at = p.ids.find(rid, at + 1)
        return -1

    def result(self, r):
        p = self.p
        ok = isinstance(r, list) and len(r) == 5 and isinstance(r[0], bytes) and len(r[0]) == 16 \
            and r[1] in protocol.RESULTS and isinstance(r[2], int) and 0 <= r[2] < (1 << 64)
        i = self._planned(r[0]) if ok else -1
        if i < 0 or self.seen[i] or not protocol.receipt_ok(self.secret, r[0], r[1], r[2],
                                                             memoryview(p.ids)[i * _ID + 16 : i * _ID + _ID], r[3]):
            self.refused += 1
            return
        self.seen[i] = 1
        it = p.items[i]
        self.valid.append((it[0], it[1], r[1]))
        if r[1] > 1:
            self.events.append(("sync-" + ("conflict" if r[1] == formats.CONFLICT else "rejected"),
                                "%d/%d: %s" % (it[0], it[1], str(r[4])[:60])))

    def card(self, r):
        """A CARD entry's answer (ignored when the batch carried none, as an older answer)."""
        p = self.p
        if not p.cards:
            return
        ok = isinstance(r, list) and len(r) == 5 and isinstance(r[0], int) and isinstance(r[1], int) \
            and r[2] in protocol.RESULTS
        it = None
        if ok:
            for c in p.cards:
                if c[0] == r[0] and c[1] == r[1]:
                    it = c
                    break
        if it is None or it in self.cards_seen or not protocol.card_receipt_ok(self.secret, it[5], r[2], r[3]):
            self.refused += 1
            return
        self.cards_seen.append(it)
        self.valid.append((it[0], it[1], r[2] | formats.CARD_RESULT))
        if r[2] > formats.DUPLICATE:
            self.events.append(("sync-card-rejected", "%d/%d: %s" % (it[0], it[1], str(r[4])[:60])))
