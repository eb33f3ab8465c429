"""Our runtime's build (make runtime): bad inputs get one line and nothing half-built is taken as
done; the binary it made is 32-bit with the device image frozen."""

from __future__ import annotations

import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from conftest import MICROPYTHON, run_micropython
from host_tools.enrolctl import runtime
from host_tools.enrolctl.errors import EnrolctlError


def test_no_compiler_or_no_32_bit_support_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(EnrolctlError, match="no C compiler"):
        runtime.check_compiler(path=str(tmp_path))
    fake = tmp_path / "gcc"
    fake.write_text("#!/bin/sh\nexit 1\n")  # a gcc that cannot build for -m32
    fake.chmod(0o755)
    with pytest.raises(EnrolctlError, match="gcc-multilib"):
        runtime.check_compiler(path=str(tmp_path))


def test_a_missing_damaged_or_foreign_archive_is_refused_and_nothing_is_kept(tmp_path: Path,
                                                                              monkeypatch) -> None:
    monkeypatch.delenv("MICROPY_SRC", raising=False)
    archives, into = tmp_path / "shared", tmp_path / "build"
    archives.mkdir()
    with pytest.raises(EnrolctlError, match="no MicroPython source archive"):
        runtime.source_tree(archives=archives, into=into)
    good = (runtime.SOURCE_ARCHIVES / next(runtime.SOURCE_ARCHIVES.glob("micropython-*.tar.xz")).name).read_bytes()
    cut = archives / "micropython-cut.tar.xz"
    cut.write_bytes(good[: len(good) // 3])  # a download or copy that stopped a third of the way
    with pytest.raises(EnrolctlError, match="is damaged"):
        runtime.source_tree(archives=archives, into=into)
    assert not (into / "src").exists() and not (into / "src.sha256").exists()
    cut.unlink()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"not micropython\n"
        info = tarfile.TarInfo("something/README")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (archives / "micropython-other.tar.xz").write_bytes(lzma.compress(buf.getvalue()))
    with pytest.raises(EnrolctlError, match="holds no MicroPython source tree"):
        runtime.source_tree(archives=archives, into=into)
    assert not (into / "src").exists() and not (into / "src.sha256").exists()


def test_micropy_src_must_be_a_checkout(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MICROPY_SRC", str(tmp_path))
    with pytest.raises(EnrolctlError, match="is not a MicroPython checkout"):
        runtime.source_tree()


def test_the_runtime_is_32_bit_with_the_device_image_frozen(tmp_path: Path) -> None:
    head = MICROPYTHON.read_bytes()[:5]
    assert head[:4] == b"\x7fELF" and head[4] == 1  # ELFCLASS32
    proc = run_micropython(["-c", "import sys\nprint(sys.maxsize)\nimport firmware.app, adafruit_pn532.i2c\n"
                                  "print('frozen', firmware.app.__file__)"], cwd=tmp_path,
                           env={"MICROPYPATH": ".frozen"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:3] == [str(2**31 - 1), "frozen", "firmware/app.py"]
    assert not (tmp_path / "firmware").exists()
    assert os.path.getsize(MICROPYTHON) > 500_000  # the whole port with its frozen image, not a stub
