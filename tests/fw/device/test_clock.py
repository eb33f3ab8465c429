"""The device's date (issue 17, item 4): Cambodian local time by integer arithmetic (the ports'
gmtime epochs differ), never before the floor on flash, and birth dates checked against it when
the registry has not set the clock: a date in the future is refused, typed on any key."""

import json

from firmware import app as app_mod
from firmware.effect_runner import Runner
from firmware.clock import Clock, local_date, local_hhmm
from flowkit import Driver, login, new_flow
from fwtest import IS_MICROPYTHON, tmpdir
from firmware.ui import keymap as K

RTC_AFTER_POWER_LOSS = 946684800  # 2000-01-01: the ESP32's RTC restarted from its epoch
PROVISIONED = 1796083200  # 2026-12-01 00:00 UTC, the floor enrolctl wrote at provisioning


def test_local_dates_and_times_are_cambodian():
    assert local_date(0) == (1970, 1, 1)
    assert local_date(1796058000 - 1) == (2026, 11, 30)  # 23:59:59 in Phnom Penh
    assert local_date(1796058000) == (2026, 12, 1)  # 17:00 UTC is midnight at UTC+7
    assert local_date(951782400) == (2000, 2, 29)  # a leap day (2000-02-29 00:00 UTC)
    assert local_date(4107542400) == (2100, 3, 1)  # 2100 is no leap year
    assert local_hhmm(1796058000) == "00:00" and local_hhmm(PROVISIONED) == "07:00"


def test_local_date_agrees_with_the_calendar_over_two_centuries():
    if IS_MICROPYTHON:
        return  # datetime is CPython's; the fixed points above run on both
    import datetime as dt

    tz = dt.timezone(dt.timedelta(hours=7))
    for t in range(0, 4102444800, 86400 * 37 + 3601):  # 1970..2100, every 37 days at another hour
        d = dt.datetime.fromtimestamp(t, tz)
        assert local_date(t) == (d.year, d.month, d.day), t


def clock_with(floor, raw):
    d = tmpdir()
    if floor:
        with open(d + "/clock.json", "w") as f:
            f.write(json.dumps({"floor": floor}))
    return Clock(d, raw=lambda: raw)


def test_today_comes_from_the_floor_until_the_registry_sets_the_clock():
    clock = clock_with(PROVISIONED, RTC_AFTER_POWER_LOSS)
    assert not clock.synced and clock.today() == (2026, 12, 1)
    clock.fix(PROVISIONED + 40 * 86400)
    assert clock.today() == (2027, 1, 10)
    # no floor and an RTC from its epoch: the date is unknown, not 2000 (no one born since refused)
    assert clock_with(0, RTC_AFTER_POWER_LOSS).today() is None


class Board:
    DATA_DIR = "/tmp"

    def console(self, text):
        pass

    def show_screen(self, screen):
        pass


def typed_birth_date(clock, digits):
    """What the birth-date field answers, the keys going through the App as on the device."""
    a = app_mod.App(Board())
    a.clock = clock
    a.flow = new_flow()
    a.runner = Runner(a.board, a.flow, a.display, None, None, None)
    a.flow.today = None  # the app tells the flow the date, at every key
    d = Driver(a.flow)
    login(d)
    d.press("1").type("ANNA").press(K.OK).type("BA").press(K.OK).press(K.OK)
    assert a.flow.state == "field" and a.flow.field_index == 3
    now = d.now
    for k in digits + K.OK:
        now += 150
        a.press(k, now)
    return a.flow, a.display.screen.text()


def test_a_birth_date_in_the_future_is_refused_before_the_registry_set_the_clock():
    clock = clock_with(PROVISIONED, RTC_AFTER_POWER_LOSS)
    flow, screen = typed_birth_date(clock, "01012031")
    assert "Date in future" in screen and "birth_date" not in flow.fields
    flow, screen = typed_birth_date(clock, "01011905")
    assert "Over 120 years" in screen and "birth_date" not in flow.fields
    flow, _ = typed_birth_date(clock, "01121951")
    assert flow.fields["birth_date"] == "1951-12-01"
    flow, _ = typed_birth_date(clock, "01122026")  # born today
    assert flow.fields["birth_date"] == "2026-12-01"


def test_with_no_date_at_all_only_the_calendar_is_checked():
    flow, screen = typed_birth_date(clock_with(0, RTC_AFTER_POWER_LOSS), "01011990")
    assert flow.fields["birth_date"] == "1990-01-01"  # an RTC at 2000 does not refuse a person born since
    flow, screen = typed_birth_date(clock_with(0, RTC_AFTER_POWER_LOSS), "01011850")
    assert "Year too early" in screen
