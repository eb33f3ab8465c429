"""Battery gauge: ADC millivolts -> filtered voltage -> percent of a Li-ion 18650 cell.

The ADC is noisy (the ESP32's is +-2 % after calibration, more while the radio
transmits), so each sample is a burst of BURST readings: those outside what a
Li-ion cell can show are dropped as noise, and the median of the rest is kept
(one spike cannot move it; a real change shows at the next sample, even after
a long sleep).  The percent comes from the cell's open-circuit discharge curve
at a light load (voltage falls fast above 4.1 V and below 3.7 V, slowly between).
"""

MIN_PLAUSIBLE_MV = 2500  # below: a cell this low has cut off; the reading is noise
MAX_PLAUSIBLE_MV = 4500  # above: no Li-ion cell; the reading is noise (or a charger spike)

# (millivolts, percent), falling; linear between points
CURVE = (
    (4200, 100), (4110, 90), (4020, 80), (3950, 70), (3870, 60), (3840, 50),
    (3800, 40), (3770, 30), (3730, 20), (3690, 10), (3610, 5), (3270, 0),
)

BURST = 5
LOW_PCT = 8  # no new enrolment or card write: it might not finish; sync first
CRITICAL_PCT = 2  # deep sleep (state saved) until charged


def percent(mv):
    if mv >= CURVE[0][0]:
        return 100
    for i in range(1, len(CURVE)):
        v1, p1 = CURVE[i]
        if mv >= v1:
            v0, p0 = CURVE[i - 1]
            return p1 + (p0 - p1) * (mv - v1) // (v0 - v1)
    return 0


class Battery:
    def __init__(self, read_mv):
        self.read_mv = read_mv  # board.battery_mv: millivolts at the cell, or None
        self.mv = None  # the last good sample; None until one came
        self.rejected = 0  # readings dropped as noise
        self._burst = [0] * BURST

    def sample(self):
        """One burst of readings; the median of the plausible ones in mV (or the last good sample)."""
        n = 0
        for _ in range(BURST):
            try:
                raw = self.read_mv()
            except OSError:
                raw = None
            if raw is None or not MIN_PLAUSIBLE_MV <= raw <= MAX_PLAUSIBLE_MV:
                self.rejected += 1
                continue
            self._burst[n] = raw
            n += 1
        if n * 2 > BURST:  # a majority of good readings, or the sample is not trusted
            good = sorted(self._burst[:n])
            self.mv = good[n // 2]
        return self.mv

    def pct(self):
        return None if self.mv is None else percent(self.mv)

    def low(self):
        p = self.pct()
        return p is not None and p <= LOW_PCT

    def critical(self):
        p = self.pct()
        return p is not None and p <= CRITICAL_PCT
