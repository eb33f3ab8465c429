"""The registry's console (issue 30): time to first byte of the overview and of the review queue
with 100,000 persons in PostgreSQL (goal: under 300 ms on this machine), over TLS from the
registry in its own process; 200 reviews open (the queue shows 100), a signed-in session."""

from __future__ import annotations

import os
import random
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mp import ROOT, size

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests" / "cpython"), str(ROOT / "tests"),
                str(ROOT / "bench")]

import httpx  # noqa: E402
from registrykit import RegistryProcess, make_registry  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from host_tools.registry.models import Review  # noqa: E402

PERSONS = int(os.getenv("ENROL_BENCH_CONSOLE_PERSONS", str(size(100_000, 300))))
REVIEWS = size(200, 5)
SAMPLES = size(15, 2)


def _ttfb(http: httpx.Client, path: str, token: str) -> float:
    t0 = time.perf_counter()
    with http.stream("GET", path, cookies={"enrol_console": token}) as r:
        chunks = r.iter_raw(1024)
        next(chunks)
        took = time.perf_counter() - t0
        assert r.status_code == 200, r.status_code
        for _ in chunks:
            pass
    return took


def run():
    from bench_persons import bulk_load
    from pgserver import postgres_server

    with tempfile.TemporaryDirectory() as tmp_s, postgres_server() as pg:
        reg = make_registry(Path(tmp_s) / "console", pg)
        load_s = bulk_load(reg, pg, PERSONS, random.Random(30))
        rng = random.Random(31)
        with Session(reg.engine) as s:
            for _ in range(REVIEWS):
                a, b = rng.sample(range(1, PERSONS + 1), 2)
                s.add(Review(kind="duplicate", person_id=a, other_id=b, score=850, detail="bench", status="open"))
            s.commit()
        token = reg.operator("bench", ("auditor",))["Authorization"][7:]
        ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
        rows = []
        with RegistryProcess(reg, pg) as server, httpx.Client(base_url=f"https://127.0.0.1:{server.port}",
                                                              verify=ctx, timeout=120) as http:
            for path, what in (("/console/", "overview"), ("/console/reviews", "review queue")):
                _ttfb(http, path, token)  # a first request warms the process and the database's cache
                times = sorted(_ttfb(http, path, token) for _ in range(SAMPLES))
                rows.append((f"console: {what}, time to first byte at {PERSONS:,} persons (PostgreSQL), median",
                             round(statistics.median(times) * 1000, 1), "ms",
                             f"{SAMPLES} requests after one warm-up, TLS kept alive, max "
                             f"{times[-1] * 1000:.0f} ms; {PERSONS:,} persons COPYed in {load_s:.0f} s; goal < 300 ms"))
        reg.engine.dispose()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
