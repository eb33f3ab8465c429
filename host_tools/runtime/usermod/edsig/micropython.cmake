# edsig for the esp32 port's CMake build (host_tools/enrolctl/image.py passes USER_C_MODULES).
# The same source as the unix runtime's; mbedtls (SHA-512) is ESP-IDF's component.
set(EDSIG_DIR ${CMAKE_CURRENT_LIST_DIR})
if(NOT MONOCYPHER_DIR)
    get_filename_component(MONOCYPHER_DIR ${EDSIG_DIR}/../../../../build/native/monocypher ABSOLUTE)
endif()
if(NOT EXISTS ${MONOCYPHER_DIR}/monocypher.c)
    message(FATAL_ERROR "edsig: no Monocypher source in ${MONOCYPHER_DIR}: run make image (enrolctl fetches it)")
endif()
add_library(usermod_edsig INTERFACE)
target_sources(usermod_edsig INTERFACE ${EDSIG_DIR}/modedsig.c)
target_include_directories(usermod_edsig INTERFACE ${EDSIG_DIR} ${MONOCYPHER_DIR})
target_link_libraries(usermod INTERFACE usermod_edsig)
