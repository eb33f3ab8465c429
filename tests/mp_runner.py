"""Run one firmware test function under the MicroPython unix port.

Usage: micropython -X heapsize=N tests/mp_runner.py TREE MODULE TEST ROOM
ROOM is the test's folder under tests/fw (crypto, card, store ...).  TREE holds the compiled (.mpy) firmware, lib, emulators and tests (see conftest.py).
Prints 'PASS <peak heap bytes>', 'SKIP <reason>' or the traceback and exits 1.
tests/conftest.py starts one process per test so each test has the whole
(limited) heap to itself and a MemoryError is that test's failure.
"""

import sys
import gc

tree, module, test, room = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sys.path[:0] = [tree, tree + "/lib", tree + "/tests/fw/" + room, tree + "/tests/fw"]

import micropython  # noqa: E402
import fwtest  # noqa: E402

mod = __import__(module)
fn = getattr(mod, test)
gc.collect()
try:
    fn()
except fwtest.SkipTest as e:
    print("SKIP", e.args[0] if e.args else "")
    sys.exit(0)
except BaseException as e:  # noqa: BLE001 - report everything, MemoryError included
    sys.print_exception(e)
    sys.exit(1)
print("PASS", micropython.mem_peak())
