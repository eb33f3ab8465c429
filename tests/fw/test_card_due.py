"""The card step kept across a power cut: encrypted, authenticated, and refused when damaged."""

from fwtest import raises, tmpdir

from firmware.enrol import card_due
from firmware.enrol.card_due import CardDueError

KEY = bytes(range(32))
RID = bytes(range(16, 32))


def test_round_trip_and_clear():
    d = tmpdir()
    assert card_due.load(d, KEY) is None
    card_due.save(d, KEY, 3, 41, RID, 1800000000, "AMINATA")
    assert card_due.load(d, KEY) == (3, 41, RID, 1800000000, "AMINATA")
    with open(d + card_due.NAME, "rb") as f:
        assert b"AMINATA" not in f.read()  # the name is not in clear on flash
    card_due.clear(d)
    assert card_due.load(d, KEY) is None


def test_damaged_foreign_or_other_device_files_are_refused():
    d = tmpdir()
    card_due.save(d, KEY, 3, 41, RID, 1800000000, "AMINATA")
    with open(d + card_due.NAME, "rb") as f:
        good = f.read()
    cases = [b"", b"CD1", b"garbage" * 20, good[:-1], good[:20] + bytes((good[20] ^ 1,)) + good[21:],
             b"XX1" + good[3:]]
    for bad in cases:
        with open(d + card_due.NAME, "wb") as f:
            f.write(bad)
        with raises(CardDueError):
            card_due.load(d, KEY)
    with open(d + card_due.NAME, "wb") as f:
        f.write(good)
    with raises(CardDueError):
        card_due.load(d, bytes(32))  # another device's key


def test_an_authentic_file_with_wrong_fields_is_refused():
    import os

    from firmware import cbor
    from firmware.crypto import aes_cbc
    from firmware.crypto.hmac_sha256 import hmac_sha256
    from firmware.store import fsutil

    d = tmpdir()
    enc, mac = card_due._keys(KEY)
    for doc in ([3, 41], [3, 41, b"short", 1, "A"], ["3", 41, RID, 1, "A"], {"boot": 3}):
        iv = os.urandom(16)
        body = card_due.MAGIC + iv + aes_cbc.encrypt(enc, iv, cbor.dumps(doc))
        fsutil.write_atomic(d + card_due.NAME, body + hmac_sha256(mac, body))
        with raises(CardDueError):
            card_due.load(d, KEY)
