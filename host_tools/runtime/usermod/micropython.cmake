# The project's native modules (USER_C_MODULES for the esp32 port's CMake build; the unix port's
# make build reads each module's micropython.mk instead).
include(${CMAKE_CURRENT_LIST_DIR}/edsig/micropython.cmake)
