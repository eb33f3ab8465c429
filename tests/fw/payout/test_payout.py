"""The payout role on the device: its flow (programme, card, PIN, the registry's answer), its
trust list (signature, registry, expiry, a replayed old one) and its claim's answer parsing."""

import struct

from flowkit import Driver, login, officers_dir
from fwtest import raises, tmpdir
from firmware.crypto import ed25519, pin_block
from firmware.enrol.officer import Officers
from firmware.payout import client, trust
from firmware.payout.flow import PayoutFlow
from firmware.ui import keymap as K
from firmware.ui.screen import Status

NOW = 1796000000  # 2026-11-30 07:53 in Phnom Penh
PENSION = ("veteran_pension", "Veteran pension")


class FakeTrust:
    def __init__(self, problem=None):
        self.problem = problem
        self.expires = NOW + 7 * 86400

    def usable(self):
        return self.problem


def new_flow(programmes=(PENSION,), problem=None):
    officers = Officers(officers_dir(), None)
    officers.load()
    status = Status()
    status.device_id = "PAY-0001"
    return PayoutFlow(officers, status, list(programmes), FakeTrust(problem))


def said(d):
    """The screen's words, its line breaks as spaces (a message may wrap)."""
    return " ".join(d.screen().split())


def at_pin(d):
    login(d)
    d.press("1")
    assert d.take("read_card") == [("read_card",)]
    assert "Tap the card" in said(d) and "Veteran pension" in said(d)
    d.add(d.flow.card_read(True, "SOPHEA", "0123-4567"))
    assert "SOPHEA" in said(d) and "Type your PIN" in said(d)


def test_a_card_and_a_pin_make_one_claim_and_the_receipt_is_shown():
    d = Driver(new_flow())
    at_pin(d)
    d.press("1", "3", "5", "7")
    assert "****" in said(d) and "1357" not in said(d)  # never shown
    d.press(K.OK)
    (claim,) = d.take("pay")
    assert claim[1] == "veteran_pension" and bytes(claim[2]) == b"1357"
    assert "Asking the" in said(d)
    d.press("5")  # keys wait for the answer
    assert d.take("pay") == []
    d.add(d.flow.paid(("paid", 150000, "K7MQ2XHC9P")))
    assert "PAID" in said(d) and "150,000 riel SOPHEA Receipt: K7MQ2XHC9P" in said(d)  # the amount first
    d.press(K.OK)  # the next citizen, same programme
    assert d.take("read_card") == [("read_card",)] and "Tap the card" in said(d)


def test_a_wrong_pin_is_typed_again_and_a_lock_is_said():
    d = Driver(new_flow())
    at_pin(d)
    d.press("1", "1", "1", "1", K.OK)
    d.take("pay")
    d.add(d.flow.paid(("wrong", 2)))
    assert "2 tries left" in said(d) and d.flow.state == "pay_pin"
    d.press("2", "2", "2", "2", K.OK)
    d.take("pay")
    d.add(d.flow.paid(("locked",)))
    assert "Card locked" in said(d) and "NOT PAID" in said(d)


def test_a_short_pin_is_not_sent():
    d = Driver(new_flow())
    at_pin(d)
    d.press("1", "2", K.OK)
    assert d.take("pay") == [] and "PIN is 4-6 digits" in said(d)


def test_already_paid_says_when_and_where():
    d = Driver(new_flow())
    at_pin(d)
    d.press("1", "3", "5", "7", K.OK)
    d.add(d.flow.paid(("already paid", NOW, "PAY-0002", "RCPT000001")))
    s = said(d)
    assert "NOT PAID" in s and "Paid 30/11 07:53 By PAY-0002 Receipt: RCPT000001" in s  # when and where first
    d.press(K.BACK)
    assert d.flow.state == "home"


def test_already_paid_here_says_here_a_lost_answer_asks_again():
    d = Driver(new_flow())
    at_pin(d)
    d.press("1", "3", "5", "7", K.OK)
    d.add(d.flow.pay_failed("no network"))
    assert "DO NOT PAY" in said(d) and "No network." in said(d)
    d.press(K.OK)  # the card is still read: the PIN again
    assert d.flow.state == "pay_pin"
    d.press("1", "3", "5", "7", K.OK)
    assert len(d.take("pay")) == 2
    d.add(d.flow.paid(("already paid", NOW, "PAY-0001", "RCPT000001")))
    assert "HERE" in said(d)


