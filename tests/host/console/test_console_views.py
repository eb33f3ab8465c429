"""The console's overview counts, on SQLite and PostgreSQL (the two group in different SQL):
checked against what the test itself enrolled."""

from __future__ import annotations

import sys
from pathlib import Path

from population import distinct
from registrykit import HostDevice, http, reg  # noqa: F401 - fixtures
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from test_payouts import Person, add_programme, pay  # noqa: E402

from host_tools.registry.console import views  # noqa: E402
from host_tools.registry.payouts import current_period  # noqa: E402


def test_the_overview_counts_each_person_once_where_and_as_what_they_were_enrolled(reg, http) -> None:
    import time

    add_programme(http, reg)
    a, b = HostDevice(reg, "enrol-01"), HostDevice(reg, "enrol-02")
    point = HostDevice(reg, "pay-01", role="payout")
    enrolled = [("02040107", "veteran"), ("02040107", "retired_civil_servant"), ("02040201", "veteran"),
                ("02050101", "citizen")]
    people, fields = [], []
    for village, category in enrolled:
        fields.append(dict(distinct(), village_code=village, category=category))
        people.append(Person(reg, http, a, fields=fields[-1]))
    assert pay(http, point, people[0].claim(b"2580"))["result"] == "paid"
    # the third person enrolled again on another device, a letter off: held, counted as a person
    twin = dict(fields[2], given_name=fields[2]["given_name"][:-1] + "A")
    assert pay(http, point, Person(reg, http, b, fields=twin, pin=b"1357").claim(b"1357"))["result"] == "held"
    with Session(reg.engine) as s:
        data = views.overview(s, current_period(time.time()), "en")
    assert data["people"] == 5 and data["held"] == 1
    communes = {c["code"]: c["people"] for d in data["districts"] for c in d["communes"]}
    assert communes == {"020401": 2, "020402": 2, "020501": 1}
    assert {d["code"]: d["people"] for d in data["districts"]} == {"0204": 4, "0205": 1}
    assert dict(data["categories"]) == {"veteran": 3, "retired_civil_servant": 1, "citizen": 1}
    [prog] = data["programmes"]
    # PENSION pays veterans 150,000 and retired civil servants 120,000; citizens nothing
    assert (prog["paid"], prog["paid_sum"], prog["expected_people"], prog["expected"]) == (1, 150000, 3, 420000)
    assert {d["device_id"]: d["records"] for d in data["devices"]} == {"enrol-01": 4, "enrol-02": 1, "pay-01": 0}
    assert {d["device_id"]: d["waiting"] for d in data["devices"]} == {"enrol-01": 0, "enrol-02": 0, "pay-01": 0}
    # records pushed over USB wait for a second registrar; a device not approved: all of its records
    from host_tools.registry import protocol

    key, envs = a.batch(2)
    r = http.post("/v1/admin/devices/enrol-01/batches", content=protocol.encode_batch([key], envs),
                  headers=reg.operator())
    assert r.status_code == 200
    with Session(reg.engine) as s:
        from sqlalchemy import update

        from host_tools.registry.models import Device

        s.execute(update(Device).where(Device.device_id == "enrol-02").values(active=False))
        s.commit()
        rows = {d["device_id"]: d["waiting"] for d in views.devices(s)}
    assert rows == {"enrol-01": 2, "enrol-02": 1, "pay-01": 0}
    assert data["districts"][0]["name"] == "Bavel"
