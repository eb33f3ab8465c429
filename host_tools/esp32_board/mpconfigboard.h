// The enrolment device (see mpconfigboard.cmake): ESP32_GENERIC with two app slots.
#define MICROPY_HW_BOARD_NAME "Enrolment device (ESP32-WROOM-32, two app slots)"
#define MICROPY_HW_MCU_NAME "ESP32"
