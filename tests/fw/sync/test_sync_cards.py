"""Card entries reach the registry exactly once: with their records or after them, answered by a
MACed receipt, marked on flash across a power cut, and never purged unanswered (issue 18 item 4:
the registry binds a credential to its card's UID and revokes the credential a re-issue replaced)."""

import asyncio

from fwtest import flash_dir, remount
from storekit import open_store, plaintext, record_id
from synckit import FakeRegistry, Secrets, card_mac
from firmware import formats, formats_host
from firmware.clock import Clock
from firmware.net import protocol
from firmware.sync.client import Client, SyncError

# The registry stand-in (synckit: its HTTP parsing and CBOR answers) runs in the device heap
# here, about 3 KB of code and garbage the device never holds; the whole-device tests run the
# sync at 100 KB with the registry outside (tests/host/sim).
MP_HEAPSIZE = "110k"

UID = b"\x04\x11\x22\x33\x44\x55\x66"


class PowerCut(Exception):
    pass


class FixedRaw:
    def __call__(self):
        return 1000


def setup(path, batch=16):
    store, audit, _ = open_store(path)
    reg = FakeRegistry()
    client = Client(store, Secrets(), Clock(path, FixedRaw()), reg.connect, "registry.test", audit, batch)
    return store, audit, reg, client


def run(coro):
    return asyncio.run(coro)


def test_card_entries_go_after_their_records_in_the_same_batch_and_are_marked_once():
    path, dev = flash_dir()
    store, _, reg, client = setup(path)
    keys = [store.save(record_id(i), plaintext(i)) for i in range(3)]
    store.mark_card_verified(keys[0][0], keys[0][1], UID, "0ABC-DEF1")
    store.mark_card_verified(keys[2][0], keys[2][1], UID[:6] + b"\x77", "0ABC-DEF3", "9ZZZ-ZZZ9")  # a re-issue
    assert store.counts()["cards_pending"] == 2
    assert run(client.sync()) == 5  # 3 records and 2 card entries answered
    batch = reg.requests[-1]
    assert batch.kinds() == [formats.ITEM_KEY, formats.ITEM_RECORD, formats.ITEM_RECORD, formats.ITEM_RECORD,
                             formats.ITEM_CARD, formats.ITEM_CARD]
    sent = [formats_host.card_fields(c) for c in batch.cards()]
    assert sent == [(1, 1, UID, "0ABC-DEF1", ""), (1, 3, UID[:6] + b"\x77", "0ABC-DEF3", "9ZZZ-ZZZ9")]
    assert store.counts()["cards_pending"] == 0
    store.close()
    store2, _, reg2, client2 = setup(remount(dev, path))  # the marker is on flash
    c = store2.counts()
    assert (c["cards_pending"], c["pending"], c["synced"]) == (0, 0, 3)
    assert run(client2.sync()) == 0
    assert [r.path for r in reg2.requests if r.path == "/v1/batches"] == []  # nothing to send


def test_a_card_verified_after_its_record_synced_goes_alone_without_a_key():
    path, _ = flash_dir()
    store, _, reg, client = setup(path)
    b, s = store.save(record_id(1), plaintext(1))
    assert run(client.sync()) == 1
    store.mark_card_verified(b, s, UID, "0ABC-DEF1")  # the person came back for the card
    assert store.counts()["cards_pending"] == 1
    assert run(client.sync()) == 1
    assert reg.requests[-1].kinds() == [formats.ITEM_CARD]
    assert store.counts()["cards_pending"] == 0


def test_records_and_cards_together_never_exceed_one_batch():
    path, _ = flash_dir()
    store, _, reg, client = setup(path, batch=4)
    for i in range(6):
        b, s = store.save(record_id(i), plaintext(i))
        store.mark_card_verified(b, s, UID, "0ABC-DEF" + str(i))
    assert run(client.sync()) == 12
    batches = [r for r in reg.requests if r.path == "/v1/batches"]
    assert all(len(r.records()) + len(r.cards()) <= 4 for r in batches)
    # a card never goes before its record: each card's record is in its batch or an earlier one
    sent = set()
    for r in batches:
        for env in r.records():
            sent.add(formats.record_origin(env)[2])
        for c in r.cards():
            assert formats_host.card_fields(c)[1] in sent
    assert len(reg.cards_seen) == 6 and store.counts()["cards_pending"] == 0


