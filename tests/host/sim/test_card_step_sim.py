"""After the save, a power cut resumes at the card step at the next login (issue 4), under
MicroPython in the simulator; once the card is verified nothing resumes any more."""

from __future__ import annotations

from pathlib import Path

import pytest

from simkit import LOGIN, enrol, new_device, run_sim, run_until_cut


def test_power_cut_at_the_card_step_resumes_there_after_login(tmp_path: Path) -> None:
    flash = new_device(tmp_path)
    lines = [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593")[:-5]  # up to "Tap the card", no card yet
    cut = run_until_cut(flash, lines, "|Tap the card on |", tmp_path, ENROL_SIM_WIFI="off")
    assert "|Record SAVED.   |" in cut
    assert (flash / "card_due.bin").exists()

    resumed = run_sim(flash, [*LOGIN[:3]] + ["?Tap the card", "t", "?Card ready", "r", "A", "?HOME", "3",
                                                 "?To sync", "B"], tmp_path, ENROL_SIM_WIFI="off")
    assert resumed.rc == 0, resumed.out[-2000:] + resumed.err[-2000:]
    assert "|Resumed: NARY   |" in resumed.out
    assert "|Card ready for  |\n|NARY            |" in resumed.out
    assert "|Cards due: 0" in resumed.out and "|To sync: 1" in resumed.out  # the same record, now with its card
    assert not (flash / "card_due.bin").exists()
    assert len(list(tmp_path.glob("*.bin"))) == 1  # one card in the wallet

    again = run_sim(flash, [*LOGIN] + ["3", "?To sync", "B"], tmp_path, ENROL_SIM_WIFI="off")
    assert again.rc == 0 and "Resumed:" not in again.out and "|Cards due: 0" in again.out


def test_card_later_is_not_resumed_and_a_damaged_file_is_dropped(tmp_path: Path) -> None:
    flash = new_device(tmp_path)
    later = run_sim(flash, [*LOGIN] + enrol("DARA", "KEO", "01012000", "4826", card=False), tmp_path,
                    ENROL_SIM_WIFI="off")
    assert later.rc == 0 and "|NO card yet.    |" in later.out and "Card ready" not in later.out
    assert "|5 Cards due: 1  |" in later.out  # HOME offers to write it when the person comes back
    (flash / "card_due.bin").write_bytes(b"CD1" + bytes(80))  # damaged
    after = run_sim(flash, [*LOGIN] + ["3", "?To sync", "B"], tmp_path, ENROL_SIM_WIFI="off")
    assert after.rc == 0 and "card_due.bin: does not authenticate" in after.out
    assert "Resumed:" not in after.out and "|Cards due: 1" in after.out  # the record is safe, its card due
    assert not (flash / "card_due.bin").exists()


def test_a_card_left_for_later_is_written_when_the_person_comes_back(tmp_path: Path) -> None:
    """Issue 15: "card later" says no card was written, HOME lists the cards due, and picking
    one writes and verifies that person's card, across a power-off in between."""
    flash = new_device(tmp_path)
    first = run_sim(flash, [*LOGIN] + enrol("DARA", "KEO", "01012000", "4826", card=False)
                    + enrol("NARY", "MEAS", "29022004", "1593", card=False), tmp_path, ENROL_SIM_WIFI="off")
    assert first.rc == 0 and "|5 Cards due: 2  |" in first.out
    back = run_sim(flash, [*LOGIN] + ["5", "?Whose card?", "#", "A", "?Tap the card", "t", "?Card ready", "r", "A",
                                      "?HOME", "3", "?Cards due", "B"], tmp_path, ENROL_SIM_WIFI="off")
    assert back.rc == 0, back.out[-2000:] + back.err[-2000:]
    assert "|Card ready for  |\n|NARY            |" in back.out and "Resumed:" not in back.out
    assert "|Cards due: 1" in back.out and "|5 Cards due: 1  |" in back.out
    assert len(list(tmp_path.glob("*.bin"))) == 1  # the card NARY took home


def test_a_card_already_issued_is_reissued_only_with_a_supervisor(tmp_path: Path) -> None:
    from host_tools.enrolctl.journal import entries

    flash = new_device(tmp_path)
    first = enrol("NARY", "MEAS", "29022004", "1593")
    second = enrol("DARA", "KEO", "01012000", "4826")[:-5]  # up to "Tap the card"
    # the card stays on the reader while the supervisor types; it is written once the PIN is right
    lines = [*LOGIN] + first + second + ["again", "?Card has", "0042A", "?Not a supervisor", "0001A", "?PIN:", "9713A",
                                      "?Card ready", "r", "A", "?HOME"]
    run = run_sim(flash, lines, tmp_path, ENROL_SIM_WIFI="off")
    assert run.rc == 0, run.out[-2000:] + run.err[-2000:]
    assert "|Card ready for  |\n|DARA            |" in run.out and "|Re-issue: tap   |" in run.out
    assert run.out.rstrip().endswith("power off") and "HOME" in run.out[run.out.rindex("|DARA"):]
    cards = [e[2] for seg in sorted((flash / "journal").glob("*.seg")) for e in entries(seg.read_bytes())
             if e[1] == 3]
    assert len(cards) == 2
    at = 9 + cards[0][8]  # boot, seq, UID length, UID; then the credential id's length and the id
    first_id = cards[0][at + 1 : at + 1 + cards[0][at]].decode()
    assert len(first_id) == 26  # all 128 bits of the record id (firmware/formats.py credential_id)

    def tail(p: bytes) -> bytes:
        at = 9 + p[8]
        at += 1 + p[at]
        return p[at:]

    assert tail(cards[0]) == b""  # a first issue
    assert tail(cards[1]) == bytes((26,)) + first_id.encode()  # the re-issue names the credential it replaced
    audit = (flash / "audit" / "audit.log").read_bytes()
    assert first_id.encode() + b" confirmed by OF0001" in audit  # who allowed it, in the audit log


def test_check_mode_tells_a_genuine_card_from_a_copy(tmp_path: Path) -> None:
    flash = new_device(tmp_path)
    lines = [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593") + [
        "2", "?Tap a card", "again", "?VALID", "r", "clone", "?genuine", "r", "B", "?HOME"]
    run = run_sim(flash, lines, tmp_path, ENROL_SIM_WIFI="off")
    assert run.rc == 0, run.out[-2000:] + run.err[-2000:]
    assert "|VALID           |\n|NARY            |" in run.out
    copy = run.out[run.out.rindex("|VALID"):]
    assert "|NOT VALID:      |\n|not a genuine   |\n|NXP chip: a copy|" in copy


# every screen between the home menu and the save: the first field, each field after a value was
# typed into the one before, review, consent and both PIN screens
@pytest.mark.parametrize("marker", ["|Given name:", "|Family name:", "|Sex:", "|Birth date:", "|Village:",
                                    "|Phone (opt.):", "|REVIEW", "|CONSENT", "|4-6 digit PIN:", "|Type it again:  |"])
def test_a_power_cut_before_the_save_leaves_no_trace(tmp_path: Path, marker: str) -> None:
    flash = new_device(tmp_path)
    cut = run_until_cut(flash, [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593"), marker, tmp_path,
                        ENROL_SIM_WIFI="off")
    assert marker in cut and "Record SAVED" not in cut
    after = run_sim(flash, [*LOGIN] + ["3", "?To sync", "B", "?HOME"], tmp_path, ENROL_SIM_WIFI="off")
    assert after.rc == 0, after.out[-2000:]
    assert "|To sync: 0" in after.out and "|Cards due: 0" in after.out and "Resumed:" not in after.out
    assert not (flash / "card_due.bin").exists()


def test_a_power_cut_on_the_receipt_keeps_the_record_and_its_verified_card(tmp_path: Path) -> None:
    flash = new_device(tmp_path)
    cut = run_until_cut(flash, [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593"), "|Card ready for  |",
                        tmp_path, ENROL_SIM_WIFI="off")
    assert "|Card ready for  |" in cut
    after = run_sim(flash, [*LOGIN] + ["3", "?To sync", "B", "?HOME"], tmp_path, ENROL_SIM_WIFI="off")
    assert after.rc == 0, after.out[-2000:]
    assert "|To sync: 1" in after.out and "|Cards due: 0" in after.out and "Resumed:" not in after.out
    assert not (flash / "card_due.bin").exists()


def test_cards_that_cannot_be_written_are_refused_with_a_reason_and_another_one_works(tmp_path: Path) -> None:
    flash = new_device(tmp_path)
    lines = [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593")[:-5] + [
        "tlocked", "?use another", "r", "t213", "?Card too small", "r", "tclassic", "?MIFARE", "r",
        "tphone", "?Phone/bank", "r", "t", "?Card ready", "r", "A", "?HOME"]
    run = run_sim(flash, lines, tmp_path, ENROL_SIM_WIFI="off")
    assert run.rc == 0, run.out[-2000:] + run.err[-2000:]
    assert "|Card read-only: |\n|use another card|" in run.out
    assert "|Card too small: |\n|use an NTAG215  |" in run.out
    assert "|MIFARE Classic: |\n|use an NTAG215  |" in run.out
    assert "|Phone/bank card:|\n|use an NTAG215  |" in run.out
    assert "|Card ready for  |\n|NARY            |" in run.out
    assert len(list(tmp_path.glob("*.bin"))) == 1  # one card issued: the good one


def test_a_card_from_the_wallet_is_presented_again_in_a_later_run(tmp_path: Path) -> None:
    flash = new_device(tmp_path)
    first = run_sim(flash, [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593"), tmp_path,
                    ENROL_SIM_WIFI="off")
    assert first.rc == 0, first.out[-2000:]
    (uid,) = [p.stem for p in tmp_path.glob("*.bin")]
    (tmp_path / "badc0de.bin").write_bytes(bytes(10))  # a damaged dump in the wallet
    later = run_sim(flash, [*LOGIN] + ["cards", "2", "?Tap a card", f"tap {uid[:6]}", "?VALID", "r", "tap 99",
                                           "tap badc", "B", "?HOME"], tmp_path, ENROL_SIM_WIFI="off")
    assert later.rc == 0, later.out[-2000:]
    assert "sim: wallet: " in later.out and uid in later.out
    assert "|VALID           |\n|NARY            |" in later.out  # genuine chip (the factory key is kept) and ours
    assert "sim: no card in the wallet match 99" in later.out
    assert "sim: badc0de.bin: not an NTAG213/215/216 image" in later.out  # said, and the device goes on


def test_a_power_cut_keeps_the_card_just_written_and_the_wifi_as_the_person_left_it(tmp_path: Path) -> None:
    """The card on the reader at the cut is in the wallet afterwards, and a Wi-Fi taken out of reach
    stays out of reach through the cut (the world outside the device does not reset with it)."""
    flash = new_device(tmp_path)
    lines = ["w"] + [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593")[:-5] + [
        "t", "?Card ready", "p", "?Officer number:", "w", "?Officer number:"]
    run = run_sim(flash, lines, tmp_path)
    assert run.rc == 0, run.out[-2000:] + run.err[-2000:]
    assert run.out.count("sim: power cut") == 1
    said = [ln for ln in run.out.splitlines() if ln.startswith("sim: Wi-Fi")]
    assert said == ["sim: Wi-Fi out of reach", "sim: Wi-Fi in reach"]  # the second 'w' brought it back
    assert len(list(tmp_path.glob("*.bin"))) == 1  # written before the cut, kept through it


def test_check_mode_survives_hostile_card_contents(tmp_path: Path) -> None:
    """Issue 15: whatever CBOR a card holds, the running device says NOT VALID and goes on."""
    from host_tools.sim.host import HOSTILE_PAYLOADS

    flash = new_device(tmp_path)
    lines = [*LOGIN]
    for _ in HOSTILE_PAYLOADS:  # each from a fresh check screen, so each wait sees its own answer
        lines += ["2", "?Tap a card", "thostile", "?NOT VALID", "r", "B", "?HOME"]
    lines += enrol("NARY", "MEAS", "29022004", "1593") + ["2", "?Tap a card", "again", "?VALID"]
    run = run_sim(flash, lines, tmp_path, ENROL_SIM_WIFI="off")
    assert run.rc == 0, run.out[-2000:] + run.err[-2000:]
    assert run.out.count("|NOT VALID:      |") >= len(HOSTILE_PAYLOADS), run.out[-3000:]
    assert "|VALID           |" in run.out  # and a real card still checks afterwards
    assert "Traceback" not in run.out + run.err and "unexpected" not in run.out


def test_the_wallet_keeps_every_card_the_device_wrote_and_only_those(tmp_path: Path) -> None:
    """A hostile card (anyone's to write) tapped at the card step is written over by the device: it
    is in the wallet.  A wallet card only presented and checked is not written back (its dump
    without a signature file stays without one), and the closing summary checks each chip's
    originality signature as the device does (python-ecdsa, not the device's code)."""
    from host_tools.enrolctl.simrun import print_summary

    flash = new_device(tmp_path)
    wallet = tmp_path  # run_sim's
    lines = [*LOGIN] + enrol("NARY", "MEAS", "29022004", "1593")[:-5] + ["thostile", "?Card ready", "r", "A", "?HOME"]
    first = run_sim(flash, lines, tmp_path, ENROL_SIM_WIFI="off")
    assert first.rc == 0, first.out[-2000:]
    (card,) = wallet.glob("*.bin")
    sig = card.with_suffix(".sig")
    image, stamp = card.read_bytes(), card.stat().st_mtime_ns
    sig.unlink()  # a dump without its signature: the chip looks like a copy
    later = run_sim(flash, [*LOGIN] + ["2", "?Tap a card", f"tap {card.stem[:6]}", "?NOT VALID", "r", "B", "?HOME"],
                    tmp_path, ENROL_SIM_WIFI="off")
    assert later.rc == 0, later.out[-2000:]
    assert card.read_bytes() == image and card.stat().st_mtime_ns == stamp and not sig.exists()
    import contextlib
    import io

    import shutil

    shutil.copytree(wallet, flash.parent / "wallet", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("state", "energy-*"))  # the summary reads STATE/wallet
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        print_summary(flash.parent, None)
    assert f"sim: card {card.name}: NOT VALID: not a genuine chip" in said.getvalue(), said.getvalue()
