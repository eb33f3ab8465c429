# The device image: everything frozen into the firmware.  The ESP32 build
# (`make image`: ports/esp32, board ESP32_GENERIC) takes this file as its
# FROZEN_MANIFEST; the simulator's 32-bit unix build includes it from
# host_tools/runtime/manifest_unix.py.  Frozen modules run from flash, not from
# the ~100 KB heap that .mpy files would be copied into (README, RAM).
#
# Left out on purpose: firmware/board_sim.py and bridge_wire.py (the simulator's board and its
# wire; the unix build adds them) and boot.py / main.py (on the device's filesystem, so a
# technician can reach safe mode).
import os

# the port's own frozen modules (asyncio, ...): the ESP32's board manifest,
# unless an including manifest brings its port's own (options.port)
if options.port is None:
    include("$(PORT_DIR)/boards/manifest.py")


def _sources(top, leave_out=()):
    found = []
    for dirpath, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if name.endswith(".py") and path not in leave_out:
                found.append(os.path.relpath(path, top))
    return found


package("firmware", files=_sources("firmware", ("firmware/board_sim.py", "firmware/bridge_wire.py")))
# lib/: the CircuitPython-compat shims and the PN532 driver copied from its wheel (make setup)
for _name in ("busio.py", "digitalio.py", "time.py"):
    module(_name, base_path="lib")
package("adafruit_pn532", base_path="lib")
package("adafruit_bus_device", base_path="lib")
