"""Deploy: bring a device's filesystem up to date with this checkout.

The application is frozen into the firmware image (manifest.py): a new version of the
code reaches a device only as a new image, `enrolctl flash --update` (README, Updating a
device).  What the filesystem holds beside it, and so what this writes:
  boot.py, main.py     each written to a .tmp name, checked by SHA-256, renamed over the
                       old one, and only when changed: a pulled cable leaves the old or the
                       new file whole, so the device always boots
  app/                 trees an older deploy staged (code in RAM, a mix of versions):
                       boot.py never runs them; removed here, to give the flash back
The device's frozen version is reported beside this checkout's, so a technician sees
when the board needs the new image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mpremote.transport import TransportError, TransportExecError

from .build import read_manifest
from .errors import EnrolctlError
from .link import DeviceLink
from .paths import DEVICE_SOURCES

_RMTREE = """
import os
def _rm(p):
    for e in os.ilistdir(p):
        q = p + '/' + e[0]
        if e[1] == 0x4000:
            _rm(q)
        else:
            os.remove(q)
    os.rmdir(p)
for p in {names!r}:
    _rm(p)
"""


@dataclass
class DeployReport:
    device_version: str  # the version frozen into the device's image
    checkout_version: str  # firmware/__init__.py here
    written: list[str] = field(default_factory=list)  # boot.py / main.py sent
    removed: list[str] = field(default_factory=list)  # stale app/ trees
    bytes_sent: int = 0

    @property
    def image_is_current(self) -> bool:
        return self.device_version == self.checkout_version


STEPS = DEVICE_SOURCES + ("app/",)  # what deploy() may be cut before (tests cut the cable there)

_VERSION = "try:\n from firmware import VERSION\n print(VERSION)\nexcept ImportError:\n print('')"


def deploy(port: str, build_dir: Path, on_file: Callable[[int, str], None] | None = None) -> DeployReport:
    """Write boot.py and main.py where they differ, remove stale app/ trees.  on_file(i, step) is
    called before each step of STEPS (tests cut the cable there)."""
    manifest = read_manifest(build_dir)
    with DeviceLink(port) as link:
        report = DeployReport(link.exec(_VERSION).strip(), str(manifest.get("version", "")))
        for i, name in enumerate(DEVICE_SOURCES):
            if on_file is not None:
                on_file(i, name)
            data = (build_dir / name).read_bytes()
            want = hashlib.sha256(data).hexdigest()
            if _sha256(link, name) == want:
                continue
            link.write(name, data)
            if _sha256(link, name) != want:
                raise EnrolctlError(f"{name} does not match this checkout on the device (SHA-256): deploy again")
            report.written.append(name)
            report.bytes_sent += len(data)
        if on_file is not None:
            on_file(len(DEVICE_SOURCES), "app/")
        if link.exec("import os\nprint('app' in os.listdir())").strip() == "True":
            report.removed = link.listdir("app")
            link.exec(_RMTREE.format(names=["app"]))
    return report


def _sha256(link: DeviceLink, path: str) -> str | None:
    try:
        if not link.t.fs_exists(path):
            return None
        return link.t.fs_hashfile(path, "sha256").hex()
    except (TransportError, TransportExecError, OSError) as e:
        raise EnrolctlError(f"cannot check {path} on the device: {e}") from e
