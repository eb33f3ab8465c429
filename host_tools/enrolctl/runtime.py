"""Our MicroPython runtime: the unix port built 32-bit with the device image frozen.

The ESP32 is a 32-bit machine and runs its firmware frozen into flash; the
64-bit wheel of the unix port with code loaded from .mpy overstates the heap a
device needs by 1.4-2x.  So the simulator and the MicroPython tests run this
build instead (README, RAM):

  build/runtime/micropython   unix port, standard variant, -m32, manifest.py frozen
                              (host_tools/runtime/manifest_unix.py adds board_sim)
  build/runtime/mpy-cross     the bytecode compiler of the same source
  build/runtime/src/          the source, unpacked from ../shared/micropython/*.tar.xz
                              (MICROPY_SRC=DIR builds from a checkout instead)
  host_tools/runtime/usermod/ the native module edsig (Ed25519, SHA-512), in both builds (native.py)

`make runtime` calls build(); it is cheap when nothing changed (make's own
dependency check, and the freezer rewrites frozen_content.c only when a frozen
file changed, so a changed firmware file rebuilds in seconds).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from . import native
from .errors import EnrolctlError
from .paths import ROOT

RUNTIME_DIR = ROOT / "build" / "runtime"
MICROPYTHON = RUNTIME_DIR / "micropython"
# The simulated device's MicroPython heap: the ESP32-WROOM's (about 100 KB in two areas).  The
# firmware runs frozen in this runtime and the emulators run on the host, as on the board.
SIM_HEAPSIZE = "100k"
MPY_CROSS = RUNTIME_DIR / "mpy-cross"
SOURCE_ARCHIVES = ROOT.parent / "shared" / "micropython"
UNIX_MANIFEST = ROOT / "host_tools" / "runtime" / "manifest_unix.py"
# as ../shared/micropython/README.md built it: no FFI (no libffi for -m32), no btree
UNIX_FLAGS = ("VARIANT=standard", "MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0",
              "CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32")
JOBS = str(max(1, min(2, os.cpu_count() or 1)))

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def check_compiler(path: str | None = None) -> None:
    """gcc must build 32-bit binaries (Debian's gcc-multilib); one line if it cannot."""
    cc = shutil.which("gcc", path=path) or shutil.which("cc", path=path)
    if cc is None:
        raise EnrolctlError("runtime: no C compiler (install Debian's gcc and gcc-multilib)")
    probe = subprocess.run([cc, "-m32", "-x", "c", "-", "-o", os.devnull], input="int main(void){return 0;}\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise EnrolctlError("runtime: gcc cannot build 32-bit programs (install Debian's gcc-multilib)")


def _archive(archives: Path) -> Path:
    found = sorted(archives.glob("micropython-*.tar.xz"))
    if not found:
        raise EnrolctlError(f"runtime: no MicroPython source archive in {archives} "
                            "(or give a checkout with MICROPY_SRC=DIR)")
    return found[-1]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _looks_like_source(src: Path) -> bool:
    return all((src / p).exists() for p in ("py/mkrules.mk", "ports/unix/Makefile", "mpy-cross/Makefile",
                                            "tools/makemanifest.py", "lib/micropython-lib"))


def source_tree(say: Say = _quiet, archives: Path = SOURCE_ARCHIVES, into: Path = RUNTIME_DIR) -> Path:
    """MICROPY_SRC, or the archive unpacked once into build/runtime/src (again if it changed)."""
    given = os.environ.get("MICROPY_SRC")
    if given:
        src = Path(given).resolve()
        if not _looks_like_source(src):
            raise EnrolctlError(f"runtime: MICROPY_SRC={given} is not a MicroPython checkout "
                                "(no py/, ports/unix/, mpy-cross/ or lib/micropython-lib)")
        return src
    archive = _archive(archives)
    dest = into / "src"
    stamp = into / "src.sha256"
    digest = _sha256(archive)
    if stamp.exists() and stamp.read_text().strip() == digest and _looks_like_source(dest):
        return dest
    say(f"runtime: unpacking {archive.name}")
    shutil.rmtree(dest, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    partial = into / "src.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(partial, filter="data")
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise EnrolctlError(f"runtime: the source archive {archive.name} is damaged ({e})") from e
    tops = [p for p in partial.iterdir() if p.is_dir()]
    root = tops[0] if len(tops) == 1 and not (partial / "py").exists() else partial
    if not _looks_like_source(root):
        shutil.rmtree(partial, ignore_errors=True)
        raise EnrolctlError(f"runtime: {archive.name} holds no MicroPython source tree")
    root.rename(dest)
    shutil.rmtree(partial, ignore_errors=True)
    stamp.write_text(digest + "\n")  # last: a cut unpack is redone, never taken as done
    return dest


def _make(args: list[str], what: str, log: Path) -> None:
    with log.open("a") as f:
        f.write("$ make " + " ".join(args) + "\n")
        f.flush()
        proc = subprocess.run(["make", *args], stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise EnrolctlError(f"runtime: building {what} failed (see {log}): " + " | ".join(tail))


def _forget_frozen_if_natives_changed(obj: Path) -> None:
    """frozen_content.c numbers its strings after the runtime's own, the native modules' among them,
    and the freezer rewrites it only when a frozen file changed: a native module's new name would
    then be declared twice.  So it is made again whenever the native modules' source changed."""
    h = hashlib.sha256()
    for f in sorted(native.USERMOD.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(native.USERMOD).as_posix().encode() + b"\0" + f.read_bytes())
    stamp = obj / "usermod.sha256"
    if stamp.is_file() and stamp.read_text().strip() == h.hexdigest():
        return
    (obj / "unix" / "frozen_content.c").unlink(missing_ok=True)
    obj.mkdir(parents=True, exist_ok=True)
    stamp.write_text(h.hexdigest() + "\n")


def build(say: Say = _quiet) -> Path:
    """Build (or bring up to date) build/runtime/micropython; returns its path.  One build at a time
    (a lock file): make sim, make test and make bench may start together, and two makes in one
    build directory delete each other's output."""
    import fcntl

    RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
    with (RUNTIME_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(say)


def _build(say: Say) -> Path:
    check_compiler()
    for need in (ROOT / "lib" / "adafruit_pn532", ROOT / "lib" / "adafruit_bus_device"):
        if not need.is_dir():
            raise EnrolctlError(f"runtime: {need.relative_to(ROOT)} is missing: run `make setup`")
    src = source_tree(say)
    native.fetch_monocypher()
    RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
    log = RUNTIME_DIR / "build.log"
    log.write_text("")
    obj = RUNTIME_DIR / "obj"
    _forget_frozen_if_natives_changed(obj)
    _make(["-C", str(src / "mpy-cross"), "-j", JOBS, f"BUILD={obj / 'mpy-cross'}",
           "PROG=mpy-cross"], "mpy-cross", log)
    _make(["-C", str(src / "ports" / "unix"), "-j", JOBS, *UNIX_FLAGS, f"BUILD={obj / 'unix'}",
           "PROG=micropython", f"MICROPY_MPYCROSS={obj / 'mpy-cross' / 'mpy-cross'}",
           f"FROZEN_MANIFEST={UNIX_MANIFEST}", f"USER_C_MODULES={native.USERMOD}"], "the 32-bit unix port", log)
    native.require_modules(obj / "unix" / "micropython")
    # copied, not linked, only when changed: a test run keeps the binary it started with
    for built, final in ((obj / "unix" / "micropython", MICROPYTHON), (obj / "mpy-cross" / "mpy-cross", MPY_CROSS)):
        if not final.exists() or final.read_bytes() != built.read_bytes():
            tmp = final.with_suffix(".new")
            shutil.copy2(built, tmp)
            tmp.replace(final)
    return MICROPYTHON


def require() -> Path:
    """The runtime's path, or one line saying how to build it."""
    if not MICROPYTHON.exists():
        raise EnrolctlError("no device runtime at build/runtime/micropython: run `make runtime`")
    return MICROPYTHON
