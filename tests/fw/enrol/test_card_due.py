"""The cards still to write, kept across power cuts: encrypted, authenticated, refused when damaged."""

from fwtest import raises, tmpdir

from firmware.enrol import card_due
from firmware.enrol.card_due import CardDueError

KEY = bytes(range(32))
RID = bytes(range(16, 32))


def test_round_trip_defer_and_clear():
    d = tmpdir()
    assert card_due.load_all(d, KEY) == []
    e = card_due.add(d, KEY, [], 3, 41, RID, 1800000000, "SOPHEAP")
    e = card_due.add(d, KEY, e, 3, 42, RID, 1800000100, "DARA")
    assert card_due.load_all(d, KEY) == e == [(3, 41, RID, 1800000000, "SOPHEAP", False),
                                              (3, 42, RID, 1800000100, "DARA", False)]
    with open(d + card_due.NAME, "rb") as f:
        raw = f.read()
    assert b"SOPHEAP" not in raw and b"DARA" not in raw  # no name in clear on flash
    e = card_due.defer(d, KEY, e, 3, 41)
    assert card_due.load_all(d, KEY)[0][5] is True and card_due.load_all(d, KEY)[1][5] is False
    e = card_due.keep_only(d, KEY, e, [(3, 42)])  # SOPHEAP's card was verified
    assert card_due.load_all(d, KEY) == [(3, 42, RID, 1800000100, "DARA", False)]
    card_due.keep_only(d, KEY, e, [])
    assert card_due.load_all(d, KEY) == []


def test_the_list_is_bounded_and_a_record_is_listed_once():
    d = tmpdir()
    e = []
    for seq in range(card_due.MAX_DUE + 5):
        e = card_due.add(d, KEY, e, 1, seq, RID, 1, "P" + str(seq))
    e = card_due.add(d, KEY, e, 1, card_due.MAX_DUE + 4, RID, 2, "AGAIN")
    got = card_due.load_all(d, KEY)
    assert len(got) == card_due.MAX_DUE and got[0][1] == 5 and got[-1][4] == "AGAIN"
    assert [g[1] for g in got].count(card_due.MAX_DUE + 4) == 1


def test_the_first_format_one_entry_is_read_as_an_interrupted_card_step():
    import os

    from firmware import cbor
    from firmware.crypto import aes_cbc
    from firmware.crypto.hmac_sha256 import hmac_sha256
    from firmware import fsutil

    d = tmpdir()
    enc, mac = card_due._keys(KEY)
    iv = os.urandom(16)
    body = card_due.MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps([3, 41, RID, 1800000000, "SOPHEAP"]))
    fsutil.write_atomic(d + card_due.NAME, body + hmac_sha256(mac, body))
    assert card_due.load_all(d, KEY) == [(3, 41, RID, 1800000000, "SOPHEAP", False)]


def test_damaged_foreign_or_other_device_files_are_refused():
    d = tmpdir()
    card_due.add(d, KEY, [], 3, 41, RID, 1800000000, "SOPHEAP")
    with open(d + card_due.NAME, "rb") as f:
        good = f.read()
    cases = [b"", b"CD1", b"garbage" * 20, good[:-1], good[:20] + bytes((good[20] ^ 1,)) + good[21:],
             b"XX1" + good[3:]]
    for bad in cases:
        with open(d + card_due.NAME, "wb") as f:
            f.write(bad)
        with raises(CardDueError):
            card_due.load_all(d, KEY)
    with open(d + card_due.NAME, "wb") as f:
        f.write(good)
    with raises(CardDueError):
        card_due.load_all(d, bytes(32))  # another device's key


def test_an_authentic_file_with_wrong_fields_is_refused():
    import os

    from firmware import cbor
    from firmware.crypto import aes_cbc
    from firmware.crypto.hmac_sha256 import hmac_sha256
    from firmware import fsutil

    d = tmpdir()
    enc, mac = card_due._keys(KEY)
    for doc in ([3, 41], [3, 41, b"short", 1, "A"], ["3", 41, RID, 1, "A"], {"boot": 3},
                [[3, 41, RID, 1, "A", 1]], [[3, 41, RID, 1, "A", False]] * (card_due.MAX_DUE + 1)):
        iv = os.urandom(16)
        body = card_due.MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps(doc))
        fsutil.write_atomic(d + card_due.NAME, body + hmac_sha256(mac, body))
        with raises(CardDueError):
            card_due.load_all(d, KEY)
