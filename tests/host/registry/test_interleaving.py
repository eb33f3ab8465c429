"""Proof by interleaving (issue 28): enrolment devices, payout points and an operator act at once
against two registry processes on one database (SQLite file, and PostgreSQL), in an order a seeded
random generator chooses: people enrolled once, twice on two devices, re-issued (the new record
before or with its card entry), claims with right and wrong PINs racing all of it, batches sent
again, requests replayed, reviews decided as they appear.  Afterwards every review is decided as
the truth says and every person claims once more: each person is paid exactly once, nobody else
is, and `registry audit` finds nothing.  The oracle is the generator's own list of who is who.

Bounded in `make test` (one seed, 14 people); `make soak` runs five seeds of 60 people."""

from __future__ import annotations

import json
import os
import random
import ssl
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cbor2
import httpx
import pytest
from population import distinct
from registrykit import HostDevice, RegistryProcess, approved, registry_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_payouts import PENSION

from firmware.crypto import seal
from firmware.formats import card_payload
from host_tools.registry import pins, protocol
from host_tools.registry.audit import audit
from host_tools.registry.client import RegistryClient
from host_tools.registry.ingest import credential_id
from host_tools.registry.models import Payment, Record
from host_tools.registry.payouts import current_period

PEOPLE, SOAK_PEOPLE = 14, 60
soak = pytest.mark.skipif(not os.environ.get("ENROL_SOAK"), reason="full size: run `make soak`")


@dataclass
class Card:
    truth: int  # the person (the generator's index)
    device: HostDevice
    rid: bytes
    boot: int
    seq: int
    uid: bytes
    pin: bytes
    replaces: str = ""  # the credential this card was written over (a re-issue)
    cose: bytes = b""


@dataclass
class Plan:
    device_steps: dict[str, list[list[tuple[str, object]]]] = field(default_factory=lambda: defaultdict(list))
    cards: list[Card] = field(default_factory=list)


def _plan(rng: random.Random, devices: list[HostDevice], registry_id: str, people: int) -> Plan:
    """Who is enrolled where, and each device's batches in the order it sends them."""
    plan = Plan()
    pending: dict[str, list[tuple[str, object]]] = defaultdict(list)  # per device: items not sent yet
    for truth in range(people):
        fields = distinct(rng)
        home = rng.choice(devices)
        enrolments = [(home, fields)]
        if rng.random() < 0.3:  # enrolled again by another team (a spelling of theirs, another village)
            other = rng.choice([d for d in devices if d is not home])
            enrolments.append((other, dict(fields, village_code="02040101")))
        for dev, f in enrolments:
            first = _enrol(plan, pending, dev, f, truth, rng, registry_id)
            if rng.random() < 0.25:  # lost card: re-enrolled on the same device, written over the old card
                again = _enrol(plan, pending, dev, f, truth, rng, registry_id, replaces=credential_id(first.rid))
                again.uid = first.uid
                again.cose = dev.credential(again.rid, again.uid, registry_id)
    for dev in devices:  # cut each device's items into batches of 1-4, cards sometimes a batch late
        items = pending[dev.device_id]
        while items:
            n = rng.randint(1, 4)
            batch, items = items[:n], items[n:]
            plan.device_steps[dev.device_id].append(batch)
            if rng.random() < 0.2:
                plan.device_steps[dev.device_id].append(batch)  # sent again: the answer was lost
    return plan


def _enrol(plan: Plan, pending: dict, dev: HostDevice, fields: dict, truth: int, rng: random.Random,
           registry_id: str, replaces: str = "") -> Card:
    pin = b"%04d" % rng.randrange(10000)
    key, [env] = dev.batch(1, pin=pin, fields=fields)
    opened = seal.parse_record(env)
    uid = bytes([4]) + os.urandom(6)
    card = Card(truth, dev, opened.record_id, opened.boot, opened.seq, uid, pin, replaces)
    card.cose = dev.credential(card.rid, uid, registry_id)
    plan.cards.append(card)
    pending[dev.device_id].append(("record", (key, env)))
    pending[dev.device_id].append(("card", card))
    return card


