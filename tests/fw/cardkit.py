"""A card reader on a bench (both runtimes): the emulated PN532 on the in-process I2C bus, cards
signed by an emulated NXP factory, a board and device secrets as the card task reads them."""

import binascii

from firmware.board_sim import SimI2C
from host_tools.sim.ntag import NTAG21x
from host_tools.sim.nxp_signer import FactorySigner
from host_tools.sim.reader import PN532Reader

SEED = binascii.unhexlify("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
FACTORY = FactorySigner(0x1234567890ABCDEF1234567890ABCD)  # the emulated cards' "NXP"


def genuine(uid=b"\x04\x11\x22\x33\x44\x55\x66"):
    return NTAG21x("NTAG215", uid=uid, signature=FACTORY.sign(uid))


class Board:
    DATA_DIR = "/tmp"
    EXTRA_ORIGINALITY_KEYS = [FACTORY.public_key]

    def __init__(self):
        self.lines = []
        self.power = []
        self.screens = []

    def console(self, text):
        self.lines.append(text)

    def nfc_power(self, on):
        self.power.append(bool(on))

    def show_screen(self, screen):
        self.screens.append(screen.text())

    def nfc_pins(self):
        return (None, None)

    def open_i2c(self):
        return self.bus


class Secrets:
    ed25519_seed = SEED
    card_key = bytes(range(32))
    device_id = "dev-0001"
    registry_id = "reg-kh"


def board_with_reader(bus=None):
    """(a Board whose I2C bus has the emulated PN532 on it, that PN532)."""
    board = Board()
    bus = bus if bus is not None else SimI2C()
    chip = PN532Reader()
    bus.attach(0x24, chip)
    board.bus = bus
    return board, chip
