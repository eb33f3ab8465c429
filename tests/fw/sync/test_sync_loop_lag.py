"""No task holds the event loop while a sync runs (issue 31), both runtimes: a probe task
(loopkit.py) runs beside a sync of 20 records in batches of 8 (the sync client, the registry
stand-in of synckit, whose streams yield as MicroPython's do) and records the longest gap between
two of its turns, in milliseconds (printed; make bench measures them: bench_loop_lag.py) and in
records and keys read from flash (asserted)."""

import asyncio

from fwtest import tmpdir
from loopkit import Probe

# The registry stand-in (synckit) runs in the device heap here, as in test_sync_client.py
MP_HEAPSIZE = "110k"


def test_the_loop_turns_between_the_batches_and_records_of_a_sync():
    from storekit import open_store, plaintext, record_id
    from synckit import FakeRegistry, Secrets

    from firmware.clock import Clock
    from firmware.sync.client import Client

    path = tmpdir()
    store, audit, _ = open_store(path)
    for i in range(20):
        store.save(record_id(i), plaintext(i))
    reads = [0]
    for name in ("read_record", "read_key"):
        fn = getattr(store, name)

        def wrapped(*args, _fn=fn, **kw):
            reads[0] += 1
            return _fn(*args, **kw)

        setattr(store, name, wrapped)
    reg = FakeRegistry()
    client = Client(store, Secrets(), Clock(path, lambda: 1000), reg.connect, "registry.test", audit, 8)
    probe = Probe(lambda: reads[0])

    async def go():
        watcher = asyncio.create_task(probe.run())
        n = await client.sync()
        probe.stop = True
        await watcher
        return n

    assert asyncio.run(go()) == 20 and store.counts()["pending"] == 0
    print("sync: worst loop gap", probe.worst_ms, "ms;", probe.worst_work[0], "flash reads")
    # a batch is planned in one pass (8 records and their segment's key: its digests), then
    # streamed a record at a time: never more than one plan between two turns of the loop
    assert 0 < probe.worst_work[0] <= 8 + 2
    assert probe.turns >= 20
