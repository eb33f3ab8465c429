"""NFC card (issue 3): modeled tap-to-verified time, PN532 transactions, Ed25519 timings, sizes.

The datasheet minimum for comparison: the bytes written (page writes of 4 bytes,
each 4.1 ms of EEPROM programming plus its RF frame) and read back, at 106 kbit/s."""

from __future__ import annotations

from mp import ROOT, compiled_tree, run_script

# ESP32-PERF.md section 0: ESP32 time = host MicroPython time x k
K_BIGINT = {240: 100, 160: 140}  # 255-bit field arithmetic (Ed25519), +/-50 %
K_INTERP = {240: 110, 160: 150}  # interpreter-bound Python, +/-40 %


def run():
    tree = compiled_tree()
    out = dict(line.split("=", 1) for line in run_script(ROOT / "bench" / "mp_card.py", [str(tree)], heapsize="100k")
               .splitlines() if "=" in line)
    writes = int(out["page_writes"])
    tlv = int(out["tlv_bytes"])
    # minimum: each WRITE = 6-byte command + 2 CRC over RF (85 us a byte) + 4.1 ms programming;
    # read-back of the TLV by FAST_READ: its bytes + CRC
    minimum_us = writes * (8 * 85 + 4100) + (tlv + 2) * 85
    modeled = int(out["modeled_us"])
    rt = "32-bit runtime, firmware frozen (x86 host)"
    # CPU of a tap: the write and read-back's own work (Ed25519 sign and verify inside it) and the
    # app's originality check after it; big-integer work and the rest scale by different factors
    sign_verify = int(out["sign_us"]) + int(out["verify_us"])
    bigint_us = sign_verify + int(out["originality_us"])
    interp_us = max(0, int(out["device_cpu_us"]) - sign_verify)
    cpu = []
    for mhz in (240, 160):
        kb, ki = K_BIGINT[mhz], K_INTERP[mhz]
        mid = modeled + bigint_us * kb + interp_us * ki
        lo = modeled + bigint_us * kb * 0.5 + interp_us * ki * 0.6
        hi = modeled + bigint_us * kb * 1.5 + interp_us * ki * 1.4
        cpu.append((f"tap-to-verified with the ESP32's CPU at {mhz} MHz (goal at 240: <= 1.5 s)", round(mid / 1e6, 2),
                    "s", f"model: reader + big-int x{kb} (+/-50 %) + Python x{ki} (+/-40 %) = "
                         f"{lo / 1e6:.1f}-{hi / 1e6:.1f} s"))
    return cpu + [
        ("device CPU in a tap on the host: big-int (Ed25519 sign + verify, originality)", bigint_us / 1000, "ms", rt),
        ("device CPU in a tap on the host: the rest (driver, NDEF, COSE, checks)", interp_us / 1000, "ms", rt),
        ("tap-to-verified, fresh NTAG215 (modeled I2C + RF + EEPROM)", modeled / 1e6, "s", "model"),
        ("datasheet minimum for the same bytes", minimum_us / 1e6, "s", "model"),
        ("modeled / minimum", modeled / minimum_us, "x", "model"),
        ("PN532 commands per write + verify", int(out["pn532_commands"]), "commands", "model"),
        ("NTAG page writes", writes, "pages", "model"),
        ("credential (COSE_Sign1)", int(out["credential_bytes"]), "bytes", "micropython"),
        ("NDEF TLV on the card (of 504 user bytes)", tlv, "bytes", "micropython"),
        ("Ed25519 sign", int(out["sign_us"]) / 1000, "ms", rt),
        ("Ed25519 verify", int(out["verify_us"]) / 1000, "ms", rt),
        ("NTAG originality check (secp128r1 ECDSA verify)", int(out["originality_us"]) / 1000, "ms", rt),
        ("write + verify on the host CPU", int(out["write_verify_host_ms"]), "ms", rt),
        ("live heap after write + verify (driver, card stack, emulators)", int(out["live_heap"]), "bytes",
         "32-bit runtime heap=100k"),
    ]
