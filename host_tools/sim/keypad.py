"""A 4x4 key matrix at the pin level: the firmware drives columns and reads rows.

press()/release() change which switches are closed; a row pin reads 0 while
any closed switch on it connects to a column the firmware drives low.
bounce(key, n) makes the next n reads of that key alternate, like a worn contact.
"""


class _ColPin:
    IN = 0
    OUT = 1

    def __init__(self):
        self.level = 1

    def init(self, mode=None, *args, **kw):
        pass

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0


class _RowPin:
    IN = 0
    OUT = 1

    def __init__(self, matrix, r):
        self.matrix = matrix
        self.r = r

    def init(self, mode=None, *args, **kw):
        pass

    def value(self, v=None):
        return self.matrix.row_level(self.r)


class KeyMatrix:
    def __init__(self, keys="123A456B789C*0#D"):
        self.keys = keys
        self.closed = {}
        self.bouncing = {}
        self.cols = [_ColPin() for _ in range(4)]
        self.rows = [_RowPin(self, r) for r in range(4)]

    def _pos(self, key):
        i = self.keys.index(key)
        return i // 4, i % 4

    def press(self, key):
        self.closed[self._pos(key)] = True

    def release(self, key):
        self.closed.pop(self._pos(key), None)

    def bounce(self, key, reads):
        self.bouncing[self._pos(key)] = reads

    def row_level(self, r):
        for c, col in enumerate(self.cols):
            if col.level == 0:
                pos = (r, c)
                closed = pos in self.closed
                left = self.bouncing.get(pos, 0)
                if left:
                    self.bouncing[pos] = left - 1
                    closed = not closed if left % 2 else closed
                if closed:
                    return 0
        return 1
