# The enrolment device: MicroPython's ESP32_GENERIC (ESP32-WROOM-32, no PSRAM) as its OTA
# variant builds it (-Os, app rollback from sdkconfig.base), with the project's partition table
# (partitions.csv: larger app slots).  `make image` passes this directory as BOARD_DIR.
set(IDF_TARGET esp32)

# ESP-IDF resolves a relative partition file against ports/esp32; this board lives outside the
# port, so the path is written absolute into a generated sdkconfig fragment.
file(WRITE ${CMAKE_BINARY_DIR}/sdkconfig.enrol_partitions
    "CONFIG_PARTITION_TABLE_CUSTOM=y\nCONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_DIR}/partitions.csv\"\n")

set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    boards/sdkconfig.ble
    boards/sdkconfig.csi
    ${MICROPY_BOARD_DIR}/sdkconfig.board
    ${CMAKE_BINARY_DIR}/sdkconfig.enrol_partitions
)
