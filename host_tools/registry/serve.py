"""Run the registry on uvicorn with TLS (the server certificate from the key directory)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from .app import create_app
from .db import make_engine, migrate
from .keys import load_keys


def default_db_url(keys_dir: Path) -> str:
    return f"sqlite:///{keys_dir / 'registry.db'}"


def build_app(keys_dir: Path, db_url: str | None):
    keys = load_keys(keys_dir)
    engine = make_engine(db_url or default_db_url(keys_dir))
    migrate(engine)
    return create_app(keys, engine), keys


def serve(keys_dir: Path, db_url: str | None, host: str, port: int, tls: bool = True) -> None:
    app, keys = build_app(keys_dir, db_url)
    ssl = {"ssl_certfile": str(keys.server_cert), "ssl_keyfile": str(keys.server_key)} if tls else {}
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, **ssl)  # type: ignore[arg-type]


def main() -> None:
    """python -m host_tools.registry.serve KEYS_DIR PORT [DB_URL]: for tests and `make sim`."""
    import sys

    args = sys.argv[1:]
    serve(Path(args[0]), args[2] if len(args) > 2 else None, "127.0.0.1", int(args[1]))


if __name__ == "__main__":
    main()
