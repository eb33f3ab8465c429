"""Zero secrets in place (PINs, keys): the one helper every holder of a secret calls."""


def wipe(buf):
    """Overwrite a bytearray (or memoryview) with zeros; None is accepted and ignored."""
    if buf is None:
        return
    for i in range(len(buf)):
        buf[i] = 0
