"""Power policy and battery gauge (both runtimes)."""

from firmware import battery, power
from firmware.battery import Battery


def test_idle_time_dims_then_darkens_then_sleeps():
    assert power.state_for(0, False) == power.AWAKE
    assert power.state_for(power.DIM_MS - 1, False) == power.AWAKE
    assert power.state_for(power.DIM_MS, False) == power.DIM
    assert power.state_for(power.DARK_MS, False) == power.DARK
    assert power.state_for(power.SLEEP_MS, False) == power.SLEEP
    assert power.state_for(10 * 3600 * 1000, False) == power.SLEEP


def test_a_busy_device_never_sleeps_but_its_screen_still_goes_dark():
    assert power.state_for(power.SLEEP_MS * 10, True) == power.DARK
    assert power.state_for(power.DIM_MS, True) == power.DIM


def test_keys_only_wake_a_dark_screen():
    assert power.key_is_typed(power.AWAKE) and power.key_is_typed(power.DIM)
    assert not power.key_is_typed(power.DARK) and not power.key_is_typed(power.SLEEP)


def test_sleep_length_follows_the_next_timer():
    assert power.sleep_ms(None) == power.MAX_SLEEP_MS
    assert power.sleep_ms(5000) == 5000
    assert power.sleep_ms(-300) == 0  # overdue: do not sleep
    assert power.sleep_ms(10 * power.MAX_SLEEP_MS) == power.MAX_SLEEP_MS


def test_discharge_curve():
    assert battery.percent(4250) == 100 and battery.percent(4200) == 100
    assert battery.percent(3840) == 50
    assert battery.percent(3270) == 0 and battery.percent(3000) == 0
    assert 50 < battery.percent(3860) < 60  # between points: linear
    last = 101
    for mv in range(4300, 3000, -10):  # never rises as the voltage falls
        p = battery.percent(mv)
        assert p <= last
        last = p


def reader(values):
    it = iter(values)

    def read():
        v = next(it)
        if isinstance(v, Exception):
            raise v
        return v

    return read


def test_a_sample_is_the_median_of_a_burst():
    b = Battery(reader([3900, 3700, 4400, 3890, 3910] + [3600] * 5))
    assert b.sample() == 3900  # one spike in five does not move it
    assert b.sample() == 3600  # a real change shows at once, even after a long sleep


def test_noise_and_failed_reads_are_dropped():
    b = Battery(reader([0, 65535, -40, None, OSError(5)] * 2))
    assert b.sample() is None and b.sample() is None
    assert b.pct() is None and b.rejected == 10
    assert not b.low() and not b.critical()  # unknown is not empty: a broken ADC must not stop work
    b = Battery(reader([3950] * 5 + [3950, 65535, 0, 9999, 3300]))
    b.sample()
    assert b.sample() == 3950 and b.rejected == 3  # a burst with too few good readings keeps the last sample


def test_low_and_critical_thresholds():
    low = Battery(reader([3640] * 5))
    low.sample()
    assert low.low() and not low.critical()
    empty = Battery(reader([3300] * 5))
    empty.sample()
    assert empty.low() and empty.critical()
    full = Battery(reader([4100] * 5))
    full.sample()
    assert not full.low() and full.pct() == 88
