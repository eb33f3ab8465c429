"""The reference central registry: FastAPI app, ingest, keys, the operator CLI."""

import host_tools.checkout  # noqa: E402,F401 - firmware.formats importable

from . import events as _events  # noqa: E402,F401  (chains every event a session writes)
