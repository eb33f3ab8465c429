"""Device simulator: the hardware around the ESP32, emulated at the bus and pin level.

Emulators (PN532 + NTAG21x, SSD1306, key matrix, NOR flash, the card factory's signer, the
energy meter) are pure Python that also runs under MicroPython, so a unit test can put one
in-process beside a driver under test.  The simulator itself (host.py: the person, the
terminal view, the bridge's host end in bridge.py) is CPython only and runs outside the
device process; CPYTHON_ONLY names those modules, which the MicroPython tests do not compile.
The simulator builds on enrolctl (its runtime, its card check); enrolctl never imports it.
"""

CPYTHON_ONLY = ("host.py", "bridge.py")
