"""The registry under attack (issue 16): a genuine batch's p95 latency, quiet and while bad-MAC
requests arrive as fast as four clients can send them; the server's resident memory while four
clients each send a 100 MB body without a token.  Goals: p95 under the flood within 2x of quiet;
memory flat (it never reads the bodies)."""

from __future__ import annotations

import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

from mp import ROOT, size

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests" / "cpython"), str(ROOT / "tests")]

from registrykit import HostDevice, RegistryProcess, make_registry  # noqa: E402

from host_tools.registry import protocol  # noqa: E402
from host_tools.registry.client import RegistryClient  # noqa: E402

BATCHES = size(40, 4)
PER_BATCH = 16


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[int(0.95 * (len(values) - 1))]


def _latencies(c: RegistryClient, dev: HostDevice) -> list[float]:
    out = []
    for _ in range(BATCHES):
        key, envs = dev.batch(PER_BATCH)
        start = time.perf_counter()
        c.post_batch([key], envs)
        out.append(time.perf_counter() - start)
    return out


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run():
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        reg = make_registry(tmp)
        dev = HostDevice(reg, "bench-genuine")
        victim = HostDevice(reg, "bench-victim")
        url = f"sqlite:///{tmp / 'registry.db'}"
        ca = str(reg.keys_dir / "ca.pem")
        with RegistryProcess(reg, url) as server:
            base = f"https://127.0.0.1:{server.port}"
            with RegistryClient(base, dev.device_id, dev.secret, ca) as c:
                quiet = _latencies(c, dev)
                stop = threading.Event()
                sent = [0]

                def flood() -> None:
                    with RegistryClient(base, victim.device_id, b"\x00" * 32, ca) as bad:
                        key, envs = victim.batch(1)
                        body = protocol.encode_batch([key], envs)
                        while not stop.is_set():
                            bad.http.post("/v1/batches", content=body,
                                          headers=bad.signed_headers("POST", "/v1/batches", body))
                            sent[0] += 1

                flooders = [threading.Thread(target=flood) for _ in range(4)]
                for t in flooders:
                    t.start()
                started = time.perf_counter()
                loaded = _latencies(c, dev)
                rate = sent[0] / (time.perf_counter() - started)
                stop.set()
                for t in flooders:
                    t.join()
            before = _rss_kb(server.proc.pid)
            peak = [before]

            def huge() -> None:
                ctx = ssl.create_default_context(cafile=ca)
                try:
                    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n")
                        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
                        for _ in range(1600):  # 100 MB, if the server kept reading
                            s.sendall(chunk)
                except OSError:
                    pass  # refused and closed: what should happen

            senders = [threading.Thread(target=huge) for _ in range(4)]
            for t in senders:
                t.start()
            while any(t.is_alive() for t in senders):
                peak[0] = max(peak[0], _rss_kb(server.proc.pid))
                time.sleep(0.05)
    if rate < 1:
        raise RuntimeError("the flood did not run")
    q, lo = _p95(quiet), _p95(loaded)
    return [
        (f"genuine batch of {PER_BATCH}, p95, quiet", round(q * 1000, 1), "ms", "CPython registry, SQLite, TLS"),
        (f"genuine batch, p95, while {rate:.0f} bad-MAC requests/s arrive", round(lo * 1000, 1), "ms",
         "CPython registry, SQLite, TLS"),
        ("p95 under the flood / quiet (goal <= 2)", round(lo / q, 2), "x", "CPython registry"),
        ("server RSS growth, four 100 MB unauthenticated bodies", peak[0] - before, "KB", "CPython registry"),
    ]
