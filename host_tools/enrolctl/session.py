"""An operator's signed-in session with a registry: the token `enrolctl registry login` got,
kept in a file only its owner can read (ENROL_SESSION_DIR, default ~/.enrolctl), one per registry."""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx

from host_tools.registry.keys import KeysError, RegistryKeys, load_keys

from .errors import EnrolctlError


def keys_of(keys_dir: Path) -> RegistryKeys:
    try:
        return load_keys(keys_dir)
    except KeysError as e:
        raise EnrolctlError(str(e)) from e


def _dir() -> Path:
    return Path(os.environ.get("ENROL_SESSION_DIR") or Path.home() / ".enrolctl")


def _file(keys: RegistryKeys) -> Path:
    return _dir() / f"{keys.registry_id}.session"


def save(keys: RegistryKeys, token: str) -> Path:
    d = _dir()
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    f = _file(keys)
    fd = os.open(f, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    os.chmod(f, 0o600)
    return f


def forget(keys: RegistryKeys) -> None:
    _file(keys).unlink(missing_ok=True)


def token(keys: RegistryKeys) -> str:
    try:
        return _file(keys).read_text().strip()
    except OSError:
        raise EnrolctlError(f"not signed in to registry {keys.registry_id}: "
                            "enrolctl registry login --operator NAME") from None


def client(url: str, keys: RegistryKeys, bearer: str | None = None) -> httpx.Client:
    """An HTTPS client for the registry, trusting its CA, as the signed-in operator (or `bearer`)."""
    ctx = ssl.create_default_context(cadata=keys.ca_pem.decode())
    auth = bearer if bearer is not None else token(keys)
    return httpx.Client(base_url=url, verify=ctx, timeout=30, headers={"Authorization": "Bearer " + auth} if auth else {})


def call(c: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    try:
        r = c.request(method, path, **kw)
    except httpx.HTTPError as e:
        raise EnrolctlError(f"registry at {c.base_url} not reachable: {e}") from e
    if r.status_code == 401 and "token" in r.text:
        raise EnrolctlError(f"the registry refused the session ({_reason(r)}): enrolctl registry login --operator NAME")
    return r


def _reason(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error"))[:300]
    except ValueError:
        return r.text[:200]


def expect(r: httpx.Response, *ok: int) -> Any:
    """The answer's JSON when its status is one of `ok`, else EnrolctlError with the registry's reason."""
    if r.status_code not in ok:
        raise EnrolctlError(f"the registry refused: {r.status_code} {_reason(r)}")
    return r.json()


def secret_lines(n: int, from_stdin: bool, prompts: list[str]) -> list[str]:
    """n secrets: one line each from standard input (--password-stdin), or typed at hidden prompts."""
    if from_stdin:
        lines = [sys.stdin.readline().rstrip("\n") for _ in range(n)]
        if any(not x for x in lines):
            raise EnrolctlError(f"--password-stdin: {n} line(s) expected on standard input")
        return lines
    import typer

    return [typer.prompt(p, hide_input=True) for p in prompts[:n]]
