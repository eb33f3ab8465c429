"""The device's villages, read from flash a row at a time (villages.bin: firmware/formats.py).

A district has up to 289 villages: as Python strings they would take about 20 KB of a 100 KB
heap, so only the rows on the screen are read.  The file is checked once, when it is opened
(size and CRC, read in small chunks); a file that fails is not used at all, and the home screen
then refuses new enrolments and says to call a technician.
"""

import struct

from firmware import formats, fsutil


class VillagesError(Exception):
    pass


class Villages:
    """A read-only list of (code, name): len(), [i], commune(i), seek(code prefix)."""

    def __init__(self, path):
        self.path = path
        self._row = bytearray(formats.VILLAGE_REC)
        try:
            checked = fsutil.checked_head(path, formats.VILLAGES_HEAD, formats.VILLAGES_MAGIC)
        except OSError:
            raise VillagesError("no village list")
        if checked is None:
            raise VillagesError("not a village list")
        n, nc, got, crc_ok = checked
        if not 0 < n <= formats.MAX_VILLAGES or not 0 < nc <= formats.MAX_COMMUNES:
            raise VillagesError("village list counts out of range")
        if got != nc * formats.COMMUNE_REC + n * formats.VILLAGE_REC or not crc_ok:
            raise VillagesError("village list damaged")
        self.n = n
        self._base = formats.VILLAGES_HEAD + nc * formats.COMMUNE_REC
        self._communes = nc

    def __len__(self):
        return self.n

    def _read(self, offset, size):
        row = memoryview(self._row)[:size]
        with open(self.path, "rb") as f:
            f.seek(offset)
            if f.readinto(row) != size:
                raise VillagesError("village list cut short")
        return row

    def _village(self, i):
        if not 0 <= i < self.n:
            raise IndexError("village index")
        return self._read(self._base + i * formats.VILLAGE_REC, formats.VILLAGE_REC)

    def code_at(self, i):
        return "%08d" % struct.unpack_from(">I", self._village(i), 0)[0]

    def __getitem__(self, i):
        """(code, name) of the i-th village (a ChoiceEntry option)."""
        row = self._village(i)
        code, _, k = struct.unpack_from(">IHB", row, 0)
        return "%08d" % code, str(bytes(row[7 : 7 + k]), "ascii")

    def commune(self, i):
        """The name of the i-th village's commune."""
        return self.commune_of(i)[1]

    def commune_of(self, i):
        """(code, name) of the i-th village's commune."""
        ci = struct.unpack_from(">H", self._village(i), 4)[0]
        if ci >= self._communes:
            raise VillagesError("village list damaged")
        row = self._read(formats.VILLAGES_HEAD + ci * formats.COMMUNE_REC, formats.COMMUNE_REC)
        code = struct.unpack_from(">I", row, 0)[0]
        return "%06d" % code, str(bytes(row[5 : 5 + row[4]]), "ascii")

    def seek(self, prefix):
        """The first village whose code starts with prefix (digits typed on the keypad), or -1."""
        lo, hi = 0, self.n
        while lo < hi:  # the first code >= prefix: codes are sorted
            mid = (lo + hi) // 2
            if self.code_at(mid) < prefix:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.n and self.code_at(lo).startswith(prefix):
            return lo
        return -1

    def index(self, code):
        """The index of the village with this code, or -1."""
        i = self.seek(code) if len(code) == 8 else -1
        return i


def load(data_dir):
    """The device's Villages, or () when villages.bin is missing or damaged (and why)."""
    try:
        return Villages(data_dir + "/villages.bin"), None
    except VillagesError as e:
        return (), str(e)
