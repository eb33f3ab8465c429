"""Database engine and migrations.  SQLite (WAL) is the embedded default; PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class PlaceError(ValueError):
    """A file the registry would write where others could read it."""


def private_dir(directory: Path) -> None:
    """A directory only its owner can enter: made 0700 if missing; PlaceError if others may read it."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)
        return
    mode = directory.stat().st_mode & 0o777
    if mode & 0o077:
        raise PlaceError(f"{directory} can be entered by other users (mode {mode:04o}): the registry keeps "
                         f"names and phones there; use a directory only you can enter (chmod 700 {directory})")


def open_private(path: Path) -> int:
    """A file descriptor to write an export (payments, the trail) readable by its owner alone, in a
    directory only its owner can enter (PlaceError otherwise, before anything is written)."""
    private_dir(path.resolve().parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _private_file(url: str) -> None:
    """The database file (names, villages, phones) readable by its owner alone, wherever --db puts
    it: in a 0700 directory, created 0600 before SQLite opens it (SQLite gives its -wal and -shm
    files the same mode)."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path.startswith(":memory:") or "?" in path:
        return
    private_dir(Path(path).resolve().parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _private_file(url)
        # hide_parameters: an error message never carries a record's values (personal data) into a log
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous=FULL")  # a committed receipt survives power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql") and "+" not in url.split(":", 1)[0]:
        url = url.replace("postgresql", "postgresql+psycopg", 1)
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


def write_lock(s: Session) -> None:
    """Make the session's transaction serializable for a read-then-write decision (a match, a
    payment): on SQLite it begins with BEGIN IMMEDIATE, taking the database's one write lock
    before its first read, so nothing commits between what it read and what it writes.  Must be
    the transaction's first statement.  PostgreSQL needs row and advisory locks instead
    (persons.py), and this does nothing there."""
    if s.get_bind().dialect.name == "sqlite":
        s.connection().exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    cfg = alembic_config()
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # a batch migration copies a table and drops the old one, which rows of others name
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # (outside a transaction, or SQLite ignores it)
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RuntimeError(f"migration left {len(bad)} rows naming missing rows")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
