"""Staged deploy: a build goes into its own directory on the device and is switched to in one rename.

Device layout (paths relative to the device's root, as boot.py sees them):
  boot.py, main.py     top level; replaced atomically (copy to .tmp, rename) only when changed
  app/<id>/...         one build: firmware/, lib/, and manifest.json written LAST (a stage is
                       complete exactly when its manifest is there)
  app/current          the id boot.py runs;  app/previous  the one before (the fallback)
  app/trial            set by the switch; main.py clears it once the app's code has loaded,
                       boot.py rolls back to app/previous after 2 boots that did not get there
Power or cable lost at any point leaves app/current naming a complete stage: before the
switch the old one, after it the new one.  Files the device already has (same SHA-256 in
its current version) are copied on the device instead of over the cable; every file is
checked by its SHA-256 on the device after it is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mpremote.transport import TransportError, TransportExecError

from .build import MANIFEST, read_manifest
from .errors import EnrolctlError
from .link import DeviceLink
from .paths import DEVICE_SOURCES

_COPY = """
with open({src!r}, 'rb') as a, open({dst!r}, 'wb') as b:
    buf = bytearray(512)
    while True:
        n = a.readinto(buf)
        if not n:
            break
        b.write(buf[:n])
"""

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
for v in {names!r}:
    _rm('app/' + v)
"""


@dataclass
class DeployReport:
    version_id: str
    files: int = 0
    sent: int = 0  # files sent over the cable
    copied: int = 0  # files copied on the device from the running version
    kept: int = 0  # already in the stage (an earlier, interrupted deploy)
    bytes_sent: int = 0
    switched: bool = False


def build_id(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]


class _Device:
    def __init__(self, link: DeviceLink) -> None:
        self.link = link
        self.t = link.t

    def sha256(self, path: str) -> str | None:
        try:
            if not self.t.fs_exists(path):
                return None
            return self.t.fs_hashfile(path, "sha256").hex()
        except (TransportError, TransportExecError, OSError) as e:
            raise EnrolctlError(f"cannot check {path} on the device: {e}") from e

    def mkdirs(self, path: str) -> None:
        d = ""
        for part in path.split("/")[:-1]:
            d = d + part
            try:
                if not self.t.fs_exists(d):
                    self.t.fs_mkdir(d)
            except (TransportError, TransportExecError, OSError) as e:
                raise EnrolctlError(f"cannot make {d} on the device: {e}") from e
            d += "/"


def step_count(manifest: dict) -> int:
    """How many on_file() steps a deploy of this build has: its files, the manifest, boot.py, main.py, the switch."""
    return sum(1 for f in manifest["files"] if f["path"] not in DEVICE_SOURCES) + 1 + len(DEVICE_SOURCES) + 1


def deploy(port: str, build_dir: Path, on_file: Callable[[int, str], None] | None = None,
           reset: bool = True) -> DeployReport:
    """Stage the build on the device, verify it, switch to it.  on_file(i, path) is called before each
    file is written (tests cut the cable there)."""
    manifest = read_manifest(build_dir)
    vid = build_id(manifest)
    report = DeployReport(vid)
    with DeviceLink(port) as link:
        dev = _Device(link)
        current = (link.read("app/current") or b"").decode().strip()
        running: dict[str, str] = {}
        if current:
            raw = link.read(f"app/{current}/{MANIFEST}")
            if raw:
                try:
                    running = {f["path"]: f["sha256"] for f in json.loads(raw)["files"]}
                except (ValueError, KeyError, TypeError):
                    running = {}  # a damaged manifest on the device: send everything
        stage = f"app/{vid}"
        if current == vid and link.read(f"{stage}/{MANIFEST}") is not None:
            return report  # already running this build
        files = [f for f in manifest["files"] if f["path"] not in DEVICE_SOURCES]
        for i, f in enumerate(files):
            path, want = f["path"], f["sha256"]
            dest = f"{stage}/{path}"
            report.files += 1
            if on_file is not None:
                on_file(i, path)
            if dev.sha256(dest) == want:
                report.kept += 1
                continue
            if running.get(path) == want:
                dev.mkdirs(dest)
                link.exec(_COPY.format(src=f"app/{current}/{path}", dst=dest))
                report.copied += 1
            else:
                data = (build_dir / path).read_bytes()
                dev.mkdirs(dest)
                try:
                    link.t.fs_writefile(dest, data)
                except (TransportError, TransportExecError, OSError) as e:
                    raise EnrolctlError(f"copying {path} failed: {e}") from e
                report.sent += 1
                report.bytes_sent += len(data)
            if dev.sha256(dest) != want:
                raise EnrolctlError(f"{path} does not match its build on the device (SHA-256): deploy again")
        if on_file is not None:
            on_file(len(files), MANIFEST)
        link.write(f"{stage}/{MANIFEST}", (build_dir / MANIFEST).read_bytes())  # the stage is complete
        for j, name in enumerate(DEVICE_SOURCES):  # boot.py, main.py: atomically, and only when changed
            if on_file is not None:
                on_file(len(files) + 1 + j, name)
            data = (build_dir / name).read_bytes()
            if dev.sha256(name) != hashlib.sha256(data).hexdigest():
                link.write(name, data)
                report.bytes_sent += len(data)
        if on_file is not None:
            on_file(len(files) + 3, "switch")
        if current:
            link.write("app/previous", current.encode())
        link.exec("import os\ntry:\n os.remove('app/trial.boots')\nexcept OSError:\n pass")
        link.write("app/trial", vid.encode())
        link.write("app/current", vid.encode())  # the switch: one rename
        report.switched = True
        keep = {vid, current}
        old = [n for n in link.listdir("app") if "." not in n and n not in keep
               and n not in ("current", "previous", "trial")]
        if old:
            link.exec(_RMTREE.format(names=old))
        if reset:
            link.exec("import sys\nif sys.platform == 'esp32':\n import machine\n machine.reset()")
    return report
