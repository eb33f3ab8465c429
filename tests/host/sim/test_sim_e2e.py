"""End to end: the simulated device (the frozen firmware in our 32-bit MicroPython at the ESP32's
heap, its hardware emulated on the host), driven key by key through the emulated key matrix, enrols several people and syncs them to the registry it was provisioned
with (a real one, over TLS on loopback); the host then opens what it saved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization

from conftest import ROOT
from host_tools.enrolctl.journal import envelopes
from host_tools.registry.unseal import open_record, unwrap_key
from host_tools.enrolctl.simrun import sim_command
from host_tools.enrolctl.simstate import provision
from registrykit import RegistryProcess, _free_port, make_registry_from

sys.path.insert(0, str(ROOT / "tests" / "fw"))
from flowkit import text_keys  # noqa: E402

PEOPLE = [("SOPHEAP", "CHHUON", "14061987", "7391"), ("DARA", "KEO", "01012000", "4826"),
          ("NARY", "MEAS", "29022004", "1593")]


def keys_for(text: str) -> str:
    return "".join("." if isinstance(k, tuple) else k for k in text_keys(text))


def script() -> str:
    lines = ["0042A", "?PIN:", "2468A", "?HOME"]
    for given, family, birth, pin in PEOPLE:
        lines += ["1", keys_for(family) + "A", keys_for(given) + "A", "1", birth + "A", "A", "A", "A", "A", "#",
                  pin + "A", pin + "A", "?Tap the card", "t", "?Card ready", "r", "A", "?HOME"]
        # tap a new card once asked, wait for the receipt, take the card away, next person
    lines += ["3", "?To sync: 0", "A", "?HOME"]  # the status screen, once the sync has emptied the outbox
    lines += ["mem", "q"]  # the device prints its heap (micropython.mem_info) before it switches off
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    port = _free_port()
    provision(state, port)
    reg = make_registry_from(state / "registry")
    env = dict(os.environ, ENROL_DATA_DIR=str(state / "flash"), ENROL_SIM_VIEW="text",
               ENROL_SIM_WALLET=str(state / "wallet"))
    with RegistryProcess(reg, f"sqlite:///{state / 'registry' / 'registry.db'}", port):
        proc = subprocess.run(sim_command(), cwd=ROOT, env=env, input=script(), capture_output=True, text=True, timeout=300)
    return proc, state, reg


def test_three_people_are_enrolled_and_saved(sim_run) -> None:
    proc, _, _ = sim_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert out.count("|Record SAVED.   |") >= 3
    assert out.count("|Card ready for  |") >= 3
    assert out.rstrip().endswith("power off")
    assert out.count("image: confirmed") == 1  # the image told the bootloader to keep it (README, Updating)


def test_cards_verify_with_standard_libraries_and_records_are_marked(sim_run) -> None:
    from host_tools.enrolctl.card import load_trust, verify_image
    from host_tools.enrolctl.journal import entries

    _, state, _ = sim_run
    trust = load_trust(state / "trust.json")
    cards = sorted((state / "wallet").glob("*.bin"))
    assert len(cards) == 3
    names = sorted(verify_image(c.read_bytes(), trust).claims[-70001] for c in cards)
    assert names == sorted(g for g, _, _, _ in PEOPLE)
    card_entries = [e for seg in (state / "flash" / "journal").glob("*.seg") for e in entries(seg.read_bytes()) if e[1] == 3]
    assert len(card_entries) == 3  # each record remembers its card was verified


def test_the_registry_opens_exactly_what_was_typed(sim_run) -> None:
    _, state, _ = sim_run
    key = serialization.load_pem_private_key((state / "registry" / "registry_key.pem").read_bytes(), None)
    found = []
    for key_env, rec_env in envelopes(state / "flash" / "journal"):
        kid, batch = unwrap_key(key, key_env)
        opened = open_record(rec_env, {kid: batch})
        doc = cbor2.loads(opened.plaintext)
        found.append(doc)
        assert opened.device_id.startswith("sim-") and doc["officer_id"] == "OF0042"
        assert doc["fields"]["consent"] is True and len(doc["pin_block"]) == 16
    assert [(d["fields"]["given_name"], d["fields"]["family_name"]) for d in found] == [
        (g, f) for g, f, _, _ in PEOPLE]
    assert found[2]["fields"]["birth_date"] == "2004-02-29"


def test_the_sim_synced_every_record_to_its_registry_exactly_once(sim_run) -> None:
    proc, state, reg = sim_run
    assert "sync: " in proc.stdout  # the app reported its syncs on the console
    assert reg.count() == 3 and reg.duplicated() == 0, [ln for ln in proc.stdout.splitlines() if not ln.startswith(("|", "+"))]
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from host_tools.registry.models import Record

    with Session(reg.engine) as s:
        names = sorted(r.fields["given_name"] for r in s.scalars(select(Record)))
    assert names == sorted(g for g, _, _, _ in PEOPLE)
    from host_tools.enrolctl.journal import entries

    synced = [e for seg in (state / "flash" / "journal").glob("*.seg") for e in entries(seg.read_bytes()) if e[1] == 4]
    assert synced, "the device marked its records synced (SYNCED journal entries)"


def test_the_device_ran_at_the_esp32_heap_with_no_block_over_16_kb(sim_run) -> None:
    """The ESP32's heap is two areas of ~55 KB that fragment: after three enrolments, their cards and
    their syncs, at 100 KB, the largest block in use is under 16 KB, most of the heap is free, and
    the free space is not in crumbs: a run of 15 KB is left (the GC threshold, firmware/app.py;
    1.3 KB without it).  Measured: 32.0 KB free (32.4 KB before issue 31's structure); the run
    16.3-22.3 KB over a dozen runs (20.6-20.9 KB before it): it now varies with where the tasks'
    allocations interleave, so the guard sits under the lowest seen, not at 16 KB."""
    import re

    proc, _, _ = sim_run
    total = re.search(r"GC: total: (\d+)", proc.stdout)
    biggest = re.search(r"max blk sz: (\d+)", proc.stdout)
    run = re.search(r"max free sz: (\d+)", proc.stdout)
    free = re.search(r"sim: heap free (\d+) B", proc.stdout)
    assert total and biggest and run and free, proc.stdout[-2000:]
    assert 99_000 <= int(total.group(1)) <= 101_000  # -X heapsize=100k
    assert int(biggest.group(1)) * 16 <= 16 * 1024  # 16-byte GC blocks on a 32-bit machine
    assert int(free.group(1)) >= 30 * 1024
    assert int(run.group(1)) * 16 >= 15 * 1024


def test_the_device_keeps_a_seed_file_and_renews_it_at_each_sync(sim_run) -> None:
    """crypto/rng.py: the DRBG's seed file exists after a day with syncs and holds 32 bytes; its
    renewals are flash writes the audit does not need to see (no personal data in it)."""
    _, state, _ = sim_run
    seed = (state / "flash" / "seed.bin").read_bytes()
    assert len(seed) == 32 and seed != bytes(32)
