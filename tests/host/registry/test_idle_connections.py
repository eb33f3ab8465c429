"""Idle connections do not starve devices (issue 29): 1,000 TLS connections held open from one
address, and re-opened as the registry closes them, while genuine devices sync from another
address; on SQLite and PostgreSQL, the registry in its own process as `registry serve` runs it.
(Loopback: the holder binds 127.0.0.2, the devices 127.0.0.1, two addresses of one machine.)"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx
import pytest
from registrykit import IDLE, HostDevice, Holder, RegistryProcess, registry_for

from host_tools.registry.client import RegistryClient
from host_tools.registry.protocol import ACCEPTED

GENUINE = 100


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
