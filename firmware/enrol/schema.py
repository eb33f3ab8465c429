"""The enrolment field schema (record schema 2: enrol/record.py) and its validators.

Each field is validated when the officer presses OK on it; validate() returns
(value, None) or (None, message), the message a phrase or template (ui/screen.py)
short enough for the OLED (at most 2 x 16 characters in English).  Dates are checked against the calendar and
against the device's clock (no future births, nobody older than 120).
"""

NAME_MAX = 32
NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ -'"
SEX_CHOICES = (("F", "Female"), ("M", "Male"), ("X", "Other"))
PHONE_MIN = 8
PHONE_MAX = 15
SERVICE_NO_MIN = 4
SERVICE_NO_MAX = 16
MAX_AGE_YEARS = 120
# Who the person is, as the programmes that pay them know it: (code as the registry stores it,
# name on screen, has a service or pension number).  A device may be given more at provisioning
# (categories.json: load_categories).  The card never carries the category.
CATEGORIES = (("citizen", "Citizen", False), ("civil_servant", "Civil servant", True),
              ("retired_civil_servant", "Retired official", True), ("veteran", "Veteran", True))
CATEGORY_CODE_MAX = 32
CATEGORY_NAME_MAX = 16  # one row of the panel
MAX_CATEGORIES = 12
CATEGORIES_FILE_MAX = 2048

# (key, label on screen (a phrase: ui/screen.py), kind, required), in the order the officer
# types them: the family name first, as the Khmer identity card writes it.  service_no is asked
# only for a category that has a number (Flow.steps).
FIELDS = (
    ("family_name", "Family name:", "text", True),
    ("given_name", "Given name:", "text", True),
    ("sex", "Sex:", "choice", True),
    ("birth_date", "Birth date:", "date", True),
    ("village_code", "Village:", "village", True),
    ("phone", "Phone (opt.):", "digits", False),
    ("category", "Category:", "category", True),
    ("service_no", "Service no.:", "number", False),
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
    if code is not None and villages and villages.index(code) >= 0:
        return code, None
    return None, "Unknown village"


def validate_service_no(digits):
    if not digits:
        return "", None  # optional: not every veteran has the card at hand
    if not digits.isdigit():
        return None, "Digits only"
    if not SERVICE_NO_MIN <= len(digits) <= SERVICE_NO_MAX:
        return None, ("{}-{} digits", SERVICE_NO_MIN, SERVICE_NO_MAX)
    return digits, None


def category_has_number(categories, code):
    for c, _, numbered in categories:
        if c == code:
            return numbered
    return False


def validate_choice(value, choices):
    for key, _ in choices:
        if key == value:
            return value, None
    return None, "Choose one"


def load_categories(data_dir):
    """CATEGORIES and those categories.json adds ({"v": 1, "categories": [{"code", "name",
    "number"}]}), or None when the file is damaged (the home screen then refuses new enrolments:
    a person must not be put in the wrong category for want of theirs)."""
    import json

    from firmware import fsutil

    path = data_dir + "/categories.json"
    if fsutil.size(path) > CATEGORIES_FILE_MAX:
        return None
    raw = fsutil.read_file(path)
    if raw is None:
        return CATEGORIES
    try:
        extra = json.loads(raw)["categories"]
        out = [(c["code"], c["name"], c["number"]) for c in extra]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    known = [c for c, _, _ in CATEGORIES]
    if len(out) + len(known) > MAX_CATEGORIES:
        return None
    for code, name, numbered in out:
        if not (isinstance(code, str) and isinstance(name, str) and isinstance(numbered, bool)
                and 0 < len(code) <= CATEGORY_CODE_MAX and 0 < len(name) <= CATEGORY_NAME_MAX) or code in known:
            return None
        known.append(code)
    return CATEGORIES + tuple(out)
