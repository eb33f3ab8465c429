"""Energy accounting for the simulated device: time in each power state of each part, and
the currents from the datasheets that turn those times into mAh.

The Meter samples each part's state (a probe callable) whenever the simulation ticks
(every pass of the app's loop, and around every skipped stretch of simulated time) and
adds the elapsed simulated milliseconds to that state.  Runs under MicroPython (inside the
simulator) and CPython (the bench that reads its report).
"""

from firmware.ticks import ticks_diff

# (part, state) -> (mA, source).  One table, so every figure's origin is visible.
CURRENTS_MA = {
    ("cpu", "awake"): (40.0, "ESP32 datasheet: CPU active 30-68 mA at 240 MHz (radio off); mid value"),
    ("cpu", "awake_160"): (30.0, "ESP32 datasheet: CPU active 27-44 mA at 160 MHz (radio off)"),
    ("cpu", "awake_80"): (20.0, "ESP32 datasheet: CPU active 20-31 mA at 80 MHz (radio off)"),
    ("cpu", "light_sleep"): (0.8, "ESP32 datasheet: light sleep 0.8 mA"),
    ("cpu", "deep_sleep"): (0.01, "ESP32 datasheet: deep sleep, RTC timer + RTC memory 10 uA"),
    ("wifi", "off"): (0.0, "radio off (esp_wifi_stop)"),
    ("wifi", "connect"): (120.0, "ESP32 datasheet: RX 95-100 mA with TX bursts 240 mA while scanning/associating"),
    ("wifi", "on"): (120.0, "ESP32 datasheet: RX ~100 mA listening, TX 240 mA bursts; averaged"),
    ("nfc", "off"): (0.002, "PN532 datasheet: hard power-down (RSTPDN low) ~1-2 uA"),
    ("nfc", "power_down"): (0.045, "PN532 soft power-down (PowerDown command) ~45 uA (NXP/Seeed forums)"),
    ("nfc", "idle"): (36.0, "PN532 awake, RF field off: ~36 mA measured on breakout boards (NXP forum)"),
    ("nfc", "rf"): (60.0, "PN532 with the RF field on (polling, exchange): 35-60 mA measured (NXP forum)"),
    ("oled", "off"): (0.01, "SSD1306 datasheet: sleep mode < 10 uA"),
    ("oled", "dim"): (3.0, "SSD1306 128x64 module: ~3 mA at low contrast, half the pixels lit"),
    ("oled", "on"): (10.0, "SSD1306 128x64 module: ~10 mA at full contrast, half the pixels lit"),
}


def energy_cpu_state(hz):
    """The meter's state for an awake CPU at hz (the clock the firmware set with machine.freq)."""
    if hz >= 240_000_000:
        return "awake"
    return "awake_160" if hz >= 160_000_000 else "awake_80"


class Meter:
    def __init__(self, ticks_ms, marks_file=""):
        self.ticks_ms = ticks_ms
        self.probes = []  # (part, callable -> state)
        self.ms = {}  # (part, state) -> ms
        self.last = ticks_ms()
        self.marks_file = marks_file  # a script's '=label' lines: one JSON line each, [label, report()]

    def add(self, part, probe):
        self.probes.append((part, probe))

    def tick(self):
        now = self.ticks_ms()
        dt = ticks_diff(now, self.last)
        self.last = now
        if dt <= 0:
            return
        for part, probe in self.probes:
            key = (part, probe())
            self.ms[key] = self.ms.get(key, 0) + dt

    def mark(self, label):
        """Append [label, totals so far] to the marks file (not kept in RAM: a day has many)."""
        if self.marks_file:
            import json

            with open(self.marks_file, "a") as f:
                f.write(json.dumps([label, self.report()]) + "\n")

    def report(self):
        """{'part/state': ms} (JSON-friendly)."""
        self.tick()
        return {part + "/" + state: ms for (part, state), ms in self.ms.items()}


def mah(report):
    """{'part/state': ms} -> ({part: mAh}, total mAh), with the currents above."""
    per_part = {}
    for key, ms in report.items():
        part, state = key.split("/")
        ma = CURRENTS_MA[(part, state)][0]
        per_part[part] = per_part.get(part, 0.0) + ma * ms / 3600000.0
    return per_part, sum(per_part.values())
