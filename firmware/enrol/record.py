"""The enrolment record (schema v2) as the registry receives it inside the sealed envelope.

Deterministic CBOR (firmware/cbor.py) with the field names of DESIGN.md.
DESIGN.md says JSON; CBOR carries the same map about 25 % smaller (no quotes,
separators or hex for the PIN block), which is what lets more records fit the
partition, and the registry reads it with cbor2.  record_id,
device_id, boot and seq are not repeated here: they travel in the envelope's
clear header, which the tag authenticates (crypto/seal.py).
  {"v": 2,
   "officer_id": "OF0042",
   "created": {"t": 1767225600, "clock": "synced" | "unsynced"},
   "fields": {"family_name": ..., "given_name": ..., "sex": "F"|"M"|"X",
              "birth_date": "YYYY-MM-DD", "village_code": 8 digits (the official gazetteer),
              "phone": "" or digits, "category": "veteran" | ... (enrol/schema.py),
              "service_no": "" or digits, "consent": true},
   "card": {"credential_id": "..."},  the card's id, 26 characters (formats.credential_id; ""
                                      from firmware before it: the registry then uses the legacy id)
   "pin_block": <16 bytes>}           ISO 9564-1 format 4, sealed with the record
"""

from firmware import cbor
from firmware.formats import RECORD_SCHEMA

SCHEMA_VERSION = RECORD_SCHEMA  # firmware/formats.py: the provisioning checks it too


def encode(officer_id, created_s, clock_synced, fields, credential_id, pin_block):
    doc = {
        "v": SCHEMA_VERSION,
        "officer_id": officer_id,
        "created": {"t": created_s, "clock": "synced" if clock_synced else "unsynced"},
        "fields": fields,
        "card": {"credential_id": credential_id},
        "pin_block": bytes(pin_block),
    }
    return cbor.dumps(doc)


def decode(raw):
    """The record map from its CBOR bytes (CBORError / ValueError if it is not a v2 record)."""
    doc = cbor.loads(raw)
    if not isinstance(doc, dict) or doc.get("v") != SCHEMA_VERSION:
        raise ValueError("not a version 2 enrolment record")
    return doc


def typical_fields():
    """A representative person (for benchmarks and capacity figures)."""
    return {
        "family_name": "CHHUON",
        "given_name": "SOPHEAKTRA",
        "sex": "M",
        "birth_date": "1951-03-09",
        "village_code": "02040101",
        "phone": "855123456789",
        "category": "veteran",
        "service_no": "20481733",
        "consent": True,
    }
