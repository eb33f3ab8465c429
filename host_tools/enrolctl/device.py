"""Technician operations on a device over USB: provision, status, logs, records pull and push.

Reads never change the device; provisioning writes its files atomically and can
be run again after an interruption (the device keeps the keys it made).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from host_tools.registry.ingest import RECORD_SCHEMAS
from host_tools.registry.keys import KeysError, RegistryKeys, load_keys
from host_tools.registry.protocol import encode_batch
from host_tools.registry.trust import kid_of

from firmware import formats

from . import gazetteer
from .errors import EnrolctlError
from .journal import segment_summary
from .link import DeviceLink

PBKDF2_ITERATIONS = 4096  # firmware/enrol/officer.py: chosen for the ESP32 (about 1 s per login)

# Runs on the device: make its own keys once (its RNG mixed with 32 bytes from this laptop's OS
# RNG: crypto/rng.py says why), and say only what may leave it.
_KEYGEN = """
import json, binascii
try:
    from firmware import fsutil
except ImportError:  # an image from before fsutil moved out of store/
    from firmware.store import fsutil
from firmware.store import secrets
from firmware.crypto import ed25519
from firmware import board_select
d = {data!r}
fsutil.makedirs(d)
try:
    k = secrets.generate_keys(d, binascii.unhexlify({entropy!r}))
except secrets.SecretsError:
    with open(d + '/keys.json') as f:
        k = json.load(f)
pub = ed25519.public_key(binascii.unhexlify(k['ed25519_seed']))
print(json.dumps({{'hmac_secret': k['hmac_secret'], 'ed25519_pub': binascii.hexlify(pub).decode(),
                  'uid': board_select.load().unique_id()}}))
