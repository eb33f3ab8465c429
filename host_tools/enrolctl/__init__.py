"""enrolctl: the technician's CLI.  Each command is a thin wrapper over a function in this package."""
