"""The one user-facing error type: the CLI prints its message on one line to stderr and exits 1."""


class EnrolctlError(Exception):
    pass
