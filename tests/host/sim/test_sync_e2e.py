"""The firmware, under the real MicroPython unix port, syncs to the real registry over TLS on 127.0.0.1.

On SQLite and on a real PostgreSQL server, through a fault-injecting proxy, with
the registry killed mid-batch and the device's power cut at every sync step:
every record reaches the registry exactly once and the device's outbox empties.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session
from conftest import MICROPYTHON, ROOT
from faultproxy import FAULTS, FaultProxy
from registrykit import Registry, RegistryProcess, make_registry, provision_device, registry_for, serving, set_url

from host_tools.enrolctl.journal import envelopes
from host_tools.registry.client import RegistryClient
from host_tools.registry.models import Record
from host_tools.registry.protocol import ACCEPTED, CONFLICT

DEVICE_SCRIPT = ROOT / "tests" / "mp" / "sync_device.py"
# A generous heap for this script (the store and the sync client driven directly, a thousand
# records, power cuts); the whole device syncs at 100 KB in the other sim tests, and make bench
# finds its smallest heap (80 KB).  mbedtls takes its TLS buffers from the C heap in our unix
# build (MICROPY_MBEDTLS_CONFIG_BARE_METAL is off), as from ESP-IDF's heap on the board.
SYNC_HEAPSIZE = "160k"
N_RECORDS = int(os.environ.get("ENROL_E2E_RECORDS", "1000"))


def run_device(tree: Path, data: Path, save: int, mode: str, base_ms: int = 20, batch: int = 16,
               timeout: float = 600) -> dict:
    """Run the MicroPython device script; its output goes to DATA.log as it comes (a run that
    hangs still shows how far it got)."""
    log = data.parent / (data.name + ".log")
    with open(log, "w") as out:
        proc = subprocess.run([str(MICROPYTHON), "-X", f"heapsize={SYNC_HEAPSIZE}", str(DEVICE_SCRIPT), str(tree),
                               str(data), str(save), mode, str(base_ms), str(batch)],
                              stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    text = log.read_text()
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"device run failed (rc {proc.returncode}):\n{text[-3000:]}")


def device_record_ids(data: Path) -> set[bytes]:
    ids = set()
    for _, env in envelopes(data / "journal"):
        p = 6 + env[5] + 8
        ids.add(bytes(env[p : p + 16]))
    return ids


def server_record_ids(reg: Registry) -> list[bytes]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(reg.engine) as s:
        return [bytes(r) for r in s.scalars(select(Record.record_id))]


def make_conflicts(reg: Registry, data: Path, secret: bytes, url: str, n: int) -> set[bytes]:
    """Send, with the device's credentials, other bytes under n of its record ids before it syncs
    (as a restored backup or a cloned flash would): the device's own versions must then come back
    as conflicts, on both sides."""
    import firmware.crypto.seal as seal
    from firmware.crypto.rsa_oaep import RsaPublicKey

    device = json.loads((data / "device.json").read_text())
    pub = RsaPublicKey(bytes.fromhex(device["registry_pub_n"]), 65537)
    batch = seal.BatchKey(pub)
    from firmware.crypto import pin_block
    from firmware.enrol import record

    chosen: set[bytes] = set()
    records = []
    for _, env in list(envelopes(data / "journal"))[5 : 5 + n]:
        hdr = seal.parse_record(env)
        fields = dict(record.typical_fields(), given_name="SOMEONE ELSE")
        block = pin_block.encipher(seal.pin_key(batch.key, hdr.record_id), bytearray(b"1357"), hdr.record_id)
        plain = record.encode("OF0042", int(time.time()), True, fields, "", block)
        records.append(bytes(seal.seal_record(batch, hdr.device_id, hdr.boot, hdr.seq, hdr.record_id, plain)))
        chosen.add(hdr.record_id)
    with RegistryClient(url, device["device_id"], secret, str(reg.keys_dir / "ca.pem")) as client:
        receipts = client.post_batch([bytes(batch.envelope())], records)
    assert [r.result for r in receipts] == [ACCEPTED] * n
    return chosen


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path: Path) -> Registry:
    return registry_for(request, tmp_path, request.param)


def test_thousand_records_exactly_once_through_faults_and_a_registry_crash(mpy_tree, registry, tmp_path):
    data = tmp_path / "device"
    db_url = str(registry.engine.url.render_as_string(hide_password=False))
    with RegistryProcess(registry, db_url) as server:
        secret = provision_device(registry, data, "dev-e2e", f"https://127.0.0.1:{server.port}")
        saved = run_device(mpy_tree, data, N_RECORDS, "none")
        assert saved["records"] == saved["pending"] == N_RECORDS
        conflicted = make_conflicts(registry, data, secret, f"https://127.0.0.1:{server.port}", 3)

        proxy = FaultProxy(server.port, registry.keys.server_cert, registry.keys.server_key, registry.keys.ca_pem,
                           fault_rate=0.3, seed=7)
        proxy.schedule = list(FAULTS)  # every fault kind at least once, first
        kill_at = len(FAULTS) + 4

        def crash(n: int) -> None:
            if n == kill_at:  # the registry dies while this batch is on its way, and comes back
                threading.Timer(0.05, server.kill).start()
                threading.Timer(1.0, server.start).start()

        proxy.on_forward = crash
        with proxy:
            set_url(data, f"https://127.0.0.1:{proxy.port}")
            result = run_device(mpy_tree, data, 0, "drain")

    on_device = device_record_ids(data)
    on_server = server_record_ids(registry)
    lost = on_device - set(on_server)
    print(f"e2e {registry.engine.dialect.name}: faults {dict(proxy.stats)}, registry kills {server.kills}, "
          f"attempts {result['attempts']}, errors {result['errors'][:5]}")
    assert len(on_device) == N_RECORDS
    assert lost == set(), f"{len(lost)} records lost"
    assert len(on_server) == len(set(on_server)) == N_RECORDS and registry.duplicated() == 0
    assert result["pending"] == 0, result
    assert result["synced"] == N_RECORDS - len(conflicted)  # the 3 conflicts are final on the device, not synced
    assert registry.conflicts() == len(conflicted)
    assert all(proxy.stats[f] >= 1 for f in FAULTS) and server.kills == 1


def run_until_step(tree: Path, data: Path, save: int, cut_at: int, batch: int) -> list[str]:
    """Run a sync in "steps" mode and kill the process (power cut) at its cut_at-th step.
    Returns the steps seen; all of them if the sync ended first."""
    proc = subprocess.Popen([str(MICROPYTHON), "-X", f"heapsize={SYNC_HEAPSIZE}", str(DEVICE_SCRIPT), str(tree),
                             str(data), str(save), "steps", "20", str(batch)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    steps = []
    try:
        for line in proc.stdout:
            if line.startswith("STEP "):
                steps.append(line[5:].strip())
                if len(steps) == cut_at:
                    proc.kill()  # power lost here: RAM gone, flash as committed
                    break
                proc.stdin.write("\n")
                proc.stdin.flush()
    finally:
        proc.kill()
        proc.wait(30)
    return steps


def test_power_cut_at_every_step_of_a_sync(mpy_tree, tmp_path):
    """20 records in batches of 8: time fix, then planned/sent/answered/applied per batch.
    For each step, the same device (a copy of its flash) is cut there, powered on again and
    left to finish, against a registry that has none of its records yet."""
    reg = make_registry(tmp_path)
    with serving(reg) as url:
        template = tmp_path / "template"
        provision_device(reg, template, "dev-cut", url)
        run_device(mpy_tree, template, 20, "none")
        probe = tmp_path / "probe"
        shutil.copytree(template, probe)
        all_steps = run_until_step(mpy_tree, probe, 0, 10_000, 8)
        assert all_steps[0] == "time" and all_steps.count("applied") == 3, all_steps
        for k in range(1, len(all_steps) + 1):
            with Session(reg.engine) as s:
                s.execute(delete(Record))
                s.commit()
            data = tmp_path / f"cut{k}"
            shutil.copytree(template, data)
            seen = run_until_step(mpy_tree, data, 0, k, 8)
            assert len(seen) == k
            result = run_device(mpy_tree, data, 0, "drain", batch=8)
            assert result["pending"] == 0 and result["synced"] == 20, (k, seen[-1], result)
            assert sorted(server_record_ids(reg)) == sorted(device_record_ids(data)), (k, seen[-1])
            assert reg.duplicated() == 0
        print(f"power cut at each of {len(all_steps)} sync steps ({', '.join(all_steps)}): lost 0, duplicated 0")


def test_a_registry_certificate_from_another_ca_is_refused_and_records_kept(mpy_tree, tmp_path):
    """The device pins its registry's CA: a server with a certificate from any other CA (a
    man in the middle with a certificate of its own) gets no record."""
    from host_tools.registry.pki import make_ca

    reg = make_registry(tmp_path)
    with serving(reg) as url:
        data = tmp_path / "device"
        provision_device(reg, data, "dev-ca", url, ca_pem=make_ca("Someone else's CA").cert_pem)
        result = run_device(mpy_tree, data, 3, "once")
    assert result["pending"] == 3 and result["synced"] == 0 and reg.count() == 0
    assert "TLS" in result["errors"][0] or "connect" in result["errors"][0], result["errors"]


def test_records_made_before_the_clock_was_set_are_flagged(mpy_tree, tmp_path):
    """A device's clock is unknown until the registry's time arrives: records saved before are
    marked "unsynced", records saved after (same power-on) "synced"."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    reg = make_registry(tmp_path)
    with serving(reg) as url:
        data = tmp_path / "device"
        provision_device(reg, data, "dev-clock", url)
        run_device(mpy_tree, data, 2, "drain")  # saved, then the time fix, then synced
        run_device(mpy_tree, data, 0, "drain")
    with Session(reg.engine) as s:
        flags = [r.clock_synced for r in s.scalars(select(Record).order_by(Record.seq))]
    assert flags == [False, False]
    clock = json.loads((data / "clock.json").read_text())
    assert abs(clock["floor"] - time.time()) < 60  # the registry's time, persisted as the floor
