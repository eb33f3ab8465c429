"""Device identity and secrets: one place, one API.

Two files in the data directory, both written at provisioning:
  device.json  what the technician's laptop sends (public material):
      {"v": 1, "device_id": "...", "registry_id": "...", "registry_url": "https://...",
       "registry_pub_n": "<hex modulus>", "registry_pub_e": 65537, "ca_pem": "-----BEGIN...",
       "wifi": [{"ssid": "...", "psk": "..."}, ...],         (optional; tried in order)
       "schema": 1,         the record schema the registry reads (optional: 1); another one is
                            refused, so a device never writes records its registry cannot read
       "role": "enrolment"} or "payout" (optional: enrolment): what the device is for
  payout.json  a payout device's (role "payout"), from the technician's laptop:
      {"v": 1, "pin_key": "<32 hex>",   the AES key its PIN blocks are enciphered under, its own
       "trust_pub": "<64 hex>",          the registry's trust-list key (payout/trust.py)
       "programmes": [{"code": "veteran_pension", "name": "Veteran pension"}, ...]}  what it pays
  keys.json    what the device makes itself (generate_keys) and never sends:
      {"v": 1, "hmac_secret": "<64 hex>", "ed25519_seed": "<64 hex>", "card_key": "<64 hex>"}
      (the registry learns hmac_secret once, over USB at provisioning, to check request MACs)
In production the flash is encrypted (ESP32 flash encryption + secure boot,
see README), which is what keeps keys.json from a thief with a USB cable.
"""

import binascii
import json
import os

from firmware.formats import RECORD_SCHEMA
from firmware import fsutil

DEVICE_FILE = "device.json"
KEYS_FILE = "keys.json"
PAYOUT_FILE = "payout.json"
ROLES = ("enrolment", "payout")
MAX_PROGRAMMES = 8
PROGRAMME_NAME_MAX = 32


LANGUAGES = ("km", "en")  # Khmer (the default), English

class SecretsError(Exception):
    """Provisioning data is missing or malformed; the message names the file and field."""


class NotProvisioned(SecretsError):
    pass


def _load(path):
    raw = fsutil.read_file(path)
    if raw is None:
        raise NotProvisioned(path + " is missing: the device is not provisioned")
    try:
        data = json.loads(raw)
    except ValueError:
        raise SecretsError(path + " is not valid JSON")
    if not isinstance(data, dict) or data.get("v") != 1:
        raise SecretsError(path + ": unknown format version")
    return data


def _text(data, field, path, max_len=256):
    v = data.get(field)
    if not isinstance(v, str) or not 1 <= len(v) <= max_len:
        raise SecretsError(path + ": field " + field + " missing or malformed")
    return v


def _hex(data, field, path, nbytes=None):
    v = _text(data, field, path, 2048)
    try:
        raw = binascii.unhexlify(v)
    except (ValueError, TypeError):
        raise SecretsError(path + ": field " + field + " is not hex")
    if nbytes is not None and len(raw) != nbytes:
        raise SecretsError(path + ": field " + field + " must be " + str(nbytes) + " bytes")
    return raw


class Secrets:
    def __init__(self, device, keys):
        self.device_id = device["device_id"]
        self.registry_id = device["registry_id"]
        self.registry_url = device["registry_url"]
        self.registry_pub_n = device["registry_pub_n"]
        self.registry_pub_e = device["registry_pub_e"]
        self.ca_pem = device["ca_pem"]
        self.wifi = device.get("wifi", [])
        self.lang = device.get("lang", "km")  # what the screens speak: "km" (Khmer) or "en"
        self.role = device.get("role", "enrolment")
        payout = device.get("payout") or {}
        self.pin_key = payout.get("pin_key")  # a payout device's: PIN blocks for the registry
        self.trust_pub = payout.get("trust_pub")
        self.programmes = payout.get("programmes", [])  # [(code, name)]
        self.hmac_secret = keys["hmac_secret"]
        self.ed25519_seed = keys["ed25519_seed"]
        self.card_key = keys["card_key"]

    def registry_public_key(self):
        from firmware.crypto.rsa_oaep import RsaPublicKey

        return RsaPublicKey(self.registry_pub_n, self.registry_pub_e)


def _networks(d, path):
    """[(ssid, psk)] from the optional "wifi" list."""
    raw = d.get("wifi", [])
    if not isinstance(raw, list) or len(raw) > 8:
        raise SecretsError(path + ": field wifi must be a list of at most 8 networks")
    out = []
    for n in raw:
        if not isinstance(n, dict):
            raise SecretsError(path + ": field wifi holds a non-object")
        out.append((_text(n, "ssid", path, 32), n.get("psk", "") if isinstance(n.get("psk", ""), str) else ""))
        if len(out[-1][1]) > 64:
            raise SecretsError(path + ": a Wi-Fi key is longer than 64 characters")
    return out


