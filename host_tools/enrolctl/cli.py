"""enrolctl: technician CLI (typer).  Commands stay thin; the work is in the modules beside this one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from host_tools.enrolctl.runtime import SIM_HEAPSIZE

from . import build as build_mod
from . import vendor as vendor_mod
from .errors import EnrolctlError
from .paths import BUILD_DEVICE

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False, help=__doc__)
out = Console()
err = Console(stderr=True)


@app.command()
def build(
    out_dir: Annotated[Path, typer.Option("--out", help="output directory")] = BUILD_DEVICE,
) -> None:
    """Compile firmware/ and lib/ to .mpy into build/device/ and write its manifest."""
    entries = build_mod.build(out_dir)
    total = sum(e.size for e in entries)
    out.print(f"built {len(entries)} files, {total} bytes -> {out_dir}")


@app.command()
def runtime() -> None:
    """Build the 32-bit MicroPython unix port with the device image frozen (build/runtime/)."""
    from . import runtime as runtime_mod

    path = runtime_mod.build(out.print)
    out.print(f"runtime: {path.relative_to(runtime_mod.ROOT)} (32-bit, firmware frozen) is up to date")


@app.command()
def image() -> None:
    """Build the ESP32 firmware (ports/esp32, ESP32_GENERIC, manifest.py frozen): needs ESP-IDF."""
    from . import image as image_mod

    path = image_mod.build()
    out.print(f"image: {path} ({path.stat().st_size} bytes); write it with "
              f"enrolctl flash --port PORT --firmware {path} (add --update on a device in use)")


@app.command()
def vendor() -> None:
    """Copy adafruit_pn532 and adafruit_bus_device out of their installed wheels into lib/."""
    files = vendor_mod.vendor()
    out.print(f"vendored {len(files)} files into lib/")


@app.command()
def sim(
    script: Annotated[Path | None, typer.Option("--script", help="lines to type instead of this terminal")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="run the bundled demo: three people enrolled")] = False,
    state: Annotated[Path, typer.Option("--state", help="the simulated device's flash, wallet, registry")] =
    Path("sim-state"),
    heap: Annotated[str, typer.Option("--heap", help="the device's MicroPython heap (the ESP32's by default)")] =
    SIM_HEAPSIZE,
    role: Annotated[str, typer.Option("--role", help="enrolment (the default) or payout: the payout point, "
                                      "which pays the cards the enrolment device wrote")] = "enrolment",
    frames: Annotated[Path | None, typer.Option("--frames", help="write each frame the device draws as a PNG "
                                                "into this folder (with frames.tsv: what each shows)")] = None,
) -> None:
    """The device simulation: the frozen firmware in our 32-bit MicroPython at the ESP32's heap, its
    hardware emulated on this side, a demo registry on loopback.  With
    --script or --demo it is driven by a file and says what happened (records, cards, registry)."""
    from . import simrun

    if script is not None and demo:
        raise EnrolctlError("give --script FILE or --demo, not both")
    if role not in ("enrolment", "payout"):
        raise EnrolctlError(f"--role {role!r}: enrolment or payout")
    if demo:
        script = simrun.PAYOUT_DEMO_SCRIPT if role == "payout" else simrun.DEMO_SCRIPT
    lines = None
    if script is not None:
        try:
            lines = script.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise EnrolctlError(f"cannot read the script {script}: {e}") from e
    from . import runtime as runtime_mod

    runtime_mod.build()  # the frozen firmware up to date (seconds when it is)
    if frames is not None:
        if frames.exists() and not frames.is_dir():
            raise EnrolctlError(f"--frames {frames}: not a folder")
        os.environ["ENROL_SIM_FRAMES"] = str(frames.resolve())
    raise SystemExit(simrun.run(state, heap, lines, role))


card_app = typer.Typer(no_args_is_help=True, help="NFC card images")
app.add_typer(card_app, name="card")


@card_app.command("verify")
def card_verify(
    image: Annotated[Path, typer.Argument(help="card memory dump (540 bytes NTAG215, 924 NTAG216)")],
    trust: Annotated[Path, typer.Option("--trust", help="trust list JSON from the registry")],
) -> None:
    """Verify the credential on a card image with standard libraries (cbor2, cryptography)."""
    from . import card

    try:
        data = image.read_bytes()
    except OSError as e:
        raise EnrolctlError(f"cannot read {image}: {e.strerror}") from e
    cred = card.verify_image(data, card.load_trust(trust))
    c = cred.claims
    out.print(f"VALID {cred.tag} uid={cred.uid.hex()} credential={c[2]} name={c[-70001]} "
              f"device={c[-70002]} issuer={c[1]} iat={c[6]} exp={c[4]}")


keys_app = typer.Typer(no_args_is_help=True, help="registry key material")
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    directory: Annotated[Path, typer.Argument(help="new key directory (files written 0600)")],
    registry_id: Annotated[str, typer.Option("--registry-id", help="name of this registry")] = "registry",
    host: Annotated[list[str], typer.Option("--host", help="registry host name or IP (repeatable)")] = ["127.0.0.1"],
    force: Annotated[bool, typer.Option("--force", help="replace keys already in DIR")] = False,
) -> None:
    """Make the registry key pair, TLS CA and server certificate, PIN and trust keys."""
    from host_tools.registry.keys import KeysError, init_keys

    try:
        init_keys(directory, registry_id, host, force)
    except KeysError as e:
        raise EnrolctlError(str(e)) from e
    out.print(f"registry keys for {registry_id} written to {directory} (server certificate for {', '.join(host)})")


registry_app = typer.Typer(no_args_is_help=True, help="reference central registry")
app.add_typer(registry_app, name="registry")


@registry_app.command("serve")
def registry_serve(
    keys: Annotated[Path, typer.Option("--keys", help="key directory from `enrolctl keys init`")],
    db: Annotated[str | None, typer.Option("--db", help="database URL (default: SQLite in the key directory)")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8443,
) -> None:
    """Serve the registry over HTTPS (migrates the database first)."""
    from host_tools.registry.keys import KeysError
    from host_tools.registry.serve import ServeError, serve

    try:
        serve(keys, db, host, port)
    except (KeysError, ServeError) as e:
        raise EnrolctlError(str(e)) from e


KeysDirOpt = Annotated[Path, typer.Option("--keys", help="registry key directory (`enrolctl keys init`)")]
UrlOpt = Annotated[str, typer.Option("--registry", help="registry URL, https://host:port")]


@registry_app.command("programme")
def registry_programme(
    keys: KeysDirOpt, registry: UrlOpt,
    code: Annotated[str, typer.Option("--code", help="e.g. veteran_pension")],
    name: Annotated[str, typer.Option("--name", help="e.g. \"Veteran's pension\"")],
    amount: Annotated[list[str], typer.Option("--amount", help="CATEGORY=RIEL a month, repeatable")],
) -> None:
    """Add a payout programme: an amount a month per beneficiary category."""
    from . import payouts

    proposal = payouts.add_programme(keys, registry, code, name, payouts.parse_amounts(amount))
    out.print(f"programme {code} proposed (proposal {proposal}): a second registrar approves it with "
              f"`enrolctl registry approve {proposal}`")


@registry_app.command("payouts")
def registry_payouts(
    keys: KeysDirOpt, registry: UrlOpt,
    programme: Annotated[str, typer.Option("--programme")],
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out_file: Annotated[Path | None, typer.Option("--out", help="write the payments here (default: stdout)")] = None,
) -> None:
    """The payments of a programme and month (CSV or JSON lines), and the totals per payout point."""
    from rich.table import Table

    from . import payouts

    if fmt not in ("csv", "jsonl"):
        raise EnrolctlError(f"--format {fmt!r}: csv or jsonl")
    doc = payouts.payments(keys, registry, programme, period)
    text = payouts.export(doc, fmt)
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        import os

        from host_tools.registry.db import PlaceError, open_private

        try:
            with os.fdopen(open_private(out_file), "w") as f:  # names no one, but says who was paid what
                f.write(text)
        except (PlaceError, OSError) as e:
            raise EnrolctlError(f"--out {out_file}: {e}") from None
    table = Table(title=f"{programme} {period}")
    for col in ("payout point", "payments", "riel"):
        table.add_column(col)
    for point, t in sorted(doc["totals"].items()):
        table.add_row(point, str(t["payments"]), f"{t['amount']:,}")
    err.print(table)


@registry_app.command("unlock")
def registry_unlock(
    keys: KeysDirOpt, registry: UrlOpt,
    credential: Annotated[str, typer.Argument(help="the card's full credential id (26 characters; an old card's XXXX-XXXX)")],
) -> None:
    """Clear a card's PIN lock (after 3 wrong PINs), in the registry's audit log."""
    from . import payouts

    proposal = payouts.unlock(keys, registry, credential)
    out.print(f"unlock of {credential} proposed (proposal {proposal}): a second reviewer approves it with "
              f"`enrolctl registry approve {proposal}`")


PasswordStdinOpt = Annotated[bool, typer.Option("--password-stdin", help="read the password(s) from standard "
                                                 "input, one a line, instead of asking")]


@registry_app.command("login")
def registry_login(
    keys: KeysDirOpt, registry: UrlOpt,
    operator: Annotated[str, typer.Option("--operator", help="your operator name")],
    code: Annotated[str | None, typer.Option("--code", help="the 6 digits of your second factor, if you have one")] = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Sign in as a named operator; the session is kept for the other registry commands."""
    from . import operators, session

    (password,) = session.secret_lines(1, password_stdin, ["password"])
    doc = operators.login(keys, registry, operator, password, code)
    out.print(f"signed in as {doc['name']} ({', '.join(doc['roles'])}) until {doc['expires_at']}")
    if doc.get("must_change_password"):
        out.print("choose your own password now: enrolctl registry operator passwd")


