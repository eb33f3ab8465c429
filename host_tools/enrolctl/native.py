"""The firmware's native module (edsig: Ed25519, SHA-512, PBKDF2-HMAC-SHA256 and the NTAG originality
check on secp128r1, in C) and the C library it wraps.

host_tools/runtime/usermod/ is MicroPython's USER_C_MODULES directory for both builds: the 32-bit
unix runtime (make, each module's micropython.mk) and the ESP32 image (CMake, micropython.cmake).
Its curve arithmetic is Monocypher's, taken from the pymonocypher source distribution pinned below
by version and SHA-256 (the package's own Python binding is not used: only monocypher.c and .h).

A runtime or image without edsig is a failed build (require_modules), never a device that finds
out at its first card: firmware/crypto/ed25519.py imports it with no fallback.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from .errors import EnrolctlError
from .paths import ROOT

USERMOD = ROOT / "host_tools" / "runtime" / "usermod"
NATIVE_DIR = ROOT / "build" / "native"
MONOCYPHER_DIR = NATIVE_DIR / "monocypher"
# Monocypher 4.0.3 as the pymonocypher 4.0.3.4 sdist carries it (BSD-2-Clause OR CC0-1.0)
SDIST = "pymonocypher==4.0.3.4"
SDIST_SHA256 = "5e56e3d3eb770a53e0b9f6274146663c11a11f3d0de5cd48e3be0428d1b07a4a"
SOURCES = ("monocypher.c", "monocypher.h")
# the modules every build of the device's MicroPython must have
NATIVE_MODULES = ("edsig",)


def fetch_monocypher(into: Path = MONOCYPHER_DIR) -> Path:
    """Monocypher's monocypher.c and .h in `into` (fetched once; again if the pin changed)."""
    stamp = into / "SDIST"
    if stamp.is_file() and stamp.read_text().strip() == SDIST_SHA256 and all((into / s).is_file() for s in SOURCES):
        return into
    NATIVE_DIR.mkdir(parents=True, exist_ok=True)
    download = NATIVE_DIR / "download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir()
    pin = download / "requirements.txt"
    pin.write_text(f"{SDIST} --hash=sha256:{SDIST_SHA256}\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                           "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r", str(pin),
                           "-d", str(download)], capture_output=True, text=True)
    archives = sorted(download.glob("pymonocypher-*.tar.gz"))
    if proc.returncode != 0 or len(archives) != 1:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise EnrolctlError(f"native: could not fetch {SDIST} (Monocypher's source): {tail[0]}")
    digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
    if digest != SDIST_SHA256:  # pip checked it too; this names the file if a cache lied
        raise EnrolctlError(f"native: {archives[0].name} has SHA-256 {digest}, not the pinned {SDIST_SHA256}")
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(archives[0]) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name in SOURCES and Path(member.name).parent.name.startswith("pymonocypher-"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                (into / name).write_bytes(extracted.read())
    if not all((into / s).is_file() for s in SOURCES):
        raise EnrolctlError(f"native: {archives[0].name} holds no monocypher.c / monocypher.h")
    stamp.write_text(SDIST_SHA256 + "\n")  # last: a cut fetch is done again
    shutil.rmtree(download, ignore_errors=True)
    return into


def require_modules(micropython: Path) -> None:
    """The built runtime imports every native module, or the build failed (one line says which)."""
    probe = "import " + ", ".join(NATIVE_MODULES)
    proc = subprocess.run([str(micropython), "-c", probe], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise EnrolctlError(f"runtime: {micropython.name} was built without the native module(s) "
                            f"{', '.join(NATIVE_MODULES)} ({last[0]}): see host_tools/runtime/usermod/")


def require_in_image(map_file: Path) -> None:
    """The ESP32 app's link map names every native module, or the image build failed."""
    text = map_file.read_text(errors="replace") if map_file.is_file() else ""
    missing = [m for m in NATIVE_MODULES if f"{m}_module" not in text]
    if missing:
        raise EnrolctlError(f"image: the app was linked without the native module(s) {', '.join(missing)} "
                            f"({map_file.name}): see host_tools/runtime/usermod/")
