"""Place names of the commons' region in Korean and in romanised form (plain data, no vocabulary).

A buyer abroad searches for "Incheon" or "Namdong-gu"; profiles keep the Korean district name
("남동구") and an English city ("Incheon"). This table names the 25 districts (구) of Seoul and the
8 districts and 2 counties (군) of Incheon with their official romanised names (Revised
Romanization of Korean, as the city governments write them on their English pages), so a search
and an English page can use either form.

    romanise("남동구")            -> "Namdong-gu"
    district_key("namdong-gu")   -> "남동구"
    city_key("인천광역시")         -> "Incheon"
    find_district("인천 남동구 남동대로 1") -> ("Incheon", "남동구")

A district name is unique within its city; "중구" (Jung-gu) exists in both, so a lookup by name
alone returns the first city unless the city is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    city: str  # "Seoul" or "Incheon", the city field of a profile's location
    ko: str
    en: str


#: city (as profiles write it) -> its Korean names (short and official)
CITIES: dict[str, tuple[str, ...]] = {
    "Seoul": ("서울", "서울시", "서울특별시"),
    "Incheon": ("인천", "인천시", "인천광역시"),
}
_CITY_KO = {"Seoul": "서울", "Incheon": "인천"}

_SEOUL = (
    ("종로구", "Jongno-gu"),
    ("중구", "Jung-gu"),
    ("용산구", "Yongsan-gu"),
    ("성동구", "Seongdong-gu"),
    ("광진구", "Gwangjin-gu"),
    ("동대문구", "Dongdaemun-gu"),
    ("중랑구", "Jungnang-gu"),
    ("성북구", "Seongbuk-gu"),
    ("강북구", "Gangbuk-gu"),
    ("도봉구", "Dobong-gu"),
    ("노원구", "Nowon-gu"),
    ("은평구", "Eunpyeong-gu"),
    ("서대문구", "Seodaemun-gu"),
    ("마포구", "Mapo-gu"),
    ("양천구", "Yangcheon-gu"),
    ("강서구", "Gangseo-gu"),
    ("구로구", "Guro-gu"),
    ("금천구", "Geumcheon-gu"),
    ("영등포구", "Yeongdeungpo-gu"),
    ("동작구", "Dongjak-gu"),
    ("관악구", "Gwanak-gu"),
    ("서초구", "Seocho-gu"),
    ("강남구", "Gangnam-gu"),
    ("송파구", "Songpa-gu"),
    ("강동구", "Gangdong-gu"),
)
_INCHEON = (
    ("중구", "Jung-gu"),
    ("동구", "Dong-gu"),
    ("미추홀구", "Michuhol-gu"),
    ("연수구", "Yeonsu-gu"),
    ("남동구", "Namdong-gu"),
    ("부평구", "Bupyeong-gu"),
    ("계양구", "Gyeyang-gu"),
    ("서구", "Seo-gu"),
    ("강화군", "Ganghwa-gun"),
    ("옹진군", "Ongjin-gun"),
)

DISTRICTS: tuple[District, ...] = tuple(District("Seoul", ko, en) for ko, en in _SEOUL) + tuple(
    District("Incheon", ko, en) for ko, en in _INCHEON
)


def _fold(name: str) -> str:
    """A name for comparing: lower case, without spaces, hyphens and dots."""
    return re.sub(r"[\s\-.·]", "", name).lower()


_BY_FOLD: dict[str, District] = {}
for _d in reversed(DISTRICTS):  # Seoul's 중구 wins a lookup by name alone
    for _n in (_d.ko, _d.en, _d.en.removesuffix("-gu").removesuffix("-gun")):
        _BY_FOLD[_fold(_n)] = _d
_CITY_BY_FOLD = {_fold(n): city for city, names in CITIES.items() for n in (city, *names)}


def city_key(name: str) -> str | None:
    """The city of a name as profiles write it ("인천광역시", "incheon" -> "Incheon"), or None."""
    return _CITY_BY_FOLD.get(_fold(name))


def district_of(name: str, city: str | None = None) -> District | None:
    """The district a Korean or romanised name means ("Namdong-gu", "namdong", "남동구")."""
    key = _fold(name)
    if city is not None:
        for d in DISTRICTS:
            if d.city == city and key in (_fold(d.ko), _fold(d.en)):
                return d
    return _BY_FOLD.get(key)


def district_key(name: str, city: str | None = None) -> str:
    """The Korean name of a district given in either form; an unknown name as it is."""
    d = district_of(name, city)
    return d.ko if d else name.strip()


def romanise(name: str) -> str:
    """The romanised name of a district or city ("남동구" -> "Namdong-gu", "인천" -> "Incheon");
    a name not in the table (already romanised, a street) comes back as it is."""
    d = district_of(name)
    if d is not None:
        return d.en
    return city_key(name) or name


def korean(name: str) -> str:
    """The Korean name of a district or city ("Namdong-gu" -> "남동구", "Incheon" -> "인천")."""
    d = district_of(name)
    if d is not None:
        return d.ko
    city = city_key(name)
    return _CITY_KO[city] if city else name


def find_district(text: str) -> tuple[str, str] | None:
    """(city, Korean district) of the first district named in an address, Korean or romanised,
    the city taken from the address when it names one ("인천 중구 ..." is Incheon's Jung-gu)."""
    words = re.split(r"[\s,]+", text.strip())
    city = next((c for c in (city_key(w) for w in words if w) if c), None)
    for w in words:
        d = district_of(w, city)
        if d is not None:
            return d.city, d.ko
    return None
