"""The simulator bridge's wire format, defined once for both ends: the device's board
(firmware/board_sim.py, in the 32-bit runtime) and the host's emulators (host_tools/sim/bridge.py).
board_sim.py's docstring describes the frames.  Not in the ESP32 image (manifest.py)."""

OP_I2C_WRITE = 1
OP_I2C_READ = 2
OP_PIN_SET = 3
OP_PIN_GET = 4
OP_POLL = 5
OP_LIGHT_SLEEP = 6
OP_DEEP_SLEEP = 7
OP_BATTERY = 8
OP_WLAN = 9
OP_SCREEN = 10
OP_CPU_HZ = 11  # the CPU clock the firmware set (machine.freq): the energy meter charges it
ST_OK = 0
ST_NODEV = 1
ST_EIO = 2
ST_BAD = 3
PIN_NFC_IRQ = 0
PIN_NFC_RSTPDN = 1
PIN_ROW0 = 2  # rows 2..5, columns 6..9
PIN_COL0 = 6
POLL_OFF = 1  # POLL answer flags
POLL_MEM_REPORT = 2
WLAN_ACTIVE = 1  # [on (1) or 2 = ask] -> active (1)
WLAN_CONNECT = 2
WLAN_STATUS = 3  # -> status (2, LE)
WLAN_ISCONNECTED = 4  # -> 0/1
WLAN_DISCONNECT = 5
HEADER = 7  # a request's header: op (1) | payload length (2, LE) | device ticks_ms (4, LE)
MAX_PAYLOAD = 2048  # the largest request: a 1 KB display frame, sent from its own buffer
MAX_ANSWER = 512  # the largest answer: the PN532's longest frame (265 B) read in one transfer
