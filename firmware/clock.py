"""The device clock: never goes back, and knows whether the registry has set it.

The ESP32's RTC starts from its epoch after a power loss, and a village has no
time source but the registry.  now() = raw clock + offset from the last fix,
never below a floor persisted on flash (the last time the device knew), so
record times and purge decisions never run backwards.  synced is True only
after the registry's time was received during this power-on: records made
before that carry "clock": "unsynced" (firmware/enrol/record.py).
  <data>/clock.json  {"floor": epoch s}
"""

import json
import time

from firmware import fsutil

FILE = "/clock.json"
_SAVE_EVERY_S = 3600  # flash wear: the floor is written at fixes and at most hourly otherwise


class Clock:
    def __init__(self, data_dir, raw=None):
        self.path = data_dir + FILE
        self.raw = raw or time.time
        self.offset = 0
        self.synced = False
        self.floor = 0
        self._saved = 0
        doc = fsutil.read_file(self.path)
        if doc is not None:
            try:
                f = json.loads(doc).get("floor")
                if isinstance(f, int) and f > 0:
                    self.floor = self._saved = f
            except (ValueError, AttributeError):
                pass  # a damaged file costs only the floor; the next fix rewrites it

    def now(self):
        t = int(self.raw()) + self.offset
        if t < self.floor:
            return self.floor
        if t - self._saved >= _SAVE_EVERY_S:
            self.floor = t
            self._save()
        return t

    def fix(self, server_time):
        """The registry's time (from a TLS-verified answer): sets the offset; the clock
        still never goes below the floor."""
        if not isinstance(server_time, int) or server_time <= 0:
            return False
        self.offset = server_time - int(self.raw())
        self.synced = True
        if server_time > self.floor:
            self.floor = server_time
            self._save()
        return True

    def touch(self):
        """Persist the current time as the floor (called when a record is saved)."""
        t = self.now()
        if t > self._saved:
            self.floor = t
            self._save()

    def _save(self):
        try:
            fsutil.write_atomic(self.path, json.dumps({"floor": self.floor}))
            self._saved = self.floor
        except OSError:
            pass  # the floor is a safeguard; a full or failing flash must not stop the app
