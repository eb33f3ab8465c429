"""Persons (issue 28): how well likely duplicates are found, and what matching costs.

- Matching on a generated population: 20,000 people in real Battambang villages and 2,000
  second enrolments made by the variations of host_tools/registry/matching.py (population.py
  keeps which is whose: the oracle), filed one by one by the registry's own file_record on
  SQLite: recall of the planted duplicates, share of genuine people wrongly held, time a record.
- Ingest with matching on: 8 enrolment devices syncing batches of 16 distinct people at once to
  one and to two registry processes on one PostgreSQL, over TLS: records stored per second.
- National scale (ENROL_BENCH_SCALE=N, `make bench-scale` sets 1,000,000; not in `make bench`):
  N persons bulk-loaded into PostgreSQL, then the time to file one new record (match included)
  and the p50/p99 of a payout claim at that size.
"""

from __future__ import annotations

import os
import random
import ssl
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mp import ROOT, size

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests" / "cpython"), str(ROOT / "tests")]

import httpx  # noqa: E402
from population import distinct, population  # noqa: E402
from registrykit import approved, HostDevice, RegistryProcess, empty, make_registry  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from host_tools.registry.client import RegistryClient  # noqa: E402
from host_tools.registry.models import Device, Record, Review  # noqa: E402
from host_tools.registry.persons import file_record  # noqa: E402

PEOPLE, DUPLICATES = size(20_000, 300), size(2_000, 30)
DEVICES, BATCHES, PER_BATCH = size(8, 2), size(6, 1), 16


def matching_quality(tmp: Path) -> list[tuple]:
    people, planted = population(PEOPLE, DUPLICATES, seed=2026)
    reg = make_registry(tmp / "match")
    with Session(reg.engine) as s:
        s.add(Device(device_id="dev-gen", hmac_secret=b"\0" * 32, ed25519_pub=b"\0" * 32, role="enrolment"))
        s.flush()
        rows = []
        t0 = time.perf_counter()
        for i, fields in enumerate(people):
            rows.append(s.execute(insert(Record).returning(Record.id).values(
                record_id=i.to_bytes(16, "big"), device_id="dev-gen", boot=1, seq=i, digest=bytes(32), envelope=b"",
                credential_id=f"G{i:08d}", officer_id="OF1", created_t=0, clock_synced=True, fields=fields, schema=2,
                category=fields["category"], pin_verifier=bytes(32), pin_failures=0)).scalar_one())
            file_record(s, rows[-1], fields)
        seconds = time.perf_counter() - t0
        s.commit()
        held = set(s.scalars(select(Record.id).where(Record.person_id.in_(
            select(Review.person_id).where(Review.status == "open")))))
    reg.engine.dispose()
    dups = {rows[p.index] for p in planted}
    genuine = set(rows) - dups
    recall = len(dups & held) / len(dups)
    false_hold = len(genuine & held) / len(genuine)
    host = f"SQLite, one process, {len(people):,} records filed in arrival order"
    return [(f"matching: recall of {len(dups):,} planted duplicates among {PEOPLE:,} people", round(100 * recall, 1),
             "%", host),
            ("matching: genuine people wrongly held", round(100 * false_hold, 2), "%", host),
            ("matching: file one record (insert + match) at 20,000 persons", round(1000 * seconds / len(people), 2),
             "ms", host)]


def ingest_rate(tmp: Path, pg: str, processes: int) -> float:
    reg = make_registry(tmp / f"ingest{processes}", pg)
    empty(reg.engine)
    devices = [HostDevice(reg, f"enrol-{i:02d}") for i in range(DEVICES)]
    work = {d.device_id: [d.batch(PER_BATCH, fields=[distinct() for _ in range(PER_BATCH)]) for _ in range(BATCHES)]
            for d in devices}  # sealed beforehand: the bench times the registry, not the sealing
    ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    servers = [RegistryProcess(reg, pg) for _ in range(processes)]
    for srv in servers:
        srv.start()
    try:
        def sync(i: int) -> int:
            d = devices[i]
            base = f"https://127.0.0.1:{servers[i % processes].port}"
            with httpx.Client(base_url=base, verify=ctx, timeout=120) as http:
                c = RegistryClient(base, d.device_id, d.secret)
                c.http = http
                return sum(len(c.post_batch([key], envs)) for key, envs in work[d.device_id])

        t0 = time.perf_counter()
        with ThreadPoolExecutor(DEVICES) as pool:
            stored = sum(pool.map(sync, range(DEVICES)))
        seconds = time.perf_counter() - t0
    finally:
        for srv in servers:
            srv.__exit__()
    reg.engine.dispose()
    if stored != DEVICES * BATCHES * PER_BATCH:
        raise RuntimeError(f"{stored} records receipted of {DEVICES * BATCHES * PER_BATCH}")
    return round(stored / seconds, 1)


