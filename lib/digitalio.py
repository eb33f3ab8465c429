"""CircuitPython compat: digitalio.DigitalInOut over a machine.Pin-like object.

The board module creates the pins (firmware/board.py); this shim only adapts
their interface, so it never imports machine itself and works with the
simulator's pins too.  A pin object needs value([v]) and, to change
direction, init(mode) with mode constants IN/OUT on the pin.
"""


class Direction:
    INPUT = 0
    OUTPUT = 1


class Pull:
    UP = 1
    DOWN = 2


class DriveMode:
    PUSH_PULL = 0
    OPEN_DRAIN = 1


class DigitalInOut:
    def __init__(self, pin):
        self._pin = pin
        self._direction = Direction.INPUT

    @property
    def direction(self):
        return self._direction

    @direction.setter
    def direction(self, d):
        self._direction = d
        init = getattr(self._pin, "init", None)
        if init is not None:
            init(self._pin.OUT if d == Direction.OUTPUT else self._pin.IN)

    def switch_to_output(self, value=False, drive_mode=DriveMode.PUSH_PULL):
        self.direction = Direction.OUTPUT
        self.value = value

    def switch_to_input(self, pull=None):
        self.direction = Direction.INPUT

    @property
    def value(self):
        return bool(self._pin.value())

    @value.setter
    def value(self, v):
        self._pin.value(1 if v else 0)

    def deinit(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deinit()
