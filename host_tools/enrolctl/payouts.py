"""The registry operator's payout commands: programmes, the payments of a month (reconciliation:
CSV or JSON lines, and the totals per payout point), and a card's PIN unlocked."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from .device import _call, _keys, _registry
from .errors import EnrolctlError

CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def parse_amounts(pairs: list[str]) -> dict[str, int]:
    """["veteran=150000", ...] -> {"veteran": 150000}; EnrolctlError naming the bad one."""
    out: dict[str, int] = {}
    for pair in pairs:
        category, _, amount = pair.partition("=")
        if not CODE.fullmatch(category) or not amount.isdigit() or not 0 < int(amount) < 10**12:
            raise EnrolctlError(f"--amount {pair!r}: CATEGORY=RIEL, e.g. veteran=150000")
        if category in out:
            raise EnrolctlError(f"--amount: {category} given twice")
        out[category] = int(amount)
    if not out:
        raise EnrolctlError("a programme pays at least one category: --amount veteran=150000")
    return out


def add_programme(keys_dir: Path, url: str, code: str, name: str, amounts: dict[str, int]) -> int:
    """Proposed: returns the proposal a second registrar approves."""
    if not CODE.fullmatch(code):
        raise EnrolctlError(f"programme {code!r}: a-z, digits and _ (a letter first, at most 32)")
    if not 0 < len(name) <= 64:
        raise EnrolctlError("the programme's name must be 1-64 characters")
    with _registry(url, _keys(keys_dir)) as reg:
        r = _call(reg, "POST", "/v1/admin/programmes", json={"code": code, "name": name, "amounts": amounts})
    if r.status_code == 409:
        raise EnrolctlError(f"the registry refused the programme: {r.json().get('error', '')[:200]}")
    if r.status_code != 202:
        raise EnrolctlError(f"the registry refused the programme: {r.status_code} {r.text[:200]}")
    return int(r.json()["proposal"])


def payments(keys_dir: Path, url: str, programme: str, period: str) -> dict[str, Any]:
    if not CODE.fullmatch(programme):
        raise EnrolctlError(f"programme {programme!r}: a-z, digits and _")
    if not PERIOD.fullmatch(period):
        raise EnrolctlError(f"period {period!r}: YYYY-MM, e.g. 2026-12")
    with _registry(url, _keys(keys_dir)) as reg:
        r = _call(reg, "GET", "/v1/admin/payments", params={"programme": programme, "period": period})
    if r.status_code != 200:
        raise EnrolctlError(f"the registry answered {r.status_code}: {r.text[:200]}")
    return r.json()  # type: ignore[no-any-return]


def export(doc: dict[str, Any], fmt: str) -> str:
    """The payments as CSV (a header row) or JSON lines."""
    rows = doc["payments"]
    if fmt == "jsonl":
        return "".join(json.dumps({"programme": doc["programme"], "period": doc["period"], **p}) + "\n" for p in rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["programme", "period", "receipt", "credential_id", "amount", "payout_point", "paid_at"])
    for p in rows:
        w.writerow([doc["programme"], doc["period"], p["receipt"], p["credential_id"], p["amount"],
                    p["payout_point"], p["paid_at"]])
    return buf.getvalue()


def unlock(keys_dir: Path, url: str, credential_id: str) -> int:
    """Proposed: returns the proposal a second reviewer approves."""
    if not re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}|[0-9A-Z]{26}", credential_id):
        raise EnrolctlError(f"credential {credential_id!r}: the card's full id, 26 letters and digits (the "
                            "record's credential_id at the registry; the receipt's XXXX-XXXX is a label, not "
                            "the id), or an old card's XXXX-XXXX")
    with _registry(url, _keys(keys_dir)) as reg:
        r = _call(reg, "POST", f"/v1/admin/credentials/{credential_id}/unlock")
    if r.status_code == 404:
        raise EnrolctlError(f"the registry has no record for credential {credential_id}")
    if r.status_code != 202:
        raise EnrolctlError(f"the registry answered {r.status_code}: {r.text[:200]}")
    return int(r.json()["proposal"])
