"""A USB serial link to a device, through mpremote's transport (its raw REPL).

Every failure is an EnrolctlError with one line for the technician: no device on
the port, a port another program holds, a device that is not running MicroPython
or not our firmware.  The link never soft-resets the device (that would restart
the app; on the unix-port test device it would end the process).
"""

from __future__ import annotations

import json
from typing import Any

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from .errors import EnrolctlError

# Runs on the device: what firmware, where its data is, which device and registry it belongs to.
_IDENTIFY = """
import json
try:
    from firmware import VERSION
    from firmware import board_select
    try:
        from firmware.formats import RECORD_SCHEMA as _schema
    except ImportError:  # an image from before firmware/formats.py
        from firmware.enrol.record import SCHEMA_VERSION as _schema
    _b = board_select.load()
    _d = _b.DATA_DIR
except ImportError:
    VERSION = None
    _d = None
    _schema = None
_dev = None
if _d is not None:
    try:
        with open(_d + '/device.json') as f:
            _dev = json.load(f)
    except (OSError, ValueError):
        _dev = None
print(json.dumps({'version': VERSION, 'data_dir': _d, 'schema': _schema,
                  'device_id': _dev and _dev.get('device_id'), 'registry_id': _dev and _dev.get('registry_id')}))
"""


class DeviceLink:
    def __init__(self, port: str) -> None:
        self.port = port
        try:
            self.t = SerialTransport(port, baudrate=115200)
        except TransportError as e:
            import os

            if os.path.exists(port):  # there, but not ours to open: held by another program (or no permission)
                raise EnrolctlError(f"{port} is busy: another program holds it (a serial monitor, mpremote, "
                                    "another enrolctl); close it and retry") from e
            raise EnrolctlError(f"no device on {port} (is it plugged in? `mpremote devs` lists ports)") from e
        except OSError as e:
            raise EnrolctlError(f"cannot open {port}: {e.strerror or e} (another program may hold it)") from e
        try:
            self.t.enter_raw_repl(soft_reset=False, timeout_overall=8)
        except (TransportError, OSError) as e:
            self.t.close()
            raise EnrolctlError(f"the device on {port} does not answer as MicroPython ({e})") from e
        self.info: dict[str, Any] = {}

    def close(self) -> None:
        try:
            self.t.exit_raw_repl()
        except (TransportError, OSError):
            pass
        self.t.close()

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exec(self, code: str) -> str:
        try:
            return self.t.exec(code).decode(errors="replace")
        except TransportExecError as e:
            last = e.error_output.strip().splitlines()[-1] if e.error_output.strip() else "error"
            raise EnrolctlError(f"the device reported: {last}") from e
        except (TransportError, OSError) as e:
            raise EnrolctlError(f"lost the device on {self.port}: {e}") from e

    def identify(self, need_provisioned: bool = True) -> dict[str, Any]:
        out = self.exec(_IDENTIFY).strip().splitlines()
        try:
            info = json.loads(out[-1])
        except (ValueError, IndexError) as e:
            raise EnrolctlError(f"the device on {self.port} answered something unexpected") from e
        if info.get("version") is None:
            raise EnrolctlError(f"the device on {self.port} runs other firmware (no enrolment firmware found)")
        if need_provisioned and not info.get("device_id"):
            raise EnrolctlError(f"the device on {self.port} is not provisioned: run `enrolctl device provision`")
        self.info = info
        return info

    @property
    def data(self) -> str:
        return str(self.info["data_dir"])

    def read(self, path: str) -> bytes | None:
        try:
            if not self.t.fs_exists(path):
                return None
            return self.t.fs_readfile(path)
        except (TransportError, TransportExecError, OSError) as e:
            raise EnrolctlError(f"reading {path} from the device failed: {e}") from e

    def listdir(self, path: str) -> list[str]:
        try:
            if not self.t.fs_exists(path):
                return []
            return sorted(entry.name for entry in self.t.fs_listdir(path))
        except (TransportError, TransportExecError, OSError) as e:
            raise EnrolctlError(f"listing {path} on the device failed: {e}") from e

    def write(self, path: str, data: bytes) -> None:
        """Write a file atomically (a .tmp copy renamed into place: a pulled cable leaves the old one)."""
        tmp = path + ".tmp"
        try:
            self.t.fs_writefile(tmp, data)
        except (TransportError, TransportExecError, OSError) as e:
            raise EnrolctlError(f"writing {path} to the device failed: {e}") from e
        self.exec(f"import os\nos.rename({tmp!r}, {path!r})")
