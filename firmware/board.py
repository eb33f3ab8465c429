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
# The clock the firmware runs at: ESP32_GENERIC boots at 160 MHz; 240 MHz makes the card, the save,
# the login and the sync about 1.5x faster.  Waiting awake for the next key (the screen on), 80 MHz
# draws half the current; in light sleep (after a minute without keys) the clock does not matter.
CPU_HZ = 240_000_000
WAIT_CPU_HZ = 80_000_000  # while awake with nothing to do but wait for a key (power.fast_clock)
EXTRA_ORIGINALITY_KEYS = ()  # card chips are trusted by NXP's originality key alone
SYNC_RETRY_CAP_MS = 30 * 60 * 1000  # the longest wait between two sync attempts (backoff cap)


def set_cpu_hz(hz):
    """The CPU clock (machine.freq): CPU_HZ for work, WAIT_CPU_HZ while waiting awake for a key."""
    machine.freq(hz)


def open_i2c():
    """The I2C bus of the PN532 and the SSD1306 (400 kHz; the PN532 may stretch the clock)."""
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
    """(irq, None) of the PN532 reader: its RSTPDN line is driven by nfc_power() only (the
    driver's own reset pulse would cost 0.7 s a card)."""
    irq = machine.Pin(PN532_IRQ, machine.Pin.IN, machine.Pin.PULL_UP)
    return irq, None


NFC_WAKE_MS = 10  # RSTPDN high -> oscillator running and the host interface up


def nfc_power(on):
    """RSTPDN low is the PN532's hard power-down (a few uA); high lets it run (reset state)."""
    machine.Pin(PN532_RSTPDN, machine.Pin.OUT, value=1 if on else 0)
    if on:
        import time

        time.sleep_ms(NFC_WAKE_MS)


def safe_key_held():
    """True when the safe-mode key is held: drive its column low and read its row."""
    row = machine.Pin(KEYPAD_ROWS[SAFE_KEY[0]], machine.Pin.IN, machine.Pin.PULL_UP)
    col = machine.Pin(KEYPAD_COLS[SAFE_KEY[1]], machine.Pin.OPEN_DRAIN, value=0)
    held = row.value() == 0
    col.value(1)
    return held


_adc = None


def battery_mv():
    """Cell voltage in mV through the divider (ADC1: usable while Wi-Fi is on), or None."""
    global _adc
    if _adc is None:
        _adc = machine.ADC(machine.Pin(BATTERY_ADC), atten=machine.ADC.ATTN_11DB)
    return _adc.read_uv() * BATTERY_DIVIDER // 1000


def light_sleep(ms):
    """Light sleep (RAM kept, ~0.8 mA) until a key or `ms`; 'key' or 'timer'.

    Every keypad column is driven low, so any key pulls its row low, and each row is a
    GPIO wake source (level-triggered: a key already down wakes at once).  Columns are
    released afterwards, and the keypad task resumes scanning."""
    rows, cols = keypad_pins()
    for c in cols:
        c.value(0)
    for r in rows:
        r.irq(trigger=machine.Pin.WAKE_LOW, wake=machine.SLEEP)
    machine.lightsleep(ms)
    pressed = any(r.value() == 0 for r in rows)
    for r in rows:
        r.irq(handler=None)
    for c in cols:
        c.value(1)
    return "key" if pressed or machine.wake_reason() != machine.TIMER_WAKE else "timer"


def deep_sleep(ms):
    """Deep sleep (~10 uA) for `ms`; the ESP32 then boots afresh (does not return).
    The power switch wakes it sooner."""
    machine.deepsleep(ms)


def wifi_failed(wlan):
    """True when the station has given up joining (no such network, wrong key, refused)."""
    import network

    failed = [getattr(network, n, None) for n in ("STAT_NO_AP_FOUND", "STAT_WRONG_PASSWORD", "STAT_CONNECT_FAIL",
                                                  "STAT_ASSOC_FAIL", "STAT_HANDSHAKE_TIMEOUT")]
    return wlan.status() in failed


def unique_id():
    """The chip's factory-unique id (its MAC) as hex: provisioning reports it to the technician."""
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


def confirm_image():
    """This image reached its first screen and its main loop: tell the bootloader to keep it.
    An image written by `enrolctl flash --update` boots once on trial (ESP-IDF app rollback,
    on in MicroPython's esp32 builds); one that never gets here is replaced by the previous
    image at the next reset.  Harmless on every later boot."""
    try:
        from esp32 import Partition

        Partition.mark_app_valid_cancel_rollback()
    except OSError as e:  # -261: a build without rollback (a plain MicroPython image): nothing to do
        console("image: not confirmed (" + str(e) + ")")


def fatal_reset():
    """After a fatal error has been logged: hard reset."""
    machine.reset()


def power_off_requested():
    """The device is switched off by its power switch, never by software."""
    return False
