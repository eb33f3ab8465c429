"""A real registry for tests: keys made at test time, a database, uvicorn with TLS on 127.0.0.1,
and provisioned device data directories that the firmware (MicroPython or CPython) syncs from."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from host_tools.registry.app import create_app
from host_tools.registry.db import make_engine, migrate
from host_tools.registry.keys import RegistryKeys, init_keys, load_keys
from host_tools.registry.models import Conflict, Device, Record
from host_tools.registry.operators import ROLES


@dataclass
class Registry:
    keys_dir: Path
    keys: RegistryKeys
    engine: Engine
    url: str = ""

    def count(self, model: type = Record) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    def count_devices(self) -> int:
        return self.count(Device)

    def devices(self) -> list[dict[str, str]]:
        with Session(self.engine) as s:
            return [{"device_id": d.device_id, "role": d.role} for d in s.scalars(select(Device))]

    def duplicated(self) -> int:
        """Records stored more than once (must always be 0: UNIQUE(record_id))."""
        with Session(self.engine) as s:
            rows = s.execute(select(Record.record_id, func.count()).group_by(Record.record_id)
                             .having(func.count() > 1)).all()
        return len(rows)

    def conflicts(self) -> int:
        return self.count(Conflict)

    def add_device(self, device_id: str, secret: bytes, ed_pub: bytes, role: str = "enrolment",
                   active: bool = True) -> None:
        """A device registered and approved (as two registrars would leave it), written straight
        to the database: for tests about something else than registering devices."""
        with Session(self.engine) as s:
            s.add(Device(device_id=device_id, hmac_secret=self.keys.seal_device_secret(device_id, secret),
                         ed25519_pub=ed_pub, revoked=False, role=role, active=active))
            s.commit()

    def operator(self, name: str = "op-a", roles: tuple[str, ...] = ROLES) -> dict[str, str]:
        """Headers of a signed-in operator, made straight in the database (no password: it cannot
        sign in, only use this token) for tests about something else than signing in."""
        import datetime as dt
        import secrets

        from host_tools.registry.models import Operator, OperatorToken
        from host_tools.registry.operators import token_hash

        token = secrets.token_urlsafe(32)
        with Session(self.engine) as s:
            op = s.scalars(select(Operator).where(Operator.name == name)).first()
            if op is None:
                op = Operator(name=name, password_hash="!", roles=",".join(sorted(roles)), disabled=False,
                              must_change=False)
                s.add(op)
                s.flush()
            s.add(OperatorToken(token_hash=token_hash(token), operator_id=op.id, revoked=False,
                                expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)))
            s.commit()
        return {"Authorization": "Bearer " + token}

    def session_env(self, where: Path, name: str = "op-a", roles: tuple[str, ...] = ROLES) -> dict[str, str]:
        """The environment of an `enrolctl` signed in as `name` (its session file in `where`, as
        `enrolctl registry login` leaves it): each operator on their own laptop."""
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        (where / f"{self.keys.registry_id}.session").write_text(self.operator(name, roles)["Authorization"][7:])
        return {**os.environ, "ENROL_SESSION_DIR": str(where)}

    def checker(self) -> dict[str, str]:
        """A second operator (every role), to approve what `operator()` proposes."""
        return self.operator("op-b")


def approved(client: Any, method: str, path: str, proposer: dict[str, str], approver: dict[str, str],
             **kw: Any) -> Any:
    """Propose with one operator, approve with another; returns the approval's answer (raises if
    either step was refused)."""
    r = client.request(method, path, headers=proposer, **kw)
    assert r.status_code in (201, 202), (r.status_code, r.text)
    a = client.post(f"/v1/admin/proposals/{r.json()['proposal']}/approve", json={"reason": "checked"},
                    headers=approver)
    assert a.status_code == 200, (a.status_code, a.text)
    return a


def make_registry(tmp: Path, db_url: str | None = None) -> Registry:
    tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(tmp, 0o700)  # the database lives here: the registry refuses a directory others can enter
    keys_dir = tmp / "registry-keys"
    if not (keys_dir / "registry.json").exists():
        init_keys(keys_dir, "test-registry", ["127.0.0.1", "localhost"])
    keys = load_keys(keys_dir)
    engine = make_engine(db_url or f"sqlite:///{tmp / 'registry.db'}")
    migrate(engine)
    return Registry(keys_dir, keys, engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request, tmp_path: Path) -> Registry:
    """A fresh registry on each database (a module takes it by importing `reg`)."""
    return registry_for(request, tmp_path, request.param)


@pytest.fixture
def http(reg: Registry) -> Any:
    """The registry's app in-process (fastapi's TestClient), for `reg`."""
    from fastapi.testclient import TestClient

    return TestClient(create_app(reg.keys, reg.engine), base_url="https://testserver", raise_server_exceptions=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Registry, str]]:
    """A registry on SQLite in its own process over TLS, as `registry serve` runs it: (it, its URL)."""
    reg = make_registry(tmp_path)
    with RegistryProcess(reg, f"sqlite:///{tmp_path / 'registry.db'}") as server:
        yield reg, f"https://127.0.0.1:{server.port}"


def registry_for(request, tmp: Path, database: str) -> Registry:
    """A registry on "sqlite" (a new file) or "postgresql" (the process's shared server, the
    pg_url fixture of tests/conftest.py, emptied first: every test starts with no rows)."""
    if database == "sqlite":
        return make_registry(tmp)
    reg = make_registry(tmp, request.getfixturevalue("pg_url"))
    empty(reg.engine)
    return reg


# every table, those that name others first
TABLES = ("payments", "programmes", "revoked_credentials", "reviews", "match_keys", "records", "persons", "conflicts",
          "nonces", "events", "devices", "proposals", "operator_tokens", "operators")


def empty(engine: Engine) -> None:
    """No rows in any table (a shared PostgreSQL server between tests)."""
    with engine.begin() as conn:
        for table in TABLES:
            conn.exec_driver_sql(f"DELETE FROM {table}")


def make_registry_from(keys_dir: Path) -> Registry:
    """A Registry handle on a key directory that already has its SQLite database (the sim's)."""
    keys = load_keys(keys_dir)
    engine = make_engine(f"sqlite:///{keys_dir / 'registry.db'}")
    migrate(engine)
    return Registry(keys_dir, keys, engine)


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(reg: Registry, tls: bool = True) -> Iterator[str]:
    """The registry app on uvicorn in a thread; yields its https:// URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    ssl = {"ssl_certfile": str(reg.keys.server_cert), "ssl_keyfile": str(reg.keys.server_key)} if tls else {}
    config = uvicorn.Config(create_app(reg.keys, reg.engine), log_level="warning", **ssl)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("registry did not start")
        time.sleep(0.02)
    reg.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield reg.url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def provision_device(reg: Registry, data_dir: Path, device_id: str, url: str, register: bool = True,
                     ca_pem: bytes | None = None) -> bytes:
    """A device data directory as `enrolctl device provision` leaves it; returns its HMAC secret."""
    data_dir.mkdir(parents=True, exist_ok=True)
    secret, seed, card_key = os.urandom(32), os.urandom(32), os.urandom(32)
    n = reg.keys.registry_pub_n()
    device = {"v": 1, "device_id": device_id, "registry_id": reg.keys.registry_id, "registry_url": url,
              "registry_pub_n": n.to_bytes(256, "big").hex(), "registry_pub_e": 65537,
              "ca_pem": (ca_pem or reg.keys.ca_pem).decode()}
    keys = {"v": 1, "hmac_secret": secret.hex(), "ed25519_seed": seed.hex(), "card_key": card_key.hex()}
    (data_dir / "device.json").write_text(json.dumps(device))
    (data_dir / "keys.json").write_text(json.dumps(keys))
    if register:
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        reg.add_device(device_id, secret, pub)
    return secret


def set_url(data_dir: Path, url: str) -> None:
    doc = json.loads((data_dir / "device.json").read_text())
    doc["registry_url"] = url
    (data_dir / "device.json").write_text(json.dumps(doc))


class RegistryProcess:
    """The registry as its own process (uvicorn, TLS), so a test can kill -9 it and start it again."""

    def __init__(self, reg: Registry, db_url: str, port: int | None = None, log: Path | None = None) -> None:
        self.reg = reg
        self.db_url = db_url
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.log = log  # if given: the server's whole output (stdout and stderr) goes there

    def start(self) -> None:
        out = open(self.log, "ab") if self.log else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools.registry.serve", str(self.reg.keys_dir), str(self.port), self.db_url],
            stdout=out or subprocess.DEVNULL, stderr=out or subprocess.PIPE)
        if out:
            out.close()
        deadline = time.monotonic() + 30
        ca = ssl.create_default_context(cafile=str(self.reg.keys_dir / "ca.pem"))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("registry exited: " + (self.proc.stderr.read() if self.proc.stderr else b"").decode())
            try:
                if httpx.get(f"https://127.0.0.1:{self.port}/v1/health", verify=ca, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("registry did not answer /v1/health")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def __enter__(self) -> RegistryProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _free_port() -> int:
    with free_socket() as s:
        return int(s.getsockname()[1])


class HostDevice:
    """A device's sealing done by the firmware's own code under CPython: records the registry
    must accept exactly as if a device had made them."""

    def __init__(self, reg: Registry, device_id: str = "dev-host", register: bool = True,
                 role: str = "enrolment", legacy: bool = False) -> None:
        from firmware.crypto.rsa_oaep import RsaPublicKey

        self.device_id = device_id
        self.secret = os.urandom(32)
        self.seed = os.urandom(32)
        self.pub = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)
        self.registry_pub = RsaPublicKey(reg.keys.registry_pub_n().to_bytes(256, "big"))
        self.boot = 1
        self.seq = 0
        # legacy: as firmware before issue 28 (the record's credential id "", XXXX-XXXX on the card)
        self.legacy = legacy
        if register:
            reg.add_device(device_id, self.secret, self.pub, role)

    def batch(self, n: int, pin: bytes = b"2580", fields: dict | list[dict] | None = None,
              rid_prefix: bytes = b"") -> tuple[bytes, list[bytes]]:
        """(key envelope, n record envelopes) sealed under one new batch key (record ids starting
        with rid_prefix, if given: a collision of their first bytes, made on purpose).  fields: one
        person's for every record, or a list of n (one person each)."""
        from firmware.crypto import pin_block, seal
        from firmware.enrol import record

        batch = seal.BatchKey(self.registry_pub)
        envs = []
        each = fields if isinstance(fields, list) else [fields] * n
        for i in range(n):
            self.seq += 1
            rid = bytearray(rid_prefix + os.urandom(16 - len(rid_prefix)))
            rid[6] = (rid[6] & 0x0F) | 0x40
            rid[8] = (rid[8] & 0x3F) | 0x80
            rid = bytes(rid)
            block = pin_block.encipher(seal.pin_key(batch.key, rid), bytearray(pin), rid)
            plain = record.encode("OF0042", int(time.time()), True, each[i] or record.typical_fields(),
                                  "" if self.legacy else self.credential_id(rid), block)
            envs.append(bytes(seal.seal_record(batch, self.device_id, self.boot, self.seq, rid, plain)))
        return bytes(batch.envelope()), envs

    def batch_of(self, plains: list) -> tuple[bytes, list[bytes]]:
        """Like batch(), but each record's plaintext is made by plains[i](record_id, pin_block):
        for records a device would never write (hostile CBOR inside a genuine seal)."""
        from firmware.crypto import pin_block, seal

        batch = seal.BatchKey(self.registry_pub)
        envs = []
        for make in plains:
            self.seq += 1
            rid = os.urandom(16)
            block = bytes(pin_block.encipher(seal.pin_key(batch.key, rid), bytearray(b"2580"), rid))
            envs.append(bytes(seal.seal_record(batch, self.device_id, self.boot, self.seq, rid, make(rid, block))))
        return bytes(batch.envelope()), envs

    def credential_id(self, record_id: bytes) -> str:
        from firmware.formats import credential_id
        from host_tools.registry.ingest import legacy_credential_id

        return legacy_credential_id(record_id) if self.legacy else credential_id(record_id)

    def credential(self, record_id: bytes, uid: bytes, registry_id: str, exp: int | None = None) -> bytes:
        """The COSE_Sign1 the device writes on the card of this record."""
        from firmware.card import credential
        now = int(time.time())
        return bytes(credential.issue(self.seed, self.pub, registry_id, self.credential_id(record_id), "SOPHEAP",
                                      self.device_id, uid, now, exp if exp is not None else now + 5 * 365 * 86400))


IDLE = 1000


class Holder:
    """IDLE connections from 127.0.0.2 that complete TLS and never send a request; each is
    opened again as soon as the registry closes it."""

    def __init__(self, port: int, ca: Path) -> None:
        self.port, self.ctx = port, ssl.create_default_context(cafile=str(ca))
        self.open: dict[int, float] = {}  # connection -> when it opened
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self) -> None:
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.ctx,
                                                              local_addr=("127.0.0.2", 0))
            except (OSError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)
                continue
            self.opened += 1
            self.open[id(writer)] = time.monotonic()
            try:
                while not self.stop.is_set():
                    try:
                        if not await asyncio.wait_for(reader.read(1), 0.5):
                            break  # closed by the registry: open it again
                    except asyncio.TimeoutError:
                        continue
            except (OSError, ssl.SSLError):
                pass
            finally:
                self.open.pop(id(writer), None)
                writer.close()
            await asyncio.sleep(0.01)

    def held(self, for_s: float = 2.0) -> int:
        """Connections open for more than for_s: those the registry kept (it closes the others at once)."""
        now = time.monotonic()
        return sum(1 for t in list(self.open.values()) if now - t > for_s)

    async def _main(self) -> None:
        await asyncio.gather(*(self._one() for _ in range(IDLE)))

    def __enter__(self) -> Holder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
