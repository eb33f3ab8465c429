"""Every random byte the firmware uses: one HMAC_DRBG (drbg.py), seeded from the chip and a seed file.

On an ESP32, os.urandom() is esp_random(): the hardware RNG is only truly random while the
radio (Wi-Fi or Bluetooth) is on, or while the bootloader's entropy source is enabled;
otherwise ESP-IDF says to treat its output as pseudo-random.  This firmware keeps Wi-Fi off
except during a sync, yet needs record ids, PIN-block fill, batch keys, IVs and nonces all day.
So the chip's output is never used directly:
  power-on   the DRBG is instantiated from os.urandom(32) || the seed file (32 bytes), nonce =
             the boot number, personalization = the device id; the seed file is replaced at
             once by DRBG output, so no two boots start alike even when the chip's output is weak;
  radio on   reseed(), called by the sync while Wi-Fi is up (and enrolctl provisions the first
             seed file from the laptop's OS RNG): 32 fresh bytes of os.urandom mixed in, a new
             seed file.
The seed file holds DRBG output, not its state: read off a lost device it does not give back
the bytes drawn before (backtracking resistance), and the next power-on mixes in new chip bytes.
Before start() (unit tests, the host) the DRBG is instantiated from os.urandom alone.
"""

import os

from firmware.crypto.drbg import HmacDrbg

SEED_FILE = "/seed.bin"
SEED_LEN = 32

_state = [None, None]  # [HmacDrbg, the data directory of its seed file]


def _drbg():
    if _state[0] is None:
        _state[0] = HmacDrbg(os.urandom(32), os.urandom(16), b"enrol-unseeded")
    return _state[0]


def _save_seed():
    if _state[1] is None:
        return
    from firmware import fsutil

    fsutil.write_atomic(_state[1] + SEED_FILE, _state[0].generate(SEED_LEN))


def start(data_dir, device_id, boot):
    """Instantiate from the chip and the seed file; write the next seed file (OSError: flash)."""
    from firmware import fsutil

    seed = fsutil.read_file(data_dir + SEED_FILE) or b""
    nonce = bytes(((boot >> 24) & 0xFF, (boot >> 16) & 0xFF, (boot >> 8) & 0xFF, boot & 0xFF))
    _state[0] = HmacDrbg(os.urandom(32) + seed[:SEED_LEN], nonce, device_id.encode())
    _state[1] = data_dir
    _save_seed()


def reseed(source=None):
    """Mix in 32 bytes from the chip while its RNG is truly random (the radio is on)."""
    _drbg().reseed((source or os.urandom)(32))
    _save_seed()


def random_bytes(n):
    return _drbg().generate(n)
