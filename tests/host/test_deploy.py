"""enrolctl deploy to the MicroPython unix port behind a pseudo-terminal, with real mpremote:
full and incremental deploys checked by SHA-256 on the device, a cable pulled at every step
followed by a boot (the device always boots a complete version), and the trial rollback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MICROPYTHON, ROOT, enrolctl
from ptydevice import PtyDevice

from host_tools.enrolctl.build import MANIFEST, build, compile_module
from host_tools.enrolctl.deploy import build_id, deploy, step_count
from host_tools.enrolctl.errors import EnrolctlError

SOAK = bool(os.environ.get("ENROL_SOAK"))  # make soak: the cable is cut at every step, not a sample


class CableCut(Exception):
    pass


def boot(root: Path) -> str:
    """Power on: boot.py picks the version; report which one and that the firmware imports."""
    code = ("exec(open('boot.py').read())\nimport sys\nfrom firmware import VERSION, app\n"
            "print('BOOTED', sys.path[0])\n")
    proc = subprocess.run([str(MICROPYTHON), "-X", "heapsize=512k", "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, ENROL_DATA_DIR=str(root / "data"),
                                                          MICROPYPATH=":.frozen"))
    found = re.search(r"(app/[0-9a-f]{12})\s*$", proc.stdout)
    if proc.returncode == 0 and found:
        return found.group(1)
    raise AssertionError(f"the device did not boot (rc {proc.returncode}): {proc.stdout!r} {proc.stderr!r}")


def rewrite_manifest(build_dir: Path) -> None:
    doc = json.loads((build_dir / MANIFEST).read_text())
    for f in doc["files"]:
        data = (build_dir / f["path"]).read_bytes()
        f["size"], f["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    (build_dir / MANIFEST).write_text(json.dumps(doc, indent=1))


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """Build A, and build B: A with one module changed."""
    a = tmp_path_factory.mktemp("buildA")
    build(a)
    b = tmp_path_factory.mktemp("buildB")
    shutil.rmtree(b)
    shutil.copytree(a, b)
    src = b / "keymap_changed.py"
    src.write_text((ROOT / "firmware" / "ui" / "keymap.py").read_text() + "\nDEPLOY_TEST = 1\n")
    compile_module(src, b / "firmware" / "ui" / "keymap.mpy", "firmware/ui/keymap.py")
    src.unlink()
    rewrite_manifest(b)
    return a, b


def device_root(tmp_path: Path) -> Path:
    root = tmp_path / "device"
    (root / "data").mkdir(parents=True)
    return root


def test_full_then_incremental_deploy(builds, tmp_path: Path) -> None:
    a, b = builds
    root = device_root(tmp_path)
    with PtyDevice(a, root / "data", root=root) as dev:
        steps: list[int] = []
        first = deploy(dev.port, a, on_file=lambda i, path: steps.append(i))
        assert first.switched and first.sent == first.files and first.copied == 0
        assert steps == list(range(step_count(json.loads((a / MANIFEST).read_text()))))  # the progress bar's total
        for f in json.loads((a / MANIFEST).read_text())["files"]:
            where = f["path"] if f["path"] in ("boot.py", "main.py") else f"app/{first.version_id}/{f['path']}"
            assert hashlib.sha256((root / where).read_bytes()).hexdigest() == f["sha256"], where
        assert boot(root) == f"app/{build_id(json.loads((a / MANIFEST).read_text()))}"
        assert not deploy(dev.port, a).switched  # the same build again: nothing to do
        second = deploy(dev.port, b)
        assert second.sent == 1 and second.copied == second.files - 1, second
        assert second.bytes_sent < first.bytes_sent / 20
        assert (root / "app" / "previous").read_text() == first.version_id
        assert boot(root) == f"app/{second.version_id}"
        # the technician's command: back to the first build, whose stage is still complete on the device
        cli = enrolctl("deploy", "--port", dev.port, "--no-build", "--build", str(a), timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert f"deployed build {first.version_id}: 0 files sent" in cli.stdout and cli.stderr == ""
    assert boot(root) == f"app/{first.version_id}"


def test_a_cable_pulled_at_any_step_leaves_a_device_that_boots(builds, tmp_path: Path) -> None:
    """make test: every 9th file and the last five steps (manifest, boot.py, main.py, switch)."""
    cable_cut_sweep(builds, tmp_path, lambda steps: sorted(set(range(0, steps, 9)) | set(range(steps - 5, steps))))


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="every step of a deploy: run `make soak`")
def test_soak_a_cable_pulled_at_every_step_leaves_a_device_that_boots(builds, tmp_path: Path) -> None:
    cable_cut_sweep(builds, tmp_path, range)


def cable_cut_sweep(builds, tmp_path: Path, choose) -> None:
    a, b = builds
    root = device_root(tmp_path)
    with PtyDevice(a, root / "data", root=root) as dev:
        base = deploy(dev.port, a)
        steps = base.files + 4  # every file, the manifest, boot.py, main.py, the switch
    cuts = choose(steps)
    booted = []
    for k in cuts:
        # the device runs build A; deploying B is cut at step k; the device is powered on
        trial = tmp_path / f"cut{k}"
        shutil.copytree(root, trial)

        def cut(i: int, path: str, k: int = k) -> None:
            if i == k:
                raise CableCut(path)

        with PtyDevice(a, trial / "data", root=trial) as dev:
            with pytest.raises(CableCut):
                deploy(dev.port, b, on_file=cut)
        booted.append(boot(trial))
        assert booted[-1] == f"app/{base.version_id}", (k, booted[-1])  # cut before the switch: A
        with PtyDevice(a, trial / "data", root=trial) as dev:  # and the next deploy finishes the job
            again = deploy(dev.port, b)
        assert again.switched and again.kept + again.copied + again.sent == again.files
        assert boot(trial) == f"app/{again.version_id}"
    print(f"deploy cut at {len(cuts)} of {steps} steps: every boot ran a complete version")


def stage(root: Path, build_dir: Path) -> str:
    """Lay a build out on the device root as a completed deploy leaves it (boot.py's view)."""
    vid = build_id(json.loads((build_dir / MANIFEST).read_text()))
    shutil.copytree(build_dir, root / "app" / vid, ignore=shutil.ignore_patterns("boot.py", "main.py"))
    for name in ("boot.py", "main.py"):
        shutil.copyfile(build_dir / name, root / name)
    return vid


def test_a_version_that_never_reaches_the_app_is_rolled_back(builds, tmp_path: Path) -> None:
    a, b = builds
    root = device_root(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(b, broken)
    (broken / "firmware" / "__init__.mpy").write_bytes(b"M\x06garbage")  # the package does not import
    rewrite_manifest(broken)
    good, bad = stage(root, a), stage(root, broken)
    app = root / "app"
    (app / "previous").write_text(good)
    (app / "current").write_text(bad)
    (app / "trial").write_text(bad)  # as the deploy's switch leaves it
    for _ in range(2):
        with pytest.raises(AssertionError):
            boot(root)  # the broken build: no firmware
    assert boot(root) == f"app/{good}"  # third power-on: rolled back to A
    assert (app / "current").read_text() == good
    assert not (app / "trial").exists() and not (app / "trial.boots").exists()
    (app / "current").write_text(bad)  # an incomplete stage (no manifest) is never run
    (app / bad / MANIFEST).unlink()
    assert boot(root) == f"app/{good}"
    (app / "trial").write_text("0123456789ab")  # a deploy cut before its switch: nothing on trial
    assert boot(root) == f"app/{good}" and not (app / "trial").exists()


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
