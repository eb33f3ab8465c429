"""ESP32 board: the pin map and the hardware objects.

This is the ONLY module that imports `machine` (and, lazily, `network`).
firmware/board_sim.py offers the same names for the simulator and tests.

Wiring (ESP32-WROOM-32 DevKit; GPIO numbers):
  I2C bus (PN532 at 0x24, SSD1306 at 0x3C): SDA 21, SCL 22, 400 kHz
  PN532: IRQ 4 (active low, input with pull-up), RSTPDN 5 (low = hard power-down)
  Keypad rows (inputs, pull-up, wake sources): 13, 14, 27, 26
  Keypad columns (driven low one at a time): 25, 33, 32, 23
  Battery: GPIO 35 (ADC1_CH7) through a 100k/100k divider
Strapping pins 0, 2, 12 and 15 are left free so a key held at power-on cannot
change the boot mode or the flash voltage.
"""

import machine

NAME = "esp32"

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
I2C_FREQ_HZ = 400_000
I2C_TIMEOUT_US = 50_000  # the PN532 stretches the clock while it is busy

PN532_IRQ = 4
PN532_RSTPDN = 5

KEYPAD_ROWS = (13, 14, 27, 26)
KEYPAD_COLS = (25, 33, 32, 23)
SAFE_KEY = (3, 0)  # (row, col) of '*': held at power-on, the app does not start

BATTERY_ADC = 35
BATTERY_DIVIDER = 2  # 100k/100k

DATA_DIR = "/data"


def open_i2c():
    return machine.I2C(
        I2C_ID,
        scl=machine.Pin(I2C_SCL),
        sda=machine.Pin(I2C_SDA),
        freq=I2C_FREQ_HZ,
        timeout=I2C_TIMEOUT_US,
    )


def keypad_pins():
    """(rows, cols): rows are pulled-up inputs, cols open-drain outputs released high."""
    rows = [machine.Pin(n, machine.Pin.IN, machine.Pin.PULL_UP) for n in KEYPAD_ROWS]
    cols = [machine.Pin(n, machine.Pin.OPEN_DRAIN, value=1) for n in KEYPAD_COLS]
    return rows, cols


def nfc_pins():
    """(irq, reset) pins of the PN532 reader."""
    irq = machine.Pin(PN532_IRQ, machine.Pin.IN, machine.Pin.PULL_UP)
    reset = machine.Pin(PN532_RSTPDN, machine.Pin.OUT, value=1)
    return irq, reset


def safe_key_held():
    """True when the safe-mode key is held: drive its column low and read its row."""
    row = machine.Pin(KEYPAD_ROWS[SAFE_KEY[0]], machine.Pin.IN, machine.Pin.PULL_UP)
    col = machine.Pin(KEYPAD_COLS[SAFE_KEY[1]], machine.Pin.OPEN_DRAIN, value=0)
    held = row.value() == 0
    col.value(1)
    return held


def unique_id():
    import binascii

    return binascii.hexlify(machine.unique_id()).decode()


def wlan():
    """The station interface; network is imported here so that nothing else loads it."""
    import network

    return network.WLAN(network.STA_IF)


def console(text):
    """Diagnostics go to the USB serial REPL."""
    print(text)


def show_screen(screen):
    """The OLED is the only screen on the device; nothing to mirror."""


def fatal_reset():
    """After a fatal error has been logged: hard reset."""
    machine.reset()


def power_off_requested():
    """The device is switched off by its power switch, never by software."""
    return False
