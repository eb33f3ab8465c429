"""CircuitPython compat: busio.I2C over a machine.I2C-like bus.

CircuitPython drivers take start/end slices and lock the bus; MicroPython's
machine.I2C takes buffers.  This adapter slices with memoryview (no copy).
Build it from a bus the board made: busio.I2C(bus=board.open_i2c()).  Pins are
the board's business (only firmware/board.py touches machine), so CircuitPython's
busio.I2C(scl, sda) form is refused with a message saying so.
"""


class I2C:
    def __init__(self, scl=None, sda=None, frequency=400000, *, bus=None):
        if bus is None:
            raise ValueError("busio.I2C needs bus=board.open_i2c(): pins belong to firmware/board.py")
        self._bus = bus
        self._locked = False

    def try_lock(self):
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self):
        self._locked = False

    def scan(self):
        return self._bus.scan()

    def readfrom_into(self, address, buffer, *, start=0, end=None):
        if end is None:
            end = len(buffer)
        self._bus.readfrom_into(address, memoryview(buffer)[start:end])

    def writeto(self, address, buffer, *, start=0, end=None, stop=True):
        if end is None:
            end = len(buffer)
        self._bus.writeto(address, memoryview(buffer)[start:end], stop)

    def writeto_then_readfrom(self, address, buffer_out, buffer_in, *, out_start=0, out_end=None,
                              in_start=0, in_end=None):
        if out_end is None:
            out_end = len(buffer_out)
        if in_end is None:
            in_end = len(buffer_in)
        self._bus.writeto(address, memoryview(buffer_out)[out_start:out_end], False)
        self._bus.readfrom_into(address, memoryview(buffer_in)[in_start:in_end])

    def deinit(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deinit()
