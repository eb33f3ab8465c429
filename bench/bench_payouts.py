"""Payouts (issue 18): claims paid per second by the registry with 8 payout points claiming at
once, on SQLite and PostgreSQL, through the TLS server; each claim checks the card's signature,
the PIN (format-4 block) and records the payment exactly once.  And the payout device's time from
the tap to the registry's answer, modeled: the card's checks (the 32-bit runtime's CPU x the
ESP32 factors of ../shared/ESP32-PERF.md), the reader's bytes at the datasheet's rate, Wi-Fi up,
one TLS handshake and one round trip (published ESP32 figures, cited below)."""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mp import ROOT, size

sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "host"), str(ROOT / "tests" / "cpython"), str(ROOT / "tests")]

import httpx  # noqa: E402
from population import distinct  # noqa: E402
from registrykit import approved, HostDevice, RegistryProcess, make_registry  # noqa: E402

from firmware.formats import card_payload  # noqa: E402

from host_tools.registry import pins  # noqa: E402
from host_tools.registry.client import RegistryClient  # noqa: E402
from host_tools.registry.ingest import credential_id  # noqa: E402
from host_tools.registry.payouts import current_period  # noqa: E402

# ../shared/ESP32-PERF.md: section 0 (factors), 1d (network on an ESP32 under MicroPython)
WIFI_CONNECT_S = 1.626  # Wi-Fi connect with DHCP (glenn20/upy-esp32-experiments)
TLS_HANDSHAKE_S = 1.23  # micropython-esp32 issue #131: 1.18-1.28 s a handshake
RTT_S = 0.3  # assumed: one request and answer over a rural 3G/4G hotspot (not measured here)
POINTS = size(8, 2)
PEOPLE = size(400, 50)
UID = bytes.fromhex("04a1b2c3d4e5f6")


def payout_rate(tmp: Path, db_url: str | None, tag: str) -> tuple[float, int]:
    from firmware.crypto import seal

    reg = make_registry(tmp / tag, db_url)
    url = db_url or f"sqlite:///{tmp / tag / 'registry.db'}"
    with RegistryProcess(reg, url) as server:
        base = f"https://127.0.0.1:{server.port}"
        ctx = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
        device = HostDevice(reg)
        claims = []
        with httpx.Client(base_url=base, verify=ctx, timeout=60) as http:
            approved(http, "POST", "/v1/admin/programmes", reg.operator(), reg.checker(),
                     json={"code": "veteran_pension", "name": "pension", "amounts": {"veteran": 150000}})
            dev = RegistryClient(base, device.device_id, device.secret)
            dev.http = http
            for _ in range(PEOPLE // 50):
                key, envs = device.batch(50, fields=[distinct() for _ in range(50)])  # 50 people, none alike
                dev.post_batch([key], envs)
                entries = []
                for env in envs:
                    opened = seal.parse_record(env)
                    rid = opened.record_id
                    entries.append(card_payload(opened.boot, opened.seq, UID, credential_id(rid)))
                    card = base64.b64encode(device.credential(rid, UID, reg.keys.registry_id)).decode()
                    point = f"pay-{len(claims) % POINTS:02d}"  # the point that sends it (claims[i::POINTS])
                    block = pins.encipher(pins.point_key(reg.keys.zone_key, point), b"2580",
                                          pins.credential_account(credential_id(rid)), os.urandom(8)).hex()
                    claims.append(json.dumps({"credential": card, "uid": UID.hex(), "pin_block": block,
                                              "programme": "veteran_pension",
                                              "period": current_period(time.time())}).encode())
                dev.post_cards(entries)  # a card pays once its card entry has arrived
        points = [HostDevice(reg, f"pay-{i:02d}", role="payout") for i in range(POINTS)]

        def work(i: int) -> int:
            point = points[i]
            paid = 0
            with httpx.Client(base_url=base, verify=ctx, timeout=60) as http:
                c = RegistryClient(base, point.device_id, point.secret)
                for body in claims[i::POINTS]:
                    r = http.post("/v1/payouts", content=body, headers=c.signed_headers("POST", "/v1/payouts", body))
                    paid += r.json().get("result") == "paid"
            return paid

        t0 = time.perf_counter()
        with ThreadPoolExecutor(POINTS) as pool:
            paid = sum(pool.map(work, range(POINTS)))
        seconds = time.perf_counter() - t0
    reg.engine.dispose()
    if paid != len(claims):
        raise RuntimeError(f"{paid} of {len(claims)} claims paid")
    return round(paid / seconds, 1), paid


def tap_to_answer(server_ms: float) -> list[tuple]:
    """The payout device, tap to the card checked and to the registry's answer, at the firmware's
    240 MHz (the citizen's PIN typing left out), every step counted as the enrolment's card step is
    (bench/bench_card.py): detection, the reader's emulated I2C, RF and commands, the device's work
    with this run's calibration, the screen that says so."""
    import bench_card
    import calibrate
    from mp import compiled_tree, run_script

    tree = compiled_tree()
    out = dict(line.split("=", 1) for line in run_script(ROOT / "bench" / "mp_card.py", [str(tree)], heapsize="100k")
               .splitlines() if "=" in line)
    native = int(out["verify_us"]) + int(out["originality_us"])  # Ed25519 and secp128r1: edsig, C
    interp = max(0, int(out["pay_cpu_us"]) - native)  # the driver, NDEF, COSE, CBOR: interpreted
    kc, ki = calibrate.factor("c", 240), calibrate.factor("interp", 240)
    commands = int(out["pay_commands"])
    reader_us = int(out["pay_modeled_us"]) - commands * 1000 + commands * bench_card.PN532_TURNAROUND_US[0]
    frame_us = int(out["frame1_us"]) * ki + int(out["frame1_bus_bytes"]) * bench_card.I2C_US_PER_BYTE
    card_s = (bench_card.DETECT_US[0] + reader_us + native * kc + interp * ki + frame_us) / 1e6
    network_s = WIFI_CONNECT_S + TLS_HANDSHAKE_S + RTT_S + server_ms / 1000
    return [
        ("payout device: tap to card checked at 240 MHz, every step", round(card_s, 3), "s",
         f"reader {reader_us / 1000:.0f} ms ({commands} PN532 commands, 1 ms turnaround assumed), Ed25519 + "
         f"originality (C) x{kc}, parsing x{ki}, one frame"),
        ("payout device: tap to the registry's answer at 240 MHz (PIN typing not counted)",
         round(card_s + network_s, 2), "s",
         f"card {card_s:.2f} s + Wi-Fi {WIFI_CONNECT_S} s + TLS {TLS_HANDSHAKE_S} s + round trip "
         f"{RTT_S} s (assumed) + registry {server_ms:.0f} ms"),
    ]


def run():
    from pgserver import postgres_server

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        rate_sqlite, n1 = payout_rate(tmp, None, "sqlite")
        with postgres_server() as pg:
            rate_pg, n2 = payout_rate(tmp, pg, "pg")
    host = f"{os.cpu_count()}-core x86 host, registry process + {POINTS} payout-point threads, TLS"
    # the registry's time for one claim among 8 at once on PostgreSQL
    return tap_to_answer(POINTS * 1000 / rate_pg) + [(f"payouts, SQLite ({n1} claims, {POINTS} payout points at once)", rate_sqlite, "payouts/s", host),
            (f"payouts, PostgreSQL ({n2} claims, {POINTS} payout points at once)", rate_pg, "payouts/s", host)]


if __name__ == "__main__":
    for row in run():
        print(row)
