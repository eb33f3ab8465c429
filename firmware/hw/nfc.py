"""The NFC reader: a PN532 over I2C through the real adafruit_pn532 driver, with our fixes.

The driver is used as published (lib/adafruit_pn532, copied from its wheel);
this subclass changes only what does not suit the device:
  * waiting: the PN532's IRQ line (low = a frame is ready) is read instead of
    an I2C status poll every 10 ms; without IRQ the status byte is polled
    every POLL_MS.  Deadlines are ticks_ms/ticks_diff ints, never floats.
  * reading: the status byte and the frame in one I2C read, not two.
  * errors: one family of named exceptions instead of RuntimeError/None.
  * "no card" is an answer (None), not an exception.
  * waiting for a card (wait_card_async) awaits between looks at the IRQ line: the event loop
    (the keypad, the panel) runs while the field is empty.
open_reader() builds the reader from the board's I2C bus and IRQ pin through the CircuitPython
adapter (lib/busio.py, lib/digitalio.py) the driver expects: nothing above this module sees it.
NTAG commands go through InCommunicateThru (the PN532 adds CRC and parity), except WRITE:
its answer is a 4-bit ACK/NAK, which InDataExchange handles for us (UM0701-02 7.3.8: the
PN532 knows the MIFARE Ultralight WRITE A2h; status 00 = ACK).  A NAK there comes back as
status 13h, "invalid or unexpected RF received frame" (7.1, error table), without the
card's 4-bit code, and becomes CardNak(None).
"""

from micropython import const

import busio
from adafruit_pn532.adafruit_pn532 import BusyError
from digitalio import DigitalInOut
from adafruit_pn532.i2c import PN532_I2C
from firmware.ticks import sleep_ms, sleep_us, ticks_add, ticks_diff, ticks_ms

_CMD_IN_DATA_EXCHANGE = const(0x40)  # args: Tg, card command (the PN532 runs the protocol)
_CMD_IN_COMMUNICATE_THRU = const(0x42)  # args: raw card command
_CMD_IN_LIST_PASSIVE_TARGET = const(0x4A)  # args: MaxTg, BrTy
_CMD_IN_RELEASE = const(0x52)  # args: Tg
_STATUS_TIMEOUT = const(0x01)
_STATUS_INVALID_FRAME = const(0x13)  # UM0701-02 7.1: what InDataExchange answers to a NAK
_NTAG_GET_VERSION = const(0x60)
_NTAG_READ = const(0x30)
_NTAG_FAST_READ = const(0x3A)
_NTAG_WRITE = const(0xA2)
_NTAG_PWD_AUTH = const(0x1B)
_NTAG_READ_SIG = const(0x3C)
POLL_MS = 5
# Within a command the IRQ line is looked at every IRQ_POLL_US: each command waits twice (its ACK,
# its answer), each wait is on average half of this late, and a card write sends ~60 commands
# (at 1 ms it was ~60 ms of the citizen holding the card; a look is a pin read)
IRQ_POLL_US = 100
_READY_ACK = b"\x01\x00\x00\xff\x00\xff\x00"  # the status byte (ready), then the ACK frame (6.2.1.3)
_WRITE_ANSWER_HEAD = b"\x01\x00\x00\xff\x03\xfd\xd5\x41"  # ready, a normal frame of 3: D5 41 ...
# One FAST_READ answer must fit one normal PN532 information frame (LEN <= 255 counts TFI,
# command, status and data; the driver parses no extended frames): 60 pages = 240 bytes, so
# a whole credential is read back in one exchange (a transaction less costs ~2 ms of I2C + RF)
FAST_READ_PAGES = 60


def _target(resp):
    """(uid, sel_res) of InListPassiveTarget's answer for one target, or None."""
    if resp is None or len(resp) < 6 or resp[0] != 1:
        return None
    n = resp[5]
    return bytes(resp[6 : 6 + n]), resp[4]


class NfcError(Exception):
    pass


class ReaderNotFound(NfcError):
    pass


class CardLost(NfcError):
    """The card stopped answering (removed, or out of range)."""


