"""Sync (issue 6): registry ingest rate with many devices on SQLite and PostgreSQL, bytes on the
wire per record against the sealed size (TLS included), the device's heap during a sync."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mp import ROOT, compiled_tree, run_script, size, smallest_heap_kb

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests" / "cpython"), str(ROOT / "tests")]

from population import distinct  # noqa: E402
from registrykit import HostDevice, RegistryProcess, make_registry, provision_device, set_url  # noqa: E402

from firmware.sync.client import BATCH_RECORDS  # noqa: E402
from host_tools.enrolctl.journal import envelopes  # noqa: E402
from host_tools.registry.client import RegistryClient  # noqa: E402

DEVICES = size(8, 2)
BATCHES = size(10, 1)
PER_BATCH = 64
DEVICE_SCRIPT = ROOT / "tests" / "mp" / "sync_device.py"


def ingest_rate(tmp: Path, db_url: str | None, label: str) -> tuple[float, int]:
    reg = make_registry(tmp / label, db_url)
    url = db_url or f"sqlite:///{tmp / label / 'registry.db'}"
    devices = [HostDevice(reg, f"bench-{label}-{i}") for i in range(DEVICES)]
    # distinct people (population.distinct): a registry files each under a person, and one person
    # enrolled 5,120 times would be a bench of the duplicate review, not of ingest
    work = [(d, [d.batch(PER_BATCH, fields=[distinct() for _ in range(PER_BATCH)]) for _ in range(BATCHES)])
            for d in devices]
    with RegistryProcess(reg, url) as server:
        base = f"https://127.0.0.1:{server.port}"

        def upload(item: tuple[HostDevice, list[tuple[bytes, list[bytes]]]]) -> int:
            dev, batches = item
            n = 0
            with RegistryClient(base, dev.device_id, dev.secret, str(reg.keys_dir / "ca.pem")) as c:
                for key, envs in batches:
                    n += sum(1 for r in c.post_batch([key], envs) if r.result == 0)
            return n

        start = time.perf_counter()
        with ThreadPoolExecutor(DEVICES) as pool:
            stored = sum(pool.map(upload, work))
        elapsed = time.perf_counter() - start
    return stored / elapsed, stored


class CountingRelay:
    """A TCP relay on loopback that counts every byte both ways (TLS records included)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.bytes = 0
        self.up = 0  # device -> registry
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        srv = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = srv.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
        try:
            while chunk := await r.read(4096):
                self.bytes += len(chunk)
                if up:
                    self.up += len(chunk)
                w.write(chunk)
                await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        await asyncio.gather(self._pipe(r, uw, True), self._pipe(ur, w, False))


def device_sync(tree: Path, tmp: Path, n: int) -> dict[str, float]:
    """Wire bytes of a MicroPython device's sync of n records, and its sealed bytes."""
    reg = make_registry(tmp / f"wire{n}")
    data = tmp / f"wire{n}" / "device"
    with RegistryProcess(reg, f"sqlite:///{tmp / f'wire{n}' / 'registry.db'}") as server:
        provision_device(reg, data, f"wire-{n}", "https://127.0.0.1:1")
        run_script(DEVICE_SCRIPT, [str(tree), str(data), str(n), "none"], heapsize="1m")
        sealed = sum(len(env) for _, env in envelopes(data / "journal"))
        relay = CountingRelay(server.port)
        set_url(data, f"https://127.0.0.1:{relay.port}")
        template = tmp / f"wire{n}" / "template"
        shutil.copytree(data, template)
        start = time.perf_counter()
        # batches as the firmware makes them (a 64-record batch's answer is over the 2 KB reply limit)
        out = run_script(DEVICE_SCRIPT, [str(tree), str(data), "0", "once", "20", str(BATCH_RECORDS)], heapsize="1m")
        seconds = time.perf_counter() - start
        assert '"pending": 0' in out, out
        wire, conns, up = relay.bytes, relay.connections, relay.up

    return {"wire": wire, "up": up, "sealed": sealed, "connections": conns, "seconds": seconds}


