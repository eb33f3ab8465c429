"""Named operators: accounts, roles, sign-in, tokens (a service: no HTTP here; routes_operators.py).

Roles (an operator may hold several; each route names the roles it accepts):
  administrator  operators and their roles
  registrar      enrolment devices, payout points, programmes, records pushed over USB
  reviewer       held duplicates, merges, PIN unlocks, revoked credentials restored
  auditor        reads everything, exports; changes nothing

The registry's shared token (keys/operator_token) does one thing: while no operator exists, it
makes the first administrator (bootstrap).  From then on it is refused everywhere.

While fewer than two administrators are active, an administrator can add only administrators:
one person alone can never make the two registrars (or reviewers) that dual control needs.

Passwords are Argon2id hashes (argon2-cffi).  A second factor is optional: a TOTP secret
(pyotp, RFC 6238), sealed under the registry's device key.  A password someone else chose (at
creation, at a reset) must be replaced by the operator before their token does anything else.
Tokens are random, kept as SHA-256 only, expire, and are revoked by signing out, a password
change, or disabling the operator.  Wrong passwords lock a name for a while; an unknown name is
answered exactly like a wrong password, and is locked the same way (no enumeration).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .keys import RegistryKeys
from .models import Event, Operator, OperatorToken

ROLES = ("administrator", "registrar", "reviewer", "auditor")
NAME_RE = r"^[a-z][a-z0-9._-]{1,31}$"
PASSWORD_MIN = 12
TOKEN_TTL_S = 8 * 3600  # a working day
TOKEN_TTL_MAX_S = 30 * 24 * 3600
LOCK_AFTER = 5  # wrong passwords in a row...
LOCK_S = 300  # ...lock the name this long (doubling with each further failure, up to a day)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password: an unknown name costs the same time")
_TOTP_AD = b"operator-totp:"


class OperatorError(Exception):
    """Refused, with the HTTP status that says why."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Actor:
    """Who is acting, and in which of their roles (what the trail records)."""

    name: str
    role: str
    roles: tuple[str, ...]
    token_hash: bytes = b""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_password_rule(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= 256 or any(ord(c) < 32 for c in password):
        raise OperatorError(422, f"a password is {PASSWORD_MIN}-256 printable characters")


def parse_roles(roles: list[str]) -> str:
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise OperatorError(422, f"roles are some of {', '.join(ROLES)}")
    return ",".join(sorted(set(roles)))


def roles_of(op: Operator) -> tuple[str, ...]:
    return tuple(r for r in op.roles.split(",") if r)


def active_admins(s: Session) -> int:
    return sum(1 for op in s.scalars(select(Operator).where(Operator.disabled.is_(False)))
               if "administrator" in roles_of(op))


def event(s: Session, actor: Actor | None, kind: str, detail: str, reason: str | None = None,
          device_id: str | None = None) -> None:
    s.add(Event(kind=kind, device_id=device_id, detail=detail[:500], reason=(reason or None) and reason[:200],
                operator=actor.name if actor else None, role=actor.role if actor else None))


def _seal_totp(keys: RegistryKeys, name: str, secret: str) -> bytes:
    return keys.seal_device_secret(_TOTP_AD.decode() + name, secret.encode().ljust(32, b"="))


def _open_totp(keys: RegistryKeys, name: str, sealed: bytes) -> str:
    return keys.open_device_secret(_TOTP_AD.decode() + name, sealed).rstrip(b"=").decode()


def bootstrap(s: Session, keys: RegistryKeys, given_token: str, name: str, password: str) -> Actor:
    """The first administrator, made with the registry's shared token; never again after."""
    import hmac

    if not hmac.compare_digest(given_token.encode(), keys.operator_token.encode()):
        raise OperatorError(401, "the registry's bootstrap token is wrong")
    if s.scalar(select(func.count()).select_from(Operator)):
        raise OperatorError(409, "the registry has operators: the shared token was retired when the first "
                                 "administrator was made; sign in as a named operator")
    add(s, keys, None, name, password, ["administrator"], totp=False, must_change=False)
    return Actor(name, "administrator", ("administrator",))


MONEY_ROLES = ("administrator", "registrar", "reviewer")  # an account holding one is made by two administrators


def add(s: Session, keys: RegistryKeys, by: Actor | None, name: str, password: str, roles: list[str],
        totp: bool, must_change: bool = True) -> tuple[str | None, int | None]:
    """A new operator: (the TOTP provisioning URI if a second factor was asked for, the proposal
    a second administrator must approve, or None if the account exists now).

    An account that can act on money (administrator, registrar, reviewer) is proposed and made
    when a second administrator approves; an auditor's is made at once.  While fewer than two
    administrators are active (day one), only an administrator can be added, at once."""
    from . import proposals

    if not re.fullmatch(NAME_RE, name):
        raise OperatorError(422, "an operator's name is 2-32 of a-z, 0-9, . _ - (a letter first)")
    check_password_rule(password)
    joined = parse_roles(roles)
    if s.scalars(select(Operator.id).where(Operator.name == name)).first() is not None:
        raise OperatorError(409, f"operator {name} exists")
    secret = pyotp.random_base32() if totp else None
    sealed = _seal_totp(keys, name, secret) if secret else None
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=keys.registry_id) if secret else None
    account = {"name": name, "password_hash": _hasher.hash(password), "roles": joined,
               "totp_secret": sealed.hex() if sealed else None, "must_change": must_change}
    day_one = by is None or active_admins(s) < 2
    if day_one and by is not None and joined != "administrator":
        raise OperatorError(409, "add a second administrator first: while there is one, no one person can make "
                                 "the operators that dual control needs")
    if not day_one and any(r in MONEY_ROLES for r in joined.split(",")):
        p = proposals.propose(s, by, "add-operator", name, account, f"a new {joined}")  # type: ignore[arg-type]
        return uri, p.id
    create(s, account)
    event(s, by, "operator-added", f"operator {name}: {joined}" + (", second factor" if totp else ""))
    return uri, None


