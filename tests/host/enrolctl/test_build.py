"""make build: every firmware and lib module compiles with mpy-cross and imports from the build output alone."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_micropython
from host_tools.enrolctl.build import MANIFEST, build, device_sources, read_manifest
from host_tools.enrolctl.errors import EnrolctlError


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("device")
    build(out)
    return out


def test_every_source_has_its_mpy_and_boot_main_stay_source(built: Path) -> None:
    for src in device_sources(ROOT):
        rel = src.relative_to(ROOT).with_suffix(".mpy")
        mpy = built / rel
        assert mpy.is_file(), rel
        assert mpy.read_bytes()[:2] == b"M\x06"  # mpy magic 'M', bytecode version 6
    assert (built / "boot.py").read_text() == (ROOT / "boot.py").read_text()
    assert (built / "main.py").read_text() == (ROOT / "main.py").read_text()
    assert not list(built.rglob("firmware/**/*.py"))


def test_manifest_lists_every_file_with_its_hash(built: Path) -> None:
    manifest = read_manifest(built)
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert set(listed) == on_disk
    for path, entry in listed.items():
        data = (built / path).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["version"]


def test_every_compiled_module_imports_under_micropython(built: Path) -> None:
    modules = sorted(
        p.relative_to(built).with_suffix("").as_posix().replace("/", ".")
        for p in built.rglob("*.mpy")
    )
    modules = [m[4:] if m.startswith("lib.") else m for m in modules]
    # one at a time, unloading in between: all of them at once (SPI and UART drivers
    # included) would not fit the 100 KB heap, and the device never loads them together.
    # Eight per process: interned names (qstrs) are never freed, so a process for many
    # modules would measure the test's own leftovers, not the firmware (a dozen, with the
    # simulator's board and its wire among them, no longer fitted).
    imported = 0
    for i in range(0, len(modules), 8):
        chunk = modules[i : i + 8]
        script = (
            "import sys, gc\n"
            "sys.path[:] = ['', 'lib', '.frozen']\n"  # the compiled files first; asyncio is frozen
            f"names = {chunk!r}\n"
            "base = set(sys.modules)\n"
            "for n in names:\n"
            "    __import__(n)\n"
            "    assert sys.modules[n].__file__.endswith('.mpy'), n\n"
            "    for m in list(sys.modules):\n"
            "        if m not in base:\n"
            "            del sys.modules[m]\n"
            "    gc.collect()\n"
            "print('imported', len(names))\n"
        )
        proc = run_micropython(["-c", script], cwd=built)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == f"imported {len(chunk)}"
        imported += len(chunk)
    assert imported == len(modules)
    assert len(modules) >= 20


def test_corrupted_manifest_is_refused_with_a_clear_error(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dev"
    shutil.copytree(built, copy)
    (copy / MANIFEST).write_text('{"files": [{"path": "x", "size": "big"}]}')
    with pytest.raises(EnrolctlError, match="corrupted manifest"):
        read_manifest(copy)
    (copy / MANIFEST).write_text("not json")
    with pytest.raises(EnrolctlError, match="corrupted manifest"):
        read_manifest(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(EnrolctlError, match="no manifest"):
        read_manifest(copy)


def test_syntax_that_micropython_rejects_fails_the_build(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "firmware", root / "firmware", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "lib", root / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("boot.py", "main.py"):
        shutil.copyfile(ROOT / name, root / name)
    (root / "firmware" / "bad.py").write_text("x = 1\ndef f(:\n    pass\n")
    with pytest.raises(EnrolctlError, match="mpy-cross rejected firmware/bad.py"):
        build(tmp_path / "out", root)


def test_manifest_json_is_what_build_returned(built: Path) -> None:
    data = json.loads((built / MANIFEST).read_text())
    assert all(set(f) == {"path", "size", "sha256"} for f in data["files"])


def test_only_the_board_modules_reach_machine_or_network() -> None:
    """Hardware is reached only through firmware/board.py (DESIGN.md's rule of the house);
    the vendored Adafruit driver is checked too, since it runs on the device."""
    import ast

    root = Path(__file__).resolve().parents[3]
    offenders = []
    files = [*root.glob("firmware/**/*.py"), *root.glob("lib/**/*.py"), root / "boot.py", root / "main.py"]
    assert len(files) > 30
    for path in files:
        if path.parent == root / "firmware" and path.name.startswith("board") and path.name != "board_select.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("machine", "network", "esp32") for n in names):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def test_make_image_says_in_one_line_what_is_missing(tmp_path: Path) -> None:
    from conftest import enrolctl
    import os

    env = {k: v for k, v in os.environ.items() if k != "IDF_PATH"}
    r = enrolctl("image", env=env)
    assert r.returncode == 1 and r.stderr.startswith("enrolctl: image: IDF_PATH is not set")
    assert len(r.stderr.strip().splitlines()) == 1
    r = enrolctl("image", env=dict(env, IDF_PATH=str(tmp_path)))
    assert r.returncode == 1 and "is not an ESP-IDF checkout" in r.stderr
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "idf.py").write_text("")
    r = enrolctl("image", env=dict(env, IDF_PATH=str(tmp_path), PATH="/usr/bin:/bin"))
    assert r.returncode == 1 and "xtensa-esp32-elf-gcc" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_manifest_freezes_the_device_image_and_leaves_the_simulator_out() -> None:
    """manifest.py, as MicroPython's freezer reads it: firmware/ and lib/, not board_sim or tests."""
    import sys

    from host_tools.enrolctl.runtime import source_tree

    src = source_tree()
    sys.path.insert(0, str(src / "tools"))
    import manifestfile

    m = manifestfile.ManifestFile(manifestfile.MODE_FREEZE, {"MPY_DIR": str(src),
                                                           "PORT_DIR": str(ROOT), "BOARD_DIR": "", "MPY_LIB_DIR": ""})
    m.execute("include(%r, port='test')" % str(ROOT / "manifest.py"))
    frozen = sorted(f.target_path for f in m.files())
    assert "firmware/app.py" in frozen and "firmware/board.py" in frozen and "adafruit_pn532/adafruit_pn532.py" in frozen
    assert "time.py" in frozen and "firmware/board_sim.py" not in frozen and "firmware/bridge_wire.py" not in frozen
    assert not [f for f in frozen if f.startswith(("host_tools", "tests"))]
    assert len(frozen) == len(device_sources(ROOT)) - 2  # every device source but board_sim and its wire


def test_the_board_definition_fits_micropythons_esp32_port() -> None:
    """host_tools/esp32_board/ as ports/esp32 will read it: the sdkconfig files it names exist in
    the port, rollback (which board.confirm_image relies on) is on in them, the filesystem
    partition has the label MicroPython mounts."""
    import re

    from host_tools.enrolctl import ota
    from host_tools.enrolctl.image import BOARD_DIR
    from host_tools.enrolctl.runtime import source_tree

    port = source_tree() / "ports" / "esp32"
    cmake = (BOARD_DIR / "mpconfigboard.cmake").read_text()
    named = re.findall(r"^\s+(boards/\S+)$", cmake, re.M)
    assert named and all((port / n).is_file() for n in named), named
    defaults = "".join((port / n).read_text() for n in named) + (BOARD_DIR / "sdkconfig.board").read_text()
    assert "CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y" in defaults
    assert "CONFIG_COMPILER_OPTIMIZATION_SIZE=y" in defaults
    assert 'label="vfs"' in (port / "modules" / "flashbdev.py").read_text()
    assert ota.project_layout().find("vfs") is not None
    assert (BOARD_DIR / "mpconfigboard.h").is_file()


def _stand_in_idf(tmp_path: Path, monkeypatch, app_bytes: int, map_text: str) -> None:
    """ESP-IDF's build replaced by a `make` on PATH that writes an app of app_bytes and a link map."""
    import os
    import stat

    from host_tools.enrolctl import image

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_make = bin_dir / "make"
    fake_make.write_text("#!/bin/sh\nfor a; do case $a in BUILD=*) out=${a#BUILD=};; BOARD_DIR=*) bd=${a#BOARD_DIR=};; "
                         "USER_C_MODULES=*) um=${a#USER_C_MODULES=};; esac; done\n"
                         "test -f \"$bd/mpconfigboard.cmake\" || exit 2\ntest -f \"$um\" || exit 3\nmkdir -p \"$out\"\n"
                         f"head -c {app_bytes} /dev/zero > \"$out/micropython.bin\"\n"
                         "cp \"$out/micropython.bin\" \"$out/firmware.bin\"\n"
                         f"printf '%s\\n' '{map_text}' > \"$out/micropython.map\"\n")
    gcc = bin_dir / "xtensa-esp32-elf-gcc"
    gcc.write_text("#!/bin/sh\n")
    for f in (fake_make, gcc):
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    idf = tmp_path / "idf"
    (idf / "tools").mkdir(parents=True)
    (idf / "tools" / "idf.py").write_text("")
    monkeypatch.setenv("IDF_PATH", str(idf))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(image, "RUNTIME_DIR", tmp_path / "runtime")
    monkeypatch.setattr(image, "IMAGE_DIR", tmp_path / "image")


def test_make_image_refuses_an_app_larger_than_its_slot_saying_by_how_much(tmp_path: Path, monkeypatch) -> None:
    """The build itself is ESP-IDF's (not here): a stand-in `make` on PATH writes an app one
    sector over the slot, and build() must refuse it with the figure, copying nothing."""
    from host_tools.enrolctl import image, ota
    from host_tools.enrolctl.errors import EnrolctlError

    slot = ota.project_layout().slots[0].size
    _stand_in_idf(tmp_path, monkeypatch, slot + 4096, " .rodata.edsig_module 0x3f400000")
    with pytest.raises(EnrolctlError, match=f"the app is {slot + 4096} bytes, 4096 over the {slot // 1024} KB app slot"):
        image.build(log_to=tmp_path / "build.log")
    assert not (tmp_path / "image" / "firmware.bin").exists()


def test_an_image_linked_without_the_native_module_is_a_failed_build(tmp_path: Path, monkeypatch) -> None:
    from host_tools.enrolctl import image
    from host_tools.enrolctl.errors import EnrolctlError

    _stand_in_idf(tmp_path, monkeypatch, 4096, " .text.mp_module_sys 0x400d0000")
    with pytest.raises(EnrolctlError, match="linked without the native module.s. edsig"):
        image.build(log_to=tmp_path / "build.log")
    assert not (tmp_path / "image" / "firmware.bin").exists()


def test_an_image_with_the_native_module_is_kept(tmp_path: Path, monkeypatch) -> None:
    from host_tools.enrolctl import image

    _stand_in_idf(tmp_path, monkeypatch, 4096, " .rodata.edsig_module 0x3f400000")
    assert image.build(log_to=tmp_path / "build.log").read_bytes() == bytes(4096)


def test_a_runtime_without_the_native_module_is_a_failed_build() -> None:
    """The 64-bit wheel's MicroPython has no edsig: require_modules names what is missing; ours passes."""
    from conftest import MICROPYTHON, WHEEL_MICROPYTHON
    from host_tools.enrolctl import native
    from host_tools.enrolctl.errors import EnrolctlError

    native.require_modules(MICROPYTHON)
    with pytest.raises(EnrolctlError, match="built without the native module.s. edsig .*ImportError"):
        native.require_modules(WHEEL_MICROPYTHON)


def test_monocypher_comes_from_the_pinned_sdist() -> None:
    from host_tools.enrolctl import native

    into = native.fetch_monocypher()
    assert (into / "SDIST").read_text().strip() == native.SDIST_SHA256
    assert "Monocypher version 4.0.3" in (into / "monocypher.c").read_text()
