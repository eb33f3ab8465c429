"""enrolctl deploy to the simulated device's runtime behind a pseudo-terminal, with real mpremote:
boot.py and main.py written only when changed and checked by SHA-256, app/ trees an older deploy
staged removed, the frozen version reported, and a cable pulled at every step followed by a
boot (the device always boots, its frozen firmware first on the path)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MICROPYTHON, ROOT, enrolctl
from ptydevice import PtyDevice

from host_tools.enrolctl.build import MANIFEST, build, firmware_version, write_manifest
from host_tools.enrolctl.deploy import STEPS, deploy
from host_tools.enrolctl.errors import EnrolctlError


class CableCut(Exception):
    pass


def boot(root: Path) -> str:
    """Power on: boot.py orders the path; report where the firmware came from."""
    code = ("exec(open('boot.py').read())\nimport sys\nfrom firmware import VERSION, app\n"
            "print('BOOTED', VERSION, sys.path[0], app.__file__)\n")
    proc = subprocess.run([str(MICROPYTHON), "-X", "heapsize=100k", "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, ENROL_DATA_DIR=str(root / "data"),
                                                          MICROPYPATH=":.frozen:lib"))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BOOTED ")]
    if proc.returncode == 0 and lines:
        return lines[-1]
    raise AssertionError(f"the device did not boot (rc {proc.returncode}): {proc.stdout!r} {proc.stderr!r}")


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """Build A, and build B: A with boot.py changed."""
    a = tmp_path_factory.mktemp("buildA")
    build(a)
    b = tmp_path_factory.mktemp("buildB")
    shutil.rmtree(b)
    shutil.copytree(a, b)
    (b / "boot.py").write_text((a / "boot.py").read_text() + "# deploy test: B\n")
    write_manifest(b, firmware_version())
    return a, b


OLD = {"boot.py": "import sys\nsys.path[:0] = ['app/old']\n", "main.py": "print('old main')\n"}


def device_root(tmp_path: Path) -> Path:
    """A board as an older deploy left it: its own boot.py and a staged app/ tree."""
    root = tmp_path / "device"
    (root / "data").mkdir(parents=True)
    for name, text in OLD.items():
        (root / name).write_text(text)
    stage = root / "app" / "old" / "firmware"
    stage.mkdir(parents=True)
    (stage / "app.mpy").write_bytes(b"M\x06old")
    (root / "app" / "current").write_text("old")
    return root


def test_deploy_writes_what_changed_and_removes_staged_code(builds, tmp_path: Path) -> None:
    a, b = builds
    root = device_root(tmp_path)
    with PtyDevice(root / "data", root=root) as dev:
        first = deploy(dev.port, a)
        assert first.written == ["boot.py", "main.py"] and first.removed == ["current", "old"]
        assert first.device_version == first.checkout_version == "0.1.0" and first.image_is_current
        again = deploy(dev.port, a)
        assert again.written == [] and again.removed == [] and again.bytes_sent == 0
        changed = deploy(dev.port, b)
        assert changed.written == ["boot.py"] and changed.bytes_sent == (b / "boot.py").stat().st_size
    assert not (root / "app").exists()
    assert (root / "boot.py").read_bytes() == (b / "boot.py").read_bytes()
    assert boot(root).startswith("BOOTED 0.1.0 .frozen firmware/app.py")  # frozen, not a file


def test_a_cable_pulled_at_every_step_leaves_a_device_that_boots(builds, tmp_path: Path) -> None:
    a, b = builds
    for k, step in enumerate(STEPS):
        trial = device_root(tmp_path / f"cut{k}")

        def cut(i: int, path: str, k: int = k) -> None:
            if i == k:
                raise CableCut(path)

        with PtyDevice(trial / "data", root=trial) as dev:
            with pytest.raises(CableCut):
                deploy(dev.port, b, on_file=cut)
        for i, name in enumerate(("boot.py", "main.py")):  # each whole: the new one once its step passed
            assert (trial / name).read_bytes() == ((b / name).read_bytes() if i < k else OLD[name].encode())
        if k > 0:
            assert boot(trial).startswith("BOOTED 0.1.0 .frozen")  # the new boot.py: the frozen app
        with PtyDevice(trial / "data", root=trial) as dev:  # and the next deploy finishes the job
            deploy(dev.port, b)
        assert boot(trial).startswith("BOOTED 0.1.0 .frozen")
        assert not (trial / "app").exists()


def test_an_old_frozen_image_is_reported(builds, tmp_path: Path) -> None:
    a, _ = builds
    newer = tmp_path / "newer"
    shutil.copytree(a, newer)
    write_manifest(newer, "9.9.9")
    root = device_root(tmp_path)
    with PtyDevice(root / "data", root=root) as dev:
        r = enrolctl("deploy", "--port", dev.port, "--no-build", "--build", str(newer), timeout=120)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert "the device's firmware image is 0.1.0, this checkout is 9.9.9" in said and "enrolctl flash --update" in said


def test_bad_builds_and_ports_are_refused_in_one_line(builds, tmp_path: Path) -> None:
    a, _ = builds
    damaged = tmp_path / "damaged"
    shutil.copytree(a, damaged)
    (damaged / MANIFEST).write_text("{not json")
    r = enrolctl("deploy", "--port", "/dev/null-no", "--no-build", "--build", str(damaged), timeout=60)
    assert r.returncode == 1 and "manifest" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = enrolctl("deploy", "--port", str(tmp_path / "ttyNONE"), "--no-build", "--build", str(a), timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("enrolctl: no device on")
    with pytest.raises(EnrolctlError, match="manifest"):
        deploy("/dev/null-no", damaged)
    assert ROOT.is_dir()
