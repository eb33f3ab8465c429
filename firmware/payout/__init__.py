"""The payout role: the same device, provisioned to pay (enrolctl device provision --role payout).

trust.py   the registry's signed list of the keys that sign genuine cards (trust.bin)
flow.py    the officer's and the citizen's screens: programme, card, PIN, the registry's answer
client.py  the signed claim to the registry (POST /v1/payouts) and its signed answer
The card is read by tasks/card.py, the claim sent by tasks/payout.py.
"""
