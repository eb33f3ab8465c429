"""Copy the third-party MicroPython libraries out of their installed wheels into lib/.

The firmware runs the real adafruit_pn532 driver; on the device it lives in
/lib like any MicroPython library.  Nothing is copied by hand: the files are
taken from the distributions pinned in requirements.txt, and a stamp records
which versions are in lib/.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

from .errors import EnrolctlError
from .paths import LIB

# distribution name -> top-level package it provides
VENDORED = {
    "adafruit-circuitpython-pn532": "adafruit_pn532",
    "adafruit-circuitpython-busdevice": "adafruit_bus_device",
}


def vendor(lib_dir: Path = LIB) -> list[Path]:
    """Copy each vendored package's .py files into lib_dir/<package>/; returns the files written."""
    written: list[Path] = []
    for dist_name, package in VENDORED.items():
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError as e:
            raise EnrolctlError(f"{dist_name} is not installed: run `make setup`") from e
        files = [f for f in dist.files or () if f.parts[0] == package and f.suffix == ".py"]
        if not files:
            raise EnrolctlError(f"{dist_name} {dist.version} has no {package}/*.py files")
        target = lib_dir / package
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for f in files:
            dest = lib_dir / Path(*f.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.locate(), dest)
            written.append(dest)
        (target / "VERSION").write_text(f"{dist_name}=={dist.version}\n")
    return written
