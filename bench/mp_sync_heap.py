"""The sync client's own heap under MicroPython (for bench_sync), without TLS: a store holding
64 pending records synced over in-memory streams to a lean stand-in registry that keeps only
the request head (the answer rows are prepared beforehand, in both modes).

Usage: micropython bench/mp_sync_heap.py TREE DATA_DIR (prepare|sync|idle)
  prepare  save the records and the stand-in's answer rows (run once, in a big heap)
  idle     everything (imports, store, client, prepared answer) but the sync itself
  live     the sync, printing live=<bytes>: the most live heap above the start at any step
           (collected at each step: what the sync holds, without its garbage)
Run at a series of heap sizes: the difference of the smallest that complete is the sync's peak.
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib", tree + "/tests/fw"]

import asyncio  # noqa: E402
import gc  # noqa: E402

from storekit import open_store, plaintext, record_id  # noqa: E402
from synckit import Secrets, http_reply, receipt_mac, signed  # noqa: E402

from firmware import cbor  # noqa: E402
from firmware.clock import Clock  # noqa: E402
from firmware.crypto import seal  # noqa: E402
from firmware.sync.client import BATCH_RECORDS, Client  # noqa: E402

data, mode = sys.argv[2], sys.argv[3]
store, audit, _ = open_store(data)
if mode == "prepare":
    for i in range(64):
        store.save(record_id(i), plaintext(i))
    rows = []
    for _, _, num, off, length in store.journal.iter_pending():
        env = bytes(store.journal.read_record(num, off, length))
        rid = seal.parse_record(env).record_id
        rows.append([rid, 0, len(rows) + 1, receipt_mac(rid, 0, len(rows) + 1, env), ""])
    for k in range(0, len(rows), BATCH_RECORDS):  # one answer per batch the client will send
        with open(data + "/answer%d.cbor" % (k // BATCH_RECORDS), "wb") as f:
            f.write(cbor.dumps({"time": 1_800_000_000, "results": rows[k : k + BATCH_RECORDS]}))
    print("ok")
    sys.exit(0)
answers = []
for k in range(64 // BATCH_RECORDS):
    with open(data + "/answer%d.cbor" % k, "rb") as f:
        answers.append(f.read())


class Writer:
    def __init__(self):
        self.head = bytearray()
        self.reader = None

    def write(self, b):
        r = self.reader
        if r.reply is not None and r.pos >= len(r.reply):  # the last answer was read: a new request
            r.reply, r.pos = None, 0
            r.index += 1
            self.head = bytearray()
        if len(self.head) < 1024:
            self.head.extend(bytes(b)[: 1024 - len(self.head)])

    async def drain(self):
        pass

    def close(self):
        pass


class Reader:
    def __init__(self, w):
        self.w = w
        w.reader = self
        self.reply = None
        self.pos = 0
        self.index = 0  # the batch answered (one connection carries the sync's batches)

    async def read(self, n):
        if self.reply is None:
            nonce = bytes(self.w.head).split(b"X-Enrol-Nonce: ")[1][:32].decode()
            answer = answers[self.index]
            self.reply = http_reply(200, answer, {"X-Enrol-Signature": signed(nonce, answer)})
        chunk = self.reply[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


async def connect():
    w = Writer()
    return Reader(w), w


clock = Clock(data)
clock.synced = True
client = Client(store, Secrets(), clock, connect, "registry.test", audit)
gc.collect()
if mode == "live":
    gc.collect()
    start = gc.mem_alloc()
    peak = [0]

    def step(name):
        gc.collect()
        peak[0] = max(peak[0], gc.mem_alloc() - start)

    client.on_step = step
if mode in ("sync", "live"):
    n = asyncio.run(client.sync())
    assert n == 64, n
if mode == "live":
    print("live=" + str(peak[0]))
print("ok")
