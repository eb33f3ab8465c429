"""The card is attacker-controlled input: hostile CBOR gets the decoder's own error (CBORError)
and nothing else, no other exception, no hang, no MemoryError, at the device's heap; and the same
through credential.verify (CredentialError).  Random, mutated and structured inputs, on both
runtimes; the random ones come from a fixed-seed generator so a failure replays."""

from firmware import cbor
from firmware.card import credential
from firmware.crypto import ed25519
from fwtest import raises

SEED = bytes(range(32))
PUB = ed25519.public_key(SEED)
UID = bytes((4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66))


def good_credential():
    return credential.issue(SEED, PUB, "reg-kh", "7F4Y-VXQ7", "SOKHA", "dev-0001", UID, 1767225600, 1924992000)


def decodes_or_refuses(data):
    """True if it decoded, False if refused with CBORError; any other outcome fails the test."""
    try:
        cbor.loads(data)
        return True
    except cbor.CBORError:
        return False


class Rng:
    """xorshift32: the same inputs on CPython and MicroPython."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def bytes(self, n):
        return bytes(self.next() & 0xFF for _ in range(n))


def test_deep_nesting_of_every_container_is_refused():
    for opener in (b"\x81", b"\xa1\x00", b"\xd8\x18", b"\xc6"):  # array, map value, tag 24, tag 6
        data = opener * 300 + b"\x00"
        with raises(cbor.CBORError, match="deep"):
            cbor.loads(data)
    with raises(cbor.CBORError, match="deep"):
        cbor.loads(b"\x81" * 130 + b"\x80" + bytes(0))  # about 260 bytes of nested empty arrays


def test_huge_declared_lengths_are_refused_before_anything_is_allocated():
    for head in (b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", b"\x7b\x00\x00\x00\x01\x00\x00\x00\x00",
                 b"\x9b\x00\x00\x00\x00\xff\xff\xff\xff", b"\xbb\x00\x00\x00\x00\x00\x10\x00\x00",
                 b"\x9a\x00\x0f\xff\xff", b"\xba\x00\x0f\xff\xff", b"\x59\x03\xe8", b"\x99\x03\xe8"):
        with raises(cbor.CBORError):
            cbor.loads(head + b"\x00" * 8)


def test_many_small_items_are_bounded():
    data = b"\x99\x01\x00" + b"\x80" * 256  # 256 empty arrays in one array: 257 items
    with raises(cbor.CBORError, match="too many items"):
        cbor.loads(data)
    assert cbor.loads(b"\x98\xc8" + b"\x80" * 200) == [[]] * 200  # 201 items: fine


def test_invalid_utf8_is_refused_as_text_and_kept_as_bytes():
    for bad in (b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                b"\xf0\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xe2\x82",
                b"a\xe2\x82", b"\xc3\x28", b"\xe2\x28\xa1"):
        with raises(cbor.CBORError, match="UTF-8"):
            cbor.loads(bytes((0x60 + len(bad),)) + bad)
        assert cbor.loads(bytes((0x40 + len(bad),)) + bad) == bad
    for good in ("é", "€", "😀", "\u07ff", "\uffff", "\U0010ffff", "ស៊ុន"):
        raw = good.encode()
        assert cbor.loads(bytes((0x60 + len(raw),)) + raw) == good


def test_colliding_duplicate_and_odd_map_keys_are_refused():
    for data in (b"\xa2\x01\x00\x01\x00",  # 1 twice
                 b"\xa2\x01\x00\xf5\x00",  # 1 and true: one key in a Python dict
                 b"\xa1\xf5\x00", b"\xa1\xf4\x00", b"\xa1\xf6\x00",  # true, false, null as keys
                 b"\xa1\xc1\x00\x00",  # a tag as a key (TypeError: not hashable)
                 b"\xa1\x80\x00", b"\xa1\xa0\x00",  # array, map
                 b"\xa2\x02\x00\x01\x00"):  # unsorted
        with raises(cbor.CBORError):
            cbor.loads(data)


def test_every_truncation_and_every_one_byte_change_of_a_credential():
    cred = good_credential()
    trusted = {credential.key_id(PUB): PUB}
    assert credential.verify(cred, trusted, UID)[-70001] == "SOKHA"
    for n in range(len(cred)):
        with raises(credential.CredentialError):
            credential.verify(cred[:n], trusted, UID)
    changed = 0
    for i in range(0, len(cred), 3):  # every third byte, each to three other values
        for delta in (1, 0x80, 0xFF):
            bad = bytearray(cred)
            bad[i] = (bad[i] + delta) & 0xFF
            try:
                credential.verify(bytes(bad), trusted, UID)
            except credential.CredentialError:
                changed += 1
                continue
            raise AssertionError("a changed credential verified: byte " + str(i))
    assert changed >= len(cred) // 3 * 3


def test_random_and_mutated_inputs_get_cbor_errors_only():
    rng = Rng(0x2545F491)
    decoded = 0
    for _ in range(1500):
        decoded += decodes_or_refuses(rng.bytes(1 + rng.next() % 48))
    seeds = [good_credential(), cbor.dumps({1: "x", 2: [b"ab", {3: None}], -70003: b"\x04" * 7})]
    for base in seeds:
        for _ in range(300):
            data = base
            for _ in range(1 + rng.next() % 4):  # change, insert or delete a byte (bytes: MicroPython's
                op = rng.next() % 3  # bytearray has no item deletion)
                i = rng.next() % (len(data) + 1)
                if op == 0 and i < len(data):
                    data = data[:i] + bytes((rng.next() & 0xFF,)) + data[i + 1:]
                elif op == 1:
                    data = data[:i] + bytes((rng.next() & 0xFF,)) + data[i:]
                elif i < len(data):
                    data = data[:i] + data[i + 1:]
            decoded += decodes_or_refuses(data)
    assert decoded > 0  # some of them are valid CBOR: the generator does reach the decoder's paths


def test_tags_everywhere_are_values_never_keys():
    data = cbor.dumps([cbor.Tag(1, cbor.Tag(2, [cbor.Tag(3, {1: cbor.Tag(4, b"")})]))])
    out = cbor.loads(data)
    assert isinstance(out[0], cbor.Tag) and out[0].value.value[0].value[1].tag == 4
    trusted = {credential.key_id(PUB): PUB}
    for data in (cbor.dumps(cbor.Tag(18, [b"", {}, cbor.Tag(24, b""), b""])), b"\xd2\xa1\xc1\x00\x00",
                 cbor.dumps(cbor.Tag(18, [cbor.dumps({1: -8, 4: cbor.Tag(1, b"x")}), {}, b"", bytes(64)]))):
        with raises(credential.CredentialError):
            credential.verify(data, trusted, UID)
