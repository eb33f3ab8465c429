"""The PN532 with cards in its field: InListPassiveTarget, InDataExchange, InCommunicateThru, InRelease.

Cards are NTAG21x emulators (host_tools/sim/ntag.py) or OtherCard (a MIFARE
Classic or an ISO-DEP phone: they answer the poll with their own SEL_RES and
nothing we send).  place()/remove() put a card in or out of the field.
While no card is present, InListPassiveTarget keeps polling (the PN532 does
not answer; the host times out); a card placed meanwhile is found then.
Card answers (status byte first, UM0701-02 7.3.8 InDataExchange, 7.3.9
InCommunicateThru, 7.1 error codes): data -> status 00 + data; a card that left
the field -> status 01 (timeout).  The 4-bit ACK/NAK of a WRITE or a refused
command depends on the command that carried it:
  * InDataExchange runs the MIFARE protocol itself: ACK -> status 00 alone; a NAK
    is "invalid or unexpected RF received frame", status 13h, without the card's
    code (libnfc's MIFARE code reads a refused read/write the same way).
  * InCommunicateThru passes the card's frame through: ACK -> status 00 alone, a
    NAK -> status 00 + its 4 bits as one byte (low nibble).  Time model: RF bytes at 106 kbit/s (9.44 us a bit, 9 bits a byte
with parity), NTAG page write 4.1 ms (datasheet tWR), polling cycle 30 ms.
"""

from host_tools.sim.ntag import ACK, CardGone
from host_tools.sim.pn532 import FOUND, WAIT, PN532Emulator, frame

CMD_IN_DATA_EXCHANGE = 0x40
CMD_IN_COMMUNICATE_THRU = 0x42
CMD_IN_LIST_PASSIVE_TARGET = 0x4A
CMD_IN_RELEASE = 0x52

RF_US_PER_BYTE = 85
WRITE_US = 4100
POLL_US = 30000

STATUS_OK = 0x00
STATUS_TIMEOUT = 0x01
STATUS_INVALID_FRAME = 0x13
STATUS_NO_TARGET = 0x27


class OtherCard:
    """A card that is not an NTAG21x: answers the poll, then nothing we understand."""

    def __init__(self, uid=b"\x12\x34\x56\x78", sel_res=0x08, sens_res=b"\x00\x04"):
        self._uid = uid
        self.sel_res = sel_res
        self.sens_res = sens_res
        self.gone = False

    def uid(self):
        return self._uid

    def select(self):
        pass

    def command(self, data):
        return 0x00  # NAK / error for everything


class PN532Reader(PN532Emulator):
    def __init__(self):
        PN532Emulator.__init__(self)
        self.card = None
        self.target = None
        self.listening = False

    def rf_active(self):
        """The field is on while polling and while a card is selected."""
        return self.rf_on or self.listening or self.target is not None

    def set_rstpdn(self, level):
        PN532Emulator.set_rstpdn(self, level)
        if not level:
            self.listening = False
            self.target = None

    def place(self, card):
        self.card = card
        card.gone = False
        if self.listening:  # the poll in progress finds it
            self.listening = False
            if self.pending is not None:  # its ACK not read yet
                self.queued = self._found()
            else:
                self.pending = self._found()

    def remove(self):
        if self.card is not None:
            self.card.gone = True
        self.card = None
        self.target = None

    def handlers(self):
        h = PN532Emulator.handlers(self)
        h[CMD_IN_LIST_PASSIVE_TARGET] = self._in_list
        h[CMD_IN_DATA_EXCHANGE] = self._in_data_exchange
        h[CMD_IN_COMMUNICATE_THRU] = self._in_communicate_thru
        h[CMD_IN_RELEASE] = self._in_release
        return h

    def execute(self, cmd, params):
        self.listening = False
        return PN532Emulator.execute(self, cmd, params)

    def _found(self):
        card = self.card
        card.select()
        self.target = card
        uid = card.uid()
        sens = getattr(card, "sens_res", b"\x00\x44")
        sel = getattr(card, "sel_res", 0x00)
        data = bytes((0x01, 0x01)) + sens + bytes((sel, len(uid))) + uid
        self.modeled_us += 2 * RF_US_PER_BYTE * 10
        return frame(bytes((CMD_IN_LIST_PASSIVE_TARGET + 1,)) + data)

    def _in_list(self, params):
        if len(params) < 2 or params[0] not in (1, 2) or params[1] != 0x00:
            return None
        self.rf_on = True
        if self.card is None or self.card.gone:
            self.listening = True
            self.modeled_us += POLL_US
            return WAIT
        return FOUND

    def _exchange(self, data, runs_protocol=False):
        card = self.target
        if card is None:
            return bytes((STATUS_NO_TARGET,))
        self.modeled_us += (len(data) + 2) * RF_US_PER_BYTE
        try:
            answer = card.command(bytes(data))
        except CardGone:
            self.target = None
            return bytes((STATUS_TIMEOUT,))
        if data and data[0] == 0xA2 and answer == ACK:
            self.modeled_us += WRITE_US
        if isinstance(answer, int):
            if answer == ACK:
                return bytes((STATUS_OK,))
            return bytes((STATUS_INVALID_FRAME,)) if runs_protocol else bytes((STATUS_OK, answer))
        self.modeled_us += (len(answer) + 2) * RF_US_PER_BYTE
        return bytes((STATUS_OK,)) + answer

    def _in_data_exchange(self, params):
        if len(params) < 2 or params[0] != 0x01:
            return None
        return self._exchange(params[1:], runs_protocol=True)

    def _in_communicate_thru(self, params):
        if len(params) < 1:
            return None
        return self._exchange(params)

    def _in_release(self, params):
        self.target = None
        return bytes((STATUS_OK,))
