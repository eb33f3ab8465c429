"""The NTAG21x emulator answers as the NXP NTAG213/215/216 datasheet (rev 3.2) says; the
writer's tests rely on it, so its own behaviour is pinned here, bytes worked out in comments."""

from host_tools.sim.ntag import ACK, NAK_ARG, NAK_AUTHLIM, NTAG21x

UID = b"\x04\x11\x22\x33\x44\x55\x66"


def cmd(card, *data):
    return card.command(bytes(data))


def test_uid_pages_carry_the_check_bytes():
    card = NTAG21x("NTAG215", uid=UID)
    # BCC0 = 0x88 ^ 04 ^ 11 ^ 22 = 0xBF; BCC1 = 33 ^ 44 ^ 55 ^ 66 = 0x44
    assert cmd(card, 0x30, 0)[:12] == b"\x04\x11\x22\xbf\x33\x44\x55\x66\x44\x48\x00\x00"
    assert card.uid() == UID


def test_get_version_tells_the_model_by_its_storage_size_byte():
    for model, size in (("NTAG213", 0x0F), ("NTAG215", 0x11), ("NTAG216", 0x13)):
        assert cmd(NTAG21x(model), 0x60) == bytes((0x00, 0x04, 0x04, 0x02, 0x01, 0x00, size, 0x03))


def test_read_rolls_over_to_page_zero_and_hides_pwd_and_pack():
    card = NTAG21x("NTAG215", uid=UID)
    last = card.pages - 1  # 134 = PACK page
    out = cmd(card, 0x30, last - 1)  # PWD, PACK, then pages 0 and 1
    assert out[:8] == bytes(8)  # PWD and PACK always read as 00
    assert out[8:] == cmd(card, 0x30, 0)[:8]
    assert cmd(card, 0x30, card.pages) == NAK_ARG  # beyond the last page: NAK 0h
    assert cmd(card, 0x3A, 5, 4) == NAK_ARG  # FAST_READ with start > end
    assert len(cmd(card, 0x3A, 4, 18)) == 60


def test_password_protects_writes_from_auth0_and_authlim_ends_guessing():
    card = NTAG21x("NTAG215")
    dyn = card.dyn
    assert cmd(card, 0xA2, dyn + 3, 1, 2, 3, 4) == ACK  # PWD
    assert cmd(card, 0xA2, dyn + 4, 0xAB, 0xCD, 0, 0) == ACK  # PACK
    assert cmd(card, 0xA2, dyn + 2, 0x02, 0, 0, 0) == ACK  # ACCESS: AUTHLIM = 2
    assert cmd(card, 0xA2, dyn + 1, 0x04, 0, 0, 0x10) == ACK  # AUTH0 = 0x10
    card.select()
    assert cmd(card, 0xA2, 0x0F, 0, 0, 0, 0) == ACK  # below AUTH0: free
    assert cmd(card, 0xA2, 0x10, 0, 0, 0, 0) == NAK_ARG  # from AUTH0: needs PWD_AUTH
    assert len(cmd(card, 0x30, 0x10)) == 16  # reads stay free (PROT = 0)
    assert cmd(card, 0x1B, 1, 2, 3, 4) == b"\xab\xcd"  # the right password answers PACK
    assert cmd(card, 0xA2, 0x10, 9, 9, 9, 9) == ACK
    card.select()
    assert cmd(card, 0x1B, 9, 9, 9, 9) == NAK_ARG
    assert cmd(card, 0x1B, 9, 9, 9, 9) == NAK_ARG
    assert cmd(card, 0x1B, 1, 2, 3, 4) == NAK_AUTHLIM  # two wrong tries: locked for good


def test_read_protection_hides_pages_from_auth0():
    card = NTAG21x("NTAG215")
    dyn = card.dyn
    cmd(card, 0xA2, dyn + 2, 0x80, 0, 0, 0)  # PROT = 1
    cmd(card, 0xA2, dyn + 1, 0x04, 0, 0, 0x08)  # AUTH0 = 8
    card.select()
    assert len(cmd(card, 0x30, 4)) == 16  # pages 4-7
    assert cmd(card, 0x30, 5) == NAK_ARG  # pages 5-8: 8 is protected
    assert cmd(card, 0x3A, dyn, dyn + 2) == NAK_ARG


def test_lock_bits_are_one_time_and_make_pages_read_only():
    card = NTAG21x("NTAG215")
    dyn = card.dyn
    bcc1_internal = bytes(card.mem[8:10])
    assert cmd(card, 0xA2, 2, 0xFF, 0xFF, 0x20, 0x00) == ACK  # static lock byte 0 bit 5: page 5
    assert cmd(card, 0xA2, 2, 0, 0, 0, 0) == ACK  # lock bits only ever set
    assert card.mem[10] == 0x20 and bytes(card.mem[8:10]) == bcc1_internal  # BCC1, internal: read-only
    assert cmd(card, 0xA2, 5, 1, 1, 1, 1) == NAK_ARG and cmd(card, 0xA2, 6, 1, 1, 1, 1) == ACK
    assert cmd(card, 0xA2, dyn, 0x02, 0, 0, 0) == ACK  # dynamic lock bit 1: pages 32-47
    assert cmd(card, 0xA2, 31, 1, 1, 1, 1) == ACK
    assert cmd(card, 0xA2, 32, 1, 1, 1, 1) == NAK_ARG and cmd(card, 0xA2, 47, 1, 1, 1, 1) == NAK_ARG
    assert cmd(card, 0xA2, 48, 1, 1, 1, 1) == ACK
    assert card.mem[dyn * 4 + 3] == 0xBD  # RFUI byte of the dynamic lock page untouched
    cmd(card, 0xA2, 3, 0, 0, 0, 0)
    assert card.mem[12:16] == b"\xe1\x10\x3e\x00"  # the CC is OTP too: zeros change nothing


