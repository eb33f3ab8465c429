"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, on a free loopback port.

Uses the server binaries of Debian's `postgresql` package (`make test` installs it
when missing, see the Makefile's `postgres` target).  PostgreSQL refuses to run as
root, so under root the cluster is made and run as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


class PostgresMissing(RuntimeError):
    pass


def pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresMissing("PostgreSQL server binaries not found: run `make postgres` (installs Debian's postgresql)")


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh, empty database; the server is stopped and removed after."""
    from registrykit import _free_port

    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="enrol-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    log = root / "server.log"
    subprocess.run(_as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "enrol", "--auth=trust",
                                "-E", "UTF8", "--no-instructions"]), check=True, capture_output=True)
    subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=60",
                                "start"]), check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={port} user=enrol dbname=postgres",
                                     autocommit=True) as conn:
                    conn.execute("CREATE DATABASE registry")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"postgresql+psycopg://enrol@127.0.0.1:{port}/registry"
    finally:
        subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