def test_a_refused_card_says_why_and_the_reader_waits():
    d = Driver(new_flow())
    login(d)
    d.press("1")
    d.add(d.flow.card_read(False, "UID mismatch: copied to another card", None, True))
    assert d.flow.state == "pay_tap" and "Not a genuine card: DO NOT PAY" in said(d)
    assert "UID" not in said(d)  # the technical reason is the audit log's
    d.add(d.flow.card_read(False, "Card moved: tap again"))
    assert "Tap the card" in said(d) and "Card moved" in said(d)
    d.press(K.BACK)
    assert d.flow.state == "home"


def test_every_reason_a_card_is_refused_is_said_in_plain_words():
    """Each fixed phrase card/*.py and the card task refuse a card with (read from their source, so
    a new one is covered) is said as a copy, an expired card or not a registry card, with none of
    the technical words a citizen does not know."""
    reasons = []
    for path in ("firmware/card/credential.py", "firmware/card/ndef.py", "firmware/card/writer.py",
                 "firmware/tasks/card.py"):
        with open(path) as f:
            for line in f:
                for error in ("CredentialError(\"", "NdefError(\"", "CardRefused(\""):
                    at = line.find("raise " + error)
                    if at >= 0:
                        start = at + len("raise " + error)
                        reasons.append(line[start:line.index('"', start)])
    assert len(reasons) > 35
    technical = ("NDEF", "CBOR", "COSE", "NTAG", "UID", "TLV", "NXP", "EdDSA", "MIFARE", "PACK", "claim")
    kinds = set()
    for why in reasons:
        d = Driver(new_flow())
        login(d)
        d.press("1")
        d.add(d.flow.card_read(False, why, None, True))
        words = said(d)
        assert not [t for t in technical if t in words], (why, words)
        assert "registry office" in words, (why, words)
        kinds.add(words)
        if why in ("UID mismatch: copied to another card", "signature invalid: tampered"):
            assert "Not a genuine card: DO NOT PAY" in words
        if why == "credential expired":
            assert "expired" in words
    assert len(kinds) == 3


def test_without_a_trust_list_it_is_fetched_first():
    flow = new_flow(problem="trust list expired: connect")
    d = Driver(flow)
    login(d)
    d.press("1")
    assert d.take("refresh_trust") == [("refresh_trust",)] and d.take("read_card") == []
    d.add(flow.trust_done("no network"))
    assert flow.state == "home" and "No card list" in said(d)
    d.press("1")
    flow.trust.problem = None
    d.add(flow.trust_done(None))
    assert flow.state == "pay_tap" and d.take("read_card") == [("read_card",)]


def test_several_programmes_are_chosen_from():
    d = Driver(new_flow((PENSION, ("civil_pension", "Civil pension"))))
    login(d)
    d.press("1")
    assert "Which programme?" in said(d)
    d.press("2")
    assert d.flow.programme == ("civil_pension", "Civil pension") and d.take("read_card")


def test_home_offers_pay_and_status_shows_the_card_list():
    d = Driver(new_flow())
    login(d)
    assert "1 Pay" in said(d) and "New enrolment" not in said(d)
    d.press("3")
    assert "Card list to 07/12/2026" in said(d)
    d.press(K.OK, "4")
    assert d.flow.state == "login_id"


# ---- the trust list ------------------------------------------------------
SEED = bytes(range(32))
CARD_KEYS = [bytes([i]) * 32 for i in (7, 9, 3)]


def made_key(i):
    import hashlib

    return hashlib.sha256(bytes((i >> 8, i & 255))).digest()


def trust_bytes(registry_id="reg-1", issued=NOW - 60, expires=NOW + 7 * 86400, keys=CARD_KEYS, seed=SEED):
    """A trust list as the registry signs it (host_tools/registry/trust.py), built in one buffer."""
    import hashlib

    rid = registry_id.encode()
    n = keys if isinstance(keys, int) else len(keys)  # a count: generated keys (no list of them in RAM)
    head = b"ETL1" + bytes((len(rid),)) + rid + struct.pack(">IIH", issued, expires, n)
    out = bytearray(len(head) + 40 * n + 64)
    out[: len(head)] = head
    at = len(head)
    for i in range(n):
        pub = made_key(i) if isinstance(keys, int) else keys[i]
        out[at : at + 8] = hashlib.sha256(pub).digest()[:8]
        out[at + 8 : at + 40] = pub
        at += 40
    out[at:] = ed25519.sign(seed, memoryview(out)[:at], ed25519.public_key(seed))
    return out


def new_list(data, now=NOW):
    d = tmpdir()
    if data is not None:
        with open(d + "/trust.bin", "wb") as f:
            f.write(data)
    clock = [now]
    return trust.TrustList(d, ed25519.public_key(SEED), "reg-1", lambda: clock[0]), clock


