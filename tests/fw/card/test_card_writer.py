"""The real adafruit_pn532 driver writes a credential to an emulated NTAG215 over the emulated PN532,
reads it back and verifies it; every fault mode gets a defined answer."""

import binascii

from fwtest import raises
from firmware.board_sim import SimI2C
from firmware.card import credential, ndef
from firmware.card.writer import CardRefused, CardWriter, NeedsSupervisor, card_password
from firmware.hw.nfc import CardLost, Reader
from host_tools.sim.ntag import NTAG21x
from host_tools.sim.reader import OtherCard, PN532Reader


SEED = binascii.unhexlify("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
PUB = binascii.unhexlify("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
CARD_KEY = bytes(range(32))
RID = bytes(range(16))


class IrqPin:
    """P70_IRQ wired to a GPIO, as on the board (board.nfc_pins): low while a frame is ready."""

    def __init__(self, chip):
        self.chip = chip

    def value(self):
        return self.chip.irq


def rig(card=None, irq=False):
    import busio
    from digitalio import DigitalInOut

    bus = SimI2C()
    chip = PN532Reader()
    bus.attach(0x24, chip)
    reader = Reader(busio.I2C(bus=bus), irq=DigitalInOut(IrqPin(chip)) if irq else None)
    if card is not None:
        chip.place(card)
    writer = CardWriter(reader, SEED, PUB, CARD_KEY, "dev-0001", "reg-kh")
    return chip, reader, writer


def tap(reader):
    found = reader.wait_card(200)
    assert found is not None
    return found


def test_write_read_back_and_verify_on_ntag215():
    card = NTAG21x("NTAG215", uid=b"\x04\x11\x22\x33\x44\x55\x66")
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    assert uid == card.uid() and sel == 0
    cred_id, old, read_back = writer.write(uid, sel, RID, "SOPHEAP", 1767225600, 1924992000)
    assert old is None and len(cred_id) == 26
    n = 0  # decoded back (Crockford base32: digits, then letters without I, L, O, U), it is the record id
    for c in cred_id:
        n = n * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(c)
    assert n == int.from_bytes(RID, "big")
    writer.check(read_back, uid)  # what the app checks once the card is handed back
    with raises(credential.CredentialError):
        writer.check(read_back, b"\x04" + bytes(6))  # bound to this card's UID, no other
    forged = bytearray(read_back)
    forged[-1] ^= 1  # one bit of the signature
    with raises(credential.CredentialError):
        writer.check(bytes(forged), uid)
    # what a payout point sees: the card alone, read without any password
    image = card.image()
    payload = ndef.parse_record(ndef.find_message(image[16:]))
    claims = credential.verify(payload, {credential.key_id(PUB): PUB}, card.uid())
    assert claims[credential.CLAIM_SUB] == cred_id and claims[credential.CLAIM_GIVEN_NAME] == "SOPHEAP"
    # protected: AUTH0 = 4, PWD/PACK derived from the UID
    cfg0 = (card.dyn + 1) * 4
    assert image[cfg0 + 3] == 4
    pwd, pack = card_password(CARD_KEY, card.uid())
    assert card.mem[(card.dyn + 3) * 4 : (card.dyn + 3) * 4 + 4] == pwd
    # the time model: RF and I2C of the whole transaction stays under a second
    assert chip.modeled_us < 1_000_000, chip.modeled_us


def test_someone_else_cannot_overwrite_but_we_can_with_a_supervisor():
    card = NTAG21x("NTAG215")
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    first, _, _ = writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
    card.select()  # a new session: not authenticated
    assert card.command(bytes((0xA2, 4, 0, 0, 0, 0))) == 0x00  # NAK: protected
    chip2, reader2, writer2 = rig(card)
    uid, sel = tap(reader2)
    with raises(NeedsSupervisor) as e:
        writer2.write(uid, sel, bytes(16), "SOPHEAP", 1, 2)
    assert e.value.old_credential_id == first
    new, old, _ = writer2.write(uid, sel, bytes(16), "SOPHEAP", 1, 2, reissue=True)
    assert old == first and new != first


def writes_of_one_credential():
    card = NTAG21x("NTAG215")
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
    return card.writes


def test_tearing_at_every_page_write_then_tap_again_finishes_the_write():
    total = writes_of_one_credential()
    assert total > 40  # the TLV pages, then PWD, PACK, ACCESS and AUTH0
    for n in range(total):
        card = NTAG21x("NTAG215")
        chip, reader, writer = rig(card)
        uid, sel = tap(reader)
        card.tear_after_writes(n)
        with raises(CardLost):
            writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
        chip.place(card)  # the officer taps again: the same record's credential needs no supervisor
        uid, sel = tap(reader)
        cred_id, old, _ = writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
        assert old is None
        payload = ndef.parse_record(ndef.find_message(card.image()[16:]))
        assert credential.verify(payload, {credential.key_id(PUB): PUB}, card.uid())[2] == cred_id


def test_wrong_cards_are_refused_with_a_reason():
    for card, word in ((OtherCard(), "MIFARE Classic"), (OtherCard(sel_res=0x20), "Phone/bank card"),
                       (NTAG21x("NTAG213"), "too small")):
        chip, reader, writer = rig(card)
        uid, sel = tap(reader)
        with raises(CardRefused, word):
            writer.write(uid, sel, RID, "A", 1, 2)


def test_card_locked_with_another_password_is_refused():
    card = NTAG21x("NTAG215")
    cfg0 = (card.dyn + 1) * 4
    card.mem[cfg0 + 3] = 4  # AUTH0 = 4 with the factory-unknown password of someone else
    card.mem[(card.dyn + 3) * 4 : (card.dyn + 3) * 4 + 4] = b"\x01\x02\x03\x04"
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    with raises(CardRefused, "locked"):
        writer.write(uid, sel, RID, "A", 1, 2)


def test_no_card_is_none_not_an_exception():
    chip, reader, writer = rig()
    assert reader.wait_card(50) is None
    chip.place(NTAG21x("NTAG215"))
    assert reader.wait_card(200) is not None


def test_bus_faults_become_named_errors_and_the_next_tap_works():
    from firmware.hw.nfc import NfcError

    card = NTAG21x("NTAG215")
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    for fault in ("nak", "corrupt", "silent"):
        chip.inject(fault, 1)
        try:
            reader.get_version()
        except NfcError:
            pass  # a clear, named error: the app says "tap again"
        else:
            raise AssertionError(fault + " went unnoticed")
    uid, sel = tap(reader)  # the reader recovers: the same card writes fine
    cred_id, _, _ = writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
    assert len(cred_id) == 26


def test_a_page_write_meets_each_bus_fault_with_a_named_error_and_the_next_write_works():
    # write_page talks to the bus itself (the hot loop of a card write): the same faults as the
    # driver's commands, with the IRQ line wired (the board) and without (status byte polled)
    from firmware.hw.nfc import NfcError

    for irq in (True, False):
        card = NTAG21x("NTAG215")
        chip, reader, writer = rig(card, irq)
        tap(reader)
        for n, fault in enumerate(("nak", "corrupt", "silent")):
            chip.inject(fault, 1)
            with raises(NfcError):
                reader.write_page(8 + n, b"\xa1\xb2\xc3\xd4")
            reader.write_page(16 + n, b"\x01\x02\x03\x04")  # the next write goes through
            assert card.mem[4 * (16 + n):4 * (17 + n)] == b"\x01\x02\x03\x04"
        # a silent PN532 never got the command, and an address NAK stopped it on the bus:
        # those pages are as they were (a corrupted answer came after the card was written)
        assert card.mem[32:36] == bytes(4) and card.mem[40:44] == bytes(4)
        uid, sel = tap(reader)
        cred_id, _, _ = writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
        assert len(cred_id) == 26


def refused_untouched(card, word):
    """The card is refused with `word` in the reason, before a single page is written."""
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    before = card.image()
    with raises(CardRefused, word):
        writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
    assert card.writes == 0 and card.image() == before


def test_read_only_locked_and_unformatted_cards_are_refused_before_any_write():
    card = NTAG21x("NTAG215")
    card.mem[10] |= 0x20  # static lock byte 0 bit 5: page 5 read-only
    refused_untouched(card, "read-only")
    card = NTAG21x("NTAG216")
    # NTAG216 user memory ends at page 0xE1 = 225: dynamic lock bit 13 (byte 1 bit 5) covers 224-225
    card.mem[card.dyn * 4 + 1] = 0x20
    refused_untouched(card, "read-only")
    card = NTAG21x("NTAG215")
    card.mem[card.dyn * 4] |= 0x01  # dynamic lock bit 0: pages 16-31
    refused_untouched(card, "read-only")
    card = NTAG21x("NTAG215")
    card.mem[(card.dyn + 2) * 4] |= 0x40  # ACCESS.CFGLCK: AUTH0 could never be set
    refused_untouched(card, "Settings locked")
    card = NTAG21x("NTAG215")
    card.mem[15] = 0x0F  # CC E1 10 3E 0F: NDEF read-only
    refused_untouched(card, "Wrong format")
    card = NTAG21x("NTAG215")
    card.mem[(card.dyn + 1) * 4 + 3] = 4  # AUTH0 = 4 and ACCESS.PROT = 1: someone else's read protection
    card.mem[(card.dyn + 2) * 4] = 0x80
    refused_untouched(card, "another issuer")


def test_a_chip_delivered_without_a_capability_container_gets_one():
    card = NTAG21x("NTAG215")
    card.mem[12:16] = bytes(4)
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
    assert card.image()[12:16] == b"\xe1\x10\x3e\x00"  # NTAG215's CC (datasheet table 6)
    card = NTAG21x("NTAG215")
    card.mem[12:16] = bytes(4)
    card.mem[10] |= 0x08  # ... unless the CC page is locked blank
    refused_untouched(card, "Wrong format")


def test_refusal_messages_fit_two_screen_lines():
    from firmware.ui.screen import wrap

    cards = [OtherCard(), OtherCard(sel_res=0x20), NTAG21x("NTAG213")]
    card = NTAG21x("NTAG215")
    card.mem[10] |= 0x10
    cards.append(card)
    for card in cards:
        chip, reader, writer = rig(card)
        uid, sel = tap(reader)
        try:
            writer.write(uid, sel, RID, "A", 1, 2)
        except CardRefused as e:
            lines = wrap(str(e), 2)
            assert len(lines) <= 2 and all(len(x) <= 16 for x in lines), lines
        else:
            raise AssertionError("accepted")


def test_the_pn532_answers_a_nak_by_the_command_that_carried_it():
    """UM0701-02: InDataExchange (7.3.8) runs the MIFARE protocol and answers a NAK with status
    13h (7.1), the card's code lost; InCommunicateThru (7.3.9) passes the 4 bits on as a byte."""
    from host_tools.sim.pn532 import frame

    card = NTAG21x("NTAG215")
    card.mem[10] |= 0x20  # static lock: page 5 read-only
    chip, reader, writer = rig(card)
    tap(reader)
    assert chip.execute(0x40, b"\x01\xa2\x05\x01\x02\x03\x04") == frame(b"\x41\x13")
    assert chip.execute(0x40, b"\x01\xa2\x06\x01\x02\x03\x04") == frame(b"\x41\x00")  # ACK
    assert chip.execute(0x42, b"\xa2\x05\x01\x02\x03\x04") == frame(b"\x43\x00\x00")  # NAK 0h
    assert chip.execute(0x42, b"\xa2\x07\x01\x02\x03\x04") == frame(b"\x43\x00")
    assert card.mem[20:24] == bytes(4) and card.mem[24:28] == b"\x01\x02\x03\x04"


def test_a_refused_write_is_a_named_nak_and_a_card_to_replace_not_a_tap_again():
    from firmware.hw.nfc import CardNak
    from firmware.ui.screen import wrap

    card = NTAG21x("NTAG215")
    card.mem[10] |= 0x20
    chip, reader, writer = rig(card)
    tap(reader)
    with raises(CardNak, "NAK ?"):
        reader.write_page(5, b"\x01\x02\x03\x04")
    reader.write_page(6, b"\x01\x02\x03\x04")  # the reader goes on: the next page writes
    assert card.mem[24:28] == b"\x01\x02\x03\x04"
    # a page that fails only when written (worn EEPROM): every check before passes, the
    # write stops at that page with a reason the officer can act on
    card = NTAG21x("NTAG215")
    card.wear_out(9)
    chip, reader, writer = rig(card)
    uid, sel = tap(reader)
    with raises(CardRefused, "Write refused") as e:
        writer.write(uid, sel, RID, "SOPHEAP", 1, 2)
    assert card.writes == 5  # pages 4-8, then page 9 refused
    lines = wrap("Write refused: use another card", 2)
    assert len(lines) <= 2 and all(len(x) <= 16 for x in lines), lines
