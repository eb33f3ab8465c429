"""Small filesystem helpers that behave the same on LittleFS (MicroPython) and POSIX (CPython)."""

import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def makedirs(path):
    """mkdir -p for '/'-separated paths."""
    cur = ""
    for part in path.split("/"):
        if not part:
            cur = "/" if not cur else cur
            continue
        cur = part if not cur else (cur.rstrip("/") + "/" + part)
        try:
            os.mkdir(cur)
        except OSError:
            pass
    if not exists(path):
        raise OSError(2, "cannot create " + path)


def remove(path):
    """Remove a file; True if it was there."""
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def write_atomic(path, data):
    """Write `data` to path.tmp, then rename over path: readers see the old or the new file, never half."""
    if isinstance(data, str):
        data = data.encode()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_file(path):
    """The whole (small) file, or None if it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def used_percent(path):
    """Percentage of the filesystem holding `path` that is in use (statvfs blocks)."""
    st = os.statvfs(path)
    blocks, bfree = st[2], st[3]
    if not blocks:
        return 100
    return (blocks - bfree) * 100 // blocks


def crc32_rest(f, chunk=256):
    """(bytes, CRC32) of what is left of an open binary file, read a small chunk at a time
    (a file checked at open is never read whole into RAM)."""
    import binascii

    buf = bytearray(chunk)
    view = memoryview(buf)
    size = 0
    c = 0
    while True:
        k = f.readinto(buf)
        if not k:
            break
        size += k
        c = binascii.crc32(view[:k], c)
    return size, c & 0xFFFFFFFF


def checked_head(path, head_len, magic):
    """A file with a checked head (villages.bin, km.bin: formats.py): magic (4), two u16 BE
    counts, the CRC32 of every byte after the head (u32 BE), then the rest of the head.  Returns
    (count a, count b, bytes after the head, whether their CRC32 is the head's), or None when the
    file does not start with magic; OSError when it cannot be read.  Read a chunk at a time."""
    import struct

    with open(path, "rb") as f:
        head = f.read(head_len)
        if len(head) != head_len or head[0:4] != magic:
            return None
        a, b, crc = struct.unpack_from(">HHI", head, 4)
        size, c = crc32_rest(f)
    return a, b, size, c == crc
