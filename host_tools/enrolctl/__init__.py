"""enrolctl: the technician's CLI.  Each command is a thin wrapper over a function in this package."""

import host_tools.checkout  # noqa: E402,F401 - firmware.formats importable
