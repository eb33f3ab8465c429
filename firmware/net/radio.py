"""The device's one radio session, shared by the sync (tasks/sync.py) and the payout point
(tasks/payout.py): the registry's address and CA checked once, Wi-Fi up for one piece of work,
a TLS connector to the registry, Wi-Fi down again.  What the radio is doing goes into the status
model (status.wifi: "off", "on", "none" = no provisioned network in reach).

The radio is the largest power draw on the device (about 100 mA receiving, 240 mA sending), so
it is on only while a sync or a claim runs.
"""

from firmware.net import http
from firmware.net.wifi import Wifi


class RadioSession:
    def __init__(self, board, secrets, status):
        self.board = board
        self.secrets = secrets
        self.status = status
        self.wifi = Wifi(board, secrets.wifi)
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
        """Wi-Fi joined (True), or no provisioned network in reach (False, the radio off)."""
        if not await self.wifi.up():
            self.status.wifi = "none"
            return False
        self.status.wifi = "on"
        return True

    def down(self):
        self.wifi.down()
        self.status.wifi = "off"