@registry_app.command("logout")
def registry_logout(keys: KeysDirOpt, registry: UrlOpt) -> None:
    """Sign out (the session's token stops working)."""
    from . import operators

    operators.logout(keys, registry)
    out.print("signed out")


operator_app = typer.Typer(no_args_is_help=True, help="the registry's operators (administrators)")
registry_app.add_typer(operator_app, name="operator")


@operator_app.command("add")
def operator_add(
    keys: KeysDirOpt, registry: UrlOpt,
    name: Annotated[str, typer.Argument(help="their operator name: a-z, digits, . _ -")],
    role: Annotated[list[str], typer.Option("--role", help="administrator, registrar, reviewer or auditor "
                                                             "(repeatable)")] = [],  # noqa: B006
    second_factor: Annotated[bool, typer.Option("--second-factor", help="a TOTP code at every sign-in")] = False,
    bootstrap: Annotated[bool, typer.Option("--bootstrap", help="the registry's first administrator, made with "
                                                                "the key directory's one-time token")] = False,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Add an operator with a first password they replace at their first sign-in."""
    from . import operators, session

    (password,) = session.secret_lines(1, password_stdin, ["their first password"])
    if bootstrap:
        if role and role != ["administrator"]:
            raise EnrolctlError("--bootstrap makes the first administrator: no other role")
        operators.bootstrap(keys, registry, name, password)
        out.print(f"{name} is the registry's first administrator; the shared token no longer works. "
                  f"Sign in: enrolctl registry login --operator {name}")
        return
    doc = operators.request(keys, registry, "POST", "/v1/admin/operators", (201, 202),
                            json={"name": name, "password": password, "roles": role or ["auditor"],
                                  "second_factor": second_factor})
    if doc.get("proposal"):
        out.print(f"operator {name} ({', '.join(doc['roles'])}) proposed (proposal {doc['proposal']}): a second "
                  f"administrator approves it with `enrolctl registry approve {doc['proposal']}`")
    else:
        out.print(f"operator {name} added ({', '.join(doc['roles'])})")
    out.print("they choose their own password at their first sign-in")
    if doc.get("totp_uri"):
        out.print(f"second factor: add this to their authenticator app, then forget it: {doc['totp_uri']}")


@operator_app.command("list")
def operator_list(keys: KeysDirOpt, registry: UrlOpt) -> None:
    """Every operator, their roles, and whether they are disabled."""
    from . import operators

    for op in operators.request(keys, registry, "GET", "/v1/admin/operators"):
        flags = [f for f, on in (("disabled", op["disabled"]), ("second factor", op["second_factor"]),
                                 ("must change password", op["must_change_password"])) if on]
        out.print(f"{op['name']:<20} {', '.join(op['roles']):<32} {'; '.join(flags)}", markup=False, soft_wrap=True)


@operator_app.command("disable")
def operator_disable(
    keys: KeysDirOpt, registry: UrlOpt, name: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason", help="why, for the trail")],
) -> None:
    """Disable an operator: their sessions end, they cannot sign in."""
    from . import operators

    operators.request(keys, registry, "POST", f"/v1/admin/operators/{name}/disable", json={"reason": reason})
    out.print(f"operator {name} disabled")


@operator_app.command("passwd")
def operator_passwd(
    keys: KeysDirOpt, registry: UrlOpt,
    name: Annotated[str | None, typer.Argument(help="another operator's name (an administrator's reset); "
                                                    "none: your own password")] = None,
    reason: Annotated[str, typer.Option("--reason", help="why, for a reset")] = "forgotten password",
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Change your own password, or (an administrator) set another operator's first password again."""
    from . import operators, session

    if name is None:
        current, new = session.secret_lines(2, password_stdin, ["current password", "new password"])
        operators.request(keys, registry, "POST", "/v1/auth/password", json={"current": current, "new": new})
        out.print("password changed; your other sessions were signed out")
        return
    (password,) = session.secret_lines(1, password_stdin, ["their new first password"])
    doc = operators.request(keys, registry, "POST", f"/v1/admin/operators/{name}/password",
                            json={"password": password, "reason": reason})
    if doc.get("proposal"):
        out.print(f"{name}'s new password proposed (proposal {doc['proposal']}): a second administrator approves it")
    else:
        out.print(f"{name}'s password reset: they choose their own at their next sign-in")


@registry_app.command("proposals")
def registry_proposals(
    keys: KeysDirOpt, registry: UrlOpt,
    status: Annotated[str, typer.Option("--status", help="open, approved, refused, expired or all")] = "open",
) -> None:
    """Acts waiting for a second operator (dual control)."""
    from . import operators

    rows = operators.request(keys, registry, "GET", "/v1/admin/proposals", params={"status": status})
    for p in rows:
        out.print(f"{p['id']:>5}  {p['status']:<8} {p['kind']:<18} {p['subject']:<28} by {p['proposed_by']}: "
                  f"{p['reason']}", markup=False, soft_wrap=True)
    if not rows:
        out.print(f"no {status} proposals")


@registry_app.command("approve")
def registry_approve(
    keys: KeysDirOpt, registry: UrlOpt, proposal: Annotated[int, typer.Argument(min=1)],
    reason: Annotated[str, typer.Option("--reason", help="what you checked")] = "checked",
) -> None:
    """Approve another operator's proposal: it is carried out now."""
    from . import operators

    doc = operators.request(keys, registry, "POST", f"/v1/admin/proposals/{proposal}/approve", json={"reason": reason})
    out.print(f"proposal {proposal} approved and carried out: {json.dumps(doc)}", markup=False, soft_wrap=True)


@registry_app.command("refuse")
def registry_refuse(
    keys: KeysDirOpt, registry: UrlOpt, proposal: Annotated[int, typer.Argument(min=1)],
    reason: Annotated[str, typer.Option("--reason", help="why not")],
) -> None:
    """Refuse a proposal (or withdraw your own): nothing is done."""
    from . import operators

    operators.request(keys, registry, "POST", f"/v1/admin/proposals/{proposal}/refuse", json={"reason": reason})
    out.print(f"proposal {proposal} refused")


events_app = typer.Typer(no_args_is_help=True, help="the registry's hash-chained event trail")
registry_app.add_typer(events_app, name="events")


@events_app.command("export")
def events_export(
    keys: KeysDirOpt, registry: UrlOpt, out_file: Annotated[Path, typer.Option("--out", help="JSON lines, 0600")],
) -> None:
    """The whole trail with its hashes, to check offline (`enrolctl registry events verify`)."""
    from . import operators

    n = operators.export_events(keys, registry, out_file)
    out.print(f"{n} events written to {out_file}")


@events_app.command("verify")
def events_verify(
    file: Annotated[Path, typer.Argument(help="a file from `enrolctl registry events export`")],
    head: Annotated[str | None, typer.Option("--head", help="a head written down before (SEQ:HASH): it must "
                                                             "still be in the chain")] = None,
) -> None:
    """Check an exported trail offline: every event in order, none edited, deleted or moved."""
    from . import operators

    wrong, seq, last = operators.verify_events(file)
    if head is not None:
        want_seq, _, want_hash = head.partition(":")
        if not want_seq.isdigit() or len(want_hash) != 64:
            raise EnrolctlError("--head SEQ:HASH, as `registry audit` or this command printed it")
        if int(want_seq) > seq:
            wrong.append(f"the chain ends at event {seq}, before the head {want_seq} written down: cut short")
        elif not _chain_holds(file, int(want_seq), want_hash):
            wrong.append(f"event {want_seq} is not the one written down: the chain was rewritten")
    for w in wrong:
        err.print(f"BREACH event-chain: {w}", markup=False)
    if wrong:
        raise EnrolctlError(f"the trail in {file} is not intact ({len(wrong)} finding(s))")
    out.print(f"{seq} events, one unbroken chain; head {seq}:{last}")


def _chain_holds(file: Path, seq: int, hash_hex: str) -> bool:
    import json as json_mod

    with file.open("rb") as f:
        for line in f:
            doc = json_mod.loads(line)
            if doc.get("seq") == seq:
                return bool(doc.get("hash") == hash_hex)
    return False


@registry_app.command("audit")
def registry_audit(
    keys: KeysDirOpt,
    db: Annotated[str | None, typer.Option("--db", help="database URL (default: SQLite in the key directory)")] = None,
) -> None:
    """Check the money invariants on the live database: exits 1 listing every breach."""
    from host_tools.registry.audit import audit
    from host_tools.registry.db import make_engine
    from host_tools.registry.keys import KeysError, load_keys
    from host_tools.registry.serve import default_db_url

    try:
        registry_keys = load_keys(keys)
    except KeysError as e:
        raise EnrolctlError(str(e)) from e
    url = db or default_db_url(keys)
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        raise EnrolctlError(f"no registry database at {url.split('///', 1)[-1]} (give --db)")
    try:
        breaches, counts = audit(make_engine(url), registry_keys.pin_key)
    except Exception as e:  # noqa: BLE001 - a database that cannot be read is the answer, in one line
        raise EnrolctlError(f"cannot audit the database: {str(e).splitlines()[0]}") from None
    head = counts.pop("head", "")
    out.print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
    out.print(f"event chain head {counts.get('events', 0)}:{head} (write it down: a later audit shows a chain cut short)")
    for b in breaches:
        err.print(f"BREACH {b.check}: {b.detail}")
    if breaches:
        raise EnrolctlError(f"{len(breaches)} breach(es) of the money invariants")
    out.print("audit clean: every money invariant holds")


device_app = typer.Typer(no_args_is_help=True, help="a device on a USB cable")
app.add_typer(device_app, name="device")
records_app = typer.Typer(no_args_is_help=True, help="sealed records taken off a device over USB")
app.add_typer(records_app, name="records")

PortOpt = Annotated[str, typer.Option("--port", help="serial port of the device (`mpremote devs` lists them)")]
KeysOpt = Annotated[Path, typer.Option("--keys", help="registry key directory (`enrolctl keys init`)")]
RegistryOpt = Annotated[str, typer.Option("--registry", help="registry URL, https://host:port")]


@device_app.command("provision")
def device_provision(
    port: PortOpt, keys: KeysOpt, registry: RegistryOpt,
    config: Annotated[Path, typer.Option("--config", help="JSON: device_prefix, wifi, officers[, districts, "
                                                          "communes, categories]")],
    district: Annotated[list[str], typer.Option("--district", help="an official district code whose villages the "
                                                "device offers, e.g. 0204 (repeatable)")] = [],  # noqa: B006
    commune: Annotated[list[str], typer.Option("--commune", help="an official commune code, e.g. 020401 "
                                               "(repeatable)")] = [],  # noqa: B006
    lang: Annotated[str, typer.Option("--lang", help="the screens' language: km (Khmer) or en (English); "
                                      "the officer can switch it (D, then #)")] = "km",
    role: Annotated[str, typer.Option("--role", help="enrolment (enrols people, writes cards) or payout (pays "
                                      "card + PIN; no area needed)")] = "enrolment",
    programme: Annotated[list[str], typer.Option("--programme", help="payout: a programme it pays (repeatable; "
                                                 "default: every programme of the registry)")] = [],  # noqa: B006
) -> None:
    """The device makes its own keys; the registry learns its public key and secret; its settings are written."""
    from . import device

    device_id = device.provision(port, keys, registry, config, district, commune, lang, role, programme)
    what = "payout point" if role == "payout" else "enrolment device"
    out.print(f"provisioned {what} {device_id} for {registry}; it is active once a second registrar approves "
              "it (`enrolctl registry proposals`, then `enrolctl registry approve N`)")


def _progress() -> Progress:
    """A progress bar for the technician's terminal; nothing in a pipe or a log."""
    return Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=out, transient=True, disable=not out.is_terminal)