def _post_batch(c: httpx.Client, dev: HostDevice, batch: list[tuple[str, object]]) -> None:
    keys, records, cards = [], [], []
    for kind, item in batch:
        if kind == "record":
            k, env = item  # type: ignore[misc]
            keys.append(k)
            records.append(env)
        else:
            card: Card = item  # type: ignore[assignment]
            cards.append(card_payload(card.boot, card.seq, card.uid, credential_id(card.rid), card.replaces))
    body = protocol.encode_batch(keys, records, cards)
    cl = RegistryClient(str(c.base_url), dev.device_id, dev.secret)
    r = c.post("/v1/batches", content=body, headers=cl.signed_headers("POST", "/v1/batches", body))
    assert r.status_code == 200, r.text
    doc = cbor2.loads(r.content)
    assert all(row[1] != protocol.REJECTED for row in doc["results"]), doc
    assert all(row[2] != protocol.REJECTED for row in doc["cards"]), doc


def _claim(c: httpx.Client, point: HostDevice, zone: bytes, card: Card, pin: bytes,
           replay: bool = False) -> tuple[int, dict]:
    block = pins.encipher(pins.point_key(zone, point.device_id), pin, pins.credential_account(credential_id(card.rid)),
                          os.urandom(8))
    import base64

    body = json.dumps({"credential": base64.b64encode(card.cose).decode(), "uid": card.uid.hex(),
                       "pin_block": block.hex(), "programme": "veteran_pension",
                       "period": current_period(time.time())}).encode()
    cl = RegistryClient(str(c.base_url), point.device_id, point.secret)
    headers = dict(cl.signed_headers("POST", "/v1/payouts", body), **{"content-type": "application/json"})
    r = c.post("/v1/payouts", content=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code == 200 and replay:  # the same signed request again: a replay
        again = c.post("/v1/payouts", content=body, headers=headers)
        assert again.status_code == 401 and "replay" in again.text, again.text
    return r.status_code, r.json()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_any_interleaving_pays_each_person_exactly_once(request, tmp_path, database: str) -> None:
    interleave(request, tmp_path, database, 20261206, PEOPLE)


@soak
@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("seed", range(1, 6))
def test_soak_interleavings_of_60_people(request, tmp_path, database: str, seed: int) -> None:
    interleave(request, tmp_path, database, seed, SOAK_PEOPLE)


def interleave(request, tmp_path, database: str, seed: int, people: int) -> None:
    reg = registry_for(request, tmp_path, database)
    rng = random.Random(seed)
    devices = [HostDevice(reg, f"enrol-{i}") for i in range(3)]
    points = [HostDevice(reg, f"pay-{i}", role="payout") for i in range(2)]
    plan = _plan(rng, devices, reg.keys.registry_id, people)
    truth_of: dict[bytes, int] = {c.rid: c.truth for c in plan.cards}
    url = reg.engine.url.render_as_string(hide_password=False)
    ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    answers: list[dict] = []
    lock = threading.Lock()
    with RegistryProcess(reg, url) as one, RegistryProcess(reg, url) as two:
        bases = [f"https://127.0.0.1:{one.port}", f"https://127.0.0.1:{two.port}"]
        with httpx.Client(base_url=bases[0], verify=ctx, timeout=60) as c:
            approved(c, "POST", "/v1/admin/programmes", reg.operator(), reg.checker(), json=PENSION)
        maker, checker = reg.operator("reviewer-a", ("reviewer",)), reg.operator("reviewer-b", ("reviewer",))

        def device_actor(dev: HostDevice, actor_seed: int) -> None:
            r = random.Random(actor_seed)
            for batch in plan.device_steps[dev.device_id]:
                with httpx.Client(base_url=r.choice(bases), verify=ctx, timeout=60) as c:
                    _post_batch(c, dev, batch)
                time.sleep(r.random() * 0.02)

        def point_actor(point: HostDevice, actor_seed: int) -> None:
            r = random.Random(actor_seed)
            wrong_left = {id(card): 1 for card in plan.cards}  # never locks a card: one wrong PIN each at most
            for _ in range(len(plan.cards) * 2):
                card = r.choice(plan.cards)
                pin = card.pin
                if wrong_left[id(card)] and r.random() < 0.2:
                    wrong_left[id(card)] -= 1
                    pin = b"%04d" % ((int(card.pin) + 1) % 10000)
                with httpx.Client(base_url=r.choice(bases), verify=ctx, timeout=60) as c:
                    status, doc = _claim(c, point, reg.keys.zone_key, card, pin, replay=r.random() < 0.1)
                with lock:
                    answers.append(doc)

        def operator_actor(actor_seed: int, rounds: int = 6) -> None:
            r = random.Random(actor_seed)
            for _ in range(rounds):
                time.sleep(0.2 + r.random() * 0.3)
                with httpx.Client(base_url=r.choice(bases), verify=ctx, timeout=60) as c:
                    _decide_all(c, truth_of, maker, checker, stop_after=r.randint(1, 3))

        with ThreadPoolExecutor(8) as pool:
            jobs = [pool.submit(device_actor, d, seed * 10 + i) for i, d in enumerate(devices)]
            jobs += [pool.submit(point_actor, p, seed * 20 + i) for i, p in enumerate(points)]
            jobs.append(pool.submit(operator_actor, seed * 30))
            for j in jobs:
                j.result()
        # afterwards: every review decided as the truth says, then everyone claims with the newest card
        with httpx.Client(base_url=bases[1], verify=ctx, timeout=60) as c:
            _decide_all(c, truth_of, maker, checker)
            newest: dict[int, Card] = {}
            for card in plan.cards:
                if card.replaces or card.truth not in newest:
                    newest[card.truth] = card
            for card in newest.values():
                status, doc = _claim(c, points[0], reg.keys.zone_key, card, card.pin)
                assert doc["result"] in ("paid", "already paid"), (card, doc)
    assert all(a.get("result") not in ("invalid",) for a in answers), answers
    with Session(reg.engine) as s:
        paid_truth = defaultdict(int)
        for rid in s.scalars(select(Payment.record_id)):
            paid_truth[truth_of[bytes(rid)]] += 1
        stored = len(s.scalars(select(Record.id)).all())
    assert stored == len(plan.cards)
    assert dict(paid_truth) == {t: 1 for t in range(people)}, paid_truth
    breaches, counts = audit(reg.engine, reg.keys.pin_key)
    assert breaches == [], breaches
    assert counts["persons"] == people and counts["open_reviews"] == 0
    print(f"seed {seed} {database}: {len(plan.cards)} records, {len(answers)} claims racing, "
          f"{sum(1 for a in answers if a.get('result') == 'paid')} paid then, {counts}")


def _decide_all(c: httpx.Client, truth_of: dict[bytes, int], headers: dict[str, str], checker: dict[str, str],
                stop_after: int = 10**9) -> None:
    """Decide open reviews as the truth says (a reviewer who checks the person's ID card), each
    decision approved by a second reviewer."""
    for _ in range(min(stop_after, 1000)):
        r = c.get("/v1/admin/reviews", params={"status": "open"}, headers=headers)
        assert r.status_code == 200, r.text
        rows = r.json()
        if not rows:
            return
        row = rows[0]
        mine = {truth_of[bytes.fromhex(rec["record_id"])] for rec in row["person"]["records"]}
        other = {truth_of[bytes.fromhex(rec["record_id"])] for rec in (row["other"] or {"records": []})["records"]}
        decision = "same" if mine & other else "different"
        d = c.post(f"/v1/admin/reviews/{row['id']}/decide", json={"decision": decision}, headers=headers)
        assert d.status_code in (202, 409), d.text  # 409: proposed or decided already, at the other process
        waiting = c.get("/v1/admin/proposals", params={"status": "open"}, headers=checker).json()
        for p in waiting:
            a = c.post(f"/v1/admin/proposals/{p['id']}/approve", json={"reason": "ID card seen"}, headers=checker)
            assert a.status_code in (200, 409), a.text  # 409: approved at the other process first