def test_a_signed_list_gives_its_keys_and_expires():
    import hashlib

    t, clock = new_list(trust_bytes())
    assert t.load() and t.usable() is None and t.count == 3
    for k in CARD_KEYS:
        assert t.get(hashlib.sha256(k).digest()[:8]) == k
    assert t.get(b"\0" * 8) is None
    assert not t.due()
    clock[0] = NOW + 7 * 86400 - 3600
    assert t.due() and t.usable() is None  # fetched again a day before it runs out
    clock[0] = NOW + 7 * 86400
    assert t.usable() == "trust list expired: connect"
    assert t.get(hashlib.sha256(CARD_KEYS[0]).digest()[:8]) is None  # an expired list trusts nothing


def test_bad_lists_are_refused_with_their_reason():
    good = trust_bytes()
    tampered = bytearray(good)
    tampered[-70] ^= 1  # a key's byte
    for data, why in ((None, "no trust list"), (b"", "not one"), (b"XXXX" + good[4:], "not one"),
                      (bytes(tampered), "signature invalid"), (good[:-1], "length wrong"),
                      (trust_bytes(seed=bytes(32)), "signature invalid"),
                      (trust_bytes(registry_id="reg-2"), "another registry")):
        t, _ = new_list(data)
        assert not t.load(), why
        assert why in t.usable(), (why, t.usable())


def fetched(t, data):
    """A list as the payout task streams it from the registry: into trust.tmp beside trust.bin."""
    path = t.path[:-4] + ".tmp"
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_replace_refuses_an_older_or_expired_list_and_keeps_the_old():
    import os

    t, clock = new_list(trust_bytes(expires=NOW + 86400))
    assert t.load()
    for data, why in ((trust_bytes(expires=NOW + 3600), "older"), (trust_bytes(expires=NOW - 1), "expired"),
                      (trust_bytes(seed=bytes(32)), "signature")):
        with raises(trust.TrustError, why):
            t.replace(fetched(t, data))
        assert t.load() and t.expires == NOW + 86400  # the old list is kept
        try:
            os.stat(t.path[:-4] + ".tmp")
            raise AssertionError("the refused list was left on flash")
        except OSError:
            pass
    t.replace(fetched(t, trust_bytes(expires=NOW + 9 * 86400, keys=CARD_KEYS[:1])))
    assert t.count == 1 and t.expires == NOW + 9 * 86400


def test_a_list_of_800_devices_is_checked_from_flash_in_little_ram():
    import gc
    import hashlib

    data = trust_bytes(keys=800)
    t, _ = new_list(data)
    gc.collect()
    assert t.load() and t.count == 800
    assert t.get(hashlib.sha256(made_key(799)).digest()[:8]) == made_key(799)
    data[20000] ^= 1
    t2, _ = new_list(data)
    assert not t2.load() and "signature invalid" in t2.problem


# ---- the claim -----------------------------------------------------------
def test_credential_account_is_the_registry_s():
    # the 26-character id of today's cards: the last 12 digits of its characters' values, by hand:
    # "...ZY" are 31, 30 -> "...3130"; the registry's pins.credential_account is compared in tests/host
    assert pin_block.credential_account("0000000000000000000000ZZZY") == "000031313130"
    assert pin_block.credential_account("0123-4567") == "000001234567"
    assert pin_block.credential_account("ZZZZ-ZZZZ") == "313131313131"
    with raises(ValueError):
        pin_block.credential_account("OOOO-0000")  # O is not in the alphabet


def test_answers_are_read_and_garbage_refused():
    assert client.read_answer({"result": "paid", "amount": 150000, "receipt": "ABC"}) == ("paid", 150000, "ABC")
    assert client.read_answer({"result": "wrong", "tries_left": 1}) == ("wrong", 1)
    assert client.read_answer({"result": "already paid", "paid_s": NOW, "payout_point": "p",
                               "receipt": "R"}) == ("already paid", NOW, "p", "R")
    assert client.read_answer({"result": "revoked", "reason": "card lost"}) == ("revoked",)
    assert client.read_answer({"result": "held", "reason": "held for review at the registry"}) == ("held",)
    for junk in ([], {"result": 5}, {"result": "paid"}, {"result": "paid", "amount": "1", "receipt": "R"},
                 {"result": "paid", "amount": True, "receipt": "R"}, {"result": "give me money"}):
        with raises(client.ClaimError):
            client.read_answer(junk)


def test_period_is_the_month_in_cambodia():
    assert client.period_of(1796057999) == "2026-11"  # 2026-11-30 23:59:59 in Phnom Penh
    assert client.period_of(1796058000) == "2026-12"
