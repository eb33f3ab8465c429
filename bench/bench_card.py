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
    # A tap has two parts.  Held: the reader's work, the signature (big-int) and the rest of the
    # firmware's work in the window (interpreted).  Then the card is handed back and the app checks
    # it: the signature over what was read back (big-int, the key's comb already made) and the NXP
    # originality signature.  The first card after a boot also makes the comb (verify_first).
    sign = int(out["sign_us"])
    held_interp = max(0, int(out["device_cpu_us"]) - sign)
    check_bigint = int(out["verify_us"]) + int(out["originality_us"])
    check_interp = max(0, int(out["check_cpu_us"]) - int(out["verify_us"]))
    comb_us = max(0, int(out["verify_first_us"]) - int(out["verify_us"]))
    cpu = []
    for mhz in (240, 160):
        kb, ki = K_BIGINT[mhz], K_INTERP[mhz]

        def span(big: float, interp: float, base: float = 0) -> tuple[float, float, float]:
            return (base + big * kb + interp * ki, base + big * kb * 0.5 + interp * ki * 0.6,
                    base + big * kb * 1.5 + interp * ki * 1.4)

        held = span(sign, held_interp, modeled)
        ready = span(sign + check_bigint, held_interp + check_interp, modeled)
        cpu.append((f"card: tap to 'take it off' (the citizen holds it) at {mhz} MHz (goal at 240: <= 1.5 s)",
                    round(held[0] / 1e6, 2), "s",
                    f"model: reader + sign x{kb} (+/-50 %) + Python x{ki} (+/-40 %) = "
                    f"{held[1] / 1e6:.1f}-{held[2] / 1e6:.1f} s"))
        cpu.append((f"card: tap to 'Card ready' (signature and originality checked) at {mhz} MHz",
                    round(ready[0] / 1e6, 2), "s",
                    f"{ready[1] / 1e6:.1f}-{ready[2] / 1e6:.1f} s; the first card after a boot "
                    f"+{comb_us * kb / 1e6:.1f} s (the key's comb table)"))
    return cpu + [
        ("device CPU while the card is held, on the host: Ed25519 sign", sign / 1000, "ms", rt),
        ("device CPU while the card is held, on the host: the rest (driver, NDEF, COSE)", held_interp / 1000, "ms", rt),
        ("device CPU after the card is handed back, on the host: verify + originality", check_bigint / 1000, "ms", rt),
        ("device CPU after the card is handed back, on the host: the rest", check_interp / 1000, "ms", rt),
        ("card reader time for a write and read-back, fresh NTAG215 (modeled I2C + RF + EEPROM)", modeled / 1e6,
         "s", "model"),
        ("datasheet minimum for the same bytes", minimum_us / 1e6, "s", "model"),
        ("modeled / minimum", modeled / minimum_us, "x", "model"),
        ("PN532 commands per write + verify", int(out["pn532_commands"]), "commands", "model"),
        ("NTAG page writes", writes, "pages", "model"),
        ("credential (COSE_Sign1)", int(out["credential_bytes"]), "bytes", "micropython"),
        ("NDEF TLV on the card (of 504 user bytes)", tlv, "bytes", "micropython"),
        ("Ed25519 sign", int(out["sign_us"]) / 1000, "ms", rt),
        ("Ed25519 verify (the key's comb made)", int(out["verify_us"]) / 1000, "ms", rt),
        ("Ed25519 verify, the first with a key (its comb made)", int(out["verify_first_us"]) / 1000, "ms", rt),
        ("NTAG originality check (secp128r1 ECDSA verify)", int(out["originality_us"]) / 1000, "ms", rt),
        ("write + verify on the host CPU", int(out["write_verify_host_ms"]), "ms", rt),
        ("live heap after write + verify (driver, card stack, emulators)", int(out["live_heap"]), "bytes",
         "32-bit runtime heap=100k"),
    ]
