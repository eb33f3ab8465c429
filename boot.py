# boot.py: runs first at every power-on.  Keep it minimal: nothing here may crash.
# 1. Pick the firmware version (enrolctl deploy stages each version in app/<id>/):
#    app/current names it; a version is used only if its stage is complete (manifest.json,
#    written last); otherwise app/previous, otherwise firmware at the top level.  A version
#    on trial (app/trial, set by a deploy) that has not reached the app after 2 boots is
#    abandoned for the previous one.
# 2. Read the safe-mode key, so main.py can skip the app when it is held.
import sys


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    import os

    os.rename(path + ".tmp", path)


def _end_trial():
    import os

    for name in ("app/trial", "app/trial.boots"):
        try:
            os.remove(name)
        except OSError:
            pass


def _select():
    trial = _read("app/trial")
    if trial:
        if trial != _read("app/current"):
            _end_trial()  # a deploy cut before its switch: nothing on trial
        else:
            boots = int(_read("app/trial.boots") or "0") + 1
            if boots > 2 and _read("app/previous"):
                _write("app/current", _read("app/previous"))  # never reached the app: roll back
                _end_trial()
            else:
                _write("app/trial.boots", str(boots))
    for name in ("app/current", "app/previous"):
        v = _read(name)
        if v and _read("app/" + v + "/manifest.json"):
            d = "app/" + v
            sys.path[:0] = [d, d + "/lib"]
            return d
    return None


try:
    _version = _select()
except Exception as e:  # noqa: BLE001 - boot must always reach the REPL
    _version = None
    print("boot: version:", e)
try:
    from firmware import board_select, safemode

    safemode.check(board_select.load())
except Exception as e:  # noqa: BLE001 - boot must always reach the REPL
    print("boot:", e)
