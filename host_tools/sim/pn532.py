"""PN532 emulator at the byte level of its I2C host interface (NXP UM0701-02, sections 6.2 and 6.2.4).

What the host sees on the bus:
  * write (address 0x24): one information frame
        normal:   00 00 FF LEN LCS TFI PD0..PDn DCS 00         LEN + LCS = 0 (mod 256)
        extended: 00 00 FF FF FF LENM LENL LCS TFI ... DCS 00  LENM + LENL + LCS = 0
    TFI = D4 (host to PN532); TFI + PD0..PDn + DCS = 0 (mod 256).
    A frame with a bad LCS or DCS is ignored: no ACK, the host times out.
    The ACK frame 00 00 FF 00 FF 00 from the host aborts the running command;
    the NACK frame 00 00 FF FF 00 00 asks for the last response again.
  * read: the first byte is the status byte, 0x01 when a frame is ready
    (RDY), 0x00 otherwise; when ready the frame follows, padded with 0x00.
    A read of more than the status byte consumes the frame.
  * IRQ (P70_IRQ) is low while a frame is ready, high otherwise.
After a valid command frame the PN532 first makes the ACK frame ready, then,
once the host has read it, the response frame D5 (cmd+1) ... or, for a
command it cannot execute, the error frame 00 00 FF 01 FF 7F 81 00.

Commands (this file): GetFirmwareVersion, SAMConfiguration, PowerDown,
RFConfiguration; the reader commands that talk to cards are added by
subclasses (host_tools/sim/reader.py).

The emulator keeps a time model (modeled_us): I2C bytes at the bus clock,
RF bytes at 106 kbit/s, and what each command costs, so benchmarks can report
modeled seconds without sleeping.
"""

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"

TFI_HOST = 0xD4
TFI_PN532 = 0xD5

CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SAM_CONFIGURATION = 0x14
CMD_POWER_DOWN = 0x16
CMD_RF_CONFIGURATION = 0x32

# GetFirmwareVersion answer of a PN532 v1.6: IC 0x32, Ver 1, Rev 6, Support 7 (ISO18092+ISO14443A+B)
FIRMWARE = bytes((0x32, 0x01, 0x06, 0x07))

WAIT = object()  # a handler's answer: no response frame yet (still polling)
FOUND = object()  # a handler's answer: the poll found a card (see reader.py)

I2C_US_PER_BYTE = 9 * 1000000 // 400000 + 1  # 9 bit times per byte at 400 kHz, rounded up
COMMAND_US = 1000  # the PN532 firmware's turnaround for a host command
KEEP_COMMANDS = 64


def frame(data):
    """A normal (or, above 254 bytes, extended) information frame PN532 -> host around TFI+data."""
    body = bytes((TFI_PN532,)) + bytes(data)
    n = len(body)
    dcs = (-sum(body)) & 0xFF
    if n < 255:
        head = bytes((0x00, 0x00, 0xFF, n, (-n) & 0xFF))
    else:
        hi, lo = n >> 8, n & 0xFF
        head = bytes((0x00, 0x00, 0xFF, 0xFF, 0xFF, hi, lo, (-(hi + lo)) & 0xFF))
    return head + body + bytes((dcs, 0x00))


def parse_host_frame(raw):
    """(kind, payload) for bytes the host wrote: kind is 'ack', 'nack', 'info' or 'bad'.

    payload of 'info' is PD0..PDn (the command code and its parameters).
    """
    raw = bytes(raw)
    i = 0
    while i < len(raw) and raw[i] == 0x00:  # preamble and the first start-code byte
        i += 1
    if i == 0 or i >= len(raw) or raw[i] != 0xFF:
        return "bad", b""
    i += 1
    rest = raw[i:]
    if rest[:2] == b"\x00\xff":
        return "ack", b""
    if rest[:2] == b"\xff\x00":
        return "nack", b""
    if rest[:2] == b"\xff\xff":  # extended frame
        if len(rest) < 5:
            return "bad", b""
        hi, lo, lcs = rest[2], rest[3], rest[4]
        if (hi + lo + lcs) & 0xFF:
            return "bad", b""
        n = (hi << 8) | lo
        body = rest[5 : 5 + n + 1]
    else:
        if len(rest) < 2:
            return "bad", b""
        n, lcs = rest[0], rest[1]
        if (n + lcs) & 0xFF:
            return "bad", b""
        body = rest[2 : 2 + n + 1]
    if n < 1 or len(body) != n + 1 or sum(body) & 0xFF or body[0] != TFI_HOST:
        return "bad", b""
    return "info", body[1:n]


