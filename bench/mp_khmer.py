"""Khmer screen figures on the frozen 32-bit runtime (run by bench/bench_khmer.py).

Usage: micropython -X heapsize=N bench/mp_khmer.py TREE DATA_DIR
DATA_DIR holds km.bin, names.km and villages.bin as provisioning writes them.  Prints key=value
lines: for each screen of a veteran's enrolment in Khmer, the time to lay it out and draw it
(framebuf blits of lines read from flash) and send it over the emulated I2C bus, and the heap
that draw takes; the heaviest of them; and key presses of the enrolment.
"""

import sys

tree, data = sys.argv[1], sys.argv[2]
sys.path[:0] = [tree, tree + "/lib", tree + "/tests/fw"]

import gc  # noqa: E402
import time  # noqa: E402

from firmware.board_sim import SimI2C  # noqa: E402
from firmware.enrol.villages import Villages  # noqa: E402
from firmware.hw.display import Display  # noqa: E402
from firmware.ui import khmer  # noqa: E402
from flowkit import Driver, enrol_person, login, new_flow  # noqa: E402
from host_tools.sim.ssd1306 import SSD1306Emulator  # noqa: E402

strings = khmer.Strings(data + "/km.bin")
names = khmer.Strings(data + "/names.km")
screens = []


class Keeping(Driver):
    def add(self, effects):
        for e in effects:
            if e[0] == "show" and (not screens or screens[-1][0] != self.flow.state):
                screens.append((self.flow.state, e[1]))
        Driver.add(self, effects)


flow = new_flow()
flow.villages = Villages(data + "/villages.bin")
d = Keeping(flow)
login(d)
start = d.presses
enrol_person(d, family="SOK", given="SOPHEA", birth="09031951", category="4", service="20481733")
print("enrolment_keys=" + str(d.presses - start))
d.add(flow.saved(1, 1))
d.add(flow.card_done(True, "K7QX-M2PD"))

bus = SimI2C()
bus.attach(0x3C, SSD1306Emulator())
disp = Display(bus)
disp.start()
worst = (0, "", 0, 0)
n = 10
for state, screen in screens:
    gc.collect()
    before = gc.mem_alloc()
    pages = khmer.draw(disp, screen, strings, 0, names)
    took = gc.mem_alloc() - before  # what one draw allocates (garbage after it)
    t0 = time.ticks_us()
    for _ in range(n):
        khmer.draw(disp, screen, strings, 0, names)
    us = time.ticks_diff(time.ticks_us(), t0) // n
    if us > worst[0]:
        worst = (us, state, took, pages)
    print("screen_" + state + "=" + str(us) + "," + str(took) + "," + str(pages))
print("worst_us=" + str(worst[0]))
print("worst_state=" + worst[1])
print("worst_alloc=" + str(worst[2]))
print("worst_pages=" + str(worst[3]))
print("screens=" + str(len(screens)))
