"""Device simulator: bus-level emulators of the PN532, NTAG21x, SSD1306, keypad and flash.

Pure Python that also runs under the MicroPython unix port, so emulators can
sit in-process beside the real firmware in either runtime.  Every module here
is compiled with mpy-cross by the tests: CPython-only helpers for the
simulator (demo provisioning) live in host_tools/enrolctl/ instead.
"""

# The simulated device's MicroPython heap: the firmware's .mpy code and every emulator live in it
# (on the ESP32 the code is frozen into flash).  make bench measures the smallest that runs a
# whole enrolment reliably (304-356 KB in two runs); a 40-enrolment day with syncs runs in this one.
SIM_HEAPSIZE = "384k"
