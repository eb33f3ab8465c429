"""A device that saves records and syncs them (runs under the MicroPython unix port).

Usage: micropython tests/mp/sync_device.py TREE DATA_DIR SAVE MODE [BACKOFF_BASE_MS] [BATCH]
  DATA_DIR  a provisioned data directory (device.json, keys.json), kept between runs
  SAVE      records to save first (they continue the journal's numbering)
  MODE      "none": save only;  "once": one sync attempt;  "drain": sync with backoff until nothing is
            pending (at most 400 attempts);  "steps": like drain, but before each sync step
            print "STEP name" and wait for a line on stdin (the host may kill the
            process there: a power cut at that step)
Prints "RESULT " + one JSON line: saved, applied, pending, attempts, errors (first 20),
mem_peak (heap bytes at the sync's peak), and the store's counts.
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib"]

import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import micropython  # noqa: E402

from firmware.clock import Clock  # noqa: E402
from firmware.crypto import pin_block  # noqa: E402
from firmware.enrol import record  # noqa: E402
from firmware.store import secrets as secrets_mod  # noqa: E402
from firmware.store.audit import AuditLog  # noqa: E402
from firmware.store.records import RecordStore  # noqa: E402

data, n_save, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
base_ms = int(sys.argv[5]) if len(sys.argv) > 5 else 20
batch = int(sys.argv[6]) if len(sys.argv) > 6 else 64

s = secrets_mod.load(data)
clock = Clock(data)
audit = AuditLog(data, clock.now)
store = RecordStore(data, s.device_id, s.registry_public_key(), audit)
store.open()
audit.open()
fields = record.typical_fields()
pin = bytearray(b"2580")
for i in range(n_save):
    rid = bytearray(os.urandom(16))
    rid[6] = (rid[6] & 0x0F) | 0x40
    rid[8] = (rid[8] & 0x3F) | 0x80
    rid = bytes(rid)

    def plaintext(pin_key, rid=rid):
        return record.encode("OF0042", clock.now(), clock.synced, fields, "", pin_block.encipher(pin_key, pin, rid))

    store.save(rid, plaintext)
    if i % 8 == 7:
        gc.collect()
gc.collect()

from firmware.net import http  # noqa: E402
from firmware.sync.backoff import Backoff  # noqa: E402
from firmware.sync.client import Client, SyncError  # noqa: E402

host, port = http.parse_url(s.registry_url)
client = Client(store, s, clock, http.tls_connector(host, port, http.pem_to_der(s.ca_pem)), host, audit, batch)
if mode == "steps":
    def step(name):
        print("STEP " + name)
        sys.stdin.readline()

    client.on_step = step

errors = []
attempts = 0
applied = 0


async def main():
    global attempts, applied
    backoff = Backoff(base_ms, 60 * base_ms)
    while attempts < 400:
        attempts += 1
        try:
            applied += await client.sync()
            backoff.succeeded()
        except (SyncError, http.HttpError) as e:
            line = "%d ms: %s" % (time.ticks_diff(time.ticks_ms(), t0), e)
            print("ERROR " + line)  # as it happens: a run that hangs still shows its history
            if len(errors) < 40:
                errors.append(line)
            ra = getattr(e, "retry_after", None)
            delay = backoff.failed(None)  # the test registry's Retry-After is scaled down below
            if ra:
                delay = max(delay, ra * base_ms)
            if mode == "once":
                return
            await asyncio.sleep_ms(delay)
            continue
        if mode == "once" or store.counts()["pending"] == 0:
            return


gc.collect()
t0 = time.ticks_ms()
if mode != "none":
    asyncio.run(main())
counts = store.counts()
print("RESULT " + json.dumps({"saved": n_save, "applied": applied, "pending": counts["pending"],
                              "synced": counts["synced"], "records": counts["records"], "attempts": attempts,
                              "errors": errors, "mem_peak": micropython.mem_peak(), "ms": time.ticks_diff(time.ticks_ms(), t0)}))
