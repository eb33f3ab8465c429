"""Heap of one TLS request under MicroPython (for bench_sync): GET /v1/time through firmware/net/http.py.

Usage: micropython bench/mp_tls.py TREE DATA_DIR (request|imports)
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib"]

import asyncio  # noqa: E402
import ssl  # noqa: E402, F401

from firmware.store import secrets  # noqa: E402
from firmware.net import http  # noqa: E402

s = secrets.load(sys.argv[2])
host, port = http.parse_url(s.registry_url)
connect = http.tls_connector(host, port, http.pem_to_der(s.ca_pem))
if sys.argv[3] == "request":
    reply = asyncio.run(http.Connection(connect, host, 256).request("GET", "/v1/time", {}, max_body=256))
    assert reply.status == 200
print("ok")
