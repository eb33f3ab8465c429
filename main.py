# main.py: runs the device application.  A fatal error is logged to flash and the
# device resets (on the host: exits non-zero with the traceback).
from firmware import board_select, safemode

board = board_select.load()


def run():
    why = safemode.reason(board)
    if why:
        board.console("SAFE MODE: " + why + " (app not started)")
        return
    from firmware import app

    app.main(board)


try:
    run()
except KeyboardInterrupt:
    board.console("stopped")
except Exception as exc:  # noqa: BLE001 - last line of defence: log, then reset
    from firmware import faultlog

    faultlog.record(board.DATA_DIR, exc)
    board.fatal_reset()
