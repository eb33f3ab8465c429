"""CBOR against RFC 8949 Appendix A vectors (the types we use), deterministic encoding, strict decoding."""

import binascii

from fwtest import raises
from firmware import cbor

VECTORS = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"),
    (1000, "1903e8"), (1000000, "1a000f4240"), (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (False, "f4"), (True, "f5"), (None, "f6"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\"\\", "62225c"), ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (cbor.Tag(1, 1363896240), "c11a514b67b0"),
    (cbor.Tag(24, b"\x64\x49\x45\x54\x46"), "d818456449455446"),
]


def test_rfc8949_appendix_a_round_trips():
    for value, hexed in VECTORS:
        raw = binascii.unhexlify(hexed)
        assert cbor.dumps(value) == raw, (value, hexed)
        assert cbor.loads(raw) == value, hexed


def test_map_keys_are_sorted_bytewise_deterministically():
    # RFC 8949 4.2.1: 10 (0x0a) < 100 (0x1864) < -1 (0x20) < "z" (0x617a) < "aa" (0x626161)
    m = {"aa": 5, "z": 4, -1: 3, 100: 2, 10: 1}
    assert cbor.dumps(m) == binascii.unhexlify("a50a011864022003617a0462616105")
    assert cbor.dumps({-70001: "x", 1: "y"}) == cbor.dumps({1: "y", -70001: "x"})


def test_hostile_inputs_are_refused():
    bad = [
        "", "18", "1900", "5f", "9f", "bf", "f97e00", "fa47c35000", "f7", "e0",
        "1817",  # 23 in two bytes: not shortest
        "190017",
        "a20102010304",  # duplicate key 1
        "a203040102",  # keys out of order
        "62c3",  # truncated text
        "62ff00",  # not UTF-8
        "0000",  # trailing byte
        "81" * 10 + "00",  # nested too deep
        "5a00100000",  # 1 MiB string declared
        "a1810102",  # array as map key
    ]
    for hexed in bad:
        with raises(cbor.CBORError):
            cbor.loads(binascii.unhexlify(hexed))


def test_unsupported_python_types_fail_to_encode():
    with raises(cbor.CBORError):
        cbor.dumps(1.5)
    with raises(cbor.CBORError):
        cbor.dumps(1 << 64)


def test_a_streamed_array_is_handed_over_element_by_element_and_its_length_kept():
    doc = {"time": 5, "cards": [[1, 2]], "results": [[b"a" * 16, 0], [b"b" * 16, 1], "x"]}
    got = {"results": [], "cards": []}
    out = cbor.loads(cbor.dumps(doc), 64, 64, each={"results": got["results"].append, "cards": got["cards"].append})
    assert out == {"time": 5, "cards": 1, "results": 3}
    assert got == {"results": doc["results"], "cards": [[1, 2]]}
    assert cbor.loads(cbor.dumps({"time": 5}), each={"results": got["results"].append}) == {"time": 5}


def test_a_streamed_answer_is_as_strict_as_a_decoded_one():
    seen = []
    each = {"results": seen.append}
    for bad, why in ((cbor.dumps([1, 2]), "not a map"), (b"", "not a map"), (cbor.dumps({"results": 3}), "not an array"),
                     (cbor.dumps({"results": [1]}) + b"\x00", "trailing"),
                     (cbor.dumps({"results": [1, 2, 3]})[:-1], "truncated"),
                     (cbor.dumps({"results": list(range(9))}), "too long"),
                     (cbor.dumps({"results": [[1, 2], [3, 4]]}), "too many items"),
                     (binascii.unhexlify("a167726573756c74739f01ff"), "indefinite")):  # {"results": [_ 1]}
        with raises(cbor.CBORError, why):
            cbor.loads(bad, 8, 6, each=each)