@app.command("deploy")
def deploy_cmd(
    port: PortOpt,
    build_dir: Annotated[Path, typer.Option("--build", help="build to deploy (default: build it now)")] = BUILD_DEVICE,
    no_build: Annotated[bool, typer.Option("--no-build", help="deploy --build as it is")] = False,
) -> None:
    """Bring boot.py and main.py up to date on the device (the code itself is in the image: enrolctl flash)."""
    from . import deploy as deploy_mod

    if not no_build:
        build_mod.build(build_dir)
    r = deploy_mod.deploy(port, build_dir)
    done = ", ".join(r.written) if r.written else "boot.py and main.py were already current"
    out.print(f"deployed: {done}" + (f"; removed stale {', '.join(r.removed)} from app/" if r.removed else ""))
    if not r.image_is_current:
        out.print(f"the device's firmware image is {r.device_version or 'not ours'}, this checkout is "
                  f"{r.checkout_version}: update it with `enrolctl flash --update --port {port} --firmware FILE.bin`")


@app.command("flash")
def flash_cmd(
    port: PortOpt,
    firmware: Annotated[Path, typer.Option("--firmware", help="MicroPython image (.bin) for the board's chip")],
    attempts: Annotated[int, typer.Option("--attempts", min=1, max=20, help="tries to reach the bootloader")] = 7,
    update: Annotated[bool, typer.Option("--update", help="a new version into the app slot not running; "
                                                           "records and provisioning kept (no erase)")] = False,
) -> None:
    """Write the firmware image with esptool: erase first (a new board), or --update (records kept,
    the old version kept in the other slot until it has started).  The chip is detected and the
    file checked before anything is written."""
    from . import flash as flash_mod

    p = flash_mod.flash(port, firmware, attempts, update=update)
    if p.update is not None and p.update.slot is not None:
        s = p.update.slot
        out.print(f"updated: {len(p.update.app)} bytes of {p.image.path.name} written to {s.label} at {s.offset:#x} "
                  f"on the {p.chip}, which starts it now; the records partition was kept. If the new version "
                  f"fails before its first screen, the board goes back to the old one at its next reset; "
                  f"next: enrolctl deploy --port {port}")
        return
    out.print(f"flashed {p.image.path.name} ({p.image.size} bytes) at {p.offset:#x} on the {p.chip}; "
              f"next: enrolctl deploy --port {port}")


