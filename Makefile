# Field enrolment device: every target installs what it needs on first use.
#   make sim     the device simulation in this terminal
#   make test    the whole test suite (CPython + real MicroPython unix port)
#   make bench   benchmarks: prints a table, writes bench/results.json
#   make build   compile firmware/ and lib/ to .mpy in build/device/
#   make deploy PORT=/dev/ttyUSB0      copy build/device/ to a board (mpremote)
#   make flash  PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-....bin   (esptool)
#   make soak    full-size power-cut and fault sweeps (long)
#   make pictures  the README's pictures of the screens, drawn by the firmware in the simulator

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
VENDOR_STAMP := lib/adafruit_pn532/VERSION
# ESP32-WROOM without PSRAM leaves about 100 KB of heap to MicroPython
MP_HEAPSIZE ?= 100k
export MP_HEAPSIZE
PYTEST_ARGS ?=
SIM_STATE ?= sim-state

.PHONY: setup multilib runtime image postgres chromium pango pictures sim test bench bench-scale build deploy flash soak freeze clean

setup: $(STAMP) $(VENDOR_STAMP)

$(STAMP): requirements.txt constraints.txt host_tools/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  || { echo "setup: need Python >= 3.11 as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1)); run: make PYTHON=python3.11"; exit 1; }
	@rm -f $(STAMP)
	@echo "setup: installing pinned tools into $(VENV) (first run only)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) \
	  || { echo "setup: could not create $(VENV) (is the venv module installed?)"; exit 1; }
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt >$(VENV)/setup.log 2>&1 \
	  || { echo "setup: pip install failed; see $(VENV)/setup.log"; exit 1; }
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e host_tools >>$(VENV)/setup.log 2>&1 \
	  || { echo "setup: installing host_tools failed; see $(VENV)/setup.log"; exit 1; }
	@touch $(STAMP)

$(VENDOR_STAMP): $(STAMP)
	@$(BIN)/enrolctl vendor

build: setup
	@$(BIN)/enrolctl build

# Our MicroPython: the unix port built 32-bit (like the ESP32) with firmware/ and lib/ frozen
# (manifest.py), from the source archive in ../shared/micropython/ (MICROPY_SRC=DIR: a checkout).
# The simulator and the MicroPython tests run it; a changed firmware file rebuilds in seconds.
runtime: setup multilib
	@$(BIN)/enrolctl runtime

# The production ESP32 image (ports/esp32, ESP32_GENERIC) with the same manifest.py frozen, into
# build/image/firmware.bin.  Needs ESP-IDF: IDF_PATH set and its export.sh sourced (one line says
# what is missing otherwise).
image: setup
	@$(BIN)/enrolctl image

# gcc -m32 needs Debian's gcc-multilib; installed here when missing (needs root + apt)
multilib:
	@echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null || { \
	  echo "multilib: installing Debian's gcc-multilib (gcc -m32, for the 32-bit runtime)"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib) >$(VENV)/multilib-install.log 2>&1 \
	      || { echo "multilib: apt-get install gcc-multilib failed; see $(VENV)/multilib-install.log"; exit 1; }; \
	  else echo "multilib: gcc cannot build 32-bit programs; install the 'gcc-multilib' package (as root)"; exit 1; fi; }

# The simulated device: the frozen firmware in our 32-bit runtime at the ESP32's 100 KB heap,
# its OLED, keypad, PN532, battery and Wi-Fi emulated outside it (host_tools/sim/host.py), its
# flash in $(SIM_STATE)/ (kept between runs); it syncs to a demo registry started on
# 127.0.0.1:8443 (ENROL_SIM_PORT).  Type keys and Enter; q and Enter switches it off, p cuts
# its power.  SIM_HEAPSIZE overrides the heap (e.g. make sim SIM_HEAPSIZE=128k); ROLE=payout
# boots the payout point beside it (sim-state/payout/, the same registry and wallet).
# Scripted: .venv/bin/enrolctl sim --demo (or --script FILE) types for you and says what happened.
sim: runtime
	@$(BIN)/enrolctl sim --state $(SIM_STATE) $(if $(SIM_HEAPSIZE),--heap $(SIM_HEAPSIZE)) $(if $(ROLE),--role $(ROLE))

