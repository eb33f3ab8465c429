"""SSD1306 128x64 OLED over I2C (Solomon Systech SSD1306 datasheet rev 1.1).

One preallocated 1025-byte buffer: byte 0 is the I2C control byte 0x40
(Co=0, D/C#=1: the rest is display RAM), bytes 1..1024 are the 8 pages of
128 columns in horizontal addressing mode (MONO_VLSB layout, LSB = top row),
so show() is a single bus write with no copy.
"""

from micropython import const

_ADDR = const(0x3C)
_CTRL_CMD = const(0x80)  # Co=1, D/C#=0: one command byte follows
_CTRL_DATA = const(0x40)  # Co=0, D/C#=1: display RAM bytes follow

_SET_CONTRAST = const(0x81)  # args: contrast 0..255
_ENTIRE_ON_RESUME = const(0xA4)
_NORM_INV = const(0xA6)  # | 1 = inverse
_DISP_OFF = const(0xAE)
_DISP_ON = const(0xAF)
_SET_MEM_ADDR = const(0x20)  # args: 0 = horizontal addressing
_SET_COL_ADDR = const(0x21)  # args: start column, end column
_SET_PAGE_ADDR = const(0x22)  # args: start page, end page
_SET_START_LINE = const(0x40)
_SET_SEG_REMAP = const(0xA0)  # | 1 = column 127 mapped to SEG0
_SET_MUX_RATIO = const(0xA8)  # args: height - 1
_SET_COM_OUT_DIR = const(0xC0)  # | 8 = scan from COM[N-1]
_SET_DISP_OFFSET = const(0xD3)  # args: vertical shift
_SET_COM_PIN_CFG = const(0xDA)  # args: 0x12 for 128x64
_SET_DISP_CLK_DIV = const(0xD5)  # args: 0x80 = reset default
_SET_PRECHARGE = const(0xD9)  # args: 0xF1 with the internal charge pump
_SET_VCOM_DESEL = const(0xDB)  # args: 0x30 = 0.83 x Vcc
_SET_CHARGE_PUMP = const(0x8D)  # args: 0x14 = enable

WIDTH = const(128)
HEIGHT = const(64)
BUFFER_BYTES = const(1024)  # WIDTH * HEIGHT // 8

_INIT = (
    _DISP_OFF,
    _SET_MEM_ADDR, 0x00,
    _SET_START_LINE | 0x00,
    _SET_SEG_REMAP | 0x01,
    _SET_MUX_RATIO, HEIGHT - 1,
    _SET_COM_OUT_DIR | 0x08,
    _SET_DISP_OFFSET, 0x00,
    _SET_COM_PIN_CFG, 0x12,
    _SET_DISP_CLK_DIV, 0x80,
    _SET_PRECHARGE, 0xF1,
    _SET_VCOM_DESEL, 0x30,
    _SET_CONTRAST, 0xFF,
    _ENTIRE_ON_RESUME,
    _NORM_INV,
    _SET_CHARGE_PUMP, 0x14,
)


class SSD1306:
    """The OLED controller.  `i2c` is a machine.I2C-like object (writeto)."""

    def __init__(self, i2c, addr=_ADDR):
        self.i2c = i2c
        self.addr = addr
        self._cmd_buf = bytearray(2)
        self._cmd_buf[0] = _CTRL_CMD
        self.buffer = bytearray(BUFFER_BYTES + 1)
        self.buffer[0] = _CTRL_DATA
        self.pixels = memoryview(self.buffer)[1:]  # framebuf target; shares self.buffer
        self.is_on = False

    def _cmd(self, byte):
        self._cmd_buf[1] = byte
        self.i2c.writeto(self.addr, self._cmd_buf)

    def init_display(self):
        """Send the power-on sequence and clear RAM.  Raises OSError if the panel does not ACK."""
        for byte in _INIT:
            self._cmd(byte)
        for i in range(1, BUFFER_BYTES + 1):
            self.buffer[i] = 0
        self.show()
        self.poweron()

    def poweroff(self):
        """Display off (sleep mode, < 10 uA panel current per the datasheet)."""
        self._cmd(_DISP_OFF)
        self.is_on = False

    def poweron(self):
        self._cmd(_DISP_ON)
        self.is_on = True

    def contrast(self, level):
        """level: 0..255."""
        self._cmd(_SET_CONTRAST)
        self._cmd(level & 0xFF)

    def show(self):
        """Copy the whole pixel buffer to display RAM (1 + 1024 bytes on the bus)."""
        self._cmd(_SET_COL_ADDR)
        self._cmd(0)
        self._cmd(WIDTH - 1)
        self._cmd(_SET_PAGE_ADDR)
        self._cmd(0)
        self._cmd(HEIGHT // 8 - 1)
        self.i2c.writeto(self.addr, self.buffer)
