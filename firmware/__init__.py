"""Field enrolment device firmware (runs on MicroPython; its logic also runs on CPython in tests)."""

VERSION = "0.1.0"
