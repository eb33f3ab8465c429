"""Run the registry on uvicorn with TLS (the server certificate from the key directory)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from .app import create_app
from .db import make_engine, migrate
from .keys import load_keys


HEADER_TIMEOUT_S = 10.0
PER_ADDRESS = 64  # connections one client address may hold open (a carrier's NAT: many devices)
MAX_CONNECTIONS = 8192  # all addresses together (file descriptors)


def _h11_with_header_timeout() -> type:
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete within
    HEADER_TIMEOUT_S of its opening or of the previous answer: uvicorn itself waits for ever
    (its keep-alive timer stops at the first byte), so half-sent headers held a connection.
    A connection past PER_ADDRESS from its address (or MAX_CONNECTIONS in all) is closed as it
    opens.  Connections are not what limits the work: requests are (limits.MAX_IN_FLIGHT), so
    idle connections held open by someone cannot turn a device's request away."""
    from collections import Counter

    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    per_address: Counter[str] = Counter()

    class HeaderTimeoutH11(H11Protocol):  # type: ignore[misc]
        _header_timer = None
        _address: str | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                try:
                    self.conn.send(h11.ConnectionClosed())
                except h11.LocalProtocolError:
                    pass
                self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            self._address = str(peer[0]) if peer else "?"
            per_address[self._address] += 1
            if per_address[self._address] > PER_ADDRESS or len(self.connections) > MAX_CONNECTIONS:
                transport.close()  # its share is taken: the others it holds are still served
                return
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # the headers are in: the body has its own timeout (limits.py)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
            self._disarm()
            if self._address is not None:
                per_address[self._address] -= 1
                if per_address[self._address] <= 0:
                    del per_address[self._address]
                self._address = None
            super().connection_lost(exc)

    return HeaderTimeoutH11


class ServeError(Exception):
    """Why the registry cannot start, in one line (the CLI prints it as `enrolctl: ...`)."""


def default_db_url(keys_dir: Path) -> str:
    return f"sqlite:///{keys_dir / 'registry.db'}"


def _shown(db_url: str) -> str:
    """The URL as it may be printed: never its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(db_url[:60])


def build_app(keys_dir: Path, db_url: str | None):
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from .db import PlaceError

    keys = load_keys(keys_dir)
    url = db_url or default_db_url(keys_dir)
    try:
        from sqlalchemy.engine import make_url

        if make_url(url).get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only SQLite and PostgreSQL are supported")
        engine = make_engine(url)
        migrate(engine)
    except PlaceError as e:
        raise ServeError(f"--db {_shown(url)}: {e}") from None
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as e:
        raise ServeError(f"--db {_shown(url)} is not a database URL this registry can use "
                         f"(sqlite:///FILE or postgresql+psycopg://USER@HOST/DB): {str(e).splitlines()[0]}") from None
    except SQLAlchemyError as e:
        first = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise ServeError(f"cannot open the database {_shown(url)}: {first}") from None
    return create_app(keys, engine), keys


def _check_port(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: only a listener is in the way
        try:
            s.bind((host, port))
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e} "
                             "(another registry or program holds the port? choose one with --port)") from None


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self.banner = banner

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets)
        if self.started:
            print(self.banner, flush=True)


def serve(keys_dir: Path, db_url: str | None, host: str, port: int, tls: bool = True, quiet: bool = False,
          log_level: str = "warning") -> None:
    app, keys = build_app(keys_dir, db_url)
    _check_port(host, port)
    ssl = {"ssl_certfile": str(keys.server_cert), "ssl_keyfile": str(keys.server_key)} if tls else {}
    # no limit_concurrency: uvicorn's counts idle connections with requests, so 300 connections
    # that send nothing turned devices away (503).  Requests in flight are bounded in limits.py,
    # connections per address here (_h11_with_header_timeout), bodies are bounded and timed.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                            http=_h11_with_header_timeout(),
                            **ssl)  # type: ignore[arg-type]
    where = f"{'https' if tls else 'http'}://{host}:{port}"
    banner = "" if quiet else (f"registry {keys.registry_id}: listening on {where} (database "
                               f"{_shown(db_url or default_db_url(keys_dir))}); Ctrl-C stops it")
    _Server(config, banner).run()


def main() -> None:
    """python -m host_tools.registry.serve KEYS_DIR PORT [DB_URL]: for tests and `make sim`.
    ENROL_REGISTRY_LOG_LEVEL=info logs every request (the no-personal-data test reads it all)."""
    import os
    import sys

    args = sys.argv[1:]
    serve(Path(args[0]), args[2] if len(args) > 2 else None, "127.0.0.1", int(args[1]),
          log_level=os.getenv("ENROL_REGISTRY_LOG_LEVEL") or "warning")


if __name__ == "__main__":
    main()
