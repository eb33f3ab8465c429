"""The one key map of the device (shown by the help screen, key D).

  0-9  digits; in name fields letters by multi-tap (2=ABC ... 9=WXYZ, 0=space, 1=- ')
  A    OK / next          B    back
  C    delete             D    help (this map)
  *    up in a list       #    down in a list; "yes" where a screen asks
A multi-tap letter is accepted by another key or after MULTITAP_MS.
"""

OK = "A"
BACK = "B"
DELETE = "C"
HELP = "D"
UP = "*"
DOWN = "#"
YES = "#"
DIGITS = "0123456789"
ALL_KEYS = "123A456B789C*0#D"  # row by row, as on the 4x4 pad

# a digit key's letters, by the digit (letters(k)): a literal tuple, kept in flash, not a dict in the heap
MULTITAP = (" ", "-'", "ABC", "DEF", "GHI", "JKL", "MNO", "PQRS", "TUV", "WXYZ")


def letters(k):
    """The letters a digit key k ("0".."9") types in turn."""
    return MULTITAP[ord(k) - 48]
MULTITAP_MS = 900

HELP_LINES = (
    "A OK/next B back",
    "C delete  D help",
    "* up  # down/yes",
    "2-9 letters:tap",
    "0 space 1 - '",
    "# = language",
)
