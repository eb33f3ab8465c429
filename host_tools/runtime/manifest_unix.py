# The simulator's runtime: the unix port (standard variant) with the device
# image frozen exactly as on the ESP32, plus the simulator's board and its bridge's wire format.
include("$(PORT_DIR)/variants/standard/manifest.py")
include("../../manifest.py", port="unix")
module("firmware/board_sim.py", base_path="../..")
module("firmware/bridge_wire.py", base_path="../..")