class CardNak(NfcError):
    """The card answered NAK.  code: its 4-bit NAK code, None where the PN532 does not pass it on."""

    def __init__(self, code):
        super().__init__("card refused (NAK " + ("?" if code is None else str(code)) + ")")
        self.code = code


def open_reader(i2c, irq_pin=None):
    """A Reader on the board's I2C bus (machine.I2C or the simulator's), with its IRQ pin or
    None.  ReaderNotFound when no PN532 answers."""
    irq = DigitalInOut(irq_pin) if irq_pin is not None else None
    return Reader(busio.I2C(bus=i2c), irq=irq)


class Reader(PN532_I2C):
    def __init__(self, i2c, irq=None, reset=None):
        """i2c: a busio.I2C; irq/reset: digitalio.DigitalInOut or None."""
        self._irq_pin = irq
        # the pin's own value() (lib/digitalio.py keeps it as _pin), read without the adapter: twice a command
        self._irq_level = irq._pin.value if irq is not None else None
        self._wframe = self._wack = self._wans = None  # write_page's buffers, made at the first write
        try:
            PN532_I2C.__init__(self, i2c, irq=irq, reset=reset)
        except (RuntimeError, ValueError, OSError) as e:
            raise ReaderNotFound("PN532 not answering: " + str(e))
        ic = self.firmware_version[0]
        if ic != 0x32:
            raise ReaderNotFound("not a PN532 (IC " + hex(ic) + ")")

    def _ready(self, status):
        """One look: is the PN532's answer ready (IRQ low, or the status byte 01)?"""
        if self._irq_level is not None:
            return not self._irq_level()
        try:
            with self._i2c:
                self._i2c.readinto(status)
        except OSError:
            return False
        return status[0] == 0x01

    def _wait_ready(self, timeout=1):
        irq = self._irq_level
        if irq is not None and not irq():  # most often ready at the first look: nothing more to do
            return True
        deadline = ticks_add(ticks_ms(), int(timeout * 1000))
        status = bytearray(1)
        while ticks_diff(deadline, ticks_ms()) > 0:
            if self._ready(status):
                return True
            if self._irq_level is not None:
                sleep_us(IRQ_POLL_US)
            else:
                sleep_ms(POLL_MS)
        return False

    def _read_data(self, count):
        """The status byte and the frame in one I2C read: every read starts with the status byte
        (UM0701-02 6.2.4), and this is called once the IRQ line (or the status byte) said the
        frame is ready.  The driver reads the status byte alone first: a transaction more per
        frame, two per command (the ACK, the answer)."""
        frame = bytearray(count + 1)
        with self._i2c as i2c:
            i2c.readinto(frame)
        if frame[0] != 0x01:  # not ready after all: the driver's answer
            raise BusyError
        return frame[1:]

    def _call(self, cmd, params, response_length, timeout_ms):
        try:
            return self.call_function(cmd, response_length=response_length, params=params,
                                      timeout=timeout_ms / 1000)
        except (RuntimeError, BusyError, OSError) as e:
            raise NfcError("reader: " + str(e))

    def wait_card(self, timeout_ms):
        """(uid, sel_res) of a card in the field, or None after timeout_ms."""
        return _target(self._call(_CMD_IN_LIST_PASSIVE_TARGET, [0x01, 0x00], 19, timeout_ms))

    async def wait_card_async(self, timeout_ms):
        """wait_card without holding the event loop: InListPassiveTarget is sent (its ACK comes
        in about a millisecond), then the answer is looked for every POLL_MS between awaits."""
        import asyncio

        try:
            if not self.send_command(_CMD_IN_LIST_PASSIVE_TARGET, params=[0x01, 0x00], timeout=0.1):
                return None
            deadline = ticks_add(ticks_ms(), timeout_ms)
            status = bytearray(1)
            while not self._ready(status):
                if ticks_diff(deadline, ticks_ms()) <= 0:
                    return None
                await asyncio.sleep(POLL_MS / 1000)
            return _target(self.process_response(_CMD_IN_LIST_PASSIVE_TARGET, response_length=19, timeout=0.05))
        except (RuntimeError, BusyError, OSError) as e:
            raise NfcError("reader: " + str(e))

    def transceive(self, data, answer_len, timeout_ms=500):
        """Send a card command; the card's answer bytes ('' for an ACK).  CardLost / CardNak."""
        resp = self._call(_CMD_IN_COMMUNICATE_THRU, data, answer_len + 1, timeout_ms)
        if resp is None or not resp:
            raise CardLost("no answer from the reader")
        if resp[0] == _STATUS_TIMEOUT:
            raise CardLost("card removed")
        if resp[0] != 0:
            raise NfcError("reader status " + hex(resp[0]))
        body = resp[1:]
        if len(body) == 1 and answer_len != 1:
            raise CardNak(body[0])
        return bytes(body)

    # ---- NTAG21x commands ------------------------------------------------
    def get_version(self):
        return self.transceive(bytes((_NTAG_GET_VERSION,)), 8)

    def read4(self, page):
        """READ: the 16 bytes of pages page..page+3 (the card rolls over to page 0 past its end)."""
        return self.transceive(bytes((_NTAG_READ, page)), 16)

    def read_pages(self, start, end):
        """Pages start..end inclusive (FAST_READ in chunks)."""
        out = bytearray()
        p = start
        while p <= end:
            q = min(end, p + FAST_READ_PAGES - 1)
            out.extend(self.transceive(bytes((_NTAG_FAST_READ, p, q)), (q - p + 1) * 4))
            p = q + 1
        return bytes(out)

    def write_page(self, page, data):
        """WRITE one page through InDataExchange (Tg 1).  CardNak if the card refuses it.

        The card step's hot loop (a credential is ~54 page writes), so it talks to the bus itself
        with buffers made once, where the driver's call_function would build each frame byte by
        byte and go through two adapters for each of its transactions: the command (UM0701-02
        6.2.1.1 normal information frame: 00 00 FF LEN LCS D4 40 01 A2 page d0-d3 DCS 00), then,
        each once the IRQ line says it is ready, the ACK (6.2.1.3) and the answer D5 41 status,
        each read with its status byte (6.2.4).  Anything else is the driver's error."""
        f = self._wframe
        if f is None:
            f = self._wframe = bytearray(b"\x00\x00\xff\x09\xf7\xd4\x40\x01\xa2\x00\x00\x00\x00\x00\x00\x00")
            self._wack = bytearray(7)
            self._wans = bytearray(11)
        f[9] = page
        f[10:14] = data
        f[14] = -sum(f[5:14]) & 0xFF  # DCS: TFI + PD0..PDn + DCS = 0 (mod 256)
        bus, addr = self._i2c.i2c, self._i2c.device_address
        ack, ans = self._wack, self._wans
        try:
            if self.low_power:
                self._wakeup()
            bus.writeto(addr, f)
            if not self._wait_ready(0.5):
                raise CardLost("no answer from the reader")
            bus.readfrom_into(addr, ack)
            if ack != _READY_ACK:
                raise NfcError("reader: no ACK to WRITE")
            if not self._wait_ready(0.5):
                raise CardLost("no answer from the reader")
            bus.readfrom_into(addr, ans)
        except (RuntimeError, BusyError, OSError) as e:
            raise NfcError("reader: " + str(e))
        # ready, 00 00 FF, LEN 3, LCS, D5 41, status, DCS, 00
        if ans[0:8] != _WRITE_ANSWER_HEAD or (0xD5 + 0x41 + ans[8] + ans[9]) & 0xFF:
            raise NfcError("reader: unexpected answer to WRITE")
        status = ans[8] & 0x3F  # bits 7-6: NAD/MI flags, not the error (7.1)
        if status == _STATUS_TIMEOUT:
            raise CardLost("card removed")
        if status == _STATUS_INVALID_FRAME:
            raise CardNak(None)
        if status != 0:
            raise NfcError("reader status " + hex(status))

    def pwd_auth(self, pwd):
        """The card's PACK (2 bytes); CardNak if the password is wrong or AUTHLIM is reached."""
        return self.transceive(bytes((_NTAG_PWD_AUTH,)) + bytes(pwd), 2)

    def read_sig(self):
        return self.transceive(bytes((_NTAG_READ_SIG, 0)), 32)

    def release(self):
        try:
            self._call(_CMD_IN_RELEASE, [0x01], 1, 200)
        except NfcError:
            pass
