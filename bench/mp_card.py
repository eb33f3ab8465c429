"""Card figures under the MicroPython unix port (run by bench/bench_card.py).

Usage: micropython -X heapsize=N bench/mp_card.py TREE [DATA_DIR with km.bin]
Ed25519 sign/verify time, credential size, and one fresh NTAG215 written and
verified over the emulated PN532 through the real adafruit_pn532 driver:
modeled reader seconds (I2C at 400 kHz, RF at 106 kbit/s, 4.1 ms a page write),
PN532 exchanges, page writes, and the live heap after it.
"""

import sys

tree = sys.argv[1]
sys.path[:0] = [tree, tree + "/lib"]

import gc  # noqa: E402
import time  # noqa: E402

import busio  # noqa: E402
from digitalio import DigitalInOut  # noqa: E402

from firmware.board_sim import SimI2C  # noqa: E402

_t = time.ticks_us()  # the card step's modules: imported at its first card after a boot
from firmware.card import credential, ndef  # noqa: E402
from firmware.card.writer import CardWriter  # noqa: E402
from firmware.crypto import ed25519, originality  # noqa: E402, F811
from firmware.hw.nfc import Reader  # noqa: E402

print("card_imports_us=" + str(time.ticks_diff(time.ticks_us(), _t)))
from host_tools.sim.ntag import NTAG21x  # noqa: E402
from host_tools.sim.reader import PN532Reader  # noqa: E402

SEED = bytes(range(32))
PUB = ed25519.public_key(SEED)
UID = b"\x04\x11\x22\x33\x44\x55\x66"

cose = credential.issue(SEED, PUB, "reg-kh", "7F4Y-VXQ7", "SOPHEAP CHANTREA", "dev-0001", UID, 1767225600, 1924992000)
print("credential_bytes=" + str(len(cose)))
print("tlv_bytes=" + str(len(ndef.tlv(ndef.record(cose)))))

class TimedI2C(SimI2C):
    """The in-process bus, timing the emulator's share (the device's CPU time is the rest)."""

    emulator_us = 0

    def writeto(self, addr, buf, stop=True):
        t = time.ticks_us()
        try:
            return SimI2C.writeto(self, addr, buf, stop)
        finally:
            self.emulator_us += time.ticks_diff(time.ticks_us(), t)

    def readfrom_into(self, addr, buf, stop=True):
        t = time.ticks_us()
        try:
            return SimI2C.readfrom_into(self, addr, buf, stop)
        finally:
            self.emulator_us += time.ticks_diff(time.ticks_us(), t)


class IrqPin:
    """The PN532's P70_IRQ on a GPIO, as the device wires it (board.nfc_pins): low = a frame is ready."""

    def __init__(self, chip, bus):
        self.chip, self.bus = chip, bus

    def value(self):
        t = time.ticks_us()  # the emulator's share, as the bus's: on the board a C pin read
        level = self.chip.irq
        self.bus.emulator_us += time.ticks_diff(time.ticks_us(), t)
        return level


def open_reader(bus, chip):
    return Reader(busio.I2C(bus=bus), irq=DigitalInOut(IrqPin(chip, bus)))


from firmware.crypto import originality  # noqa: E402
from host_tools.sim.nxp_signer import FactorySigner  # noqa: E402

factory = FactorySigner(0x1234567890ABCDEF1234567890ABCD)
orig_sig = factory.sign(UID)
RUNS = 5  # each figure is the fastest of RUNS: the host's other work only ever adds time


def fastest(f, bus=None):
    """f's time, fastest of RUNS; with a TimedI2C `bus`, its emulators' share left out of each run."""
    best = None
    for _ in range(RUNS):
        emulated, t0 = bus.emulator_us if bus is not None else 0, time.ticks_us()
        f()
        us = time.ticks_diff(time.ticks_us(), t0) - (bus.emulator_us - emulated if bus is not None else 0)
        best = us if best is None else min(best, us)
    return best


print("originality_us=" + str(fastest(lambda: originality.verify(UID, orig_sig, factory.public_key))))
sig = ed25519.sign(SEED, b"x" * 150, PUB)
print("sign_us=" + str(fastest(lambda: ed25519.sign(SEED, b"x" * 150, PUB))))
print("verify_us=" + str(fastest(lambda: ed25519.verify(PUB, b"x" * 150, sig))))

