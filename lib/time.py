"""CircuitPython compat: MicroPython's built-in `time` plus `monotonic()`.

adafruit_pn532 and adafruit_bus_device call time.monotonic(); MicroPython has
no such function.  A module on the filesystem named like an extensible
built-in takes its place, so this one loads the built-in (with an empty
sys.path) and re-exports it.  On CPython `time` is built in and always wins;
this file is never loaded there.

monotonic() is float seconds since this module was imported.  On the ESP32
floats are single precision (about 15 ms resolution after 36 h of uptime):
good enough for the driver's one-second timeouts, never used by our own code,
which times everything with ticks_ms()/ticks_diff().
"""

import sys

_self = sys.modules["time"]
_path = sys.path
sys.path = []
del sys.modules["time"]
try:
    from time import *  # noqa: F401,F403 - the built-in module
    from time import ticks_ms as _ticks_ms, ticks_diff as _ticks_diff
finally:
    sys.path = _path
    sys.modules["time"] = _self

_last = _ticks_ms()
_elapsed_ms = 0


def monotonic():
    """Seconds (float) since import; never goes backwards, survives the ticks wrap."""
    global _last, _elapsed_ms
    now = _ticks_ms()
    _elapsed_ms += _ticks_diff(now, _last)
    _last = now
    return _elapsed_ms / 1000