def bulk_load(reg, pg: str, n: int, rng: random.Random) -> float:
    """n persons, each with one record of a generated Battambang person and its blocking keys,
    COPYed into an emptied PostgreSQL registry (device "dev-bulk"); returns the seconds it took."""
    import json

    import psycopg

    from host_tools.registry import matching
    from population import battambang_villages, person

    villages = battambang_villages()
    dsn = pg.replace("postgresql+psycopg", "postgresql")
    t0 = time.perf_counter()
    empty(reg.engine)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO devices (device_id, hmac_secret, ed25519_pub, revoked, registered_at, role, active) "
                    "VALUES ('dev-bulk', %s, %s, false, now(), 'enrolment', true)", (bytes(32), bytes(32)))
        with cur.copy("COPY persons (id, status, created_at) FROM STDIN") as cp:
            for i in range(1, n + 1):
                cp.write_row((i, "active", "2026-01-01T00:00:00+00"))
        with cur.copy("COPY records (record_id, device_id, boot, seq, digest, envelope, credential_id, officer_id, "
                      "created_t, clock_synced, fields, schema, category, pin_verifier, pin_failures, received_at, "
                      "person_id) FROM STDIN") as cp:
            keys_rows = []
            for i in range(1, n + 1):
                f = person(rng, villages)
                cp.write_row((i.to_bytes(16, "big"), "dev-bulk", 1, i, bytes(32), b"", f"B{i:09d}", "OF1", 0, True,
                              json.dumps(f), 2, f["category"], bytes(32), 0, "2026-01-01T00:00:00+00", i))
                keys_rows.extend((k, i) for k in matching.keys(f))
        with cur.copy("COPY match_keys (key, person_id) FROM STDIN") as kp:
            for row in keys_rows:
                kp.write_row(row)
        cur.execute(f"SELECT setval(pg_get_serial_sequence('persons', 'id'), {n})")
        cur.execute("ANALYZE")
        conn.commit()
    return time.perf_counter() - t0


def national_scale(tmp: Path, pg: str, n: int) -> list[tuple]:
    """n persons bulk-loaded (COPY), then one record filed and claims timed at that size."""
    from population import battambang_villages, person

    reg = make_registry(tmp / "scale", pg)
    rng = random.Random(17)
    villages = battambang_villages()
    load_s = bulk_load(reg, pg, n, rng)
    samples = []
    for _ in range(50):
        f = person(rng, villages)
        with Session(reg.engine) as s:
            t1 = time.perf_counter()
            rid = os.urandom(16)
            row = s.execute(insert(Record).returning(Record.id).values(
                record_id=rid, device_id="dev-bulk", boot=2, seq=len(samples), digest=bytes(32), envelope=b"",
                credential_id="N" + rid.hex()[:20], officer_id="OF1", created_t=0, clock_synced=True, fields=f, schema=2,
                category=f["category"], pin_verifier=bytes(32), pin_failures=0)).scalar_one()
            file_record(s, row, f)
            s.commit()
            samples.append(time.perf_counter() - t1)
    claims = _claims_at_scale(reg, pg)
    reg.engine.dispose()
    samples.sort()
    host = f"PostgreSQL, {n:,} persons bulk-loaded in {load_s:.0f} s"
    return [(f"national scale: file one new record (match included) at {n:,} persons, median",
             round(1000 * samples[len(samples) // 2], 1), "ms", host),
            (f"national scale: payout claim p50 at {n:,} persons", claims[0], "ms", host + ", one registry process, TLS"),
            (f"national scale: payout claim p99 at {n:,} persons", claims[1], "ms", host + ", one registry process, TLS")]


def _claims_at_scale(reg, pg: str) -> tuple[float, float]:
    import base64
    import json

    from firmware.crypto import seal
    from firmware.formats import card_payload
    from host_tools.registry import pins
    from host_tools.registry.ingest import credential_id
    from host_tools.registry.payouts import current_period

    uid = bytes.fromhex("04a1b2c3d4e5f6")
    device = HostDevice(reg, "enrol-scale")
    point = HostDevice(reg, "pay-scale", role="payout")
    ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    times = []
    with RegistryProcess(reg, pg) as srv:
        base = f"https://127.0.0.1:{srv.port}"
        with httpx.Client(base_url=base, verify=ctx, timeout=120) as http:
            approved(http, "POST", "/v1/admin/programmes", reg.operator(), reg.checker(),
                     json={"code": "veteran_pension", "name": "pension",
                            "amounts": {"veteran": 150000, "retired_civil_servant": 120000}})
            dev = RegistryClient(base, device.device_id, device.secret)
            dev.http = http
            key, envs = device.batch(50, fields=[distinct() for _ in range(50)])
            dev.post_batch([key], envs)
            opened = [seal.parse_record(e) for e in envs]
            dev.post_cards([card_payload(o.boot, o.seq, uid, credential_id(o.record_id)) for o in opened])
            pp = RegistryClient(base, point.device_id, point.secret)
            for o in opened * 4:  # each person claims 4 times: one paid, then already paid
                block = pins.encipher(pins.point_key(reg.keys.zone_key, point.device_id), b"2580",
                                      pins.credential_account(credential_id(o.record_id)), os.urandom(8))
                body = json.dumps({"credential": base64.b64encode(device.credential(o.record_id, uid,
                                                                                    reg.keys.registry_id)).decode(),
                                   "uid": uid.hex(), "pin_block": block.hex(), "programme": "veteran_pension",
                                   "period": current_period(time.time())}).encode()
                t0 = time.perf_counter()
                r = http.post("/v1/payouts", content=body, headers=pp.signed_headers("POST", "/v1/payouts", body))
                times.append(time.perf_counter() - t0)
                if r.json().get("result") not in ("paid", "already paid"):
                    raise RuntimeError(f"claim at scale answered {r.text[:200]}")
    times.sort()
    return round(1000 * times[len(times) // 2], 1), round(1000 * times[int(len(times) * 0.99)], 1)


def run():
    from pgserver import postgres_server

    rows: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        scale = int(os.getenv("ENROL_BENCH_SCALE", "0"))
        with postgres_server() as pg:
            if scale:
                return national_scale(tmp, pg, scale)
            rows += matching_quality(tmp)
            host = f"{os.cpu_count()}-core x86 host, PostgreSQL, {DEVICES} devices at once, batches of {PER_BATCH}, TLS"
            for processes in (1, 2):
                rows.append((f"ingest with matching on, {processes} registry process(es)",
                             ingest_rate(tmp, pg, processes), "records/s", host))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
