"""The host tools run from a checkout of the project and read the device's bytes with the
firmware's own format module (firmware/formats.py): the checkout's root goes on sys.path once,
so `import firmware.formats` works from the installed `enrolctl` and the registry as well."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