class PN532Emulator:
    """The chip behind I2C address 0x24; attach to a SimI2C bus."""

    ADDRESS = 0x24

    def __init__(self):
        self.pending = None  # frame waiting to be read (ACK, response or error)
        self.queued = None  # response that becomes ready once the ACK was read
        self.last_response = None  # for NACK
        self.powered_down = False
        self.hard_off = False  # RSTPDN held low: no clock, the I2C interface does not answer
        self.sleep_after_read = False
        self.sam_configured = False
        self.rf_on = False
        self.modeled_us = 0
        self.commands = []  # the last KEEP_COMMANDS command codes received, for tests
        self.command_count = 0  # all commands received, for benchmarks
        self.faults = {}  # fault name -> remaining count (see inject())

    # ---- fault injection -------------------------------------------------
    def inject(self, fault, count=1):
        """Make the next `count` transactions fail: 'nak' (address not acked: OSError),
        'corrupt' (a response byte flipped), 'silent' (a command gets no ACK)."""
        self.faults[fault] = count

    def _take_fault(self, fault):
        left = self.faults.get(fault, 0)
        if left:
            self.faults[fault] = left - 1
            return True
        return False

    # ---- RSTPDN ----------------------------------------------------------
    def set_rstpdn(self, level):
        """Low: hard power-down.  Rising edge: the chip restarts from reset (nothing configured)."""
        if not level:
            self.hard_off = True
            self.pending = self.queued = self.last_response = None
            self.rf_on = False
            return
        if self.hard_off:
            self.hard_off = False
            self.powered_down = self.sleep_after_read = False
            self.sam_configured = False

    def power_state(self):
        """For the energy meter: off (hard power-down), power_down, rf (field on) or idle."""
        if self.hard_off:
            return "off"
        if self.powered_down:
            return "power_down"
        return "rf" if self.rf_active() else "idle"

    def rf_active(self):
        return self.rf_on

    # ---- bus side --------------------------------------------------------
    @property
    def irq(self):
        """P70_IRQ level: 0 while a frame is ready for the host."""
        return 0 if self.pending is not None else 1

    def write(self, data):
        if self._take_fault("nak") or self.hard_off:
            raise OSError(19)  # ENODEV: address not acknowledged
        data = bytes(data)  # the bus hands over its buffer; a frame is small
        self.modeled_us += (len(data) + 1) * I2C_US_PER_BYTE
        if not data:
            return  # address-only probe
        if self.powered_down:
            # any host activity on I2C wakes it (PowerDown WakeUpEnable bit 7);
            # the first frame after wake-up is lost while the oscillator starts
            self.powered_down = False
            self.modeled_us += 2000
        kind, payload = parse_host_frame(data)
        if kind == "bad":
            return
        if kind == "ack":
            self.pending = self.queued = None
            return
        if kind == "nack":
            self.pending = self.last_response
            return
        if self._take_fault("silent"):
            return
        self.pending = ACK
        self.modeled_us += COMMAND_US
        self.command_count += 1
        if len(self.commands) >= KEEP_COMMANDS:  # bounded: a long simulator session must not grow the heap
            del self.commands[: KEEP_COMMANDS // 2]
        self.commands.append(payload[0])
        self.queued = self.execute(payload[0], payload[1:])

    def read(self, n):
        if self._take_fault("nak") or self.hard_off:
            raise OSError(19)
        self.modeled_us += (n + 1) * I2C_US_PER_BYTE
        if self.pending is None or self.powered_down:
            return bytes(n)
        if n == 1:
            return b"\x01"
        out = self.pending
        if out is not ACK and self._take_fault("corrupt"):
            out = bytearray(out)
            out[len(out) // 2] ^= 0x5A
            out = bytes(out)
        if out is ACK:
            self.pending, self.queued = self.queued, None
        else:
            self.last_response = out
            self.pending = None
            if self.sleep_after_read:
                self.sleep_after_read = False
                self.powered_down = True
        data = b"\x01" + out
        return data[:n] + bytes(max(0, n - len(data)))

    # ---- commands --------------------------------------------------------
    def execute(self, cmd, params):
        """The response frame (or ERROR_FRAME) for command `cmd`; None while it has no answer yet."""
        handler = self.handlers().get(cmd)
        if handler is None:
            return ERROR_FRAME
        data = handler(params)
        if data is None:
            return ERROR_FRAME
        if data is WAIT:
            return None  # still polling: the answer comes later (or never)
        if data is FOUND:
            return self._found()
        return frame(bytes((cmd + 1,)) + data)

    def handlers(self):
        return {
            CMD_GET_FIRMWARE_VERSION: self._get_firmware_version,
            CMD_SAM_CONFIGURATION: self._sam_configuration,
            CMD_POWER_DOWN: self._power_down,
            CMD_RF_CONFIGURATION: self._rf_configuration,
        }

    def _get_firmware_version(self, params):
        return FIRMWARE

    def _sam_configuration(self, params):
        if len(params) < 1 or params[0] not in (1, 2, 3, 4):
            return None  # syntax error
        self.sam_configured = params[0] == 1
        return b""

    def _power_down(self, params):
        if len(params) < 1:
            return None
        # the answer is sent, then the chip sleeps once the host has read it
        self.sleep_after_read = True
        self.rf_on = False
        return b"\x00"

    def _rf_configuration(self, params):
        if len(params) < 2:
            return None
        if params[0] == 0x01:  # CfgItem 1: RF field, bit 0 = on
            self.rf_on = bool(params[1] & 1)
        return b""
