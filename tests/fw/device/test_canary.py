"""A round-robin canary (micropython-async section 7.4): while a driver task works, another task
that only sleeps 10 ms at a time must keep running, or the driver is blocking the whole device
(the keypad would go deaf during a Wi-Fi join)."""

import asyncio

from firmware.hw.keypad import Keypad
from firmware.ui.keymap import ALL_KEYS
from firmware.net.radio import RadioSession
from firmware.ui.screen import Status
from firmware.ticks import ticks_diff, ticks_ms
from host_tools.sim.keypad import KeyMatrix

CANARY_MS = 10


class Canary:
    def __init__(self):
        self.beats = 0
        self.longest_gap_ms = 0

    async def run(self):
        last = ticks_ms()
        while True:
            await asyncio.sleep(CANARY_MS / 1000)
            now = ticks_ms()
            self.longest_gap_ms = max(self.longest_gap_ms, ticks_diff(now, last))
            last = now
            self.beats += 1


async def beside(canary, work):
    task = asyncio.create_task(canary.run())
    try:
        return await work
    finally:
        task.cancel()


class SlowWlan:
    """A station that never joins and never says why: the manager waits out its timeout."""

    def __init__(self):
        self.on = False

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def connect(self, ssid, psk):
        pass

    def isconnected(self):
        return False

    def disconnect(self):
        pass


class Networks:
    wifi = [("a", "")]  # device.json's networks, as the radio session reads them


class Board:
    def __init__(self):
        self._wlan = SlowWlan()

    def wlan(self):
        return self._wlan

    def wifi_failed(self, wlan):
        return False


def test_a_wifi_join_lets_other_tasks_run():
    canary = Canary()
    t0 = ticks_ms()
    radio = RadioSession(Board(), Networks(), Status(), timeout_ms=600)
    joined = asyncio.run(beside(canary, radio.up()))
    took = ticks_diff(ticks_ms(), t0)
    assert not joined and took >= 600
    assert canary.beats >= took // CANARY_MS // 3, (canary.beats, took)
    assert canary.longest_gap_ms < 300  # never blocked for the join (600 ms): it polls, then sleeps


def test_the_keypad_scan_lets_other_tasks_run_and_still_sees_keys():
    matrix = KeyMatrix()
    pad = Keypad(matrix.rows, matrix.cols, ALL_KEYS)
    got = []
    canary = Canary()

    async def half_a_second():
        scan = asyncio.create_task(pad.run(lambda k, now: got.append(k), ticks_ms))
        await asyncio.sleep(0.1)
        matrix.press("5")
        await asyncio.sleep(0.2)
        matrix.release("5")
        await asyncio.sleep(0.2)
        scan.cancel()

    asyncio.run(beside(canary, half_a_second()))
    assert got == ["5"]
    assert canary.beats >= 500 // CANARY_MS // 3 and canary.longest_gap_ms < 300  # scans are short, then sleep
