"""The operator's payout commands against a real registry over TLS: a programme added, the
month's payments exported (CSV, JSON lines) with the totals per payout point, a locked card
unlocked (audited); bad arguments refused in one line."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import ssl
import time
from pathlib import Path

import httpx
import pytest
from conftest import enrolctl
from registrykit import HostDevice, make_registry, served  # noqa: F401 - fixture
from sqlalchemy import select
from sqlalchemy.orm import Session

from host_tools.registry import pins
from host_tools.registry.client import RegistryClient
from host_tools.registry.ingest import credential_id
from host_tools.registry.models import Event
from host_tools.registry.payouts import current_period

UID = bytes.fromhex("04a1b2c3d4e5f6")


def test_a_programme_its_payments_and_an_unlock(served, tmp_path: Path) -> None:
    from firmware.crypto import seal

    reg, url = served
    keys = str(reg.keys_dir)
    # two operators, each signed in on their own laptop
    maker = reg.session_env(tmp_path / "maker", "maker", ("registrar", "reviewer", "auditor"))
    checker = reg.session_env(tmp_path / "checker", "checker", ("registrar", "reviewer"))
    programme = ("registry", "programme", "--keys", keys, "--registry", url, "--code", "veteran_pension",
                 "--name", "Veteran's pension", "--amount", "veteran=150000", "--amount", "retired_civil_servant=120000")
    r = enrolctl(*programme, env=maker)
    assert r.returncode == 0 and "programme veteran_pension proposed (proposal 1)" in r.stdout, r.stderr
    again = enrolctl(*programme, env=maker)
    assert again.returncode == 1 and "proposal 1 for veteran_pension is open already" in again.stderr, again.stderr
    own = enrolctl("registry", "approve", "1", "--keys", keys, "--registry", url, env=maker)
    assert own.returncode == 1 and "cannot approve it" in own.stderr, own.stderr
    ok = enrolctl("registry", "approve", "1", "--keys", keys, "--registry", url, "--reason", "budget letter", env=checker)
    assert ok.returncode == 0 and "approved" in ok.stdout, ok.stderr
    same = enrolctl(*programme, env=maker)
    assert same.returncode == 1 and "exists with these amounts" in same.stderr, same.stderr
    ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    device, point = HostDevice(reg), HostDevice(reg, "pay-01", role="payout")
    with httpx.Client(base_url=url, verify=ctx) as http:
        dev = RegistryClient(url, device.device_id, device.secret)
        dev.http = http
        key, envs = device.batch(1)
        dev.post_batch([key], envs)
        rid = seal.parse_record(envs[0]).record_id
        from firmware.formats import card_payload

        dev.post_cards([card_payload(1, 1, UID, credential_id(rid))])  # the card's issue: a card pays after it
        card = base64.b64encode(device.credential(rid, UID, reg.keys.registry_id)).decode()
        account = pins.credential_account(credential_id(rid))
        pp = RegistryClient(url, point.device_id, point.secret)
        pp.http = http

        def claim(pin: bytes) -> dict:
            body = json.dumps({"credential": card, "uid": UID.hex(), "programme": "veteran_pension",
                               "pin_block": pins.encipher(pins.point_key(reg.keys.zone_key, "pay-01"), pin, account, os.urandom(8)).hex(),
                               "period": current_period(time.time())}).encode()
            return http.post("/v1/payouts", content=body, headers=pp.signed_headers("POST", "/v1/payouts", body)).json()

        for wrong in (b"1111", b"1112", b"1113"):
            claim(wrong)
        assert claim(b"2580")["result"] == "locked"
        u = enrolctl("registry", "unlock", "--keys", keys, "--registry", url, credential_id(rid), env=maker)
        assert u.returncode == 0 and "proposed (proposal 2)" in u.stdout, u.stderr
        assert claim(b"2580")["result"] == "locked"  # one operator alone unlocks nothing
        listed = enrolctl("registry", "proposals", "--keys", keys, "--registry", url, env=checker)
        assert "unlock-pin" in listed.stdout and credential_id(rid) in listed.stdout, listed.stdout
        a = enrolctl("registry", "approve", "2", "--keys", keys, "--registry", url, "--reason", "ID card seen",
                     env=checker)
        assert a.returncode == 0, a.stderr
        paid = claim(b"2580")
        assert paid["result"] == "paid"
    period = current_period(time.time())
    r = enrolctl("registry", "payouts", "--keys", keys, "--registry", url, "--programme", "veteran_pension",
                 "--period", period, env=maker)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["receipt"], x["amount"], x["payout_point"]) for x in rows] == [(paid["receipt"], "150000", "pay-01")]
    assert "pay-01" in r.stderr and "150,000" in r.stderr  # the totals per payout point
    out = tmp_path / "payments.jsonl"
    r = enrolctl("registry", "payouts", "--keys", keys, "--registry", url, "--programme", "veteran_pension",
                 "--period", period, "--format", "jsonl", "--out", str(out), env=maker)
    assert r.returncode == 0 and json.loads(out.read_text())["receipt"] == paid["receipt"]
    assert out.stat().st_mode & 0o777 == 0o600  # who was paid what: its owner's alone
    (tmp_path / "open").mkdir(mode=0o755)
    (tmp_path / "open").chmod(0o755)
    r = enrolctl("registry", "payouts", "--keys", keys, "--registry", url, "--programme", "veteran_pension",
                 "--period", period, "--out", str(tmp_path / "open" / "p.csv"), env=maker)
    assert r.returncode == 1 and "chmod 700" in r.stderr and not (tmp_path / "open" / "p.csv").exists()
    with Session(reg.engine) as s:
        trail = [(e.kind, e.operator, e.reason) for e in s.scalars(select(Event).where(Event.kind.in_(
            ("pin-locked", "proposed", "approved"))).order_by(Event.seq))]
    assert trail == [("proposed", "maker", "a new programme"), ("approved", "checker", "budget letter"),
                     ("pin-locked", None, None), ("proposed", "maker", "the person came to the office"),
                     ("approved", "checker", "ID card seen")], trail


@pytest.mark.parametrize("args, reason", [
    (["programme", "--code", "Vet", "--name", "x", "--amount", "veteran=1"], "a-z, digits and _"),
    (["programme", "--code", "vet", "--name", "x", "--amount", "veteran=abc"], "CATEGORY=RIEL"),
    (["programme", "--code", "vet", "--name", "x", "--amount", "veteran=0"], "CATEGORY=RIEL"),
    (["programme", "--code", "vet", "--name", "x", "--amount", "v=1", "--amount", "v=2"], "v given twice"),
    (["payouts", "--programme", "vet", "--period", "2026-13"], "YYYY-MM"),
    (["payouts", "--programme", "vet", "--period", "2026-12", "--format", "xml"], "csv or jsonl"),
    (["unlock", "K7QX"], "the card's full id, 26 letters and digits"),
])
def test_bad_payout_arguments_are_refused_in_one_line(tmp_path: Path, args: list[str], reason: str) -> None:
    reg = make_registry(tmp_path)
    r = enrolctl("registry", args[0], "--keys", str(reg.keys_dir), "--registry", "https://127.0.0.1:1", *args[1:])
    assert r.returncode == 1 and reason in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_an_unknown_credential_cannot_be_unlocked(served, tmp_path: Path) -> None:
    reg, url = served
    r = enrolctl("registry", "unlock", "--keys", str(reg.keys_dir), "--registry", url, "AAAA-BBBB",
                 env=reg.session_env(tmp_path / "op"))
    assert r.returncode == 1 and "no record for credential AAAA-BBBB" in r.stderr
