"""SSD1306 128x64 controller at the I2C level (Solomon Systech datasheet, sections 8.1.5 and 10).

Each I2C write starts with a control byte: 0x80 (Co=1, D/C#=0) one command
byte follows; 0x00 (Co=0, D/C#=0) command bytes follow; 0x40 (Co=0, D/C#=1)
display RAM bytes follow.  Horizontal addressing (20h 00h) with the column
(21h) and page (22h) windows: each data byte is 8 vertical pixels (LSB on
top) at the current column/page, then the column advances, wrapping into the
next page of the window.  AEh/AFh switch the panel off/on.  Commands with
arguments wait for their argument bytes.  Anything else is recorded, not
interpreted.  to_text() renders the panel with Unicode half blocks.
"""

_ARGS = {0x81: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xA8: 1, 0xD3: 1, 0xDA: 1, 0xD5: 1, 0xD9: 1, 0xDB: 1, 0x8D: 1}


class SSD1306Emulator:
    ADDRESS = 0x3C

    def __init__(self):
        self.ram = bytearray(1024)
        self.on = False
        self.contrast = 0x7F  # reset value (datasheet 10.1.7)
        self.col_start, self.col_end = 0, 127
        self.page_start, self.page_end = 0, 7
        self.col, self.page = 0, 0
        self.cmd = None
        self.args = []
        self.frames = 0
        self.unknown = 0

    def read(self, n):
        return bytes(n)  # the status read is not used by the driver

    def write(self, data):
        if not data:
            return
        ctrl = data[0]
        n = len(data)
        if ctrl & 0x40:
            for i in range(1, n):  # indexes, not a slice: no 1 KB copy per frame
                self._data(data[i])
            self.frames += 1
        elif ctrl & 0x80:
            if n > 1:
                self._command(data[1])
        else:
            for i in range(1, n):
                self._command(data[i])

    def _command(self, b):
        if self.cmd is not None:
            self.args.append(b)
            if len(self.args) < _ARGS[self.cmd]:
                return
            cmd, args = self.cmd, self.args
            self.cmd, self.args = None, []
            if cmd == 0x81:
                self.contrast = args[0]
            elif cmd == 0x21:
                self.col_start, self.col_end = args[0] & 0x7F, args[1] & 0x7F
                self.col = self.col_start
            elif cmd == 0x22:
                self.page_start, self.page_end = args[0] & 7, args[1] & 7
                self.page = self.page_start
            return
        if b in _ARGS:
            self.cmd = b
            self.args = []
        elif b == 0xAE:
            self.on = False
        elif b == 0xAF:
            self.on = True
        elif b in (0x40, 0xA0, 0xA1, 0xA4, 0xA6, 0xA7, 0xC0, 0xC8):
            pass
        else:
            self.unknown += 1

    def power_state(self):
        """For the energy meter: off, dim (contrast below 0x40) or on."""
        if not self.on:
            return "off"
        return "dim" if self.contrast < 0x40 else "on"

    def _data(self, b):
        self.ram[self.page * 128 + self.col] = b
        if self.col >= self.col_end:
            self.col = self.col_start
            self.page = self.page_start if self.page >= self.page_end else self.page + 1
        else:
            self.col += 1

    def pixel(self, x, y):
        return (self.ram[(y >> 3) * 128 + x] >> (y & 7)) & 1

    def to_text(self):
        if not self.on:
            return "(display off)"
        rows = []
        for y in range(0, 64, 2):
            line = []
            for x in range(128):
                top, bottom = self.pixel(x, y), self.pixel(x, y + 1)
                line.append(" \u2580\u2584\u2588"[top | (bottom << 1)])
            rows.append("".join(line))
        return "\n".join(rows)
