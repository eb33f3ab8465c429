"""Two runtimes, one suite.

Every tests/fw/<room>/test_*.py module is collected twice: once by pytest as usual
(CPython, hardware mocks) and once as `test_x[micropython]` items that run the
same function in our MicroPython runtime (build/runtime/micropython: the unix
port built 32-bit with firmware/ and lib/ frozen, as on the ESP32) with the heap
limited like an ESP32 without PSRAM (MP_HEAPSIZE, default 100k), one process per test.
Only the tests and the emulators they load are compiled to .mpy (and so sit in
the heap); the firmware runs frozen.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FW_DIR = ROOT / "tests" / "fw"
from host_tools.enrolctl import runtime as _runtime  # noqa: E402

MICROPYTHON = _runtime.MICROPYTHON  # 32-bit, firmware frozen (make runtime)
# the 64-bit wheel's unix port: only where code must be loaded from the device's filesystem
# (the mpremote-over-pty tests deploy .mpy files to it, as enrolctl deploy does; README, Tests)
WHEEL_MICROPYTHON = Path(sys.executable).parent / "micropython"
HEAPSIZE = os.environ.get("MP_HEAPSIZE", "100k")
MP_TIMEOUT_S = int(os.environ.get("MP_TIMEOUT_S", "300"))
ENROLCTL = Path(sys.executable).parent / "enrolctl"


def enrolctl(*args: str, timeout: float = 180, env: dict[str, str] | None = None,
             cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The technician's command as installed by make setup, run as a child process (standard
    input closed unless `input` is given)."""
    return subprocess.run([str(ENROLCTL), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=cwd, input=input if input is not None else "")


_MPY_TREE: Path | None = None


class MicroPythonFailure(Exception):
    pass


def run_micropython(args: list[str], *, heapsize: str = HEAPSIZE, timeout: float = MP_TIMEOUT_S,
                    env: dict[str, str] | None = None, cwd: Path = ROOT, input: str | None = None
                    ) -> subprocess.CompletedProcess[str]:
    """Run the unix-port micropython with the ESP32-like heap limit."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [str(MICROPYTHON), "-X", f"heapsize={heapsize}", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        input=input if input is not None else "",
    )


def mpy_tree_sources() -> list[Path]:
    """What a MicroPython test loads besides the frozen firmware: the emulators and the tests."""
    from host_tools.sim import CPYTHON_ONLY

    sim = [p for p in sorted((ROOT / "host_tools" / "sim").glob("*.py")) if p.name not in CPYTHON_ONLY]
    extra = sim + sorted(FW_DIR.rglob("*.py"))
    return [ROOT / "host_tools" / "__init__.py"] + extra


def pytest_configure(config: pytest.Config) -> None:
    """Bring the runtime up to date once, in the controller: a test never runs stale frozen firmware."""
    if hasattr(config, "workerinput"):
        return
    from host_tools.enrolctl.errors import EnrolctlError

    try:
        _runtime.build()
    except EnrolctlError as e:
        raise pytest.UsageError(f"{e} (make test builds it: make runtime)") from None


def compiled_tree(config: pytest.Config) -> Path:
    """The compiled tree, built once per test process (a plain Item has no fixture request)."""
    global _MPY_TREE
    if _MPY_TREE is None:
        from host_tools.enrolctl.build import compile_tree

        out = config._tmp_path_factory.mktemp("mpy")  # type: ignore[attr-defined]
        compile_tree(mpy_tree_sources(), ROOT, out, mpy_cross=_runtime.MPY_CROSS)
        _MPY_TREE = out
    return _MPY_TREE


@pytest.fixture
def mpy_tree(request: pytest.FixtureRequest) -> Path:
    return compiled_tree(request.config)


class MicroPythonItem(pytest.Item):
    def __init__(self, *, module: str, func: str, room: str, heapsize: str = HEAPSIZE, **kw):
        super().__init__(**kw)
        self.module = module
        self.room = room
        self.func = func
        self.heapsize = heapsize
        self.add_marker(pytest.mark.micropython)

    def runtest(self) -> None:
        factory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        tree = self._request_mpy_tree()
        tmp = factory.mktemp("mp")
        proc = run_micropython(
            [str(ROOT / "tests" / "mp_runner.py"), str(tree), self.module, self.func, self.room],
            env={"FWTEST_TMP": str(tmp)}, heapsize=self.heapsize,
        )
        out = proc.stdout + proc.stderr
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if proc.returncode == 0 and last.startswith("SKIP"):
            pytest.skip(last[5:])
        if proc.returncode != 0 or not last.startswith("PASS"):
            raise MicroPythonFailure(out or f"exit code {proc.returncode}, no output")
        self.user_properties.append(("mem_peak", int(last.split()[1])))

    def _request_mpy_tree(self) -> Path:
        return compiled_tree(self.config)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, MicroPythonFailure):
            return f"MicroPython (heapsize={self.heapsize}) failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{self.module}::{self.func}[micropython]"


class MicroPythonModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), str(self.path))
        # A module may raise its heap with MP_HEAPSIZE = "160k" (and say why): for tests that
        # load hardware emulators beside a large firmware stack, whose .mpy code the unix port
        # keeps in RAM (a production image freezes it into flash; see README, RAM).
        heapsize = HEAPSIZE
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "MP_HEAPSIZE" and isinstance(node.value, ast.Constant)):
                heapsize = node.value.value
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield MicroPythonItem.from_parent(
                    self, name=f"{node.name}[micropython]", module=self.path.stem, func=node.name,
                    room=self.path.parent.relative_to(FW_DIR).as_posix(), heapsize=heapsize,
                )


def pytest_collect_file(parent, file_path: Path):
    if FW_DIR in file_path.parents and file_path.name.startswith("test_") and file_path.suffix == ".py":
        return MicroPythonModule.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def pg_url():
    """One throwaway PostgreSQL server per test process (tests/host/pgserver.py), shared by every
    module that runs the registry on PostgreSQL; each test empties its tables (registrykit)."""
    from pgserver import postgres_server

    with postgres_server() as url:
        yield url