@app.command()
def status(port: PortOpt) -> None:
    """Version, records waiting to sync, storage, last sync."""
    from rich.table import Table

    from . import device

    info = device.status(port)
    table = Table(show_header=False)
    for key in ("device_id", "version", "registry_id", "records", "pending", "synced", "conflict", "rejected",
                "cards_due", "storage_used_percent", "last_sync"):
        table.add_row(key.replace("_", " "), str(info.get(key, 0)))
    out.print(table)


@app.command()
def logs(port: PortOpt) -> None:
    """The device's audit log, oldest first."""
    from . import device

    for line in device.logs(port):
        out.print(line, highlight=False, soft_wrap=True)


@records_app.command("pull")
def records_pull(
    port: PortOpt, out_file: Annotated[Path, typer.Option("--out", help="file to write (.zip)")],
) -> None:
    """Copy the device's sealed records to a file (the device is only read)."""
    from . import device

    c = device.pull(port, out_file)
    out.print(f"pulled {c.get('records', 0)} records ({c.get('pending', 0)} not yet synced) into {out_file}")


@records_app.command("push")
def records_push(
    file: Annotated[Path, typer.Argument(help="a file from `enrolctl records pull`")], keys: KeysOpt,
    registry: RegistryOpt,
) -> None:
    """Upload a pulled file's unsynced records to the registry (exactly once: re-pushing is harmless)."""
    from . import device

    tally, proposals = device.push(file, keys, registry)
    out.print("registry: " + (", ".join(f"{n} {k}" for k, n in sorted(tally.items())) or "nothing to send"))
    for p in proposals:
        out.print(f"the records stored pay nothing until a second registrar approves proposal {p} "
                  f"(`enrolctl registry approve {p}`)")


def main() -> None:
    try:
        app()
    except EnrolctlError as e:
        err.print(f"enrolctl: {e}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