def client_heap(tree: Path, tmp: Path) -> dict[str, int]:
    """Smallest heaps (KB) for: the idle set-up, a 64-record sync without TLS, and one TLS request."""
    script = ROOT / "bench" / "mp_sync_heap.py"
    template = tmp / "heap-template"
    run_script(script, [str(tree), str(template), "prepare"], heapsize="1m")

    def runs(mode: str):
        def check(kb: int) -> bool:
            trial = tmp / f"heap-{mode}-{kb}"
            shutil.rmtree(trial, ignore_errors=True)
            shutil.copytree(template, trial)
            try:
                return "ok" in run_script(script, [str(tree), str(trial), mode], heapsize=f"{kb}k")
            except RuntimeError:
                return False
        return check

    live_dir = tmp / "heap-live"
    shutil.copytree(template, live_dir)
    out = run_script(script, [str(tree), str(live_dir), "live"], heapsize="1m")
    live = int(out.split("live=")[1].split()[0])
    return {"idle": smallest_heap_kb(runs("idle"), 16, 512, 2), "sync": smallest_heap_kb(runs("sync"), 16, 512, 2),
            "live": live}


def tls_heap(tree: Path, tmp: Path) -> int:
    """Heap (KB) one TLS request adds on the unix port (its mbedtls buffers)."""
    reg = make_registry(tmp / "tls")
    data = tmp / "tls" / "device"
    with RegistryProcess(reg, f"sqlite:///{tmp / 'tls' / 'registry.db'}") as server:
        provision_device(reg, data, "tls-1", f"https://127.0.0.1:{server.port}")
        script = ROOT / "bench" / "mp_tls.py"

        def runs(mode: str):
            def check(kb: int) -> bool:
                try:
                    return "ok" in run_script(script, [str(tree), str(data), mode], heapsize=f"{kb}k")
                except RuntimeError:
                    return False
            return check

        return smallest_heap_kb(runs("request"), 8, 512, 2) - smallest_heap_kb(runs("imports"), 8, 512, 2)


def run():
    from pgserver import postgres_server

    tree = compiled_tree()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    out = []
    try:
        rate_sqlite, n1 = ingest_rate(tmp, None, "sqlite")
        with postgres_server() as pg:
            rate_pg, n2 = ingest_rate(tmp, pg, "pg")
        host = f"{os.cpu_count()}-core x86 host, registry process + {DEVICES} device threads"
        out += [
            (f"registry ingest, SQLite ({n1} records, {DEVICES} devices, batches of {PER_BATCH})", rate_sqlite,
             "records/s", host),
            (f"registry ingest, PostgreSQL ({n2} records, {DEVICES} devices, batches of {PER_BATCH})", rate_pg,
             "records/s", host),
        ]
        for n in size((20, 40, 200), (20,)):
            w = device_sync(tree, tmp, n)
            out += [
                (f"sync of {n} records: bytes on the wire per record (TLS, HTTP, time fix, receipts)",
                 w["wire"] / n, "bytes", "micropython -> registry (loopback)"),
                (f"sync of {n} records: sealed bytes per record", w["sealed"] / n, "bytes", "micropython"),
                (f"sync of {n} records: wire / sealed", w["wire"] / w["sealed"], "x", "micropython"),
                (f"sync of {n} records: TLS connections", w["connections"], "connections", "micropython"),
                (f"sync of {n} records: wall time (incl. MicroPython start)", w["seconds"], "s",
                 "micropython, x86 host"),
            ]
        heap = client_heap(tree, tmp)
        tls = tls_heap(tree, tmp)
        out += [
            ("sync of 64 records: most live heap at any step (no TLS; stand-in registry)",
             round(heap["live"] / 1024, 1), "KB", "micropython"),
            ("sync of 64 records: smallest heap above the idle client's (garbage, fragmentation)",
             heap["sync"] - heap["idle"], "KB", "micropython (.mpy in RAM)"),
            ("one TLS request: heap on the unix port (mbedtls buffers; in the IDF heap on an ESP32)", tls, "KB",
             "micropython"),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
