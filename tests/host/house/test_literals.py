"""Constants written out as literals so that the frozen image keeps them in flash rather than
computing them into the heap at import: each equals what it stands for, computed here."""

from __future__ import annotations

import hashlib


def test_the_written_out_constants_equal_what_they_stand_for() -> None:
    from firmware import formats
    from firmware.card import writer
    from firmware.crypto import hmac_sha256, originality, rsa_oaep
    from firmware.store import audit

    assert hmac_sha256._IPAD == bytes([0x36]) * 64 and hmac_sha256._OPAD == bytes([0x5C]) * 64  # RFC 2104
    assert rsa_oaep._EMPTY_LABEL_HASH == hashlib.sha256(b"").digest()
    assert originality.NXP_NTAG21X.hex().upper() == (
        "04494E1A386D3D3CFE3DC10E5DE68A499B1C202DB5B132393E89ED19FE5BE8BC61")
    assert audit.GENESIS == "0" * 16 and writer._BLANK_CC == bytes(4)
    assert formats.ENTRY_TYPES == (formats.T_KEY, formats.T_RECORD, formats.T_CARD, formats.T_SYNCED)