# The registry tests run on PostgreSQL too: they start a throwaway server from Debian's
# postgresql binaries (tests/host/pgserver.py).  Installed here when missing (needs root + apt).
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
postgres:
ifeq ($(PG_INITDB),)
	@command -v initdb >/dev/null 2>&1 || { \
	  echo "postgres: installing Debian's postgresql (server binaries for the registry tests)"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >$(VENV)/postgres-install.log 2>&1 \
	      || { echo "postgres: apt-get install postgresql failed; see $(VENV)/postgres-install.log"; exit 1; }; \
	  else echo "postgres: PostgreSQL server binaries missing; install the 'postgresql' package (as root)"; exit 1; fi; }
else
	@true
endif

# The registry's web console is tested in a real browser: Debian's chromium and its driver,
# installed here when missing (needs root + apt), as PostgreSQL is.
chromium: setup
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  echo "chromium: installing Debian's chromium and chromium-driver (the console's browser tests)"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	      >$(VENV)/chromium-install.log 2>&1 \
	      || { echo "chromium: apt-get install failed; see $(VENV)/chromium-install.log"; exit 1; }; \
	  else echo "chromium: chromium and chromedriver missing; install 'chromium' and 'chromium-driver' (as root)"; exit 1; fi; }

# The README's pictures of the main screens, in Khmer and English, as the firmware draws them in the
# simulator (host_tools/sim/pictures.py), into host_tools/sim/screens/
pictures: runtime
	@$(BIN)/python -m host_tools.sim.pictures

# The Khmer shaping's oracle is Pango (tests/host/pango_oracle.py): Debian's libpangoft2
pango:
	@ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0 ' || { \
	  echo "pango: installing Debian's libpangoft2-1.0-0 (the oracle of the Khmer shaping tests)"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpangoft2-1.0-0) \
	      >$(VENV)/pango-install.log 2>&1 \
	      || { echo "pango: apt-get install failed; see $(VENV)/pango-install.log"; exit 1; }; \
	  else echo "pango: libpangoft2-1.0 missing; install 'libpangoft2-1.0-0' (as root)"; exit 1; fi; }

test: runtime postgres chromium pango
	@$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

# -rA prints each soak test's counts (its captured output); -s would lose them under xdist
soak: runtime
	@ENROL_SOAK=1 $(BIN)/python -m pytest -n 2 -m slow -rA $(PYTEST_ARGS)

bench: build runtime
	@$(BIN)/python bench/run.py

# The registry at national scale (issue 28): 1,000,000 persons bulk-loaded into PostgreSQL, then
# the time to match one new record and the p50/p99 of a payout claim (BENCH_SCALE=N for another size)
BENCH_SCALE ?= 1000000
bench-scale: setup postgres
	@ENROL_BENCH_SCALE=$(BENCH_SCALE) $(BIN)/python bench/bench_persons.py

deploy: build
	@test -n "$(PORT)" || { echo "deploy: say which serial port, e.g. make deploy PORT=/dev/ttyUSB0 (list them with: $(BIN)/mpremote devs)"; exit 1; }
	@# staged into app/<build id>/, only changed files sent, SHA-256 checked on the device, one-rename switch
	@$(BIN)/enrolctl deploy --port "$(PORT)" --no-build

flash: setup
	@test -n "$(PORT)" || { echo "flash: say which serial port, e.g. make flash PORT=/dev/ttyUSB0 FIRMWARE=file.bin (list ports with: $(BIN)/mpremote devs)"; exit 1; }
	@test -n "$(FIRMWARE)" || { echo "flash: say which MicroPython image, e.g. FIRMWARE=ESP32_GENERIC-v1.24.bin"; exit 1; }
	@# the file is checked and the chip detected before anything is erased
	@$(BIN)/enrolctl flash --port "$(PORT)" --firmware "$(FIRMWARE)"

# Regenerate constraints.txt (transitive pins) from the current venv.
freeze: setup
	@$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf build sim-state .pytest_cache
