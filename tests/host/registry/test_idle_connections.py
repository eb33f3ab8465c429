"""Idle connections do not starve devices (issue 29): 1,000 TLS connections held open from one
address, and re-opened as the registry closes them, while genuine devices sync from another
address; on SQLite and PostgreSQL, the registry in its own process as `registry serve` runs it.
(Loopback: the holder binds 127.0.0.2, the devices 127.0.0.1, two addresses of one machine.)"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
from registrykit import HostDevice, RegistryProcess, registry_for

from host_tools.registry.client import RegistryClient
from host_tools.registry.protocol import ACCEPTED

IDLE = 1000
GENUINE = 100


class Holder:
    """IDLE connections from 127.0.0.2 that complete TLS and never send a request; each is
    opened again as soon as the registry closes it."""

    def __init__(self, port: int, ca: Path) -> None:
        self.port, self.ctx = port, ssl.create_default_context(cafile=str(ca))
        self.open: dict[int, float] = {}  # connection -> when it opened
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self) -> None:
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.ctx,
                                                              local_addr=("127.0.0.2", 0))
            except (OSError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)
                continue
            self.opened += 1
            self.open[id(writer)] = time.monotonic()
            try:
                while not self.stop.is_set():
                    try:
                        if not await asyncio.wait_for(reader.read(1), 0.5):
                            break  # closed by the registry: open it again
                    except asyncio.TimeoutError:
                        continue
            except (OSError, ssl.SSLError):
                pass
            finally:
                self.open.pop(id(writer), None)
                writer.close()
            await asyncio.sleep(0.01)

    def held(self, for_s: float = 2.0) -> int:
        """Connections open for more than for_s: those the registry kept (it closes the others at once)."""
        now = time.monotonic()
        return sum(1 for t in list(self.open.values()) if now - t > for_s)

    async def _main(self) -> None:
        await asyncio.gather(*(self._one() for _ in range(IDLE)))

    def __enter__(self) -> Holder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_thousand_idle_connections_do_not_turn_devices_away(request, tmp_path: Path, database: str) -> None:
    from host_tools.registry.serve import PER_ADDRESS

    reg = registry_for(request, tmp_path, database)
    devices = [HostDevice(reg, f"dev-{i}") for i in range(4)]
    url = reg.engine.url.render_as_string(hide_password=False)
    ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    with RegistryProcess(reg, url) as server, Holder(server.port, reg.keys_dir / "ca.pem") as holder:
        deadline = time.monotonic() + 60
        while holder.opened < IDLE and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holder.opened >= IDLE, f"only {holder.opened} connections were opened"
        ok, answers = 0, []
        for n in range(GENUINE):
            dev = devices[n % len(devices)]
            key, envs = dev.batch(1)
            try:
                with httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=ctx, timeout=30) as http:
                    c = RegistryClient(f"https://127.0.0.1:{server.port}", dev.device_id, dev.secret)
                    c.http = http
                    receipts = c.post_batch([key], envs)
                ok += receipts[0].result == ACCEPTED
                answers.append("accepted" if receipts[0].result == ACCEPTED else str(receipts[0].result))
            except Exception as e:  # noqa: BLE001 - a refused or failed request is what is counted
                answers.append(type(e).__name__ + ": " + str(e)[:80])
        held_now = holder.held()
        opened = holder.opened
    print(f"{database}: {ok}/{GENUINE} genuine requests succeeded with {IDLE} idle connections "
          f"({opened} opened in all, {held_now} held open at the end)")
    assert ok >= 0.99 * GENUINE, [a for a in answers if a != "accepted"][:5]
    assert held_now <= PER_ADDRESS, held_now  # one address holds no more than its share
    assert reg.count() == ok
