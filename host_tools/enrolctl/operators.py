"""The registry's people at the command line: bootstrap, sign in and out, operator accounts,
proposals to approve or refuse, the event trail exported and checked offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from host_tools.registry.events import check_chain

from . import session
from .errors import EnrolctlError


def bootstrap(keys_dir: Path, url: str, name: str, password: str) -> None:
    """The first administrator, with the key directory's shared token (it then stops working)."""
    keys = session.keys_of(keys_dir)
    with session.client(url, keys, bearer=keys.operator_token) as c:
        session.expect(session.call(c, "POST", "/v1/admin/bootstrap", json={"name": name, "password": password}), 201)


def login(keys_dir: Path, url: str, name: str, password: str, code: str | None) -> dict[str, Any]:
    keys = session.keys_of(keys_dir)
    with session.client(url, keys, bearer="") as c:
        r = session.call(c, "POST", "/v1/auth/login", json={"name": name, "password": password, "code": code})
    if r.status_code == 401:
        raise EnrolctlError("sign-in refused: name, password or code wrong, or the operator is disabled")
    doc = session.expect(r, 200)
    session.save(keys, doc["token"])
    return doc  # type: ignore[no-any-return]


def logout(keys_dir: Path, url: str) -> None:
    keys = session.keys_of(keys_dir)
    try:
        with session.client(url, keys) as c:
            session.call(c, "POST", "/v1/auth/logout")
    finally:
        session.forget(keys)


def request(keys_dir: Path, url: str, method: str, path: str, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
    """One call as the signed-in operator; its JSON answer."""
    keys = session.keys_of(keys_dir)
    with session.client(url, keys) as c:
        return session.expect(session.call(c, method, path, **kw), *ok)


def export_events(keys_dir: Path, url: str, out_file: Path) -> int:
    """The chain into out_file (0600 in a 0700 directory), streamed; returns how many events."""
    import os

    from host_tools.registry.db import PlaceError, open_private

    keys = session.keys_of(keys_dir)
    n = 0
    try:
        fd = open_private(out_file)
    except (PlaceError, OSError) as e:
        raise EnrolctlError(f"--out {out_file}: {e}") from None
    with os.fdopen(fd, "wb") as f, session.client(url, keys) as c:
        with c.stream("GET", "/v1/admin/events/export") as r:
            if r.status_code != 200:
                r.read()
                session.expect(r, 200)
            for line in r.iter_lines():
                if line:
                    f.write(line.encode() + b"\n")
                    n += 1
    return n


def verify_events(file: Path) -> tuple[list[str], int, str]:
    """An exported chain checked offline: (what is wrong, events, the head's hash)."""
    def rows() -> Any:
        with file.open("rb") as f:
            for i, line in enumerate(f, 1):
                try:
                    doc = json.loads(line)
                except ValueError:
                    raise EnrolctlError(f"{file}:{i}: not a JSON line") from None
                if not isinstance(doc, dict):
                    raise EnrolctlError(f"{file}:{i}: not an event")
                yield doc

    try:
        wrong, seq, head = check_chain(rows())
    except OSError as e:
        raise EnrolctlError(f"cannot read {file}: {e.strerror}") from None
    except (TypeError, ValueError, KeyError) as e:
        raise EnrolctlError(f"{file}: an event is malformed ({e})") from None
    return wrong, seq, head.hex()
