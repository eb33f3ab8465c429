"""The device's one radio session, shared by the sync (tasks/sync.py) and the payout point
(tasks/payout.py): the registry's address and CA checked once, Wi-Fi up for one piece of work,
a TLS connector to the registry, Wi-Fi down again.  What the radio is doing goes into the status
model (status.wifi: "off", "on", "none" = no provisioned network in reach).

Wi-Fi (behind board.wlan()) is switched on only for such a piece of work.  The radio is
the largest power draw on the device (about 100 mA receiving, 240 mA sending), so it is never
left on while the officer works.  Networks are the ones provisioned in device.json, tried in
order, each until it joins, the station reports it gave up (no such network in reach) or a
timeout; asyncio.sleep between polls keeps the keypad alive while joining.
"""

import asyncio

from micropython import const

from firmware.net import http
from firmware.ticks import ticks_add, ticks_diff, ticks_ms


CONNECT_TIMEOUT_MS = 15000
_POLL_MS = const(200)


class RadioSession:
    def __init__(self, board, secrets, status, timeout_ms=CONNECT_TIMEOUT_MS):
        self.board = board
        self.secrets = secrets
        self.status = status
        self.networks = secrets.wifi  # [(ssid, psk)], in the order they are tried
        self.timeout_ms = timeout_ms
        self.wlan = None
        self.connected = False
        self.host = None
        self.port = None
        self.problem = None  # why the registry can never be reached (device.json's URL or CA), or None

    def check(self):
        """Read the registry URL and the CA once (mbedtls parses it): the reason they cannot be
        used (an HttpError's message), or None.  MemoryError goes to the caller."""
        s = self.secrets
        try:
            self.host, self.port = http.parse_url(s.registry_url)
            http.tls_connector(self.host, self.port, http.pem_to_der(s.ca_pem))
        except http.HttpError as e:
            self.problem = str(e)
        return self.problem

    def connector(self):
        """A connect() for one piece of work: its SSL context (about 1.8 KB, the CA parsed) made
        now and dropped with it.  HttpError, MemoryError go to the caller."""
        if self.host is None:
            self.host, self.port = http.parse_url(self.secrets.registry_url)
        return http.tls_connector(self.host, self.port, http.pem_to_der(self.secrets.ca_pem))

    async def up(self):
        """Join the first provisioned network in reach (True); False, the radio off again, when
        none answers (status.wifi "none")."""
        self.connected = await self._join()
        self.status.wifi = "on" if self.connected else "none"
        return self.connected

    async def _join(self):
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
        if self.wlan.isconnected():
            return True
        self.wlan.active(False)
        return False

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
        self.status.wifi = "off"
