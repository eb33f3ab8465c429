"""NFC card (issue 3): modeled tap-to-verified time, PN532 transactions, Ed25519 timings, sizes.

The datasheet minimum for comparison: the bytes written (page writes of 4 bytes,
each 4.1 ms of EEPROM programming plus its RF frame) and read back, at 106 kbit/s."""

from __future__ import annotations

from mp import ROOT, compiled_tree, run_script


def run():
    tree = compiled_tree()
    out = dict(line.split("=", 1) for line in run_script(ROOT / "bench" / "mp_card.py", [str(tree)], heapsize="160k")
               .splitlines() if "=" in line)
    writes = int(out["page_writes"])
    tlv = int(out["tlv_bytes"])
    # minimum: each WRITE = 6-byte command + 2 CRC over RF (85 us a byte) + 4.1 ms programming;
    # read-back of the TLV by FAST_READ: its bytes + CRC
    minimum_us = writes * (8 * 85 + 4100) + (tlv + 2) * 85
    modeled = int(out["modeled_us"])
    rt = "micropython (x86 host)"
    return [
        ("tap-to-verified, fresh NTAG215 (modeled I2C + RF + EEPROM)", modeled / 1e6, "s", "model"),
        ("datasheet minimum for the same bytes", minimum_us / 1e6, "s", "model"),
        ("modeled / minimum", modeled / minimum_us, "x", "model"),
        ("PN532 commands per write + verify", int(out["pn532_commands"]), "commands", "model"),
        ("NTAG page writes", writes, "pages", "model"),
        ("credential (COSE_Sign1)", int(out["credential_bytes"]), "bytes", "micropython"),
        ("NDEF TLV on the card (of 504 user bytes)", tlv, "bytes", "micropython"),
        ("Ed25519 sign", int(out["sign_ms"]), "ms", rt),
        ("Ed25519 verify", int(out["verify_ms"]), "ms", rt),
        ("write + verify on the host CPU", int(out["write_verify_host_ms"]), "ms", rt),
        ("live heap after write + verify (driver, card stack, emulators)", int(out["live_heap"]), "bytes",
         "micropython heap=160k"),
    ]
