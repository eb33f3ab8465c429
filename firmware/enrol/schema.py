"""The enrolment field schema (version 1) and its validators.

Each field is validated when the officer presses OK on it; validate() returns
(value, None) or (None, message), the message a phrase or template (ui/screen.py)
short enough for the OLED (at most 2 x 16 characters in English).  Dates are checked against the calendar and
against the device's clock (no future births, nobody older than 120).
"""

SCHEMA_VERSION = 1

NAME_MAX = 32
NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ -'"
SEX_CHOICES = (("F", "Female"), ("M", "Male"), ("X", "Other"))
PHONE_MIN = 8
PHONE_MAX = 15
MAX_AGE_YEARS = 120
# villages.json: a device's list, bounded so that a wrong file cannot take the heap at power-on.
# 100 villages keep 18.7 KB of heap on the unix port (64-bit; about half on the ESP32), and parsing
# them needs twice that for a moment (measured: README, RAM).
MAX_VILLAGES = 100
VILLAGE_CODE_MAX = 32
VILLAGE_NAME_MAX = 64
VILLAGES_FILE_MAX = 16384  # bytes: 100 villages of the longest code and name, as JSON

# (key, label on screen (a phrase: ui/screen.py), kind, required)
FIELDS = (
    ("given_name", "Given name:", "text", True),
    ("family_name", "Family name:", "text", True),
    ("sex", "Sex:", "choice", True),
    ("birth_date", "Birth date:", "date", True),
    ("village_code", "Village:", "village", True),
    ("phone", "Phone (opt.):", "digits", False),
)

_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in_month(y, m):
    return 29 if m == 2 and is_leap(y) else _DAYS[m - 1]


def validate_name(text):
    text = " ".join(text.split())  # trim, single spaces
    if not text:
        return None, "Required"
    if len(text) > NAME_MAX:
        return None, ("Too long: max {}", NAME_MAX)
    for ch in text:
        if ch not in NAME_CHARS:
            return None, "Letters only"
    if text[0] in "-'" or text[-1] in "-'":
        return None, "Starts/ends with a mark"
    return text, None


def validate_date(digits, today):
    """digits: 'DDMMYYYY' as typed; today: (y, m, d) or None when the clock is unknown.
    Returns ('YYYY-MM-DD', None) or (None, message)."""
    if len(digits) != 8 or not digits.isdigit():
        return None, "Use DD MM YYYY"
    d, m, y = int(digits[0:2]), int(digits[2:4]), int(digits[4:8])
    if not 1 <= m <= 12:
        return None, "No such month"
    if not 1 <= d <= days_in_month(y, m):
        return None, "No such day"
    if today is not None:
        if (y, m, d) > today:
            return None, "Date in future"
        if y < today[0] - MAX_AGE_YEARS:
            return None, "Over 120 years"
    elif y < 1900:
        return None, "Year too early"
    return "%04d-%02d-%02d" % (y, m, d), None


def validate_phone(digits):
    if not digits:
        return "", None  # optional
    if not digits.isdigit():
        return None, "Digits only"
    if not PHONE_MIN <= len(digits) <= PHONE_MAX:
        return None, ("{}-{} digits", PHONE_MIN, PHONE_MAX)
    return digits, None


def validate_village(code, villages):
    if code in villages:
        return code, None
    return None, "Unknown village"


def validate_choice(value, choices):
    for key, _ in choices:
        if key == value:
            return value, None
    return None, "Choose one"


def load_villages(data_dir):
    """[(code, name)] from villages.json; [] if it is missing or damaged (the home screen then
    refuses new enrolments and says to call a technician)."""
    import json

    from firmware import fsutil

    path = data_dir + "/villages.json"
    if fsutil.size(path) > VILLAGES_FILE_MAX:
        return []  # not a list this device could hold: not read into RAM at all
    raw = fsutil.read_file(path)
    if raw is None:
        return []
    try:
        villages = json.loads(raw)["villages"]
        del raw
        if len(villages) > MAX_VILLAGES:
            return []
        out = [(v["code"], v["name"]) for v in villages]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    for code, name in out:
        if not (isinstance(code, str) and isinstance(name, str) and 0 < len(code) <= VILLAGE_CODE_MAX
                and 0 < len(name) <= VILLAGE_NAME_MAX):
            return []
    return out
