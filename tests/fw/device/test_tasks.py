"""The power and sync tasks, each on its own (no App), both runtimes: what they do to the
hardware they own and what they write into the status model."""

import asyncio

from firmware import power as pw
from firmware.battery import percent
from firmware.net.radio import RadioSession
from firmware.ui.panel import PanelOwner
from firmware.tasks.power import BATTERY_EVERY_MS, PowerTask
from firmware.tasks.sync import SyncTask
from firmware.ui.screen import Status


class Board:
    SYNC_RETRY_CAP_MS = 60000
    CPU_HZ = 240_000_000
    WAIT_CPU_HZ = 80_000_000

    def __init__(self, mv=4000):
        self.mv = mv
        self.sleeps = []
        self.lines = []
        self.clocks = []  # each machine.freq the firmware asked for

    def set_cpu_hz(self, hz):
        self.clocks.append(hz)

    def battery_mv(self):
        return self.mv

    def light_sleep(self, ms):
        self.sleeps.append(ms)
        return "key"

    def console(self, text):
        self.lines.append(text)


class Panel:
    def __init__(self):
        self.calls = []

    def off(self):
        self.calls.append("off")

    def on(self):
        self.calls.append("on")

    def dim(self, dimmed):
        self.calls.append("dim" if dimmed else "bright")


class Sync:
    due_ms = None
    busy = False

    def __init__(self):
        self.requests = 0
        self.wakes = 0

    def request(self):
        self.requests += 1

    def wake(self):
        self.wakes += 1


class Audit:
    def __init__(self):
        self.events = []

    def record(self, kind, text):
        self.events.append((kind, text))


def power_task(board, working=False):
    status = Status()
    task = PowerTask(board, status, PanelOwner(board, Panel()), Sync(), Audit(), lambda: working, lambda: False)
    return task, status


def test_idle_dims_then_darkens_then_sleeps_and_a_key_on_a_dark_screen_only_wakes():
    board = Board()
    task, _ = power_task(board)
    t0 = task.active_ms
    task.step(t0 + pw.DIM_MS)
    task.step(t0 + pw.DARK_MS)
    assert task.display.panel.calls == ["dim", "off"] and task.power == pw.DARK
    # dim and dark, the CPU napped until the next step (screen as it was); then the long sleep
    assert board.sleeps == [pw.DARK_MS - pw.DIM_MS, pw.SLEEP_MS - pw.DARK_MS]
    task.step(t0 + pw.SLEEP_MS)
    assert task.power == pw.SLEEP and board.sleeps[-1] == pw.MAX_SLEEP_MS  # no sync timer: the longest
    assert task.key(t0 + pw.SLEEP_MS + 5) is False  # woke the screen, typed nothing
    assert task.display.panel.calls[-2:] == ["on", "bright"] and task.power == pw.AWAKE
    assert task.key(t0 + pw.SLEEP_MS + 200) is True


def test_the_clock_is_fast_for_work_and_slow_while_waiting_awake_for_a_key():
    board = Board()
    task, _ = power_task(board)
    t0 = task.active_ms
    task.step(t0 + 10)
    assert board.clocks == []  # already at 240 MHz: machine.freq is not called again
    task.step(t0 + pw.FAST_MS)
    assert board.clocks == [80_000_000]  # a second without a key: waiting, the screen still on
    task.step(t0 + pw.FAST_MS + 500)
    assert board.clocks == [80_000_000]
    task.key(t0 + 5000)
    assert board.clocks == [80_000_000, 240_000_000]  # the key's screen is made at full speed
    busy, _ = power_task(Board(), working=True)
    busy.step(busy.active_ms + pw.DARK_MS)
    assert busy.board.clocks == []  # a save or a card under way: never slowed


class Pages:
    """A screen of several pages (ui/language.py), its next page due in `ms`."""

    def __init__(self, ms):
        self.ms = ms

    def next_page_ms(self, now):
        return self.ms


