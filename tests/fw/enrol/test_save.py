"""The save (firmware/enrol/save.py), both runtimes: the record committed and its card noted
as due, the PIN wiped whether the store takes the record or refuses it, a refusal saving
nothing and noting nothing."""

from fwtest import raises, tmpdir

from firmware.store import cards_due
from firmware.store.cards_due import CardsDue
from firmware.enrol.save import new_record_id, save_enrolment
from firmware.store import StoreError
from storekit import open_store

KEY = bytes(range(32))
FIELDS = {"given_name": "SOPHEAP", "family_name": "CHHUON", "sex": "F", "birth_date": "1987-06-14",
          "village_code": "V001", "phone": "", "consent": True}


class Clock:
    synced = True

    def now(self):
        return 1800000000


class FullStore:
    def save(self, record_id, plaintext):
        plaintext(bytes(32))  # the PIN block is formed, then the store refuses
        raise StoreError("storage full")


def test_a_saved_record_is_committed_its_card_noted_and_the_pin_wiped():
    d = tmpdir()
    store, _, _ = open_store(d)
    pin = bytearray(b"7391")
    said = []
    due = CardsDue(d, KEY, said.append)
    boot, seq, rid, iat = save_enrolment(store, Clock(), due, FIELDS, "OF0042", pin)
    assert pin == bytearray(4) and said == []
    assert len(rid) == 16 and rid[6] >> 4 == 4 and rid[8] >> 6 == 2  # UUID v4, RFC 4122 variant
    assert iat == 1800000000 and store.counts()["records"] == 1
    assert (boot, seq) in store.cards_due()
    assert due.entries == cards_due.load_all(d, KEY) == [(boot, seq, rid, iat, "SOPHEAP", False)]


def test_a_refused_save_notes_nothing_and_still_wipes_the_pin():
    d = tmpdir()
    pin = bytearray(b"7391")
    with raises(StoreError, "storage full"):
        save_enrolment(FullStore(), Clock(), CardsDue(d, KEY), FIELDS, "OF0042", pin)
    assert pin == bytearray(4)
    assert cards_due.load_all(d, KEY) == []


def test_record_ids_are_fresh():
    assert new_record_id() != new_record_id()


def test_a_card_noted_in_the_journal_leaves_the_cards_due_at_the_next_power_on():
    """The app rewrites the cards-due list after "Card ready" (effect_runner.on_card_verified): a
    power cut between the journal's CARD entry and that rewrite must not ask for the card again."""
    d = tmpdir()
    store, _, _ = open_store(d)
    due = CardsDue(d, KEY)
    boot, seq, rid, iat = save_enrolment(store, Clock(), due, FIELDS, "OF0042", bytearray(b"7391"))
    store.mark_card_verified(boot, seq, b"\x04\x11\x22\x33\x44\x55\x66", "CRED-A")
    # the power goes here: card_due.bin still lists the person
    assert [e[:2] for e in cards_due.load_all(d, KEY)] == [(boot, seq)]
    again = CardsDue(d, KEY)
    assert again.load(store.cards_due()) is None
    assert again.entries == [] and cards_due.load_all(d, KEY) == []
