"""When to dim the screen, switch it off, and sleep: a pure policy (no hardware, no clock).

  awake  --DIM_MS idle-->  dim  --DARK_MS-->  dark (OLED off, CPU awake)  --SLEEP_MS-->  sleep
A key brings any state back to awake.  Before sleep, the CPU naps between keys (nap_ms): light
sleep for a second or a few, the screen as it was.  While the device is busy (a card
operation, a sync, a key held, keys queued) it never sleeps, but the screen
still dims.  In `sleep` the CPU is in light sleep (RAM kept, so the officer's
half-typed enrolment is still there) until a key or the next timer (a
scheduled sync).  A key that wakes a dark screen only wakes it: it is not
typed, because the officer could not see what it would do.
"""

AWAKE = "awake"
DIM = "dim"
DARK = "dark"
SLEEP = "sleep"

DIM_MS = 20 * 1000
DARK_MS = 40 * 1000
SLEEP_MS = 60 * 1000
MAX_SLEEP_MS = 30 * 60 * 1000  # wake at least this often (battery check, clock)
# The CPU clock: fast while it works (a key's screen, a save, a card, a sync), slow once nothing
# has happened for FAST_MS while it waits awake for the next key (the screen on, the keypad
# scanned).  ESP32 datasheet: 30-68 mA at 240 MHz, 20-31 mA at 80 MHz, both with the radio off.
FAST_MS = 1000


# Between keys, once nothing has happened for NAP_MS, the CPU naps: light sleep with the screen
# still showing (the SSD1306 keeps its picture from its own RAM), until a key or the next thing
# due (the screen's next power step, a page to turn, the sync's timer).  A key that ends a nap is
# typed as any key on a lit screen.  NAP_MS is past the keypad's multi-tap window (900 ms) and
# the app's next tick, so a letter being typed is committed on screen before the nap.
# ESP32 datasheet: light sleep 0.8 mA against 20-31 mA awake at 80 MHz.
NAP_MS = 1200
MIN_NAP_MS = 20  # shorter is not worth the sleep's entry and exit


def nap_ms(idle_ms, busy, next_timer_ms):
    """How long to nap now (0: not at all): not while busy, not before NAP_MS without a key,
    and never past the next power step or the next timer (ms from now, None = none)."""
    if busy or idle_ms < NAP_MS or idle_ms >= SLEEP_MS:
        return 0
    until = (DIM_MS if idle_ms < DIM_MS else DARK_MS if idle_ms < DARK_MS else SLEEP_MS) - idle_ms
    if next_timer_ms is not None and next_timer_ms < until:
        until = next_timer_ms
    return until if until >= MIN_NAP_MS else 0


def fast_clock(idle_ms, busy):
    return busy or idle_ms < FAST_MS


def state_for(idle_ms, busy):
    if idle_ms >= SLEEP_MS and not busy:
        return SLEEP
    if idle_ms >= DARK_MS:
        return DARK
    if idle_ms >= DIM_MS:
        return DIM
    return AWAKE


def key_is_typed(state):
    """Whether a key pressed in this power state reaches the UI (False: it only wakes)."""
    return state in (AWAKE, DIM)


def sleep_ms(next_timer_ms):
    """How long to sleep: until the next timer (ms from now, None = none), at most MAX_SLEEP_MS."""
    if next_timer_ms is None:
        return MAX_SLEEP_MS
    return max(0, min(next_timer_ms, MAX_SLEEP_MS))
