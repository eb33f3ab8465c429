"""Fatal-error log on flash, and the crash counter that stops a reset loop.

main.py calls record() for an exception that escaped the app, then resets.
After MAX_CRASHES fatal resets in a row the device stays in safe mode (REPL
reachable, app not started) so a technician can pull the log; the app calls
clear_crashes() once it has reached its idle screen.
"""

import sys

LOG_NAME = "fault.log"
COUNT_NAME = "crashes"
MAX_LOG_BYTES = 8192  # then the log is rotated to fault.log.1
MAX_CRASHES = 3


def _path(data_dir, name):
    return data_dir + "/" + name


def _size(path):
    import os

    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def _ensure_dir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass  # exists (or the parent is missing; open() will say so)


def _print_exception(exc, out):
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, out)  # MicroPython
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=out)


def record(data_dir, exc):
    """Print the traceback and append it to the fault log.  Never raises."""
    import os

    _print_exception(exc, sys.stderr if hasattr(sys, "stderr") else sys.stdout)
    try:
        _ensure_dir(data_dir)
        path = _path(data_dir, LOG_NAME)
        if _size(path) > MAX_LOG_BYTES:
            os.rename(path, path + ".1")
        with open(path, "a") as f:
            f.write("--- fatal\n")
            _print_exception(exc, f)
        count = crash_count(data_dir) + 1
        with open(_path(data_dir, COUNT_NAME), "w") as f:
            f.write(str(count))
    except Exception:  # the flash itself may be what failed: the reset still has to happen
        pass


def crash_count(data_dir):
    try:
        with open(_path(data_dir, COUNT_NAME)) as f:
            return int(f.read() or "0")
    except (OSError, ValueError):
        return 0


def clear_crashes(data_dir):
    import os

    try:
        os.remove(_path(data_dir, COUNT_NAME))
    except OSError:
        pass


def read_log(data_dir):
    """The current fault log text ('' when there is none)."""
    try:
        with open(_path(data_dir, LOG_NAME)) as f:
            return f.read()
    except OSError:
        return ""