def test_card_answers_that_do_not_check_out_leave_the_entry_pending():
    path, dev = flash_dir()
    store, audit, reg, client = setup(path)
    b, s = store.save(record_id(1), plaintext(1))
    store.mark_card_verified(b, s, UID, "0ABC-DEF1")
    for rows in (lambda req: [[b, s, 0, bytes(16), ""]],  # wrong MAC
                 lambda req: [[b, s + 1, 0, card_mac(req.cards()[0], 0), ""]],  # another record's
                 lambda req: [[b, s, 9, card_mac(req.cards()[0], 9), ""]],  # no such result code
                 lambda req: [[b, s, 0, card_mac(req.cards()[0], 1), ""]],  # MAC of another result
                 lambda req: [["1", s, 0, card_mac(req.cards()[0], 0), ""], [b, s], "x"],  # malformed rows
                 lambda req: []):  # an old registry that does not answer cards
        reg.card_rows = rows
        try:
            run(client.sync())  # the record's receipt applies the first time; the cards-only batches get none
        except SyncError as e:
            assert "no valid receipt" in str(e)
        assert store.counts()["cards_pending"] == 1
    assert store.counts()["synced"] == 1
    assert "results refused" in "\n".join(audit.lines())
    store.close()
    store, _, reg, client = setup(remount(dev, path))
    assert store.counts()["cards_pending"] == 1  # still waiting after a reboot
    assert run(client.sync()) == 1 and store.counts()["cards_pending"] == 0  # a genuine answer: done


def test_a_power_cut_after_the_answer_sends_the_card_again_and_a_duplicate_settles_it():
    path, dev = flash_dir()
    store, _, reg, client = setup(path)
    b, s = store.save(record_id(1), plaintext(1))
    store.mark_card_verified(b, s, UID, "0ABC-DEF1")

    def cut(step):
        if step == "answered":
            raise PowerCut()  # before anything is written

    client.on_step = cut
    try:
        run(client.sync())
    except PowerCut:
        pass
    store.close()
    store2, _, reg2, client2 = setup(remount(dev, path))
    assert store2.counts()["cards_pending"] == 1 and store2.counts()["pending"] == 1
    reg2.result = formats.DUPLICATE
    reg2.card_result = formats.DUPLICATE
    assert run(client2.sync()) == 2
    assert reg2.cards_seen == reg.cards_seen  # the same entry, byte for byte
    assert store2.counts()["cards_pending"] == 0 and store2.counts()["synced"] == 1


def test_a_rejected_card_entry_is_final_and_logged():
    path, _ = flash_dir()
    store, audit, reg, client = setup(path)
    b, s = store.save(record_id(1), plaintext(1))
    store.mark_card_verified(b, s, UID, "0ABC-DEF1")
    reg.card_rows = lambda req: [[b, s, formats.REJECTED, card_mac(req.cards()[0], formats.REJECTED),
                                  "record 1/1 holds another credential"]]
    assert run(client.sync()) == 2
    assert store.counts()["cards_pending"] == 0  # not retried for ever
    assert "sync-card-rejected" in "\n".join(audit.lines())


def test_a_segment_is_not_purged_while_a_card_entry_waits_even_under_pressure():
    path, dev = flash_dir()
    store, _, _, _ = setup(path)
    b, s = store.save(record_id(1), plaintext(1))
    store.mark_card_verified(b, s, UID, "0ABC-DEF1", "9ZZZ-ZZZ9")  # a re-issue: its revocation must not be lost
    store.mark_results([(b, s, formats.ACCEPTED)], 1000, b"r")
    store.close()
    store, _, _, _ = setup(remount(dev, path))  # the tail closed: the segment may be purged
    assert store.journal.purge(10**9, 1, pressure=True) == 0
    store.mark_results([(b, s, formats.ACCEPTED | formats.CARD_RESULT)], 1000, b"r")
    c = store.counts()
    assert (c["cards_pending"], c["synced"], c["pending"]) == (0, 1, 0)  # a card result is not a record's
    assert store.journal.purge(10**9, 1, pressure=True) == 1
