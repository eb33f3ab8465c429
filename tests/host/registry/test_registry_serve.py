"""`enrolctl registry serve` as an operator starts it: it says where it listens once it does, and a
bad database URL, an unreachable database or a port in use is one `enrolctl:` line, exit 1."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from conftest import ENROLCTL, enrolctl
from host_tools.registry.keys import init_keys
from registrykit import _free_port


def keys(tmp_path: Path) -> Path:
    d = tmp_path / "keys"
    init_keys(d, "reg-test", ["127.0.0.1"])
    return d


def test_serve_says_where_it_listens(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([str(ENROLCTL), "registry", "serve", "--keys", str(keys(tmp_path)), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"registry reg-test: listening on https://127.0.0.1:{port}" in line, line + proc.stderr.read()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # and it does
    finally:
        proc.terminate()
        proc.wait(20)


def test_bad_database_urls_and_a_busy_port_are_one_line_each(tmp_path: Path) -> None:
    k = keys(tmp_path)
    closed = _free_port()
    for db, said in (("nonsense", "is not a database URL"), ("mysql://u:secret@127.0.0.1/x", "is not a database URL"),
                     (f"postgresql+psycopg://u:secret@127.0.0.1:{closed}/x", "cannot open the database")):
        r = enrolctl("registry", "serve", "--keys", str(k), "--db", db, "--port", str(_free_port()), timeout=60)
        assert r.returncode == 1 and r.stderr.startswith("enrolctl: ") and said in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "secret" not in r.stderr
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        start = time.monotonic()
        r = enrolctl("registry", "serve", "--keys", str(k), "--port", str(holder.getsockname()[1]), timeout=60)
        assert r.returncode == 1 and "cannot listen on 127.0.0.1:" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and time.monotonic() - start < 60
    finally:
        holder.close()