def create(s: Session, account: dict[str, Any]) -> None:
    """The account a proposal or `add` describes."""
    if s.scalars(select(Operator.id).where(Operator.name == account["name"])).first() is not None:
        raise OperatorError(409, f"operator {account['name']} exists")
    s.add(Operator(name=account["name"], password_hash=account["password_hash"], roles=account["roles"],
                   disabled=False, must_change=account["must_change"],
                   totp_secret=bytes.fromhex(account["totp_secret"]) if account["totp_secret"] else None))


def _get(s: Session, name: str) -> Operator:
    op = s.scalars(select(Operator).where(Operator.name == name)).first()
    if op is None:
        raise OperatorError(404, f"no operator {name}")
    return op


def disable(s: Session, by: Actor, name: str, reason: str) -> None:
    op = _get(s, name)
    if op.name == by.name:
        raise OperatorError(409, "an administrator cannot disable themselves")
    op.disabled = True
    s.execute(update(OperatorToken).where(OperatorToken.operator_id == op.id).values(revoked=True))
    event(s, by, "operator-disabled", f"operator {name}", reason)


def reset_password(s: Session, by: Actor, name: str, password: str, reason: str) -> int | None:
    """An administrator sets a password the operator must replace at their next sign-in.  For an
    account that can act on money it is a proposal (returned) a second administrator approves:
    whoever knows the new password could sign in as them first."""
    from . import proposals

    check_password_rule(password)
    op = _get(s, name)
    change = {"name": name, "password_hash": _hasher.hash(password), "must_change": op.name != by.name}
    if any(r in MONEY_ROLES for r in roles_of(op)) and op.name != by.name and active_admins(s) >= 2:
        return proposals.propose(s, by, "reset-password", name, change, reason).id
    set_password(s, change)
    event(s, by, "operator-password-reset", f"operator {name}", reason)
    return None


def set_password(s: Session, change: dict[str, Any]) -> None:
    op = _get(s, change["name"])
    op.password_hash = change["password_hash"]
    op.must_change = change["must_change"]
    s.execute(update(OperatorToken).where(OperatorToken.operator_id == op.id).values(revoked=True))


