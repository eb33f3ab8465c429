"""No single insider (issue 29): what the defences cost and what they keep.

  * genuine device requests (a signed batch of one record, each on a new TLS connection) with
    1,000 idle TLS connections held open from another address and re-opened as the registry
    closes them: the share that succeeded and their median time, beside the same requests with
    no idle connections; SQLite and PostgreSQL, the registry in its own process (`registry serve`);
  * the cost of hash-chaining the trail: events appended per second, one per transaction as a
    payment writes one, chained and not; and ingest (records per second, batches of 50, in
    process), chained and not: ingest writes an event only for a conflict or a rejection, so its
    figure should not move.
"""

from __future__ import annotations

import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mp import ROOT, size

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests" / "cpython"), str(ROOT / "tests")]

import httpx  # noqa: E402
from population import distinct  # noqa: E402
from registrykit import IDLE, HostDevice, Holder, RegistryProcess, empty, make_registry  # noqa: E402

from host_tools.registry import events, protocol  # noqa: E402
from host_tools.registry.client import RegistryClient  # noqa: E402
from host_tools.registry.context import Context  # noqa: E402
from host_tools.registry.ingest import ingest  # noqa: E402
from host_tools.registry.models import Event  # noqa: E402

GENUINE = size(200, 4)
EVENTS = size(1500, 20)
RECORDS = size(2000, 100)
IDLE = size(IDLE, 20)  # noqa: F811 - fewer held connections in the small run


def _genuine(reg, port: int, devices: list[HostDevice]) -> tuple[int, list[float]]:
    ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    ok, times = 0, []
    for n in range(GENUINE):
        dev = devices[n % len(devices)]
        key, envs = dev.batch(1)
        t0 = time.perf_counter()
        try:
            with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=ctx, timeout=30) as http:
                c = RegistryClient(f"https://127.0.0.1:{port}", dev.device_id, dev.secret)
                c.http = http
                ok += c.post_batch([key], envs)[0].result == protocol.ACCEPTED
        except Exception:  # noqa: BLE001 - a failed request is what is counted
            pass
        times.append(time.perf_counter() - t0)
    return ok, times


def idle(tmp: Path, db_url: str | None, tag: str) -> list[tuple]:
    reg = make_registry(tmp / tag, db_url)
    if db_url:
        empty(reg.engine)
    devices = [HostDevice(reg, f"dev-{i}") for i in range(4)]
    url = db_url or f"sqlite:///{tmp / tag / 'registry.db'}"
    with RegistryProcess(reg, url) as server:
        _, quiet = _genuine(reg, server.port, devices)
        with Holder(server.port, reg.keys_dir / "ca.pem") as holder:
            while holder.opened < IDLE:
                time.sleep(0.2)
            ok, loud = _genuine(reg, server.port, devices)
            opened = holder.opened
    reg.engine.dispose()
    host = f"{os.cpu_count()}-core host, registry process, holder and devices on loopback"
    return [(f"genuine requests that succeeded, {IDLE} idle TLS connections held, {tag}", round(100 * ok / GENUINE, 1),
             "%", f"{GENUINE} signed batches; the holder opened {opened} connections in all; {host}"),
            (f"genuine request median, no idle connections, {tag}", round(statistics.median(quiet) * 1000, 1), "ms",
             "new TLS connection + signed batch of 1"),
            (f"genuine request median, {IDLE} idle connections held, {tag}", round(statistics.median(loud) * 1000, 1),
             "ms", "the holder re-opens each connection the registry closes, on the same 2 cores")]


def chaining(tmp: Path, db_url: str | None, tag: str) -> list[tuple]:
    reg = make_registry(tmp / ("chain-" + tag), db_url)
    ctx = Context(reg.keys, reg.engine)
    device = HostDevice(reg)
    rows = []
    for chained in (True, False):
        events.CHAIN = chained
        try:
            if db_url:
                empty(reg.engine)
                device = HostDevice(reg)
            t0 = time.perf_counter()
            for n in range(EVENTS):
                ctx.in_transaction(lambda s, n=n: s.add(Event(kind="paid", device_id=None, detail=f"bench {n}")))
            appended = EVENTS / (time.perf_counter() - t0)
            batches = []
            for _ in range(RECORDS // 50):
                key, envs = device.batch(50, fields=[distinct() for _ in range(50)])
                batches.append(protocol.parse_batch(protocol.encode_batch([key], envs)))
            t0 = time.perf_counter()
            for b in batches:
                ctx.in_transaction(lambda s, b=b: ingest(s, reg.keys, ctx.cache, device.device_id, b))
            ingested = RECORDS / (time.perf_counter() - t0)
        finally:
            events.CHAIN = True
        how = "chained" if chained else "not chained"
        rows += [(f"events appended, one a transaction, {how}, {tag}", round(appended, 1), "events/s",
                  f"{EVENTS} events, in process"),
                 (f"ingest, batches of 50, {how}, {tag}", round(ingested, 1), "records/s",
                  f"{RECORDS} records, in process (no event per record)")]
    reg.engine.dispose()
    return rows


def run():
    from pgserver import postgres_server

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        rows = chaining(tmp, None, "SQLite") + idle(tmp, None, "SQLite")
        with postgres_server() as pg:
            rows += chaining(tmp, pg, "PostgreSQL") + idle(tmp, pg, "PostgreSQL")
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