def test_between_keys_the_cpu_naps_with_the_screen_on_until_the_next_thing_due():
    board = Board()
    task, _ = power_task(board)
    t0 = task.active_ms
    task.step(t0 + 900)  # a letter may still be changing (multi-tap): no nap yet
    assert board.sleeps == []
    task.step(t0 + pw.NAP_MS)
    assert board.sleeps == [pw.DIM_MS - pw.NAP_MS]  # until the screen is to dim
    assert task.power == pw.AWAKE and task.display.panel.calls == []  # lit, as it was
    assert task.key(t0 + 5000) is True  # the key that ended the nap is typed: the screen was on
    task.radio.due_ms = t0 + 5000 + pw.NAP_MS + 3000  # a sync due 3 s after the nap starts
    task.step(t0 + 5000 + pw.NAP_MS)
    assert board.sleeps[-1] == 3000 and task.radio.wakes == 0  # woken by a key (Board says so)
    task.radio.due_ms = None
    task.display.language, task.display.screen = Pages(700), "a Khmer screen of two pages"
    task.step(t0 + 5000 + pw.NAP_MS + 10)
    assert board.sleeps[-1] == 700  # until the page turns
    task.display.language = Pages(5)
    task.step(t0 + 5000 + pw.NAP_MS + 20)
    assert board.sleeps[-1] == 700  # a page due in 5 ms: not worth a nap
    busy, _ = power_task(Board(), working=True)
    busy.step(busy.active_ms + pw.NAP_MS)
    assert busy.board.sleeps == []  # a card or a save under way: the CPU stays up


def test_no_sleep_while_a_save_or_a_card_is_under_way():
    board = Board()
    task, _ = power_task(board, working=True)
    task.step(task.active_ms + pw.SLEEP_MS)
    assert task.power == pw.DARK and board.sleeps == []


def test_the_battery_goes_into_the_status_and_low_asks_for_one_sync():
    board = Board(mv=4000)
    task, status = power_task(board)
    assert task.check_battery(task.active_ms) is False
    assert status.battery_pct == percent(4000) and 70 < status.battery_pct < 80 and status.battery_low is False
    board.mv = 3640  # about 6 %: below LOW_PCT
    now = task.active_ms
    for i in (1, 2):
        task.check_battery(now + i * BATTERY_EVERY_MS)
    assert status.battery_low is True and task.radio.requests == 1  # once, not at every sample
    assert [k for k, _ in task.audit.events] == ["battery"]
    board.mv = 3300  # critical
    assert task.check_battery(now + 3 * BATTERY_EVERY_MS) is True
    busy, _ = power_task(Board(mv=3300), working=True)
    assert busy.check_battery(busy.active_ms) is False  # a card write is not cut


class Store:
    def counts(self):
        return {"pending": 0}


def test_the_sync_task_asks_and_wakes_and_an_unconfigured_sync_is_not_retried():
    status = Status()
    changed = []
    task = SyncTask(Board(), None, Store(), None, Audit(), status, lambda: False, lambda: changed.append(1))
    task.request()
    assert task.soon and task.kick.is_set()
    task.kick.clear()
    task.wake()
    assert task.kick.is_set()
    task.disabled = True  # open() found the registry URL or CA unusable

    async def go():
        return await task.once()

    assert asyncio.run(go()) == (None, None)
    assert status.wifi == "off" and changed == []


class JoiningRadio(RadioSession):
    """The radio session over a Wi-Fi that joins at once."""

    ups = downs = 0

    async def _join(self):
        self.ups += 1
        return True

    def down(self):
        self.downs += 1
        RadioSession.down(self)


class SyncSecrets:
    registry_url = "https://127.0.0.1:9"
    # base64 that reads, DER that no TLS library takes: only the SSL context can tell
    ca_pem = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n"
    wifi = [("net", "psk")]
    device_id = "dev-1"
    hmac_secret = b"k" * 32


def test_a_ca_that_tls_refuses_disables_the_sync_at_power_on_before_any_radio():
    status = Status()
    audit = Audit()
    task = SyncTask(Board(), SyncSecrets(), Store(), None, audit, status, lambda: False, lambda: None)
    task.open()
    assert task.disabled and task.client is None and status.last_sync == "setup bad"
    assert [k for k, _ in audit.events] == ["error"] and "CA certificate unusable" in audit.events[0][1]
    assert asyncio.run(task.once()) == (None, None)  # not configured: the loop stops retrying


def test_a_ca_not_read_at_power_on_is_refused_at_the_first_sync_and_its_client_freed():
    """open() had no memory to read the CA: connect() reads it, at the sync."""
    status = Status()
    audit = Audit()
    task = SyncTask(Board(), SyncSecrets(), Store(), None, audit, status, lambda: False, lambda: None)
    radio = task.radio = JoiningRadio(Board(), SyncSecrets(), status)
    assert asyncio.run(task.once()) == (None, None)
    assert task.disabled and task.client is None
    assert status.last_sync == "setup bad" and status.wifi == "off" and radio.downs == radio.ups == 1
    assert [k for k, _ in audit.events] == ["error"] and "CA certificate unusable" in audit.events[0][1]
    assert asyncio.run(task.once()) == (None, None) and radio.ups == 1  # the radio is not raised again
