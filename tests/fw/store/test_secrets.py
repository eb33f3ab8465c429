"""Device secrets: one API, clear errors for missing or malformed provisioning files."""

import binascii
import json

from fwtest import raises, tmpdir
from storekit import FAKE_N
from firmware.store import secrets


def device_doc(**over):
    doc = {"device_id": "dev-0001", "registry_id": "reg-test", "registry_url": "https://registry.test:8443",
           "registry_pub_n": binascii.hexlify(FAKE_N).decode(), "registry_pub_e": 65537,
           "ca_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
    doc.update(over)
    return doc


def provisioned(**over):
    path = tmpdir()
    secrets.generate_keys(path)
    secrets.write_device(path, device_doc(**over))
    return path


def test_load_round_trip():
    path = provisioned()
    s = secrets.load(path)
    assert s.device_id == "dev-0001" and s.registry_url.startswith("https://")
    assert len(s.hmac_secret) == 32 and len(s.ed25519_seed) == 32 and len(s.card_key) == 32
    assert s.hmac_secret != s.ed25519_seed
    assert s.registry_public_key().k == 256


def test_missing_files_mean_not_provisioned():
    path = tmpdir()
    with raises(secrets.NotProvisioned, "device.json is missing"):
        secrets.load(path)
    secrets.write_device(path, device_doc())
    with raises(secrets.NotProvisioned, "keys.json is missing"):
        secrets.load(path)


def test_keys_are_never_regenerated():
    path = provisioned()
    before = secrets.load(path).hmac_secret
    with raises(secrets.SecretsError, "already exists"):
        secrets.generate_keys(path)
    assert secrets.load(path).hmac_secret == before


def test_malformed_fields_are_named():
    cases = [
        ({"device_id": ""}, "device_id"),
        ({"registry_pub_n": "zz"}, "registry_pub_n"),
        ({"registry_pub_n": "00" * 32}, "registry public key"),
        ({"registry_pub_e": "65537"}, "registry_pub_e"),
        ({"registry_url": "http://plain.test"}, "https"),
        ({"ca_pem": 5}, "ca_pem"),
    ]
    for over, word in cases:
        path = provisioned(**over)
        with raises(secrets.SecretsError, word):
            secrets.load(path)


def test_garbage_files_are_refused():
    path = provisioned()
    with open(path + "/keys.json", "w") as f:
        f.write("{not json")
    with raises(secrets.SecretsError, "not valid JSON"):
        secrets.load(path)
    with open(path + "/keys.json", "w") as f:
        f.write(json.dumps({"v": 2}))
    with raises(secrets.SecretsError, "version"):
        secrets.load(path)
    with open(path + "/keys.json", "w") as f:
        f.write(json.dumps({"v": 1, "hmac_secret": "00", "ed25519_seed": "00" * 32, "card_key": "00" * 32}))
    with raises(secrets.SecretsError, "hmac_secret must be 32 bytes"):
        secrets.load(path)


def test_a_device_provisioned_for_another_record_schema_is_refused():
    assert secrets.load(provisioned(schema=2)).device_id == "dev-0001"
    with raises(secrets.SecretsError, "provisioned for record schema 1, this firmware writes 2"):
        secrets.load(provisioned(schema=1))
    with raises(secrets.SecretsError, "record schema"):
        secrets.load(provisioned(schema="1"))
