"""Officer login: PIN verifiers, lockout with growing delay, sessions that end when idle.

Officers are provisioned as verifiers only (officers.json, written by the
technician's laptop):
  {"v": 1, "officers": [{"id": "OF0042", "name": "...", "role": "officer" | "supervisor",
                          "salt": "<hex>", "iterations": 2000, "verifier": "<64 hex>"}]}
verifier = PBKDF2-HMAC-SHA256(PIN, salt, iterations, 32).  ITERATIONS = 4096
takes 15 ms in the x86 unix port and, by the usual 30x ratio of an ESP32 at
240 MHz, about 0.5 s on the device (to be confirmed on hardware): slow enough
to make guessing PINs from a stolen file costly, fast enough for a login.
Failed attempts are counted on flash (lockout.json) so a power cycle does not
reset them: after each wrong PIN the next try waits 2^(fails-1) s; at
MAX_FAILS the officer is locked until a supervisor unlocks them.
"""

import binascii
import json

from firmware.crypto.hmac_sha256 import compare_digest
from firmware.crypto.pbkdf2 import pbkdf2_sha256
from firmware import fsutil

ITERATIONS = 4096
MAX_ITERATIONS = 65536  # a file asking for more would hang every login (16x the provisioned cost)
ROLES = ("officer", "supervisor")
MAX_FAILS = 5
IDLE_LOGOUT_MS = 5 * 60 * 1000
OFFICERS_FILE = "officers.json"
LOCKOUT_FILE = "lockout.json"


class OfficerError(Exception):
    pass


def _valid(o):
    """An officers.json entry the login can use: an id, a known role, a salt, a bounded
    PBKDF2 cost and a 32-byte verifier."""
    return (isinstance(o["id"], str) and 1 <= len(o["id"]) <= 16 and isinstance(o["name"], str)
            and o["role"] in ROLES and len(o["salt"]) >= 8 and len(o["verifier"]) == 32
            and isinstance(o["iterations"], int) and 1 <= o["iterations"] <= MAX_ITERATIONS)


def make_verifier(pin, salt, iterations=ITERATIONS):
    return pbkdf2_sha256(pin, salt, iterations)


class Officers:
    def __init__(self, data_dir, audit=None):
        self.data_dir = data_dir
        self.audit = audit
        self.by_id = {}
        self.fails = {}

    def load(self):
        raw = fsutil.read_file(self.data_dir + "/" + OFFICERS_FILE)
        if raw is None:
            raise OfficerError("no officers provisioned")
        try:
            doc = json.loads(raw)
            for o in doc["officers"]:
                entry = {
                    "id": o["id"], "name": o.get("name", o["id"]), "role": o["role"],
                    "salt": binascii.unhexlify(o["salt"]), "iterations": o["iterations"],
                    "verifier": binascii.unhexlify(o["verifier"]),
                }
                if not _valid(entry):
                    raise ValueError("bad officer entry")
                self.by_id[entry["id"]] = entry
        except (ValueError, KeyError, TypeError, AttributeError):
            self.by_id = {}
            raise OfficerError(OFFICERS_FILE + " is malformed")
        if not self.by_id:
            raise OfficerError("no officers provisioned")
        raw = fsutil.read_file(self.data_dir + "/" + LOCKOUT_FILE)
        if raw:
            try:
                fails = json.loads(raw)
                if not isinstance(fails, dict) or not all(isinstance(n, int) and n >= 0 for n in fails.values()):
                    raise ValueError("not a map of counts")
                for k in fails:  # never above the lockout: wait_ms() shifts by the count
                    fails[k] = min(fails[k], MAX_FAILS)
                self.fails = fails
            except ValueError:
                self.fails = {}  # unreadable counters: start again (audit shows why)
                self._event("error", "lockout file unreadable, counters reset")

    def _event(self, kind, detail):
        if self.audit is not None:
            self.audit.record(kind, detail)

    def _save_fails(self):
        fsutil.write_atomic(self.data_dir + "/" + LOCKOUT_FILE, json.dumps(self.fails))

    def exists(self, officer_id):
        return officer_id in self.by_id

    def locked(self, officer_id):
        return self.fails.get(officer_id, 0) >= MAX_FAILS

    def wait_ms(self, officer_id):
        """How long the next attempt must wait after the last wrong PIN."""
        n = self.fails.get(officer_id, 0)
        return 0 if n == 0 else 1000 * (1 << (n - 1))

    def check(self, officer_id, pin):
        """'ok', 'wrong', 'locked' or 'unknown'.  Counts and audits every failure."""
        o = self.by_id.get(officer_id)
        if o is None:
            self._event("login", "unknown officer id " + officer_id)
            return "unknown"
        if self.locked(officer_id):
            self._event("login", officer_id + " refused: locked")
            return "locked"
        good = compare_digest(pbkdf2_sha256(pin, o["salt"], o["iterations"]), o["verifier"])
        if good:
            if self.fails.pop(officer_id, None):
                self._save_fails()
            self._event("login", officer_id + " ok")
            return "ok"
        self.fails[officer_id] = self.fails.get(officer_id, 0) + 1
        self._save_fails()
        if self.locked(officer_id):
            self._event("lockout", officer_id + " locked after " + str(MAX_FAILS) + " wrong PINs")
            return "locked"
        self._event("login", officer_id + " wrong PIN (" + str(self.fails[officer_id]) + ")")
        return "wrong"

    def role(self, officer_id):
        return self.by_id[officer_id]["role"]

    def unlock(self, supervisor_id, officer_id):
        if self.by_id.get(supervisor_id, {}).get("role") != "supervisor":
            raise OfficerError("only a supervisor can unlock")
        self.fails.pop(officer_id, None)
        self._save_fails()
        self._event("unlock", officer_id + " by " + supervisor_id)
