# edsig for the unix port's make build (host_tools/enrolctl/runtime.py passes USER_C_MODULES).
# Monocypher's source is fetched, pinned by hash, into build/native/monocypher by
# host_tools/enrolctl/native.py before the build: without it the build stops here.
EDSIG_DIR := $(USERMOD_DIR)
MONOCYPHER_DIR ?= $(abspath $(EDSIG_DIR)/../../../../build/native/monocypher)
$(if $(wildcard $(MONOCYPHER_DIR)/monocypher.c),,$(error edsig: no Monocypher source in $(MONOCYPHER_DIR): run make runtime (enrolctl fetches it)))
SRC_USERMOD_C += $(EDSIG_DIR)/modedsig.c
CFLAGS_USERMOD += -I$(MONOCYPHER_DIR)
