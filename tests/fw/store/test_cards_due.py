"""The cards still to write, kept across power cuts: encrypted, authenticated, refused when damaged."""

from fwtest import raises, tmpdir

from firmware.store import cards_due
from firmware.store.cards_due import CardDueError, CardsDue

KEY = bytes(range(32))
RID = bytes(range(16, 32))


def test_round_trip_defer_and_clear():
    d = tmpdir()
    assert cards_due.load_all(d, KEY) == []
    due = CardsDue(d, KEY)
    due.add(3, 41, RID, 1800000000, "SOPHEAP")
    due.add(3, 42, RID, 1800000100, "DARA")
    assert cards_due.load_all(d, KEY) == due.entries == [(3, 41, RID, 1800000000, "SOPHEAP", False),
                                                         (3, 42, RID, 1800000100, "DARA", False)]
    with open(d + cards_due.NAME, "rb") as f:
        raw = f.read()
    assert b"SOPHEAP" not in raw and b"DARA" not in raw  # no name in clear on flash
    assert due.interrupted() == (3, 42, "DARA")  # the newest step a power cut would leave
    due.defer(3, 41)
    assert cards_due.load_all(d, KEY)[0][5] is True and cards_due.load_all(d, KEY)[1][5] is False
    due.done(3, 42)  # DARA's card was verified
    assert cards_due.load_all(d, KEY) == [(3, 41, RID, 1800000000, "SOPHEAP", True)]
    assert due.listed() == [(3, 41, "SOPHEAP", 1800000000)] and due.interrupted() is None
    again = CardsDue(d, KEY)  # after a power cut: the records still due, read back
    assert again.load([(3, 41)]) is None and again.entries == due.entries
    assert again.load([]) is None and cards_due.load_all(d, KEY) == []  # the record is gone


def test_the_list_is_bounded_and_a_record_is_listed_once():
    d = tmpdir()
    due = CardsDue(d, KEY)
    for seq in range(cards_due.MAX_DUE + 5):
        due.add(1, seq, RID, 1, "P" + str(seq))
    due.add(1, cards_due.MAX_DUE + 4, RID, 2, "AGAIN")
    got = cards_due.load_all(d, KEY)
    assert len(got) == cards_due.MAX_DUE and got[0][1] == 5 and got[-1][4] == "AGAIN"
    assert [g[1] for g in got].count(cards_due.MAX_DUE + 4) == 1


def test_a_damaged_file_is_reported_and_removed_and_flash_that_refuses_keeps_the_list_in_ram():
    d = tmpdir()
    with open(d + cards_due.NAME, "wb") as f:
        f.write(b"CD1" + bytes(80))
    due = CardsDue(d, KEY)
    assert due.load([(1, 1)]) == "card_due.bin: does not authenticate" and due.entries == []
    assert cards_due.fsutil.read_file(d + cards_due.NAME) is None
    said = []
    gone = CardsDue(d + "/no/such/dir", KEY, said.append)  # every write refused
    gone.add(2, 5, RID, 7, "NARY")
    assert gone.listed() == [(2, 5, "NARY", 7)] and len(said) == 1 and said[0].startswith("card_due: ")


def test_the_first_format_one_entry_is_read_as_an_interrupted_card_step():
    import os

    from firmware import cbor
    from firmware.crypto import aes_cbc
    from firmware.crypto.hmac_sha256 import hmac_sha256
    from firmware import fsutil

    d = tmpdir()
    enc, mac = cards_due._keys(KEY)
    iv = os.urandom(16)
    body = cards_due.MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps([3, 41, RID, 1800000000, "SOPHEAP"]))
    fsutil.write_atomic(d + cards_due.NAME, body + hmac_sha256(mac, body))
    assert cards_due.load_all(d, KEY) == [(3, 41, RID, 1800000000, "SOPHEAP", False)]


def test_damaged_foreign_or_other_device_files_are_refused():
    d = tmpdir()
    CardsDue(d, KEY).add(3, 41, RID, 1800000000, "SOPHEAP")
    with open(d + cards_due.NAME, "rb") as f:
        good = f.read()
    cases = [b"", b"CD1", b"garbage" * 20, good[:-1], good[:20] + bytes((good[20] ^ 1,)) + good[21:],
             b"XX1" + good[3:]]
    for bad in cases:
        with open(d + cards_due.NAME, "wb") as f:
            f.write(bad)
        with raises(CardDueError):
            cards_due.load_all(d, KEY)
    with open(d + cards_due.NAME, "wb") as f:
        f.write(good)
    with raises(CardDueError):
        cards_due.load_all(d, bytes(32))  # another device's key


def test_an_authentic_file_with_wrong_fields_is_refused():
    import os

    from firmware import cbor
    from firmware.crypto import aes_cbc
    from firmware.crypto.hmac_sha256 import hmac_sha256
    from firmware import fsutil

    d = tmpdir()
    enc, mac = cards_due._keys(KEY)
    for doc in ([3, 41], [3, 41, b"short", 1, "A"], ["3", 41, RID, 1, "A"], {"boot": 3},
                [[3, 41, RID, 1, "A", 1]], [[3, 41, RID, 1, "A", False]] * (cards_due.MAX_DUE + 1)):
        iv = os.urandom(16)
        body = cards_due.MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps(doc))
        fsutil.write_atomic(d + cards_due.NAME, body + hmac_sha256(mac, body))
        with raises(CardDueError):
            cards_due.load_all(d, KEY)
