"""Wi-Fi behind board.wlan(): switched on only for a sync, off again after it.

The radio is the largest power draw on the device (about 100 mA receiving,
240 mA sending), so it is never left on while the officer works.  Networks
are the ones provisioned in device.json, tried in order, each until it joins,
the station reports it gave up (no such network in reach) or a timeout;
asyncio.sleep between polls keeps the keypad alive while joining.
"""

import asyncio

from firmware.ticks import ticks_add, ticks_diff, ticks_ms

CONNECT_TIMEOUT_MS = 15000
_POLL_MS = 200


class Wifi:
    def __init__(self, board, networks, timeout_ms=CONNECT_TIMEOUT_MS):
        self.board = board
        self.networks = networks  # [(ssid, psk)]
        self.timeout_ms = timeout_ms
        self.wlan = None
        self.connected = False

    async def up(self):
        """Join the first provisioned network in reach; False (radio off again) if none answers."""
        if not self.networks:
            return False
        if self.wlan is None:
            self.wlan = self.board.wlan()
        self.wlan.active(True)
        for ssid, psk in self.networks:
            if self.wlan.isconnected():
                break
            try:
                self.wlan.connect(ssid, psk)
            except OSError:
                continue
            deadline = ticks_add(ticks_ms(), self.timeout_ms)
            while not self.wlan.isconnected() and ticks_diff(deadline, ticks_ms()) > 0:
                if self.board.wifi_failed(self.wlan):
                    break  # the station gave up (no such network here): radio off now, not after the timeout
                await asyncio.sleep(_POLL_MS / 1000)
            if not self.wlan.isconnected():
                self._disconnect()
        self.connected = self.wlan.isconnected()
        if not self.connected:
            self.wlan.active(False)
        return self.connected

    def _disconnect(self):
        try:
            self.wlan.disconnect()
        except OSError:
            pass

    def down(self):
        if self.wlan is not None:
            self._disconnect()
            self.wlan.active(False)
        self.connected = False
