"""Shared pieces for store tests (both runtimes)."""

import json

from firmware.crypto.rsa_oaep import RsaPublicKey
from firmware.store.audit import AuditLog
from firmware.store.records import RecordStore

FAKE_N = ((1 << 2047) + 0x1234567).to_bytes(256, "big")
DEVICE = "dev-0001"


def record_id(i):
    return bytes(((i >> 8) & 0xFF, i & 0xFF)) + bytes(14)


def plaintext(i):
    return json.dumps({"v": 1, "fields": {"given_name": "PERSON" + str(i), "village_code": "V001"}}).encode()


def open_store(path, used=None, device=DEVICE, clock=None):
    audit = AuditLog(path, clock)
    store = RecordStore(path, device, RsaPublicKey(FAKE_N), audit, used)
    report = store.open()
    audit.open()
    return store, audit, report
