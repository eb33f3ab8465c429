"""Is this new record someone the registry already knows?  Keys for candidate blocking and a
score for a pair, designed for Khmer names as the identity card romanises them.

The variations this must survive (measured in bench/bench_matching.py on a generated
population with planted duplicates; tests/host/registry/test_matching.py):
  - romanisation: aspirated consonants written with or without H (SOK/SOKH, CHHUON/CHUON,
    THOL/TOL, PHAL/PAL), vowels spelled several ways (SOPHEA/SOPHIA, SREY/SREI, OU/U,
    CHHOEUN/CHHOEURN), doubled consonants (VANNA/VANA), a final H (SAH/SA);
  - family and given name swapped (the Khmer order is family first; forms vary);
  - a typo (one letter wrong, missing or added);
  - a birth date with two digits transposed (1951 -> 1915, 09/03 -> 03/09) or one digit wrong;
  - another village of the same commune or district (a person enrolled where they live now
    and where they were born, or by two teams).

Rules (written down because an operator must be able to explain a hold):
  norm(name)      capitals A-Z only; CHH/CH -> C; a consonant followed by H loses the H; a
                  final H goes; Y -> I; IA/IE -> EA; OU/UO -> U; OEU/OE -> EU; RN -> N at the end;
                  a doubled letter is one.  SOKH -> SOK, CHHUON -> CUN, SOPHIA -> SOPEA.
  skeleton(name)  norm's first letter, then its consonants, each once in a row: SOPHEA -> SP.
  keys(fields)    the blocks a record is filed under; two records are compared only if they share
                  one:  "p" + the two skeletons sorted + birth year   (name variants, a swap, a
                        transposed day and month);
                        "d" + the birth date's digits sorted + one skeleton, for each name (any
                        transposition of the date, a swap, a typo in the other name).
  score(a, b)     per mille: names 55 % (Jaro-Winkler on norm, the better of straight and
                  swapped), birth date 30 % (same 1, two digits transposed or one wrong 0.8,
                  same year 0.3), village 15 % (same 1, same commune 0.8, district 0.5,
                  province 0.2); one name below NAME_FLOOR subtracts 300; sex that differs subtracts 200; the same non-empty service
                  number adds 150 (capped at 1000).
  HOLD            a score of at least HOLD_AT holds the new record's person for review.

A hold is never a refusal: the record is stored and the person waits for an operator's
"same person" (merge) or "different people".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rapidfuzz.distance import JaroWinkler

NAME_FLOOR = 0.75  # the worse of the two names' Jaro-Winkler below this: another person's name
HOLD_AT = 820  # per mille; chosen on the generated population (bench_matching.py prints recall and false holds)

_VOWELS = frozenset("AEIOU")
_FOLDS = ((re.compile(r"CHH?"), "C"), (re.compile(r"([BCDFGJKLMNPQRSTVWXZ])H"), r"\1"), (re.compile(r"H$"), ""),
          (re.compile(r"Y"), "I"), (re.compile(r"I[AE]"), "EA"), (re.compile(r"OU|UO"), "U"),
          (re.compile(r"OEU|OE"), "EU"), (re.compile(r"RN$"), "N"), (re.compile(r"(.)\1+"), r"\1"))


def norm(name: str) -> str:
    """The name as a sound-alike spelling (the rules above)."""
    s = "".join(c for c in name.upper() if "A" <= c <= "Z")
    for pattern, repl in _FOLDS:
        s = pattern.sub(repl, s)
    return s


def skeleton(name: str) -> str:
    n = norm(name)
    if not n:
        return ""
    out = n[0]
    for c in n[1:]:
        if c not in _VOWELS and c != out[-1]:
            out += c
    return out


def keys(fields: Mapping[str, Any]) -> set[str]:
    """The blocking keys of a record's fields (at most 3)."""
    fam, giv = skeleton(str(fields.get("family_name", ""))), skeleton(str(fields.get("given_name", "")))
    date = str(fields.get("birth_date", ""))
    digits = "".join(sorted(c for c in date if c.isdigit()))
    pair = "|".join(sorted((fam, giv)))
    out = {f"p{pair}|{date[:4]}"}
    for s in (fam, giv):
        if s:
            out.add(f"d{digits}|{s}")
    return out


def _date_score(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) != len(b):
        return 0.0
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(diff) == 1:
        return 0.8  # one digit wrong
    if len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
        return 0.8  # two digits transposed (1951/1915)
    if a[5:7] == b[8:10] and a[8:10] == b[5:7] and a[:4] == b[:4]:
        return 0.8  # day and month swapped
    return 0.3 if a[:4] == b[:4] else 0.0


def _village_score(a: str, b: str) -> float:
    if a == b:
        return 1.0
    for width, value in ((6, 0.8), (4, 0.5), (2, 0.2)):
        if a[:width] == b[:width]:
            return value
    return 0.0


def _name_score(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[float, float]:
    """(mean, worse) Jaro-Winkler of the two names, in the better of the two orders."""
    fa, ga = norm(str(a.get("family_name", ""))), norm(str(a.get("given_name", "")))
    fb, gb = norm(str(b.get("family_name", ""))), norm(str(b.get("given_name", "")))
    straight = (JaroWinkler.similarity(fa, fb), JaroWinkler.similarity(ga, gb))
    swapped = (JaroWinkler.similarity(fa, gb), JaroWinkler.similarity(ga, fb))
    best = max(straight, swapped, key=sum)
    return sum(best) / 2, min(best)


def score(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    """How alike two records' fields are, per mille (the rules above)."""
    mean, worse = _name_score(a, b)
    s = 550 * mean + 300 * _date_score(str(a.get("birth_date", "")), str(b.get("birth_date", ""))) \
        + 150 * _village_score(str(a.get("village_code", "")), str(b.get("village_code", "")))
    if worse < NAME_FLOOR:  # one name quite another (SOK DARA is not SOK SOPHEA, even born the same day)
        s -= 300
    if a.get("sex") != b.get("sex"):
        s -= 200
    service = a.get("service_no") or ""
    if service and service == (b.get("service_no") or ""):
        s += 150
    return max(0, min(1000, round(s)))


def same_identity(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Strict: the same names (after norm, either order), birth date and sex.  What a re-issue by
    the device that enrolled the person must show to be accepted without an operator."""
    names_a = (norm(str(a.get("family_name", ""))), norm(str(a.get("given_name", ""))))
    names_b = (norm(str(b.get("family_name", ""))), norm(str(b.get("given_name", ""))))
    return (names_a == names_b or names_a == names_b[::-1]) and a.get("birth_date") == b.get("birth_date") \
        and a.get("sex") == b.get("sex")
