"""Safe mode: the app does not start, the REPL stays free for a technician.

Entered when the safe-mode key is held at power-on (checked once by boot.py),
or after faultlog.MAX_CRASHES fatal resets in a row.
"""

_held = None


def check(board):
    """Read the safe-mode key once (boot.py) and remember the answer."""
    global _held
    if _held is None:
        try:
            _held = bool(board.safe_key_held())
        except Exception:  # a board that cannot read its key: keep the REPL reachable
            _held = True
    return _held


def reason(board):
    """Why the app must not start, or None."""
    from firmware import faultlog

    if check(board):
        return "safe-mode key held"
    if faultlog.crash_count(board.DATA_DIR) >= faultlog.MAX_CRASHES:
        return "too many crashes in a row; see " + board.DATA_DIR + "/" + faultlog.LOG_NAME
    return None
