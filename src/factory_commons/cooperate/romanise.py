"""Korean place names and addresses in Latin letters, for English pages and OKW exports.

A buyer abroad reads "Namdong-gu, Incheon", not "인천광역시 남동구". Names we know are taken
from tables (the districts of Seoul and Incheon in `places.py`, the metropolitan cities and
provinces, industrial complexes and the simulated plant's site below); everything else is
transliterated with the Revised Romanization of Korean (Ministry of Culture, 2000) by the
`koroman` library, which applies its sound rules (문래 → Mullae, 신림 → Sillim). The
administrative unit at the end of a word keeps its own hyphenated ending, as the official
romanisation writes it and without sound changes across the hyphen (가산동 → Gasan-dong,
구로구 → Guro-gu, 창원시 → Changwon-si, 경상남도 → Gyeongsangnam-do).

    romanise_place("인천광역시 남동구 (남동국가산업단지)")  # 'Incheon Namdong-gu (Namdong National Industrial Complex)'
    romanise("한빛정밀")                                  # 'Hanbitjeongmil'
    has_hangul("Seoul")                                   # False

Text without Hangul is returned as it is.
"""

from __future__ import annotations

import functools
import re

import koroman

HANGUL = re.compile("[\uac00-\ud7a3]")
_WORD = re.compile("[\uac00-\ud7a3]+")

#: Names with a settled English form (metropolitan cities and provinces drop their 특별시/광역시,
#: as their English names do). The districts of Seoul and Incheon come from `places.DISTRICTS`.
KNOWN: dict[str, str] = {
    "서울특별시": "Seoul",
    "서울": "Seoul",
    "인천광역시": "Incheon",
    "인천": "Incheon",
    "부산광역시": "Busan",
    "대구광역시": "Daegu",
    "광주광역시": "Gwangju",
    "대전광역시": "Daejeon",
    "울산광역시": "Ulsan",
    "세종특별자치시": "Sejong",
    "경기도": "Gyeonggi-do",
    "강원특별자치도": "Gangwon-do",
    "충청북도": "Chungcheongbuk-do",
    "충청남도": "Chungcheongnam-do",
    "전북특별자치도": "Jeonbuk-do",
    "전라남도": "Jeollanam-do",
    "경상북도": "Gyeongsangbuk-do",
    "경상남도": "Gyeongsangnam-do",
    "제주특별자치도": "Jeju-do",
    "창원시": "Changwon-si",
    "성산구": "Seongsan-gu",
    "창원국가산업단지": "Changwon National Industrial Complex",
    "남동국가산업단지": "Namdong National Industrial Complex",
    "부평국가산업단지": "Bupyeong National Industrial Complex",
    "주안국가산업단지": "Juan National Industrial Complex",
    "서부산단": "Seobu Industrial Complex",
    "검단산단": "Geomdan Industrial Complex",
    "서운산단": "Seoun Industrial Complex",
    "철공소": "Ironworks",
    "골목": "Alley",
    "밸리": " Valley",
}

#: Administrative units written after a hyphen, longest first (특별시 before 시), with the shortest
#: stem they follow: a one-syllable word before 도, 로, 길 or 리 is a name (송도 Songdo, 종로 Jongno).
UNITS: tuple[tuple[str, str, int], ...] = (
    ("특별자치시", "si", 1),
    ("특별자치도", "do", 1),
    ("특별시", "si", 1),
    ("광역시", "si", 1),
    ("시", "si", 1),
    ("도", "do", 2),
    ("군", "gun", 1),
    ("구", "gu", 1),
    ("읍", "eup", 1),
    ("면", "myeon", 1),
    ("동", "dong", 1),
    ("리", "ri", 2),
    ("로", "ro", 2),
    ("길", "gil", 2),
)


#: "(주)" or "㈜" (주식회사, a company limited by shares) in a firm's name
COMPANY = re.compile(r"\s*(?:\(주\)|㈜)\s*")


def has_hangul(text: str) -> bool:
    return bool(HANGUL.search(text))


@functools.cache
def _known() -> dict[str, str]:
    from .places import DISTRICTS

    return {**{d.ko: d.en for d in reversed(DISTRICTS)}, **KNOWN}


def _plain(word: str) -> str:
    """Revised Romanization of a Hangul word, its first letter capitalised."""
    out = koroman.romanize(word)
    return out[:1].upper() + out[1:]


def romanise(text: str) -> str:
    """Every Hangul word of `text` transliterated (a firm's name, a description); the rest kept.
    "(주)" and "㈜" (주식회사) become "Co., Ltd."."""
    if not has_hangul(text):
        return text
    company = COMPANY.search(text) is not None
    text = COMPANY.sub(" ", text).strip() + (" Co., Ltd." if company else "")
    known = _known()
    out = _WORD.sub(lambda m: known.get(m.group(0)) or _plain(m.group(0)), text)
    return re.sub(r" {2,}", " ", out)


@functools.cache
def _place_word(word: str) -> str:
    known = _known()
    if word in known:
        return known[word]
    for unit, latin, shortest in UNITS:
        stem = word[: -len(unit)]
        if word.endswith(unit) and len(stem) >= shortest:
            return f"{known.get(stem) or _plain(stem)}-{latin}"
    return _plain(word)


def romanise_place(text: str) -> str:
    """A city, district or address in Latin letters: known names from the table, other words by
    the Revised Romanization with the administrative unit hyphenated (가산동 → Gasan-dong)."""
    if not has_hangul(text):
        return text
    out = _WORD.sub(lambda m: _place_word(m.group(0)), text)
    return re.sub(r" {2,}", " ", out).strip()