def test_cfglck_freezes_cfg0_and_cfg1_but_not_the_password():
    card = NTAG21x("NTAG215")
    dyn = card.dyn
    assert cmd(card, 0xA2, dyn + 2, 0x40, 0, 0, 0) == ACK  # CFGLCK
    assert cmd(card, 0xA2, dyn + 1, 0x04, 0, 0, 0x04) == NAK_ARG
    assert cmd(card, 0xA2, dyn + 2, 0x00, 0, 0, 0) == NAK_ARG
    assert cmd(card, 0xA2, dyn + 3, 1, 2, 3, 4) == ACK


def test_tearing_loses_the_write_and_the_card():
    card = NTAG21x("NTAG215")
    card.tear_after_writes(1)
    assert cmd(card, 0xA2, 4, 1, 2, 3, 4) == ACK
    from host_tools.sim.ntag import CardGone

    try:
        cmd(card, 0xA2, 5, 1, 2, 3, 4)
    except CardGone:
        pass
    else:
        raise AssertionError("the card did not leave")
    assert card.mem[20:24] == bytes(4)  # page 5 never written


def test_authlim_counts_up_to_its_own_value_and_a_right_password_before_resets_it():
    """8.8.2: the limit is AUTHLIM itself; a right password before it resets the count; the count
    outlives the session (it is in EEPROM)."""
    card = NTAG21x("NTAG213", uid=UID)
    dyn = card.dyn
    assert cmd(card, 0xA2, dyn + 2, 0x03, 0, 0, 0) == ACK  # ACCESS: AUTHLIM = 3
    assert cmd(card, 0x1B, 9, 9, 9, 9) == NAK_ARG and cmd(card, 0x1B, 9, 9, 9, 9) == NAK_ARG
    assert cmd(card, 0x1B, 0xFF, 0xFF, 0xFF, 0xFF) == b"\x00\x00"  # the default PWD: PACK, count back to 0
    card.select()
    for _ in range(3):
        assert cmd(card, 0x1B, 9, 9, 9, 9) == NAK_ARG
    card.select()  # a new session does not forget the count
    assert cmd(card, 0x1B, 0xFF, 0xFF, 0xFF, 0xFF) == NAK_AUTHLIM  # even the right password


def test_read_cnt_naks_while_the_nfc_counter_is_off_and_counts_one_read_per_session():
    """8.6 and 10.6: READ_CNT NAKs unless ACCESS.NFC_CNT_EN; then the first READ or FAST_READ
    of each session counts; NFC_CNT_PWD_PROT needs a PWD_AUTH first; only address 02h."""
    card = NTAG21x("NTAG215", uid=UID)
    dyn = card.dyn
    assert cmd(card, 0x39, 0x02) == NAK_ARG  # delivered with the counter disabled
    assert cmd(card, 0xA2, dyn + 2, 0x10, 0, 0, 0) == ACK  # ACCESS: NFC_CNT_EN
    assert cmd(card, 0x39, 0x02) == b"\x00\x00\x00"
    cmd(card, 0x30, 4)
    cmd(card, 0x3A, 4, 8)  # the second read of the session does not count
    assert cmd(card, 0x39, 0x02) == b"\x01\x00\x00"
    card.select()
    cmd(card, 0x3A, 4, 4)
    assert cmd(card, 0x39, 0x02) == b"\x02\x00\x00"
    assert cmd(card, 0x39, 0x00) == NAK_ARG and cmd(card, 0x39, 0x01) == NAK_ARG
    card.counter = 0xFFFFFF
    card.select()
    cmd(card, 0x30, 4)
    assert cmd(card, 0x39, 0x02) == b"\xff\xff\xff"  # it stops at FFFFFFh
    assert cmd(card, 0xA2, dyn + 2, 0x18, 0, 0, 0) == ACK  # + NFC_CNT_PWD_PROT
    assert cmd(card, 0x39, 0x02) == NAK_ARG
    assert cmd(card, 0x1B, 0xFF, 0xFF, 0xFF, 0xFF) == b"\x00\x00"
    assert cmd(card, 0x39, 0x02) == b"\xff\xff\xff"


def test_a_worn_page_naks_its_write_with_the_eeprom_code_and_keeps_its_bytes():
    from host_tools.sim.ntag import NAK_EEPROM

    card = NTAG21x("NTAG215")
    card.wear_out(6)
    assert cmd(card, 0xA2, 6, 1, 2, 3, 4) == NAK_EEPROM  # 10.5 WRITE: 5h, EEPROM write error
    assert card.mem[24:28] == bytes(4) and card.writes == 0
    assert cmd(card, 0xA2, 7, 1, 2, 3, 4) == ACK
