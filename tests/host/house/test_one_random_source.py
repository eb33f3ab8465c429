"""Every random byte the firmware draws comes from crypto/rng.py's DRBG (issue 15: os.urandom on
an ESP32 with its radio off is only pseudo-random).  Only rng.py itself and the key generation
(which mixes in the provisioning laptop's entropy) read the chip's RNG."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ALLOWED = {"firmware/crypto/rng.py", "firmware/store/secrets.py"}


def test_no_firmware_module_but_rng_reads_os_urandom() -> None:
    found = []
    for path in sorted([*(ROOT / "firmware").rglob("*.py"), ROOT / "boot.py", ROOT / "main.py"]):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("urandom", "getrandbits") and rel not in ALLOWED:
                found.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module in ("os", "random") and rel not in ALLOWED:
                if any(a.name in ("urandom", "getrandbits") for a in node.names):
                    found.append(f"{rel}:{node.lineno}")
    assert found == [], found
    assert "urandom" in (ROOT / "firmware/crypto/rng.py").read_text()  # the check is looking at the right files
