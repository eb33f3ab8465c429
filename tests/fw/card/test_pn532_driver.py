"""The real adafruit_pn532 driver (from lib/, copied out of its wheel) over the shims and a bus emulator.

Expected bytes are worked out from the PN532 user manual (UM0701-02 §6.2.1):
GetFirmwareVersion is D4 02 -> LEN 2, LCS FE, DCS = -(D4+02) = 2A.
"""

from firmware.board_sim import SimI2C
from host_tools.sim.pn532 import ACK, ERROR_FRAME, PN532Emulator, frame, parse_host_frame


class RecordingEmulator(PN532Emulator):
    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))
        super().write(data)


def make_reader():
    import busio
    from adafruit_pn532.i2c import PN532_I2C

    bus = SimI2C()
    chip = RecordingEmulator()
    bus.attach(0x24, chip)
    return PN532_I2C(busio.I2C(bus=bus)), chip


def test_driver_imports_and_reads_firmware_version_over_i2c():
    reader, chip = make_reader()
    assert reader.firmware_version == (0x32, 0x01, 0x06, 0x07)
    # constructor: SAMConfiguration (wake-up) then GetFirmwareVersion; then ours
    assert chip.commands == [0x14, 0x02, 0x02]
    assert b"\x00\x00\xff\x02\xfe\xd4\x02\x2a\x00" in chip.writes
    assert chip.sam_configured


def test_response_frame_matches_the_manual():
    # GetFirmwareVersion answer: D5 03 32 01 06 07; LEN 6, LCS FA, DCS = -(D5+03+32+01+06+07) & FF
    expected_dcs = (-(0xD5 + 0x03 + 0x32 + 0x01 + 0x06 + 0x07)) & 0xFF
    assert frame(b"\x03\x32\x01\x06\x07") == bytes(
        [0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, expected_dcs, 0x00]
    )


def test_bad_checksum_frame_is_ignored_without_ack():
    chip = PN532Emulator()
    chip.write(b"\x00\x00\xff\x02\xfe\xd4\x02\x2b\x00")  # DCS off by one
    assert chip.read(1) == b"\x00"  # never ready: the host times out
    assert chip.irq == 1
    chip.write(b"\x00\x00\xff\x02\xfd\xd4\x02\x2a\x00")  # LCS wrong
    assert chip.read(7) == bytes(7)


def test_unknown_command_gets_ack_then_error_frame():
    chip = PN532Emulator()
    chip.write(b"\x00\x00\xff\x02\xfe\xd4\x7e\xae\x00")  # command 0x7E does not exist
    assert chip.irq == 0
    assert chip.read(7) == b"\x01" + ACK
    assert chip.read(9) == b"\x01" + ERROR_FRAME


def test_nack_resends_last_response():
    chip = PN532Emulator()
    chip.write(b"\x00\x00\xff\x02\xfe\xd4\x02\x2a\x00")
    chip.read(7)
    first = chip.read(14)
    assert chip.read(1) == b"\x00"
    chip.write(b"\x00\x00\xff\xff\x00\x00")
    assert chip.read(14) == first


def test_extended_frame_is_parsed():
    body = b"\xd4\x02"
    n = len(body)
    raw = bytes([0, 0, 0xFF, 0xFF, 0xFF, 0, n, (-n) & 0xFF]) + body + bytes([(-sum(body)) & 0xFF, 0])
    assert parse_host_frame(raw) == ("info", b"\x02")


def test_missing_device_is_a_bus_error():
    import busio
    from adafruit_pn532.i2c import PN532_I2C

    bus = SimI2C()  # nothing at 0x24
    try:
        PN532_I2C(busio.I2C(bus=bus))
    except ValueError as e:  # adafruit_bus_device's probe: "No I2C device at address"
        assert "0x24" in str(e)
    else:
        raise AssertionError("constructor must fail without a PN532 on the bus")
