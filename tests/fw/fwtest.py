"""Helpers for firmware tests that run under both CPython (pytest) and MicroPython (tests/mp_runner.py).

A firmware test is a module tests/fw/<room>/test_*.py with plain `def test_*():`
functions using `assert`.  No pytest fixtures: use these helpers instead.
"""

import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    pass


def skip(reason):
    """Skip the current test (a capability is missing on this runtime)."""
    if not IS_MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise SkipTest(reason)


def need_micropython(what):
    if not IS_MICROPYTHON:
        skip(what + " exists only on MicroPython")


class raises:
    """`with raises(ValueError):` on both runtimes; .value holds the exception."""

    def __init__(self, exc_type, match=None):
        self.exc_type = exc_type
        self.match = match
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            raise AssertionError("did not raise " + self.exc_type.__name__)
        if not issubclass(et, self.exc_type):
            return False
        if self.match is not None and self.match not in str(ev):
            raise AssertionError("raised " + repr(ev) + ", expected text " + repr(self.match))
        self.value = ev
        return True


_tmp_counter = [0]


def tmpdir():
    """A fresh empty directory for this test (under the runner's scratch dir)."""
    import os

    base = os.getenv("FWTEST_TMP") or "/tmp"
    _tmp_counter[0] += 1
    path = base + "/fw" + str(os.getpid() if hasattr(os, "getpid") else 0) + "_" + str(_tmp_counter[0])
    _rmtree(path)
    os.mkdir(path)
    return path


def _rmtree(path):
    import os

    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(path)


def mem_peak():
    """Peak heap bytes so far (MicroPython only; None on CPython)."""
    if IS_MICROPYTHON:
        import micropython

        return micropython.mem_peak()
    return None


_mounts = [0]


def flash_dir(blocks=96):
    """A data directory on a fresh filesystem: real LittleFS (vfs.VfsLfs2 over the emulated
    NOR flash) under MicroPython, a temporary directory under CPython.
    Returns (path, block device or None)."""
    if not IS_MICROPYTHON:
        return tmpdir(), None
    import vfs
    from host_tools.sim.flash import FileFlash

    if _mounts[0]:  # one emulated chip at a time: unmount the previous one so its RAM is freed
        try:
            vfs.umount("/lfs" + str(_mounts[0]))
        except OSError:
            pass
        import gc

        gc.collect()
    dev = FileFlash(blocks, tmpdir() + "/flash.img")
    vfs.VfsLfs2.mkfs(dev)
    _mounts[0] += 1
    mount = "/lfs" + str(_mounts[0])
    vfs.mount(vfs.VfsLfs2(dev), mount)
    return mount + "/data", dev


def remount(dev, path):
    """Power-cycle the LittleFS behind `path` (MicroPython) so reads come from flash, not caches."""
    if dev is None:
        return path
    import vfs

    mount = path[: path.index("/", 1)]
    try:
        vfs.umount(mount)
    except OSError:
        pass
    dev.power_on()
    vfs.mount(vfs.VfsLfs2(dev), mount)
    return path
