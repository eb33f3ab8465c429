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
TZ_S = 7 * 3600  # Cambodia: Indochina Time, UTC+7, no daylight saving
# No clock of a device running this firmware can truly be earlier (2026-01-01 UTC): an RTC that
# restarted from its epoch after a power loss, with no floor on flash, tells no date at all.
PLAUSIBLE_S = 1767225600
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

    def today(self):
        """(y, m, d) in Cambodia, never before the persisted floor (written at provisioning, at
        each registry fix and save), or None when the device cannot tell the date."""
        t = self.now()
        return local_date(t) if t >= PLAUSIBLE_S else None

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


def local_date(t):
    """(y, m, d) of epoch seconds t in Cambodia, by integer arithmetic: time.gmtime's epoch is
    the port's (2000 on some ESP32 builds, 1970 on unix), the registry's and ours is 1970."""
    days = (t + TZ_S) // 86400 + 719468  # days since 0000-03-01 (H. Hinnant, civil_from_days)
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + (1 if m <= 2 else 0), m, d)


def local_hhmm(t):
    """'HH:MM' of epoch seconds t in Cambodia."""
    s = (t + TZ_S) % 86400
    return "%02d:%02d" % (s // 3600, s % 3600 // 60)


def when_said(t, today):
    """Epoch seconds t as a screen says when something happened (the last sync, a saved record):
    'HH:MM' on today's date (y, m, d), 'DD/MM' an earlier day (or today unknown: None), 'never'
    for none (t 0)."""
    if not t:
        return "never"
    if local_date(t) == today:
        return local_hhmm(t)
    _, m, d = local_date(t)
    return "%02d/%02d" % (d, m)
