"""UI figures under the MicroPython unix port (run by bench/bench_ui.py).

Usage: micropython -X heapsize=N bench/mp_ui.py TREE
Prints key=value lines: key presses of a typical enrolment (two names by
multi-tap, a date, village, consent, PIN twice; login excluded), the time to
render one screen into the frame buffer and send it over the emulated I2C
bus, and the live heap after a whole enrolment (login, fields, PINs, the save:
sealed and committed to the journal).
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib", tree + "/tests/fw"]

import gc  # noqa: E402
import time  # noqa: E402

from firmware.board_sim import SimI2C  # noqa: E402
from firmware.hw.display import Display  # noqa: E402
from firmware.ui import render  # noqa: E402
from firmware.crypto import pin_block  # noqa: E402
from firmware.crypto.wipe import wipe  # noqa: E402
from firmware.enrol import record  # noqa: E402
from flowkit import Driver, enrol_person, login, new_flow  # noqa: E402
from fwtest import tmpdir  # noqa: E402
from host_tools.sim.ssd1306 import SSD1306Emulator  # noqa: E402
from storekit import open_store  # noqa: E402

store, audit, _ = open_store(tmpdir())
gc.collect()
code_heap = gc.mem_alloc()  # the modules' bytecode (frozen into flash on a production build)
d = Driver(new_flow())
login(d)
start = d.presses
enrol_person(d)
print("enrolment_keys=" + str(d.presses - start))
# the commit point, as firmware/app.py does it: PIN block, record, seal (with a new segment's
# RSA-OAEP key wrap), journal append on the file system
_, fields, officer_id, pin = d.take("save")[0]
rid = bytes(range(16))


def plaintext(pin_key):
    return record.encode(officer_id, 1767225600, False, fields, "", pin_block.encipher(pin_key, pin, rid))


store.save(rid, plaintext)
wipe(pin)
gc.collect()
print("code_heap=" + str(code_heap))
print("enrolment_live_heap=" + str(gc.mem_alloc() - code_heap))

bus = SimI2C()
bus.attach(0x3C, SSD1306Emulator())
disp = Display(bus)
disp.start()
screen = d.flow.render()
n = 50
t0 = time.ticks_us()
for _ in range(n):
    render.draw(disp, screen)
print("redraw_us=" + str(time.ticks_diff(time.ticks_us(), t0) // n))
print("redraw_bus_bytes=" + str(bus.bytes_moved // (n + 1)))
