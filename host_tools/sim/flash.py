"""Emulated SPI NOR flash partition as a MicroPython block device (extended interface for vfs.VfsLfs2).

Behaves like NOR flash: erase sets a 4096-byte block to 0xFF; program can only
clear bits (new = old AND data), so a program over unerased data shows up as
corruption instead of silently working.  Counts every program and erase, and
can cut the power at the Nth one:
  mode 'lost'  the interrupted operation is not applied at all
  mode 'torn'  only its first half is applied (a program cut mid-page)
  mode 'half'  an erase leaves the first half of the block erased, the rest as it was
The cut operation, and every later one until power_on() or power_cycle(),
returns -EIO to LittleFS instead of raising: an exception would unwind through
LittleFS's C code and leave its state half-updated (open-file lists that a
later finaliser walks: a segfault).  LittleFS reports the I/O error upwards
cleanly; the caller checks `dead` to know the power went.
Pure Python: runs under the MicroPython unix port (for VfsLfs2) and CPython.
"""

BLOCK_SIZE = 4096

_IOCTL_INIT = 1
_IOCTL_DEINIT = 2
_IOCTL_SYNC = 3
_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_BLOCK_ERASE = 6


_EIO = -5  # what a block device returns for an I/O error


class FlashBlockDevice:
    def __init__(self, blocks, image=None, mem=None):
        """image: bytes to start from (copied); mem: a bytearray to use as the chip itself
        (no copy: a sweep reuses one buffer instead of fragmenting the heap with new ones)."""
        self.blocks = blocks
        if mem is not None:
            self.mem = mem
        elif image is not None:
            self.mem = bytearray(image)
        else:
            self.mem = bytearray(b"\xff" * (blocks * BLOCK_SIZE))
        self.ops = 0  # programs + erases so far
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0
        self.cut_at = 0  # cut power at this op number (1-based); 0 = never
        self.cut_mode = "lost"
        self.dead = False

    def power_on(self):
        self.dead = False
        self.cut_at = 0

    def power_cycle(self):
        """Power back on, as a new device object over the same memory.

        Objects of the old mount (open files with finalisers) keep the old, dead
        device: nothing they do after the cut can reach the flash."""
        new = FlashBlockDevice(self.blocks, mem=self.mem)
        new.ops, new.programs, new.erases = self.ops, self.programs, self.erases
        new.bytes_programmed = self.bytes_programmed
        self.dead = True
        self.cut_at = 0
        return new

    def _tick(self):
        """True if this operation is the one the power is cut in."""
        self.ops += 1
        return self.cut_at and self.ops == self.cut_at

    # ---- storage (RAM here; FileFlash keeps it in a host file) ------------
    def _read(self, start, buf):
        buf[:] = memoryview(self.mem)[start : start + len(buf)]

    def _program(self, start, buf, n):
        if not n:
            return
        # NOR semantics (bits only go 1 -> 0), as one big-integer AND so it runs at C speed
        end = start + n
        old = int.from_bytes(self.mem[start:end], "big")
        new = int.from_bytes(bytes(buf[:n]), "big")
        self.mem[start:end] = (old & new).to_bytes(n, "big")

    def _erase(self, start, n):
        self.mem[start : start + n] = b"\xff" * n

    def image(self):
        return bytes(self.mem)

    # ---- block device protocol -------------------------------------------
    def readblocks(self, block, buf, offset=0):
        if self.dead:
            return _EIO
        self._read(block * BLOCK_SIZE + offset, buf)
        return 0

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # simple interface: erase, then program whole blocks
            for i in range(len(buf) // BLOCK_SIZE):
                if self.erase(block + i):
                    return _EIO
            offset = 0
        if self.dead:
            return _EIO
        cut = self._tick()
        start = block * BLOCK_SIZE + offset
        n = len(buf)
        if cut:
            self.dead = True
            if self.cut_mode == "torn":
                n //= 2
            else:
                n = 0
        self._program(start, buf, n)
        self.programs += 1
        self.bytes_programmed += n
        return _EIO if cut else 0

    def erase(self, block):
        if self.dead:
            return _EIO
        cut = self._tick()
        start = block * BLOCK_SIZE
        n = BLOCK_SIZE
        if cut:
            self.dead = True
            n = BLOCK_SIZE // 2 if self.cut_mode == "half" else 0
        self._erase(start, n)
        self.erases += 1
        return _EIO if cut else 0

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.blocks
        if op == _IOCTL_BLOCK_SIZE:
            return BLOCK_SIZE
        if op == _IOCTL_BLOCK_ERASE:
            return self.erase(arg)
        # INIT, DEINIT, SYNC: nothing to do (plain comparisons: no allocation in a finaliser)
        if op == _IOCTL_INIT or op == _IOCTL_DEINIT or op == _IOCTL_SYNC:
            return 0
        return None


class FileFlash(FlashBlockDevice):
    """The same flash kept in a host file, so a heap-limited MicroPython test does not pay
    for the emulated chip with the device's RAM."""

    def __init__(self, blocks, path):
        self.f = open(path, "w+b")
        chunk = b"\xff" * 256
        for _ in range(blocks * BLOCK_SIZE // 256):
            self.f.write(chunk)
        self.f.flush()
        self._tmp = bytearray(256)
        FlashBlockDevice.__init__(self, blocks, mem=bytearray(0))

    def _read(self, start, buf):
        self.f.seek(start)
        self.f.readinto(buf)

    def _program(self, start, buf, n):
        tmp = self._tmp
        done = 0
        while done < n:
            k = min(len(tmp), n - done)
            view = memoryview(tmp)[:k]
            self.f.seek(start + done)
            self.f.readinto(view)
            for i in range(k):
                tmp[i] &= buf[done + i]
            self.f.seek(start + done)
            self.f.write(view)
            done += k

    def _erase(self, start, n):
        self.f.seek(start)
        chunk = b"\xff" * 256
        while n > 0:
            self.f.write(chunk[: min(256, n)])
            n -= 256

    def image(self):
        self.f.seek(0)
        return self.f.read()


def flip_bit(dev, byte_offset, bit):
    """Radiation, wear or a bad cell: one bit of the image changes."""
    if isinstance(dev, FileFlash):
        b = bytearray(1)
        dev.f.seek(byte_offset)
        dev.f.readinto(b)
        b[0] ^= 1 << bit
        dev.f.seek(byte_offset)
        dev.f.write(b)
    else:
        dev.mem[byte_offset] ^= 1 << bit
