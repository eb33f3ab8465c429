"""Deterministic CBOR (RFC 8949) for the types the device uses: int, bytes, text, list,
map, bool, None and tags.

Encoding follows the core deterministic rules (section 4.2.1): the shortest
argument form, definite lengths only, map keys sorted by the bytewise order of
their encodings.  Decoding is strict and bounded, because it reads card
contents that anyone can write: indefinite lengths, floats, simple values
other than false/true/null, non-shortest arguments, duplicate or unsorted map
keys, map keys that are not an integer, text or bytes (a bool or a tag key would
collide with 1 or not hash), text that is not strict UTF-8 (overlong forms,
surrogates, code points past U+10FFFF: MicroPython's decode() lets them through),
nesting deeper than MAX_DEPTH, more than MAX_ITEMS items in one input and items
beyond the input are refused with CBORError, and with nothing else.
"""

import struct

MAX_DEPTH = 8
MAX_ITEMS = 256  # per decode: a record or a credential holds a few dozen; each item costs heap


class CBORError(ValueError):
    pass


class Tag:
    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and other.tag == self.tag and other.value == self.value


def _head(major, arg, out):
    mt = major << 5
    if arg < 24:
        out.append(mt | arg)
    elif arg < 0x100:
        out.append(mt | 24)
        out.append(arg)
    elif arg < 0x10000:
        out.append(mt | 25)
        out.extend(struct.pack(">H", arg))
    elif arg < 0x100000000:
        out.append(mt | 26)
        out.extend(struct.pack(">I", arg))
    elif arg < 0x10000000000000000:
        out.append(mt | 27)
        out.extend(struct.pack(">Q", arg))
    else:
        raise CBORError("integer too large")


def _enc(obj, out):
    if obj is False:
        out.append(0xF4)
    elif obj is True:
        out.append(0xF5)
    elif obj is None:
        out.append(0xF6)
    elif isinstance(obj, int):
        if obj >= 0:
            _head(0, obj, out)
        else:
            _head(1, -1 - obj, out)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _head(2, len(obj), out)
        out.extend(obj)
    elif isinstance(obj, str):
        raw = obj.encode()
        _head(3, len(raw), out)
        out.extend(raw)
    elif isinstance(obj, (list, tuple)):
        _head(4, len(obj), out)
        for item in obj:
            _enc(item, out)
    elif isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            kb = bytearray()
            _enc(k, kb)
            items.append((bytes(kb), v))
        items.sort(key=lambda kv: kv[0])
        _head(5, len(items), out)
        for kb, v in items:
            out.extend(kb)
            _enc(v, out)
    elif isinstance(obj, Tag):
        _head(6, obj.tag, out)
        _enc(obj.value, out)
    else:
        raise CBORError("cannot encode " + str(type(obj)))


def dumps(obj):
    out = bytearray()
    _enc(obj, out)
    return bytes(out)


def _utf8(raw):
    """raw as text if it is strict UTF-8 (RFC 3629), else CBORError."""
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b < 0x80:
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= b <= 0xEF:
            need = 2
            lo = 0xA0 if b == 0xE0 else 0x80  # E0 80..9F: overlong
            hi = 0x9F if b == 0xED else 0xBF  # ED A0..BF: surrogates
        elif 0xF0 <= b <= 0xF4:
            need = 3
            lo = 0x90 if b == 0xF0 else 0x80  # F0 80..8F: overlong
            hi = 0x8F if b == 0xF4 else 0xBF  # F4 90..: past U+10FFFF
        else:
            raise CBORError("text is not UTF-8")
        if i + need >= n:
            raise CBORError("text is not UTF-8")  # cut inside a character
        c = raw[i + 1]
        if not lo <= c <= hi:
            raise CBORError("text is not UTF-8")
        for j in range(i + 2, i + 1 + need):
            if not 0x80 <= raw[j] <= 0xBF:
                raise CBORError("text is not UTF-8")
        i += 1 + need
    try:
        return raw.decode()
    except UnicodeError:
        raise CBORError("text is not UTF-8")


