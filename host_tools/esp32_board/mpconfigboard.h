// The enrolment device (see mpconfigboard.cmake): ESP32_GENERIC with two app slots, 8 MB flash.
#define MICROPY_HW_BOARD_NAME "Enrolment device (ESP32-WROOM-32E-N8, two app slots)"
#define MICROPY_HW_MCU_NAME "ESP32"
