"""`enrolctl registry audit` on a live SQLite database: clean after an ordinary payment, exit 1
naming each breach once a row is written by hand, and one clear line for a missing database."""

from __future__ import annotations

from pathlib import Path

from conftest import enrolctl
from registrykit import make_registry
from sqlalchemy import update
from sqlalchemy.orm import Session

from host_tools.registry.models import Payment


def test_the_audit_is_clean_then_names_a_hand_written_breach(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from host_tools.registry.app import create_app

    reg = make_registry(tmp_path)
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
    from test_payouts import PENSION, Person, add_programme, op, pay

    from registrykit import HostDevice

    http = TestClient(create_app(reg.keys, reg.engine), base_url="https://testserver")
    add_programme(http, reg)
    device, point = HostDevice(reg), HostDevice(reg, "pay-01", role="payout")
    assert pay(http, point, Person(reg, http, device).claim(b"2580"))["result"] == "paid"
    keys, db = str(reg.keys_dir), f"sqlite:///{tmp_path / 'registry.db'}"
    r = enrolctl("registry", "audit", "--keys", keys, "--db", db)
    assert r.returncode == 0 and "audit clean" in r.stdout and "1 payments" in r.stdout, r.stderr
    with Session(reg.engine) as s:  # an insider moves the payment to another amount
        s.execute(update(Payment).values(amount=999999))
        s.commit()
    r = enrolctl("registry", "audit", "--keys", keys, "--db", db)
    assert r.returncode == 1 and "BREACH payment-proof" in r.stderr and "1 breach(es)" in r.stderr
    r = enrolctl("registry", "audit", "--keys", keys, "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert r.returncode == 1 and "no registry database" in r.stderr and "Traceback" not in r.stderr
