# boot.py: runs first at every power-on.  Keep it minimal: nothing here may crash.
# The application is frozen into the firmware image (manifest.py): it runs from flash, not
# from the ~100 KB heap, and a new version reaches a device only as a new image (enrolctl
# flash; README, Updating a device).  So:
# 1. The frozen image comes first on sys.path, before the filesystem root: modules copied to
#    the filesystem (a stray firmware/ or lib/, an app/ tree an older deploy staged) can never
#    shadow it, nor pull the app back into RAM, nor mix two versions.
# 2. Read the safe-mode key, so main.py can skip the app when it is held.
import sys

try:
    if ".frozen" in sys.path:
        sys.path.remove(".frozen")
    sys.path.insert(0, ".frozen")
except Exception as e:  # noqa: BLE001 - boot must always reach the REPL
    print("boot: path:", e)
try:
    from firmware import board_select, safemode

    safemode.check(board_select.load())
except Exception as e:  # noqa: BLE001 - boot must always reach the REPL
    print("boot:", e)
