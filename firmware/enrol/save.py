"""Saving one enrolment, in one place, with what a power cut leaves on flash at each step.

  step                                        on flash after a cut during or after the step
  1 the record id: 16 random bytes (UUID v4)  nothing new: no receipt was shown; the officer
                                              enters the person again
  2 the PIN's ISO 9564 format-4 block,        nothing new: the block exists only inside the
    enciphered for the registry, and the      sealed record, never alone; the PIN itself is
    record sealed around it (store.save)      wiped whatever happens (step 5)
  3 store.save returns: committed             the record (LittleFS's commit of the append is
                                              the commit point: store/journal.py, W1/W2); its
                                              card is due (store.cards_due) but has no note
                                              yet: after a cut here this device cannot resume
                                              its card step (the registry can issue the card)
  4 the card-due note                        record and note: the card step is resumed at the
                                              next login, or later from HOME, Cards due; a note
                                              flash refused costs only that, and is said
  5 the PIN wiped                             (RAM only)
(store/cards_due.py).  The caller then tells the clock, the sync and the screens.
"""

from firmware.crypto import pin_block, rng
from firmware.crypto.wipe import wipe
from firmware.enrol import record
from firmware.formats import credential_id


def new_record_id():
    """A random (version 4, RFC 4122 variant) UUID's 16 bytes."""
    rid = bytearray(rng.random_bytes(16))
    rid[6] = (rid[6] & 0x0F) | 0x40
    rid[8] = (rid[8] & 0x3F) | 0x80
    return bytes(rid)


def save_enrolment(store, clock, cards, fields, officer_id, pin):
    """Steps 1-5 above.  Returns (boot, seq, record id, card iat); cards (store/cards_due.CardsDue)
    has the record's card as due.  A StoreError from the store (nothing saved) goes to the
    caller, the PIN wiped all the same."""
    record_id = new_record_id()

    def plaintext(pin_key):
        block = pin_block.encipher(pin_key, pin, record_id)
        return record.encode(officer_id, clock.now(), clock.synced, fields, credential_id(record_id), block)

    try:
        boot, seq = store.save(record_id, plaintext)
    finally:
        wipe(pin)
    iat = clock.now()
    # the record is saved; a note flash refuses costs only writing its card later on this device
    cards.add(boot, seq, record_id, iat, fields["given_name"])
    return boot, seq, record_id, iat