def _code(v):
    return isinstance(v, str) and 1 <= len(v) <= 32 and "a" <= v[0] <= "z" and \
        all("a" <= c <= "z" or "0" <= c <= "9" or c == "_" for c in v)


def _payout(path):
    p = _load(path)
    raw = p.get("programmes")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PROGRAMMES:
        raise SecretsError(path + ": field programmes must list 1-" + str(MAX_PROGRAMMES) + " programmes")
    programmes = []
    for prog in raw:
        if not isinstance(prog, dict) or not _code(prog.get("code")):
            raise SecretsError(path + ": a programme's code is missing or malformed")
        name = _text(prog, "name", path, PROGRAMME_NAME_MAX)
        if not all(" " <= c <= "~" for c in name):
            raise SecretsError(path + ": programme " + prog["code"] + ": the name must be printable ASCII")
        programmes.append((prog["code"], name))
    return {"pin_key": _hex(p, "pin_key", path, 16), "trust_pub": _hex(p, "trust_pub", path, 32),
            "programmes": programmes}


def load(data_dir):
    """Read and check both files; NotProvisioned / SecretsError with a clear message."""
    dpath = data_dir + "/" + DEVICE_FILE
    kpath = data_dir + "/" + KEYS_FILE
    d = _load(dpath)
    k = _load(kpath)
    device = {
        "device_id": _text(d, "device_id", dpath, 32),
        "registry_id": _text(d, "registry_id", dpath, 64),
        "registry_url": _text(d, "registry_url", dpath),
        "registry_pub_n": _hex(d, "registry_pub_n", dpath),
        "registry_pub_e": d.get("registry_pub_e"),
        "ca_pem": _text(d, "ca_pem", dpath, 8192),
    }
    device["wifi"] = _networks(d, dpath)
    device["lang"] = d.get("lang", "km")
    if device["lang"] not in LANGUAGES:
        raise SecretsError(dpath + ": field lang must be km or en")
    wanted = d.get("schema", RECORD_SCHEMA)
    if wanted != RECORD_SCHEMA:
        raise SecretsError(dpath + ": provisioned for record schema " + str(wanted) + ", this firmware writes "
                           + str(RECORD_SCHEMA))
    if not isinstance(device["registry_pub_e"], int):
        raise SecretsError(dpath + ": field registry_pub_e missing or malformed")
    if not device["registry_url"].startswith("https://"):
        raise SecretsError(dpath + ": registry_url must be https://")
    device["role"] = d.get("role", "enrolment")
    if device["role"] not in ROLES:
        raise SecretsError(dpath + ": field role must be enrolment or payout")
    if device["role"] == "payout":
        device["payout"] = _payout(data_dir + "/" + PAYOUT_FILE)
    keys = {
        "hmac_secret": _hex(k, "hmac_secret", kpath, 32),
        "ed25519_seed": _hex(k, "ed25519_seed", kpath, 32),
        "card_key": _hex(k, "card_key", kpath, 32),
    }
    secrets = Secrets(device, keys)
    try:
        secrets.registry_public_key()
    except ValueError as e:
        raise SecretsError(dpath + ": registry public key: " + str(e))
    return secrets


def generate_keys(data_dir, host_entropy=b""):
    """Make the device's own secrets (once).  Refuses to overwrite existing keys.

    Run on the board at provisioning, where os.urandom may be only pseudo-random (the radio
    is off: crypto/rng.py), so the chip's bytes are mixed with 32 the provisioning laptop
    draws from its OS RNG, through one HMAC_DRBG; it also writes the first seed file."""
    from firmware.crypto import rng
    from firmware.crypto.drbg import HmacDrbg

    path = data_dir + "/" + KEYS_FILE
    if fsutil.exists(path):
        raise SecretsError(path + " already exists; keys are never regenerated in place")
    drbg = HmacDrbg(os.urandom(32) + bytes(host_entropy), b"", b"enrol device keys")
    keys = {"v": 1}
    for field in ("hmac_secret", "ed25519_seed", "card_key"):
        keys[field] = binascii.hexlify(drbg.generate(32)).decode()
    fsutil.write_atomic(path, json.dumps(keys))
    fsutil.write_atomic(data_dir + rng.SEED_FILE, drbg.generate(rng.SEED_LEN))
    return keys


def write_device(data_dir, device):
    """Store device.json (from the provisioning laptop) after checking it loads."""
    data = dict(device)
    data["v"] = 1
    fsutil.write_atomic(data_dir + "/" + DEVICE_FILE, json.dumps(data))
