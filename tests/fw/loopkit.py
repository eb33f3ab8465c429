"""The event loop's worst gap, measured by a task that only yields (both runtimes)."""

import asyncio

from firmware.ticks import ticks_diff, ticks_ms


class Probe:
    """The loop's worst gap: a task that only yields, and the work counters read at each turn."""

    def __init__(self, *counters):
        self.counters = counters  # callables: work done so far, one kind each
        self.worst_ms = 0
        self.worst_work = [0] * len(counters)
        self.turns = 0
        self.stop = False

    async def run(self):
        last = ticks_ms()
        seen = [c() for c in self.counters]
        while not self.stop:
            await asyncio.sleep(0)
            now = ticks_ms()
            self.turns += 1
            self.worst_ms = max(self.worst_ms, ticks_diff(now, last))
            for i, c in enumerate(self.counters):
                v = c()
                self.worst_work[i] = max(self.worst_work[i], v - seen[i])
                seen[i] = v
            last = now
