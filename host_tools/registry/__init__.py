"""The reference central registry: FastAPI app, ingest, keys, the operator CLI."""

import host_tools.checkout  # noqa: E402,F401 - firmware.formats importable
