"""Schemathesis against the running registry (its own process, uvicorn, TLS), every route of its
OpenAPI document, on SQLite and PostgreSQL, in bounded time: no request it makes may get a 5xx.

The run is time-boxed (FUZZ_S per database; `make soak` gives it longer) and its seed printed, so a
failure can be replayed with `schemathesis run ... --seed N`.  Requests that h11 itself refuses as
invalid HTTP (the server closes the connection: schemathesis calls that a network error) are not
the registry's answers and are counted apart; every answer the registry gives is checked."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from registrykit import HostDevice, RegistryProcess, registry_for

FUZZ_S = 300 if os.getenv("ENROL_SOAK") else 45


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_schemathesis_finds_no_server_error(request, tmp_path: Path, database: str) -> None:
    reg = registry_for(request, tmp_path, database)
    db_url = reg.engine.url.render_as_string(hide_password=False)
    HostDevice(reg, "dev-fuzz")  # a registered device, so device routes have one to find
    junit = tmp_path / "fuzz.xml"
    with RegistryProcess(reg, db_url) as server:
        cmd = [str(Path(sys.executable).parent / "schemathesis"), "run",
               f"https://127.0.0.1:{server.port}/openapi.json", "--tls-verify", str(reg.keys_dir / "ca.pem"),
               "-H", f"Authorization: {reg.operator()['Authorization']}",
               "--checks", "not_a_server_error", "--max-examples", "40", "--max-time", str(FUZZ_S),
               "--workers", "2", "--no-color", "--report", "junit", "--report-junit-path", str(junit)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=FUZZ_S + 120, cwd=tmp_path)
    out = run.stdout + run.stderr
    seed = next((line for line in out.splitlines() if line.startswith("Seed:")), "Seed: ?")
    print(database, seed)
    assert junit.exists(), out[-3000:]
    cases = ET.parse(junit).getroot().iter("testcase")
    failures = [(c.get("name"), f.get("message") or f.text) for c in cases for f in c.findall("failure")]
    assert not failures, (seed, failures[:5], out[-3000:])
    tested = sum(1 for line in out.splitlines() if "generated" in line and "passed" in line)
    assert tested, out[-3000:]  # the summary's "N generated, N passed" line: it really ran