class _Reader:
    def __init__(self, data, max_len, max_items, each=None):
        self.data = data
        self.pos = 0
        self.max_len = max_len
        self.max_items = max_items
        self.items = 0
        self.each = each  # loads(each=): {top-level map key: callable(element)}

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise CBORError("truncated")
        start = self.pos
        self.pos += n
        return self.data[start : self.pos]

    def head(self):
        ib = self.take(1)[0]
        major, info = ib >> 5, ib & 0x1F
        if info < 24:
            return major, info, ib
        if info == 24:
            arg = self.take(1)[0]
            low = 24
        elif info == 25:
            arg = struct.unpack(">H", self.take(2))[0]
            low = 0x100
        elif info == 26:
            arg = struct.unpack(">I", self.take(4))[0]
            low = 0x10000
        elif info == 27:
            arg = struct.unpack(">Q", self.take(8))[0]
            low = 0x100000000
        else:
            raise CBORError("indefinite length or reserved value")
        if major != 7 and arg < low:
            raise CBORError("non-shortest integer encoding")
        return major, arg, ib

    def item(self, depth):
        if depth > MAX_DEPTH:
            raise CBORError("nested too deep")
        self.items += 1
        if self.items > self.max_items:
            raise CBORError("too many items")
        major, arg, ib = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major in (2, 3):
            if arg > self.max_len or arg > len(self.data) - self.pos:
                raise CBORError("string too long" if arg > self.max_len else "truncated")
            raw = bytes(self.take(arg))
            if major == 2:
                return raw
            return _utf8(raw)
        if major == 4:
            if arg > self.max_len or arg > len(self.data) - self.pos:  # each item takes a byte at least
                raise CBORError("array too long" if arg > self.max_len else "truncated")
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            if arg > self.max_len or 2 * arg > len(self.data) - self.pos:
                raise CBORError("map too long" if arg > self.max_len else "truncated")
            out = {}
            last = None
            for _ in range(arg):
                start = self.pos
                k = self.item(depth + 1)
                kb = bytes(self.data[start : self.pos])
                if last is not None and kb <= last:
                    raise CBORError("map keys duplicated or not in deterministic order")
                last = kb
                if isinstance(k, bool) or not isinstance(k, (int, str, bytes)):
                    raise CBORError("map key must be an integer, text or bytes")
                if depth == 0 and self.each is not None and k in self.each:
                    out[k] = self.elements(self.each[k])
                else:
                    out[k] = self.item(depth + 1)
            return out
        if major == 6:
            return Tag(arg, self.item(depth + 1))
        # major 7: only false, true, null
        if ib == 0xF4:
            return False
        if ib == 0xF5:
            return True
        if ib == 0xF6:
            return None
        raise CBORError("unsupported simple value or float")


    def elements(self, fn):
        """An array's elements, each decoded and handed to fn, then dropped; their count."""
        major, arg, _ = self.head()
        if major != 4:
            raise CBORError("not an array")
        if arg > self.max_len or arg > len(self.data) - self.pos:
            raise CBORError("array too long" if arg > self.max_len else "truncated")
        self.items += 1
        if self.items > self.max_items:
            raise CBORError("too many items")
        for _ in range(arg):
            fn(self.item(2))
        return arg


def loads(data, max_len=1024, max_items=MAX_ITEMS, each=None):
    """Decode exactly one item filling `data`; strings, arrays and maps above max_len, and more
    than max_items items in all, are refused.

    With each ({key: fn}), data must be a map: the array under each of those keys is not built
    but handed to fn one element at a time, and the map holds its length instead (a long answer
    is checked in the heap of one row).  fn has seen the elements before a later error is raised."""
    r = _Reader(memoryview(data) if not isinstance(data, memoryview) else data, max_len, max_items, each)
    if each is not None and (len(data) == 0 or data[0] >> 5 != 5):
        raise CBORError("not a map")
    obj = r.item(0)
    if r.pos != len(data):
        raise CBORError("trailing bytes after the item")
    return obj