def change_own_password(s: Session, actor: Actor, old: str, new: str) -> None:
    check_password_rule(new)
    op = _get(s, actor.name)
    try:
        _hasher.verify(op.password_hash, old)
    except (VerificationError, InvalidHashError):
        raise OperatorError(403, "the current password is wrong") from None
    if old == new:
        raise OperatorError(422, "choose a password different from the current one")
    op.password_hash = _hasher.hash(new)
    op.must_change = False
    s.execute(update(OperatorToken).where(OperatorToken.operator_id == op.id,
                                          OperatorToken.token_hash != actor.token_hash).values(revoked=True))
    event(s, actor, "operator-password-changed", f"operator {actor.name}")


def listing(s: Session) -> list[dict[str, object]]:
    return [{"name": op.name, "roles": list(roles_of(op)), "disabled": op.disabled, "second_factor":
             op.totp_secret is not None, "must_change_password": op.must_change, "created_at": op.created_at.isoformat()}
            for op in s.scalars(select(Operator).order_by(Operator.name))]


class SignInGuard:
    """Wrong passwords counted per name in memory (a name that does not exist too, so the answer
    never says which names do).  Past LOCK_AFTER in a row the name waits LOCK_S, doubling."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[str, tuple[int, float]] = {}  # name -> (failures in a row, locked until)

    def wait(self, name: str) -> int:
        with self._lock:
            _, until = self._fails.get(name, (0, 0.0))
        return max(0, int(until - time.monotonic()) + 1) if until > time.monotonic() else 0

    def failed(self, name: str) -> None:
        with self._lock:
            n, _ = self._fails.get(name, (0, 0.0))
            n += 1
            until = time.monotonic() + min(86400, LOCK_S * 2 ** (n - LOCK_AFTER)) if n >= LOCK_AFTER else 0.0
            self._fails[name] = (n, until)
            if len(self._fails) > 100_000:
                self._fails.pop(next(iter(self._fails)))

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._fails.pop(name, None)


def sign_in(s: Session, keys: RegistryKeys, guard: SignInGuard, name: str, password: str, code: str | None,
            ttl_s: int = TOKEN_TTL_S) -> tuple[str, dt.datetime, Operator]:
    """A new token for the operator; OperatorError 401 (wrong), 429 (locked: wait)."""
    key = name.lower()[:64]
    wait = guard.wait(key)
    if wait:
        raise OperatorError(429, "too many wrong passwords for this name: wait", retry_after=wait)
    op = s.scalars(select(Operator).where(Operator.name == name)).first()
    try:
        _hasher.verify(op.password_hash if op is not None else _DUMMY_HASH, password)
        ok = op is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if ok and op is not None and op.totp_secret is not None:
        ok = bool(code) and pyotp.TOTP(_open_totp(keys, op.name, op.totp_secret)).verify(code or "", valid_window=1)
    if not ok or op is None or op.disabled:
        guard.failed(key)
        event(s, None, "sign-in-refused", "a sign-in was refused")  # no name: it may be a password typed there
        raise OperatorError(401, "name, password or code wrong, or the operator is disabled")
    guard.succeeded(key)
    token = secrets.token_urlsafe(32)
    expires = _now() + dt.timedelta(seconds=max(60, min(ttl_s, TOKEN_TTL_MAX_S)))
    s.add(OperatorToken(token_hash=token_hash(token), operator_id=op.id, expires_at=expires, revoked=False))
    event(s, Actor(op.name, "-", roles_of(op)), "signed-in", f"operator {op.name}, until {expires.isoformat()}")
    return token, expires, op


def sign_out(s: Session, actor: Actor) -> None:
    s.execute(update(OperatorToken).where(OperatorToken.token_hash == actor.token_hash).values(revoked=True))
    event(s, actor, "signed-out", f"operator {actor.name}")


def principal(s: Session, token: str) -> tuple[Operator, bytes]:
    """The operator a bearer token stands for (OperatorError 401 if none, expired or revoked)."""
    h = token_hash(token)
    row = s.execute(select(OperatorToken, Operator).join(Operator, Operator.id == OperatorToken.operator_id)
                    .where(OperatorToken.token_hash == h)).first()
    if row is None:
        raise OperatorError(401, "operator token unknown: sign in (enrolctl registry login)")
    tok, op = row
    if tok.revoked or op.disabled:
        raise OperatorError(401, "operator token revoked (signed out, password changed or operator disabled)")
    if _utc(tok.expires_at) <= _now():
        raise OperatorError(401, "operator token expired: sign in again")
    return op, h
