"""Millisecond ticks that behave the same on MicroPython and CPython.

The ESP32 port has single-precision floats, so a float of seconds loses
milliseconds after a few hours: every timeout in the firmware is an int of
ms compared with ticks_diff().  On CPython (host tests) the same names are
built on time.monotonic_ns() with the same 2**30 wrap-around as the ESP32
port, so wrap bugs show up on the host too.
"""

try:
    from time import ticks_ms, ticks_diff, ticks_add, sleep_ms, sleep_us  # MicroPython
except ImportError:  # CPython
    import time as _time

    _PERIOD = 1 << 30  # MICROPY_PY_TIME_TICKS_PERIOD on the ESP32 port
    _HALF = _PERIOD >> 1

    def ticks_ms():
        return (_time.monotonic_ns() // 1000000) & (_PERIOD - 1)

    def ticks_add(ticks, delta_ms):
        return (ticks + delta_ms) & (_PERIOD - 1)

    def ticks_diff(end, start):
        return ((end - start + _HALF) & (_PERIOD - 1)) - _HALF

    def sleep_ms(delay_ms):
        _time.sleep(delay_ms / 1000)

    def sleep_us(delay_us):
        _time.sleep(delay_us / 1000000)