"""

_STORAGE = """
import os
s = os.statvfs({data!r})
print(s[0] * s[2], s[0] * s[3])
"""


def _keys(keys_dir: Path) -> RegistryKeys:
    try:
        return load_keys(keys_dir)
    except KeysError as e:
        raise EnrolctlError(str(e)) from e


def _registry(url: str, keys: RegistryKeys) -> httpx.Client:
    """The registry, as the operator signed in with `enrolctl registry login`."""
    from . import session

    return session.client(url, keys)


def _call(client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    from . import session

    return session.call(client, method, path, **kw)


def load_config(path: Path, districts: Sequence[str] = (), communes: Sequence[str] = (),
                need_area: bool = True) -> dict[str, Any]:
    """Provisioning settings: {"device_prefix", "wifi": [{"ssid","psk"}], "officers": [{"id","role","pin"}],
    "districts": ["0204"], "communes": ["020401"], "categories": [{"code","name","number"}]}.
    The area is official gazetteer codes (the config's and those given on the command line); the
    categories are those a device offers beside citizen, civil servant, retired civil servant
    and veteran."""
    try:
        cfg = json.loads(path.read_text())
        officers = [(str(o["id"]), str(o["role"]), str(o["pin"])) for o in cfg["officers"]]
        wifi = [{"ssid": str(n["ssid"]), "psk": str(n.get("psk", ""))} for n in cfg.get("wifi", [])]
        area_d = [str(c) for c in cfg.get("districts", [])] + list(districts)
        area_c = [str(c) for c in cfg.get("communes", [])] + list(communes)
        categories = [(str(c["code"]), str(c["name"]), c.get("number", False)) for c in cfg.get("categories", [])]
        categories_km = [(str(c["code"]), str(c["name_km"])) for c in cfg.get("categories", []) if c.get("name_km")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise EnrolctlError(f"cannot read provisioning config {path}: {e}") from e
    if "villages" in cfg:
        raise EnrolctlError("the config lists villages: a device's villages now come from the official gazetteer; "
                            "give its districts or communes instead (\"districts\": [\"0204\"] or --district 0204)")
    if not officers:
        raise EnrolctlError("the config needs at least one officer")
    check_officers(officers)
    check_categories(categories)
    area = gazetteer.area(area_d, area_c) if need_area or area_d or area_c else None
    return {"prefix": str(cfg.get("device_prefix", "dev")), "officers": officers, "wifi": wifi,
            "area": area, "categories": categories, "categories_km": categories_km,
            "programmes": [str(p) for p in cfg.get("programmes", [])]}


# What the device can use, as the firmware says (host tools do not import it; a test holds these
# equal to firmware/enrol/officer.py, firmware/ui/entry.py and firmware/enrol/schema.py): an officer
# logs in by typing OF's digits and a PIN of 4-6 digits on the keypad; a village list the device
# cannot load leaves it refusing every enrolment.  Refused here, at the desk, not found in a village.
OFFICER_ID = re.compile(r"OF[0-9]{1,8}")
ROLES = ("officer", "supervisor")
PIN_MIN, PIN_MAX = 4, 6
BUILT_IN_CATEGORIES = ("citizen", "civil_servant", "retired_civil_servant", "veteran")
CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,31}")
CATEGORY_NAME_MAX, MAX_CATEGORIES = 16, 12


def check_officers(officers: list[tuple[str, str, str]]) -> None:
    for oid, role, pin in officers:
        if not OFFICER_ID.fullmatch(oid):
            raise EnrolctlError(f"officer {oid!r}: the id must be OF and 1-8 digits (typed on the keypad)")
        if role not in ROLES:
            raise EnrolctlError(f"officer {oid}: role must be officer or supervisor")
        if not (pin.isascii() and pin.isdigit()) or not PIN_MIN <= len(pin) <= PIN_MAX:
            raise EnrolctlError(f"officer {oid}: the PIN must be {PIN_MIN}-{PIN_MAX} digits")
    repeated = [oid for oid, n in Counter(oid for oid, _, _ in officers).items() if n > 1]
    if repeated:
        raise EnrolctlError(f"officer {repeated[0]} is listed twice")


def check_categories(categories: list[tuple[str, str, Any]]) -> None:
    known = list(BUILT_IN_CATEGORIES)
    for code, name, numbered in categories:
        if not CATEGORY.fullmatch(code):
            raise EnrolctlError(f"category {code!r}: the code must be a-z, digits and _ (1-32, a letter first)")
        if code in known:
            raise EnrolctlError(f"category {code} is listed twice (citizen, civil_servant, retired_civil_servant "
                                "and veteran are built in)")
        if not 0 < len(name) <= CATEGORY_NAME_MAX or not all(" " <= ch <= "~" for ch in name):
            raise EnrolctlError(f"category {code}: the name must be 1-{CATEGORY_NAME_MAX} ASCII characters "
                                "(one row of the screen)")
        if not isinstance(numbered, bool):
            raise EnrolctlError(f"category {code}: number must be true or false (has a service or pension number)")
        known.append(code)
    if len(known) > MAX_CATEGORIES:
        raise EnrolctlError(f"{len(known)} categories: a device offers at most {MAX_CATEGORIES}")


def categories_file(categories: list[tuple[str, str, bool]]) -> bytes:
    return json.dumps({"v": 1, "categories": [{"code": c, "name": n, "number": b} for c, n, b in categories]}).encode()


def officers_file(officers: list[tuple[str, str, str]]) -> dict[str, Any]:
    """officers.json: a salted PBKDF2 verifier per officer, never the PIN (firmware/enrol/officer.py)."""
    import os

    out = []
    for oid, role, pin in officers:
        salt = os.urandom(16)
        verifier = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PBKDF2_ITERATIONS)
        out.append({"id": oid, "role": role, "salt": salt.hex(), "iterations": PBKDF2_ITERATIONS,
                    "verifier": verifier.hex()})
    return {"v": 1, "officers": out}


def payout_file(keys: RegistryKeys, point_id: str, programmes: list[dict[str, str]]) -> dict[str, Any]:
    """payout.json (firmware/store/secrets.py): this point's own PIN key, the trust-list key, what it pays."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from host_tools.registry.pins import point_key

    return {"v": 1, "pin_key": point_key(keys.zone_key, point_id).hex(),
            "trust_pub": keys.trust_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
            "programmes": programmes}


def check_schema(info: dict[str, Any]) -> None:
    """The device's firmware must write a record schema this registry reads."""
    if info.get("schema") not in RECORD_SCHEMAS:
        raise EnrolctlError(f"the device's firmware {info.get('version')} writes record schema {info.get('schema')}, "
                            f"the registry reads schemas {', '.join(map(str, RECORD_SCHEMAS))}: "
                            "deploy matching firmware first")


LANGUAGES = ("km", "en")  # firmware/store/secrets.py
DEVICE_ROLES = ("enrolment", "payout")
MAX_PROGRAMMES, PROGRAMME_NAME_MAX = 8, 32  # firmware/store/secrets.py


def payout_programmes(reg: httpx.Client, wanted: Sequence[str]) -> list[dict[str, str]]:
    """The registry's programmes a payout point pays (all, or those named), as payout.json lists them."""
    r = _call(reg, "GET", "/v1/admin/programmes")
    if r.status_code != 200:
        raise EnrolctlError(f"the registry did not list its programmes: {r.status_code} {r.text[:200]}")
    known = {p["code"]: p["name"] for p in r.json()}
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise EnrolctlError(f"the registry has no programme {unknown[0]} (it has: {', '.join(known) or 'none'}); "
                            "add it with `enrolctl registry programme`")
    codes = list(dict.fromkeys(wanted)) or sorted(known)
    if not codes:
        raise EnrolctlError("the registry has no programme to pay yet: add one with `enrolctl registry programme`")
    if len(codes) > MAX_PROGRAMMES:
        raise EnrolctlError(f"{len(codes)} programmes: a payout point pays at most {MAX_PROGRAMMES} (--programme)")
    for c in codes:
        name = known[c]
        if not (name.isascii() and name.isprintable()) or len(name) > PROGRAMME_NAME_MAX:
            raise EnrolctlError(f"programme {c}: its name {name!r} must be at most {PROGRAMME_NAME_MAX} ASCII "
                                "characters for the device's screen")
    return [{"code": c, "name": known[c]} for c in codes]


def fetch_trust_bin(reg: httpx.Client, keys: RegistryKeys) -> bytes:
    """The registry's binary trust list, checked here as the device will check it."""
    from host_tools.registry.trust import verify_trust_bin

    r = _call(reg, "GET", "/v1/trust.bin")
    try:
        if r.status_code != 200:
            raise ValueError(f"HTTP {r.status_code}")
        verify_trust_bin(keys.trust_key.public_key(), r.content, keys.registry_id)
    except ValueError as e:
        raise EnrolctlError(f"the registry's trust list is not usable: {e}") from e
    return r.content


def provision(port: str, keys_dir: Path, registry_url: str, config: Path, districts: Sequence[str] = (),
              communes: Sequence[str] = (), lang: str = "km", role: str = "enrolment",
              programmes: Sequence[str] = ()) -> str:
    """Keys made on the device, the device registered, its configuration written.  Returns its id.

    A payout point (role "payout") gets no villages or categories: its own PIN key
    (pins.point_key), the registry's trust-list key and current trust list, and the programmes
    it pays."""
    from . import khmer

    keys = _keys(keys_dir)
    if lang not in LANGUAGES:
        raise EnrolctlError(f"--lang {lang!r}: km (Khmer) or en (English)")
    if role not in DEVICE_ROLES:
        raise EnrolctlError(f"--role {role!r}: enrolment or payout")
    payout = role == "payout"
    cfg = load_config(config, districts, communes, need_area=not payout)
    phrases = khmer.build()  # every phrase of the screens, shaped at the desk
    # and the area's Khmer names (a payout point names no place)
    names = None if payout else khmer.names_file(cfg["area"], cfg["categories_km"])
    with DeviceLink(port) as link:
        info = link.identify(need_provisioned=False)
        if info.get("device_id"):
            theirs = info.get("registry_id")
            where = "this registry" if theirs == keys.registry_id else f"registry {theirs}"
            raise EnrolctlError(f"the device is already provisioned as {info['device_id']} for {where}; "
                                "a device is provisioned once")
        check_schema(info)
        out = link.exec(_KEYGEN.format(data=link.data, entropy=os.urandom(32).hex()))
        try:
            made = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            raise EnrolctlError("the device did not report its public key") from e
        device_id = f"{cfg['prefix']}-{made['uid'][-8:]}"
        pub = bytes.fromhex(made["ed25519_pub"])
        with _registry(registry_url, keys) as reg:
            if payout:
                paid = payout_programmes(reg, list(programmes) + cfg["programmes"])
                trust_bin = fetch_trust_bin(reg, keys)
            r = _call(reg, "POST", "/v1/admin/devices", json={"device_id": device_id, "hmac_secret": made["hmac_secret"],
                                                              "ed25519_pub": made["ed25519_pub"], "role": role})
            if r.status_code == 409:  # registered by an interrupted run: fine if it is this device's key
                known = {d["device_id"]: d for d in _call(reg, "GET", "/v1/admin/devices").json()}
                if known.get(device_id, {}).get("kid") != kid_of(pub).hex() or known[device_id].get("role") != role:
                    raise EnrolctlError(f"the registry already has another device called {device_id}")
            elif r.status_code != 201:
                raise EnrolctlError(f"the registry refused the device: {r.status_code} {r.text[:200]}")
        device = {"v": 1, "device_id": device_id, "registry_id": keys.registry_id, "registry_url": registry_url,
                  "registry_pub_n": keys.registry_pub_n().to_bytes(256, "big").hex(), "registry_pub_e": 65537,
                  "ca_pem": keys.ca_pem.decode(), "wifi": cfg["wifi"], "schema": info.get("schema"),
                  "lang": lang, "role": role}
        link.write(link.data + "/officers.json", json.dumps(officers_file(cfg["officers"])).encode())
        if payout:
            link.write(link.data + "/payout.json", json.dumps(payout_file(keys, device_id, paid)).encode())
            link.write(link.data + "/trust.bin", trust_bin)
        else:
            link.write(link.data + "/villages.bin", cfg["area"].file())
            link.write(link.data + "/categories.json", categories_file(cfg["categories"]))
        link.write(link.data + "/km.bin", phrases)
        if names is not None:
            link.write(link.data + "/names.km", names)
        # the clock's floor (firmware/clock.py): until the registry sets its clock the device
        # knows at least that today is not before the day it was provisioned
        link.write(link.data + "/clock.json", json.dumps({"floor": int(time.time())}).encode())
        link.write(link.data + "/device.json", json.dumps(device).encode())  # last: the device is provisioned
    return device_id


@dataclass
class Journal:
    segments: dict[str, bytes]

    def counts(self) -> dict[str, int]:
        c = Counter(records=0, pending=0, synced=0, conflict=0, rejected=0, cards_due=0, cards_pending=0)
        for data in self.segments.values():
            _, records, results, cards = segment_summary(data)
            for _, seq, _ in records:
                c["records"] += 1
                r = results.get(seq)
                c["pending" if r is None else ("synced" if r in (formats.ACCEPTED, formats.DUPLICATE)
                                             else ("conflict" if r == formats.CONFLICT else "rejected"))] += 1
                if seq not in cards:
                    c["cards_due"] += 1
                elif cards[seq].result is None:
                    c["cards_pending"] += 1  # verified, the registry not told yet (UID, re-issue)
        return dict(c)


def read_journal(link: DeviceLink) -> Journal:
    base = link.data + "/journal"
    return Journal({n: link.read(base + "/" + n) or b"" for n in link.listdir(base) if n.endswith(".seg")})


def status(port: str) -> dict[str, Any]:
    with DeviceLink(port) as link:
        info = link.identify()
        counts = read_journal(link).counts()
        total, free = (int(x) for x in link.exec(_STORAGE.format(data=link.data)).split()[:2])
        audit = (link.read(link.data + "/audit/audit.log") or b"").decode(errors="replace").splitlines()
    syncs = [line.split("|")[1] for line in audit if "|sync|" in line]
    last = dt.datetime.fromtimestamp(int(syncs[-1]), dt.timezone.utc).isoformat() if syncs else "never"
    return {**info, **counts, "storage_used_percent": round(100 * (total - free) / total) if total else 0,
            "last_sync": last}


def logs(port: str) -> list[str]:
    with DeviceLink(port) as link:
        link.identify()
        names = [n for n in link.listdir(link.data + "/audit") if n.endswith(".log")]
        # oldest first: audit.<k>.log ... audit.1.log, then audit.log
        names.sort(key=lambda n: -int(n.split(".")[1]) if n.count(".") == 2 else 0)
        lines: list[str] = []
        for n in names:
            lines += (link.read(link.data + "/audit/" + n) or b"").decode(errors="replace").splitlines()
    return lines


def pull(port: str, out: Path) -> dict[str, int]:
    """Copy the device's sealed records (its journal segments, as they are) into one file; the device
    is only read.  The file holds nothing readable without the registry's private key."""
    with DeviceLink(port) as link:
        info = link.identify()
        journal = read_journal(link)
    manifest = {"v": 1, "device_id": info["device_id"], "registry_id": info["registry_id"],
                "pulled_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "files": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                          for n, d in sorted(journal.segments.items())]}
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        for n, d in journal.segments.items():
            z.writestr("journal/" + n, d)
    tmp.replace(out)
    return journal.counts()


def push(file: Path, keys_dir: Path, registry_url: str) -> tuple[dict[str, int], list[int]]:
    """Upload the pending records of a pull file; the registry's exactly-once rules apply.  Returns
    the results counted, and the proposals a second registrar must approve before they pay."""
    keys = _keys(keys_dir)
    try:
        with zipfile.ZipFile(file) as z:
            manifest = json.loads(z.read("manifest.json"))
            segments = {}
            for f in manifest["files"]:
                data = z.read("journal/" + f["name"])
                if hashlib.sha256(data).hexdigest() != f["sha256"]:
                    raise EnrolctlError(f"{file}: {f['name']} does not match its checksum: the file is damaged")
                segments[f["name"]] = data
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise EnrolctlError(f"{file} is not a records file from `enrolctl records pull` ({e})") from e
    if manifest.get("registry_id") != keys.registry_id:
        raise EnrolctlError(f"{file} holds records for registry {manifest.get('registry_id')}, not {keys.registry_id}")
    tally: Counter[str] = Counter()
    proposals: list[int] = []
    with _registry(registry_url, keys) as reg:
        for name in sorted(segments):
            key, records, results, cards = segment_summary(segments[name])
            todo = [env for _, seq, env in records if seq not in results] if key is not None else []
            # the card entries too: a card's UID binding and a re-issue's revocation are the
            # registry's to know even when the device itself never syncs again
            card_todo = [c.payload for c in cards.values() if c.result is None]
            if not todo and not card_todo:
                continue
            r = _call(reg, "POST", f"/v1/admin/devices/{manifest['device_id']}/batches",
                      content=encode_batch([key] if todo else [], todo, card_todo),
                      headers={"content-type": "application/octet-stream"})
            if r.status_code != 200:
                raise EnrolctlError(f"the registry refused {name}: {r.status_code} {r.text[:200]}")
            answer = r.json()
            if answer.get("proposal"):
                proposals.append(int(answer["proposal"]))
            tally.update(x["result"] for x in answer["results"])
            tally.update("card " + x["result"] for x in answer.get("cards", []))
    return dict(tally), proposals
