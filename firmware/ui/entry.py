"""Keypad text entry: multi-tap letters, digits, dates, choices and PINs.

Editors are pure: key(k, now_ms) returns None, "ok" or "back"; tick(now_ms)
lets a pending multi-tap letter time out.  No clock or hardware inside.
"""

from firmware.crypto.wipe import wipe
from firmware.ticks import ticks_diff
from firmware.ui import keymap as K


class TextEntry:
    """Free text: multi-tap letters (letters=True) or digits."""

    def __init__(self, value="", max_len=32, letters=True):
        self.chars = list(value)
        self.max_len = max_len
        self.letters = letters
        self.pending = None  # [key, index into its letters, since_ms]
        self.full = False  # last key was refused because the field is full

    def _commit(self):
        if self.pending is not None:
            key, idx, _ = self.pending
            self.chars.append(K.letters(key)[idx])
            self.pending = None

    def tick(self, now):
        if self.pending is not None and ticks_diff(now, self.pending[2]) >= K.MULTITAP_MS:
            self._commit()

    def key(self, k, now):
        self.full = False
        if k in K.DIGITS:
            if not self.letters:
                if len(self.chars) >= self.max_len:
                    self.full = True
                else:
                    self.chars.append(k)
                return None
            if self.pending is not None and self.pending[0] == k and ticks_diff(now, self.pending[2]) < K.MULTITAP_MS:
                self.pending[1] = (self.pending[1] + 1) % len(K.letters(k))
                self.pending[2] = now
                return None
            self._commit()
            if len(self.chars) >= self.max_len:
                self.full = True
                return None
            self.pending = [k, 0, now]
            return None
        if k == K.DELETE:
            if self.pending is not None:
                self.pending = None
            elif self.chars:
                self.chars.pop()
            return None
        if k == K.OK:
            self._commit()
            return "ok"
        if k == K.BACK:
            self.pending = None
            return "back"
        return None  # other keys do nothing here (mashing is harmless)

    def text(self):
        t = "".join(self.chars)
        if self.pending is not None:
            key, idx, _ = self.pending
            t += K.letters(key)[idx]
        return t

    def cursor(self):
        """Column of the cursor: on the pending letter, or after the text."""
        return len(self.chars)


class DateEntry(TextEntry):
    """DD/MM/YYYY typed as 8 digits; shown with its slashes."""

    def __init__(self, value=""):
        TextEntry.__init__(self, value, 8, letters=False)

    def shown(self):
        t = "".join(self.chars)
        mask = "DDMMYYYY"
        t = t + mask[len(t):]
        return t[0:2] + "/" + t[2:4] + "/" + t[4:8]

    def cursor(self):
        n = len(self.chars)
        return n + (0 if n < 2 else 1 if n < 4 else 2)


class ChoiceEntry:
    """One of a list: * / # move, 1..9 pick directly, A takes the highlighted one.
    pick_takes: a digit also takes its option (a short list numbered on the screen, like the
    home menu: one key for Male, not two)."""

    def __init__(self, options, selected=0, pick_takes=False):
        self.options = options  # [(value, label)]
        self.index = selected
        self.pick_takes = pick_takes

    def tick(self, now):
        pass

    def key(self, k, now):
        n = len(self.options)
        if n == 0:  # nothing to choose (a damaged list): only OK (refused by validation) and back
            return "ok" if k == K.OK else "back" if k == K.BACK else None
        if k == K.UP:
            self.index = (self.index - 1) % n
        elif k == K.DOWN:
            self.index = (self.index + 1) % n
        elif k in "123456789" and int(k) <= n:
            self.index = int(k) - 1
            if self.pick_takes:
                return "ok"
        elif k == K.OK:
            return "ok"
        elif k == K.BACK:
            return "back"
        return None

    def value(self):
        """The chosen option's key, or None when there are no options."""
        return self.options[self.index][0] if self.options else None


class VillageEntry(ChoiceEntry):
    """A village of a long list (enrol/villages.Villages, read from flash): * / # move, and
    digits type its official 8-digit code, the highlight going to the first village whose code
    starts with what is typed (0204 01: the first village of commune 020401).  C takes a digit
    back.  typed: the digits so far; found: whether a village starts with them."""

    CODE_LEN = 8

    def __init__(self, villages, selected=0):
        ChoiceEntry.__init__(self, villages, selected)
        self.typed = ""
        self.found = True

    def key(self, k, now):
        if k in K.DIGITS or k == K.DELETE:
            if k == K.DELETE:
                self.typed = self.typed[:-1]
            elif len(self.typed) < self.CODE_LEN:
                self.typed += k
            i = self.options.seek(self.typed) if self.typed and self.options else -1
            self.found = i >= 0 or not self.typed
            if i >= 0:
                self.index = i
            return None
        if k == K.UP or k == K.DOWN:
            self.typed = ""
            self.found = True
        return ChoiceEntry.key(self, k, now)


PIN_MIN = 4  # digits; PinEntry.MAX is the most


class PinEntry:
    """4-6 digits into a preallocated bytearray; never shown, zeroed by wipe()."""

    MAX = 6

    def __init__(self):
        self.digits = bytearray(self.MAX)
        self.n = 0

    def tick(self, now):
        pass

    def key(self, k, now):
        if k in K.DIGITS:
            if self.n < self.MAX:
                self.digits[self.n] = ord(k)
                self.n += 1
        elif k == K.DELETE:
            if self.n:
                self.n -= 1
                self.digits[self.n] = 0
        elif k == K.OK:
            return "ok"
        elif k == K.BACK:
            return "back"
        return None

    def masked(self):
        return "*" * self.n

    def value(self):
        """The PIN as a new bytearray (the caller wipes it too)."""
        return bytearray(self.digits[: self.n])

    def wipe(self):
        wipe(self.digits)
        self.n = 0


TRIVIAL_PINS = ("0123", "1234", "12345", "123456", "4321", "54321", "654321", "1212", "2580", "0852")


def pin_problem(pin):
    """None if the PIN (bytes of ASCII digits) is acceptable, else the message to show."""
    n = len(pin)
    if n < PIN_MIN:
        return "4 to 6 digits"
    if n > 6:
        return "4 to 6 digits"
    if all(pin[i] == pin[0] for i in range(n)):
        return "Too simple: same"
    up = all(pin[i + 1] == pin[i] + 1 for i in range(n - 1))
    down = all(pin[i + 1] == pin[i] - 1 for i in range(n - 1))
    if up or down or bytes(pin).decode() in TRIVIAL_PINS:
        return "Too simple: seq"
    return None