held_cpu = check_cpu = None
first_cpu = None  # the first card in this process: what a card step after a boot adds
for _ in range(RUNS):
    bus = TimedI2C()
    chip = PN532Reader()
    bus.attach(0x24, chip)
    reader = open_reader(bus, chip)
    writer = CardWriter(reader, SEED, PUB, bytes(32), "dev-0001", "reg-kh")
    card = NTAG21x("NTAG215", uid=UID, signature=orig_sig)
    chip.place(card)
    chip.modeled_us = 0
    commands_before = chip.command_count
    t0 = time.ticks_us()
    uid, sel = reader.wait_card(500)
    _, _, payload = writer.write(uid, sel, bytes(16), "SOPHEAP CHANTREA", 1767225600, 1924992000)
    chip_sig = reader.read_sig()
    total_us = time.ticks_diff(time.ticks_us(), t0)
    # the card may go now; the check that follows needs no emulator
    t0 = time.ticks_us()
    writer.check(payload, uid)
    check_us = time.ticks_diff(time.ticks_us(), t0)
    us = total_us - bus.emulator_us  # the firmware's own work while the card is held, emulators left out
    if first_cpu is None:
        first_cpu = us + check_us
    held_cpu = us if held_cpu is None else min(held_cpu, us)
    check_cpu = check_us if check_cpu is None else min(check_cpu, check_us)
print("write_verify_host_ms=" + str((held_cpu + check_cpu) // 1000))
print("first_card_extra_us=" + str(max(0, first_cpu - held_cpu - check_cpu)))
print("i2c_card_bytes=" + str(bus.bytes_moved))
print("device_cpu_us=" + str(held_cpu))
print("check_cpu_us=" + str(check_cpu))
print("modeled_us=" + str(chip.modeled_us))
print("pn532_commands=" + str(chip.command_count - commands_before))
print("page_writes=" + str(card.writes))
gc.collect()
print("live_heap=" + str(gc.mem_alloc()))

# ---- a payout point reads that card: tap to card checked (tasks/card.py _read_checked) ---------
pay_cpu = None
for _ in range(RUNS):
    bus = TimedI2C()
    chip = PN532Reader()
    bus.attach(0x24, chip)
    reader = open_reader(bus, chip)
    checker = CardWriter(reader, None, None, None, None, None)
    chip.place(card)
    chip.modeled_us = 0
    commands_before = chip.command_count
    t0 = time.ticks_us()
    uid, sel = reader.wait_card(500)
    _, _, dyn, model_cc = checker.identify(sel)
    genuine = originality.verify(uid, reader.read_sig(), factory.public_key)
    _, cc, user = checker.read_tlv(dyn)
    claims = credential.verify(ndef.parse_record(ndef.find_message(user)), {credential.key_id(PUB): PUB}, uid,
                               1767225700)
    us = time.ticks_diff(time.ticks_us(), t0) - bus.emulator_us
    assert genuine and cc == model_cc and claims[credential.CLAIM_GIVEN_NAME] == "SOPHEAP CHANTREA", (genuine, cc, model_cc, claims)
    pay_cpu = us if pay_cpu is None else min(pay_cpu, us)
print("pay_cpu_us=" + str(pay_cpu))
print("pay_modeled_us=" + str(chip.modeled_us))
print("pay_commands=" + str(chip.command_count - commands_before))

# ---- after the card: the two frames the person waits for, and what the store writes ----------
from firmware.hw.display import Display  # noqa: E402
from firmware.ui import khmer  # noqa: E402
from firmware.ui import render  # noqa: E402
from firmware.ui.screen import Screen  # noqa: E402
from host_tools.sim.ssd1306 import SSD1306Emulator  # noqa: E402

KM = khmer.Strings(sys.argv[2] + "/km.bin") if len(sys.argv) > 2 else None
obus = TimedI2C()  # the emulated panel's own work is left out, as the reader's is above
obus.attach(0x3C, SSD1306Emulator())
disp = Display(obus)
disp.start()
frames = (Screen("CARD", ("Card written.", "Take it off the", "reader.", "Checking it...")),
          Screen("DONE", ("Card ready for", "SOPHEAP CHANTREA", "Code:", "7F4Y-VXQ7"), "A=next person"))
for i, screen in enumerate(frames):  # the device's own time to draw a frame and hand it to the bus
    sent = obus.bytes_moved
    print("frame%d_us=%d" % (i, fastest(lambda: render.draw(disp, screen), obus)))
    print("frame%d_bus_bytes=%d" % (i, (obus.bytes_moved - sent) // RUNS))
    if KM is not None:  # the device's first language: the same screen drawn in Khmer
        print("frame%d_km_us=%d" % (i, fastest(lambda: khmer.draw(disp, screen, KM, 0, None), obus)))

