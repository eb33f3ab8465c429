"""Pick the board module for the platform we run on.

On the ESP32 the real `firmware.board` (the only importer of machine/network);
anywhere else the simulated `firmware.board_sim` with the same interface.
"""

import sys


def load():
    if sys.platform == "esp32":
        from firmware import board
    else:
        from firmware import board_sim as board
    return board
