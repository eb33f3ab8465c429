"""The registry's operators on day one, as the README tells them, with `enrolctl` against a real
registry over TLS: the first administrator made with the one-time token (which then stops
working), a second administrator, a registrar proposed and approved, each signed in on their
own laptop and choosing their own password; the trail exported and checked offline."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from conftest import enrolctl
from registrykit import served  # noqa: F401 - fixture

PW = "a long enough password"


def test_day_one(served, tmp_path: Path) -> None:
    reg, url = served
    r_ = ("--keys", str(reg.keys_dir), "--registry", url)

    def laptop(name: str) -> dict[str, str]:
        return {**os.environ, "ENROL_SESSION_DIR": str(tmp_path / "laptops" / name)}

    sokha, dara, vanna = laptop("sokha"), laptop("dara"), laptop("vanna")

    def run(*args: str, env: dict[str, str], stdin: str | None = None, ok: bool = True):
        r = enrolctl(*args, *r_, env=env, input=stdin)
        assert (r.returncode == 0) == ok, (args, r.stdout, r.stderr)
        return r

    run("registry", "operator", "add", "sokha", "--bootstrap", "--password-stdin", env=sokha, stdin=PW + "\n")
    again = run("registry", "operator", "add", "eve", "--bootstrap", "--password-stdin", env=sokha,
                stdin=PW + "\n", ok=False)
    assert "retired" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    not_yet = run("registry", "operator", "list", env=sokha, ok=False)
    assert "not signed in" in not_yet.stderr
    wrong = run("registry", "login", "--operator", "sokha", "--password-stdin", env=sokha, stdin="nope\n", ok=False)
    assert "sign-in refused" in wrong.stderr
    run("registry", "login", "--operator", "sokha", "--password-stdin", env=sokha, stdin=PW + "\n")
    session = tmp_path / "laptops" / "sokha" / f"{reg.keys.registry_id}.session"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600 and stat.S_IMODE(session.parent.stat().st_mode) == 0o700
    early = run("registry", "operator", "add", "vanna", "--role", "registrar", "--password-stdin", env=sokha,
                stdin="first " + PW + "\n", ok=False)
    assert "second administrator first" in early.stderr
    run("registry", "operator", "add", "dara", "--role", "administrator", "--password-stdin", env=sokha,
        stdin="first " + PW + "\n")
    r = run("registry", "login", "--operator", "dara", "--password-stdin", env=dara, stdin="first " + PW + "\n")
    assert "choose your own password now" in r.stdout
    blocked = run("registry", "proposals", env=dara, ok=False)
    assert "must choose their own password" in blocked.stderr
    run("registry", "operator", "passwd", "--password-stdin", env=dara, stdin=f"first {PW}\n{PW} 2\n")
    r = run("registry", "operator", "add", "vanna", "--role", "registrar", "--second-factor", "--password-stdin",
            env=sokha, stdin="first " + PW + "\n")
    assert "proposed (proposal 1)" in r.stdout and "otpauth://totp/" in r.stdout, r.stdout
    own = run("registry", "approve", "1", env=sokha, ok=False)
    assert "cannot approve" in own.stderr
    listed = run("registry", "proposals", env=dara)
    assert "add-operator" in listed.stdout and "vanna" in listed.stdout and "sokha" in listed.stdout
    run("registry", "approve", "1", "--reason", "met vanna", env=dara)
    ops = run("registry", "operator", "list", env=sokha).stdout
    assert "vanna" in ops and "registrar" in ops and "second factor" in ops and "must change password" in ops
    no_code = run("registry", "login", "--operator", "vanna", "--password-stdin", env=vanna,
                  stdin="first " + PW + "\n", ok=False)
    assert "sign-in refused" in no_code.stderr  # a second factor was set: no code, no entry
    run("registry", "operator", "disable", "vanna", "--reason", "left the ministry", env=dara)
    ops = run("registry", "operator", "list", env=dara).stdout
    assert "disabled" in ops
    run("registry", "logout", env=dara)
    assert not (tmp_path / "laptops" / "dara" / f"{reg.keys.registry_id}.session").exists()
    trail = tmp_path / "out" / "trail.jsonl"
    (tmp_path / "out").mkdir(mode=0o700)
    run("registry", "events", "export", "--out", str(trail), env=sokha)
    assert stat.S_IMODE(trail.stat().st_mode) == 0o600
    v = enrolctl("registry", "events", "verify", str(trail))
    assert v.returncode == 0 and "one unbroken chain" in v.stdout, v.stderr
    text = trail.read_text()
    for word in ('"kind":"approved"', '"operator":"dara"', '"reason":"met vanna"', '"kind":"operator-disabled"'):
        assert word.replace(":", ": ") in text or word in text, word
    assert PW not in text and "first " + PW not in text  # no password ever in the trail
    audit = enrolctl("registry", "audit", "--keys", str(reg.keys_dir), "--db", f"sqlite:///{tmp_path / 'registry.db'}")
    assert audit.returncode == 0 and "event chain head" in audit.stdout, audit.stdout + audit.stderr
