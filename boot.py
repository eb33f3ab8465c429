# boot.py: runs first at every power-on.  Keep it minimal: nothing here may crash.
# It only reads the safe-mode key, so main.py can skip the app when it is held.
try:
    from firmware import board_select, safemode

    safemode.check(board_select.load())
except Exception as e:  # noqa: BLE001 - boot must always reach the REPL
    print("boot:", e)
