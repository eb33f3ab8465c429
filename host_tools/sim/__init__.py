"""Device simulator: bus-level emulators of the PN532, NTAG21x, SSD1306, keypad and flash.

Pure Python that also runs under the MicroPython unix port, so emulators can
sit in-process beside the real firmware in either runtime.
"""
