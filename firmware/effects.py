"""What a flow asks of the device: its effects, each kind written down once, here.

A flow (enrol/flow.py, payout/flow.py) takes events and returns a list of effects; the role's
effect runner (effect_runner.py, payout/runner.py) carries them out, in order,
by the method do_<kind>, and answers some with an event back to the flow.  An effect is a tuple
whose first item is its kind, the rest its values, in this order:

  kind               values                        answered by the flow's event
  show               screen                        (none): the panel draws it (ui/panel.py)
  save               fields, officer_id, pin       saved(boot, seq) or save_failed(message)
  write_card         boot, seq, fields             card_written(), needs_supervisor(old id),
                                                   card_done(ok, credential id or message)
  card_later         boot, seq                     (none): HOME, Cards due lists it
  check_card         -                             check_done(ok, name or reason, credential id)
  reissue            credential_id, supervisor_id  (none): the next tap may replace that credential
  check_officer      officer_id, pin               officer_checked(result, now)
  unlock_officer     supervisor_id, officer_id     (none)
  switch_language    -                             (none): the flow shows its screen again
  refresh_trust      -                             trust_done(problem or None)
  read_card          -                             card_read(ok, ...)
  pay                programme, pin                paid(answer) or pay_failed(message)

A pin is a bytearray that whoever carries the effect out wipes.  The flows write these tuples
themselves: a tuple of a literal kind costs the 100 KB heap nothing more, where a constructor
per kind cost 460 bytes of function objects at power-on.  So this module is the contract and is
not loaded on the device; tests/host/house/test_effects.py checks that every effect a flow makes
is one of KINDS with its number of values, and that a runner carries each out.
"""

# kind -> its number of values
KINDS = (("show", 1), ("save", 3), ("write_card", 3), ("card_later", 2), ("check_card", 0), ("reissue", 2),
         ("check_officer", 2), ("unlock_officer", 2), ("switch_language", 0), ("refresh_trust", 0),
         ("read_card", 0), ("pay", 2))
