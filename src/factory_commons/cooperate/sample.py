"""A generated region of small manufacturers in Seoul and Incheon, for the demo, tests and benches.

Like the factory simulator for the inside of a plant, `generate_region` builds the outside: a
few thousand firms in the real manufacturing districts of Seoul (금천구, 구로구, 영등포구 문래동,
성동구 성수동, 중구 을지로 ...) and Incheon (남동구 남동국가산업단지, 서구, 부평구 ...), each with
equipment that the shared vocabulary allows (materials the process works, tolerances no
tighter than `best_tolerance_mm`, working envelopes, machine-hour rates in KRW), dated
certifications (some lapsed), evidence (8-12 past ISO weeks of free hours per process, scrap
ratio and first pass yield, on-time delivery) and a `published` set that varies (some firms
publish nothing); cooperatives with members; and requests, single- and multi-step (cut →
bend → weld → powder coat), most of which some firm can do at every step.

Everything is drawn from one `random.Random(seed)`, so a seed gives the same region every
time. Firm names, cooperative names, rates and all figures are synthetic (written here), not
data about real firms; district coordinates are approximate district centres.

    region = generate_region(seed=7, firms=2000, requests=300)
    region.profiles[0].public(); region.cooperatives; region.requests
"""

from __future__ import annotations

import bisect
import gc
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pydantic import TypeAdapter

from .experts import Expert, generate_experts
from .model import (
    Certification,
    Cooperative,
    Equipment,
    Facility,
    Location,
    Profile,
    Request,
    Step,
    Text,
)
from .vocab import MATERIALS, PROCESSES

#: The region's "today" when none is given: a fixed Monday, so that tests and demos agree.
DEFAULT_TODAY = date(2026, 11, 23)


@dataclass(frozen=True)
class District:
    city: str
    ko: str
    en: str
    area: str  # a well-known manufacturing area in the district (Korean)
    lat: float
    lon: float
    weight: float  # share of the region's firms


# Approximate centres of each district's manufacturing area (rounded, from general map
# knowledge; good to about a kilometre). Weights are our guess at where small metal and
# plastics shops cluster, not official statistics.
DISTRICTS: tuple[District, ...] = (
    District("Seoul", "금천구", "Geumcheon-gu", "가산동 G밸리", 37.4770, 126.8880, 0.11),
    District("Seoul", "구로구", "Guro-gu", "구로동 G밸리", 37.4850, 126.8870, 0.09),
    District("Seoul", "영등포구", "Yeongdeungpo-gu", "문래동 철공소 골목", 37.5150, 126.8950, 0.10),
    District("Seoul", "성동구", "Seongdong-gu", "성수동", 37.5440, 127.0560, 0.07),
    District("Seoul", "중구", "Jung-gu", "을지로·청계천", 37.5670, 126.9960, 0.06),
    District("Seoul", "강서구", "Gangseo-gu", "마곡·등촌동", 37.5580, 126.8400, 0.03),
    District("Seoul", "도봉구", "Dobong-gu", "창동·도봉동", 37.6650, 127.0450, 0.02),
    District("Incheon", "남동구", "Namdong-gu", "남동국가산업단지", 37.4050, 126.6950, 0.22),
    District("Incheon", "서구", "Seo-gu", "서부산단·검단산단", 37.5200, 126.6600, 0.12),
    District("Incheon", "부평구", "Bupyeong-gu", "부평국가산업단지", 37.4970, 126.7150, 0.08),
    District("Incheon", "계양구", "Gyeyang-gu", "서운산단", 37.5300, 126.7400, 0.04),
    District("Incheon", "미추홀구", "Michuhol-gu", "주안국가산업단지", 37.4620, 126.6700, 0.04),
    District("Incheon", "연수구", "Yeonsu-gu", "송도", 37.3900, 126.6500, 0.02),
)


@dataclass(frozen=True)
class Archetype:
    """A kind of shop: processes it always has, processes it may have, materials, name words."""

    code: str
    core: tuple[str, ...]
    extra: tuple[str, ...]
    materials: tuple[str, ...]
    ko: tuple[str, ...]  # name suffixes
    en: tuple[str, ...]
    weight: float
    unspsc: tuple[str, ...]


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "machining",
        ("milling", "turning"),
        ("drilling", "grinding", "edm", "assembly"),
        ("steel", "stainless_steel", "aluminium", "brass", "copper", "titanium", "cast_iron", "pom"),
        ("정밀", "기공", "테크", "정밀기계"),
        ("Precision", "Machining", "Tech", "Precision Machinery"),
        0.30,
        ("73180000", "31170000"),
    ),
    Archetype(
        "precision",
        ("grinding", "edm"),
        ("milling", "turning", "heat_treatment"),
        ("steel", "stainless_steel", "titanium", "copper"),
        ("정밀", "연마", "금형"),
        ("Precision", "Grinding", "Mold & Die"),
        0.06,
        ("73180000",),
    ),
    Archetype(
        "sheet_metal",
        ("laser_cutting", "sheet_bending"),
        ("sheet_cutting", "welding", "powder_coating", "painting", "waterjet_cutting", "assembly"),
        ("steel", "stainless_steel", "aluminium"),
        ("판금", "레이저", "금속"),
        ("Sheet Metal", "Laser", "Metal"),
        0.17,
        ("31280000",),
    ),
    Archetype(
        "press",
        ("stamping",),
        ("deep_drawing", "sheet_cutting", "welding", "assembly"),
        ("steel", "stainless_steel", "aluminium", "copper"),
        ("프레스", "금속", "산업"),
        ("Press", "Metal", "Industrial"),
        0.10,
        ("31280000",),
    ),
    Archetype(
        "welding",
        ("welding",),
        ("assembly", "painting", "sheet_cutting", "sheet_bending", "brazing"),
        ("steel", "stainless_steel", "aluminium", "titanium"),
        ("용접", "철공", "산업"),
        ("Welding", "Ironworks", "Industrial"),
        0.10,
        ("73180000",),
    ),
    Archetype(
        "plastics",
        ("injection_moulding",),
        ("assembly", "additive_manufacturing", "painting"),
        ("abs", "polycarbonate", "polyamide", "pom", "polypropylene"),
        ("사출", "플라스틱", "화학"),
        ("Injection", "Plastics", "Polymer"),
        0.09,
        ("31140000",),
    ),
    Archetype(
        "casting",
        ("casting",),
        ("die_casting", "milling", "painting", "heat_treatment"),
        ("cast_iron", "aluminium", "steel", "brass"),
        ("주물", "주조", "금속"),
        ("Foundry", "Casting", "Metal"),
        0.04,
        ("31100000",),
    ),
    Archetype(
        "surface",
        ("plating",),
        ("anodizing", "painting", "powder_coating"),
        ("steel", "aluminium", "brass", "copper"),
        ("도금", "표면처리", "화학"),
        ("Plating", "Surface Finishing", "Chemical"),
        0.07,
        ("73180000",),
    ),
    Archetype(
        "coating",
        ("powder_coating",),
        ("painting", "anodizing"),
        ("steel", "aluminium"),
        ("도장", "코팅"),
        ("Coating", "Finishing"),
        0.03,
        ("73180000",),
    ),
    Archetype(
        "heat",
        ("heat_treatment",),
        ("grinding",),
        ("steel", "stainless_steel", "cast_iron"),
        ("열처리", "열처리공업"),
        ("Heat Treating", "Thermal Processing"),
        0.02,
        ("73180000",),
    ),
    Archetype(
        "forging",
        ("forging",),
        ("turning", "heat_treatment", "extrusion"),
        ("steel", "stainless_steel", "aluminium", "brass"),
        ("단조", "금속"),
        ("Forging", "Metal"),
        0.01,
        ("31130000",),
    ),
    Archetype(
        "additive",
        ("additive_manufacturing",),
        ("milling", "assembly"),
        ("aluminium", "titanium", "abs", "polyamide"),
        ("3D", "프로토"),
        ("3D", "Prototyping"),
        0.01,
        ("73150000",),
    ),
)

# Name stems: Korean with the romanisation used for English names (invented combinations).
STEMS: tuple[tuple[str, str], ...] = (
    ("금천", "Geumcheon"),
    ("남동", "Namdong"),
    ("대성", "Daeseong"),
    ("삼원", "Samwon"),
    ("한일", "Hanil"),
    ("동양", "Dongyang"),
    ("세진", "Sejin"),
    ("우진", "Woojin"),
    ("영진", "Youngjin"),
    ("태성", "Taeseong"),
    ("신흥", "Sinheung"),
    ("대한", "Daehan"),
    ("성진", "Seongjin"),
    ("한성", "Hanseong"),
    ("동신", "Dongsin"),
    ("일진", "Iljin"),
    ("경인", "Gyeongin"),
    ("부평", "Bupyeong"),
    ("구로", "Guro"),
    ("문래", "Mullae"),
    ("성수", "Seongsu"),
    ("을지", "Eulji"),
    ("한빛", "Hanbit"),
    ("새롬", "Saerom"),
    ("은성", "Eunseong"),
    ("대원", "Daewon"),
    ("진성", "Jinseong"),
    ("태광", "Taegwang"),
    ("삼화", "Samhwa"),
    ("동화", "Donghwa"),
    ("미래", "Mirae"),
    ("청운", "Cheongun"),
    ("서해", "Seohae"),
    ("인창", "Inchang"),
    ("제일", "Jeil"),
    ("현대", "Hyeondae"),
    ("유성", "Yuseong"),
    ("보광", "Bogwang"),
    ("한길", "Hangil"),
    ("신성", "Sinseong"),
    ("동아", "Donga"),
    ("고려", "Goryeo"),
    ("화성", "Hwaseong"),
    ("덕성", "Deokseong"),
    ("광진", "Gwangjin"),
    ("수성", "Suseong"),
    ("명진", "Myeongjin"),
    ("정우", "Jeongwoo"),
    ("아진", "Ajin"),
    ("효성", "Hyoseong"),
    ("금강", "Geumgang"),
    ("백두", "Baekdu"),
    ("송도", "Songdo"),
    ("가산", "Gasan"),
    ("주안", "Juan"),
)

# Typical working envelope (x, y, z in mm, ranges) and machine-hour rate (KRW) by process.
# Rates are rough 2020s small-shop figures written here as plausible synthetic values.
ENVELOPE: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "casting": ((200, 1500), (200, 1200), (100, 800)),
    "die_casting": ((100, 600), (100, 500), (50, 300)),
    "injection_moulding": ((100, 800), (100, 600), (50, 400)),
    "additive_manufacturing": ((150, 400), (150, 400), (150, 400)),
    "forging": ((100, 800), (100, 400), (50, 300)),
    "stamping": ((200, 1500), (200, 1000), (5, 200)),
    "sheet_bending": ((1000, 4000), (200, 1500), (1, 20)),
    "deep_drawing": ((100, 800), (100, 800), (50, 400)),
    "extrusion": ((1000, 6000), (50, 300), (50, 300)),
    "turning": ((200, 1500), (100, 600), (100, 600)),
    "milling": ((400, 2000), (300, 1000), (300, 800)),
    "drilling": ((300, 1500), (300, 800), (200, 600)),
    "grinding": ((200, 1000), (150, 500), (100, 400)),
    "edm": ((200, 800), (150, 600), (100, 400)),
    "laser_cutting": ((1500, 4000), (1000, 2000), (1, 25)),
    "sheet_cutting": ((1000, 4000), (500, 2000), (1, 13)),
    "waterjet_cutting": ((1500, 4000), (1000, 2000), (5, 150)),
    "welding": ((500, 3000), (300, 2000), (200, 1500)),
    "brazing": ((100, 600), (100, 400), (50, 300)),
    "assembly": ((300, 2000), (300, 1500), (200, 1500)),
    "painting": ((1000, 4000), (500, 2000), (500, 2000)),
    "powder_coating": ((1000, 3500), (500, 1500), (500, 2000)),
    "plating": ((300, 1500), (200, 800), (200, 1000)),
    "anodizing": ((300, 2000), (200, 800), (200, 1000)),
    "heat_treatment": ((300, 1500), (300, 1000), (300, 1000)),
}
RATE_KRW: dict[str, tuple[int, int]] = {
    "casting": (40_000, 90_000),
    "die_casting": (50_000, 110_000),
    "injection_moulding": (30_000, 90_000),
    "additive_manufacturing": (20_000, 80_000),
    "forging": (50_000, 120_000),
    "stamping": (30_000, 90_000),
    "sheet_bending": (30_000, 70_000),
    "deep_drawing": (40_000, 100_000),
    "extrusion": (50_000, 120_000),
    "turning": (35_000, 80_000),
    "milling": (40_000, 100_000),
    "drilling": (25_000, 50_000),
    "grinding": (45_000, 90_000),
    "edm": (40_000, 90_000),
    "laser_cutting": (60_000, 150_000),
    "sheet_cutting": (25_000, 60_000),
    "waterjet_cutting": (60_000, 130_000),
    "welding": (30_000, 70_000),
    "brazing": (30_000, 60_000),
    "assembly": (20_000, 40_000),
    "painting": (25_000, 55_000),
    "powder_coating": (30_000, 60_000),
    "plating": (40_000, 90_000),
    "anodizing": (40_000, 90_000),
    "heat_treatment": (50_000, 110_000),
}
# Tolerance a shop holds, as multiples of the vocabulary's best tolerance (never tighter).
TOLERANCE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 5.0)

CERT_RATES: tuple[tuple[str, float, tuple[str, ...] | None], ...] = (
    ("ISO 9001", 0.45, None),
    ("ISO 14001", 0.18, None),
    ("KS", 0.10, None),
    ("IATF 16949", 0.25, ("press", "casting", "machining", "plastics", "forging")),
    ("AS9100", 0.06, ("machining", "precision")),
    ("ISO 13485", 0.06, ("machining", "plastics", "precision")),
)

# Multi-step chains (process sequence, materials that work every step, UNSPSC, ko/en part).
CHAINS: tuple[tuple[tuple[str, ...], tuple[str, ...], str, str, str], ...] = (
    (
        ("laser_cutting", "sheet_bending", "welding", "powder_coating"),
        ("steel", "aluminium"),
        "31280000",
        "브래킷 함체",
        "bracket enclosure",
    ),
    (
        ("sheet_cutting", "sheet_bending", "welding", "painting"),
        ("steel",),
        "31280000",
        "판금 케이스",
        "sheet-metal case",
    ),
    (
        ("laser_cutting", "sheet_bending", "welding"),
        ("steel", "stainless_steel"),
        "31280000",
        "용접 프레임",
        "welded frame",
    ),
    (
        ("turning", "milling", "heat_treatment", "grinding"),
        ("steel",),
        "31170000",
        "기어 샤프트",
        "gear shaft",
    ),
    (
        ("turning", "heat_treatment", "grinding"),
        ("steel", "stainless_steel"),
        "31170000",
        "핀·샤프트",
        "pin / shaft",
    ),
    (("milling", "anodizing"), ("aluminium",), "73180000", "알루미늄 하우징", "aluminium housing"),
    (("turning", "plating"), ("steel", "brass", "copper"), "31160000", "도금 부싱", "plated bushing"),
    (("casting", "milling", "painting"), ("cast_iron",), "31100000", "주철 베이스", "cast-iron base"),
    (("stamping", "welding", "plating"), ("steel",), "31280000", "프레스 브래킷", "stamped bracket"),
    (
        ("injection_moulding", "assembly"),
        ("abs", "polycarbonate", "polyamide"),
        "31140000",
        "사출 커버",
        "moulded cover",
    ),
    (
        ("die_casting", "milling", "anodizing"),
        ("aluminium",),
        "31100000",
        "다이캐스팅 케이스",
        "die-cast case",
    ),
    (("forging", "turning", "heat_treatment"), ("steel",), "31130000", "단조 플랜지", "forged flange"),
)
PERSONS = ("김민준", "이서연", "박지훈", "최수아", "정예준", "강하은", "조도윤", "윤지우", "장서준", "임하윤")
PERSONS_EN = (
    "Kim Minjun",
    "Lee Seoyeon",
    "Park Jihun",
    "Choi Sua",
    "Jeong Yejun",
    "Kang Haeun",
    "Jo Doyun",
    "Yun Jiwoo",
    "Jang Seojun",
    "Lim Hayun",
)


@dataclass
class Region:
    """A generated region: firm profiles, cooperatives, experts and open requests on `today`."""

    profiles: list[Profile]
    cooperatives: list[Cooperative]
    requests: list[Request]
    today: date
    seed: int = 7
    districts: tuple[District, ...] = DISTRICTS
    experts: list[Expert] = field(default_factory=list)
    _by_id: dict[str, Profile] = field(default_factory=dict, repr=False, compare=False)

    def profile(self, firm_id: str) -> Profile:
        if not self._by_id:
            self._by_id = {p.firm_id: p for p in self.profiles}
        try:
            return self._by_id[firm_id]
        except KeyError:
            raise KeyError(f"unknown firm {firm_id!r} in the region") from None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _cum(weights) -> list[float]:
    out, t = [], 0.0
    for w in weights:
        t += w
        out.append(t)
    return out


def _pick(rng: random.Random, items, cum: list[float]):
    """One item drawn with cumulative weights `cum` (bisect: cheaper than choices(weights=...))."""
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _round_rate(x: float) -> int:
    return int(round(x / 1000.0)) * 1000


def _envelope(rng: random.Random, process: str) -> tuple[float, float, float]:
    return tuple(float(round(rng.uniform(a, b), -1) or 10) for a, b in ENVELOPE[process])  # type: ignore[return-value]


def _equipment(rng: random.Random, firm_id: str, k: int, process: str, palette: tuple[str, ...]) -> dict:
    """One Equipment as a dict (validated later with the whole profile, in one pydantic call)."""
    proc = PROCESSES[process]
    works = [m for m in palette if process in MATERIALS[m].processes]
    if not works:  # the firm's palette does not fit: take the materials the process works
        works = [m for m, mat in MATERIALS.items() if process in mat.processes]
    n = rng.randint(1, min(3, len(works)))
    materials = tuple(sorted(rng.sample(works, n)))
    tol = proc.best_tolerance_mm * _pick(rng, TOLERANCE_STEPS, _TOL_CUM)
    lo, hi = RATE_KRW[process]
    return {
        "id": f"{firm_id}-e{k}",
        "process": process,
        "name": f"{proc.ko} 설비 / {proc.en} equipment",
        "count": _pick(rng, (1, 2, 3, 4, 6), _COUNT_CUM),
        "materials": materials,
        "envelope_mm": _envelope(rng, process),
        "tolerance_mm": round(tol, 4),
        "hourly_rate_krw": _round_rate(rng.uniform(lo, hi)),
        "core": rng.random() < 0.92,
    }


def _certifications(rng: random.Random, arch: str, today: date) -> list[dict]:
    out = []
    for code, rate, only in CERT_RATES:
        if only is not None and arch not in only:
            continue
        if rng.random() >= rate:
            continue
        checked = today - timedelta(days=rng.randint(5, 400))
        issued = checked - timedelta(days=rng.randint(0, 900))
        until = issued + timedelta(days=3 * 365)  # ISO management certificates run three years
        if rng.random() < 0.12:  # some lapsed and nobody noticed
            until = today - timedelta(days=rng.randint(1, 200))
        out.append({"code": code, "last_checked": checked, "valid_until": until})
    return out


def _evidence(rng: random.Random, equipment: list[dict], today: date) -> dict:
    """8-12 past ISO weeks of free hours per process, quality and delivery; and the source."""
    if rng.random() < 0.12:
        return {}
    source = "kpi" if rng.random() < 0.6 else "declared"
    n_weeks = rng.randint(8, 12)
    last = _monday(today) - timedelta(days=7)
    first = last - timedelta(days=7 * (n_weeks - 1))
    shifts = rng.choice((1, 1, 2))
    planned_h = 40.0 * shifts + rng.choice((0.0, 4.0, 8.0))
    weeks = []
    starts = [first + timedelta(days=7 * w) for w in range(n_weeks)]
    rand = rng.random
    for e in equipment:
        util = rng.betavariate(5, 2.5)  # busy share of planned time
        hours = planned_h * e["count"]
        for ws in starts:
            u = min(max(util + (rand() - 0.5) * 0.25, 0.0), 1.0)  # ±12.5 points
            weeks.append(
                {"process": e["process"], "week_start": ws, "free_hours": round(hours * (1.0 - u), 1)}
            )
    end = last + timedelta(days=6)
    capacity = {"weeks": weeks, "period_start": first, "period_end": end, "source": source}
    scrap = min(rng.lognormvariate(math.log(0.015), 0.7), 0.2)
    rework = min(rng.lognormvariate(math.log(0.01), 0.6), 0.1)
    units = int(rng.lognormvariate(math.log(20_000), 1.0))
    out = {
        "capacity": capacity,
        "quality": {
            "scrap_ratio": round(scrap, 4),
            "first_pass_yield": round(max(0.0, 1 - scrap - rework), 4),
            "units": units,
            "period_start": first,
            "period_end": end,
            "source": source,
        },
    }
    if rng.random() < 0.85:
        out["delivery"] = {
            "on_time_ratio": round(rng.betavariate(9, 1.5), 3),
            "orders": rng.randint(8, 250),
            "period_start": first,
            "period_end": end,
            "source": source,
        }
    return out


def _published(rng: random.Random, ev: dict) -> frozenset:
    if not ev:
        return frozenset()
    roll = rng.random()
    if roll < 0.25:
        return frozenset()
    if roll < 0.45:
        kinds = {"capacity"}
    elif roll < 0.60:
        kinds = {"capacity", "quality"}
    elif roll < 0.68:
        kinds = {"quality", "delivery"}
    else:
        kinds = {"capacity", "quality", "delivery"}
    return frozenset(k for k in kinds if k in ev)


def _firm(rng: random.Random, i: int, today: date, used: set[str]) -> tuple[dict, Archetype]:
    """One firm as a profile document (validated by the caller) and its archetype."""
    arch = _pick(rng, ARCHETYPES, _ARCH_CUM)
    dist = _pick(rng, DISTRICTS, _DIST_CUM)
    firm_id = f"firm-{i:05d}"
    for attempt in range(6):
        stem_ko, stem_en = rng.choice(STEMS)
        j = rng.randrange(len(arch.ko))
        ko, en = f"{stem_ko}{arch.ko[j]}", f"{stem_en} {arch.en[j]}"
        if attempt >= 3:
            ko, en = f"{ko}{'산업' if arch.ko[j] != '산업' else '공업'}", f"{en} Industries"
        if ko not in used:
            break
    else:
        ko, en = f"{ko} {i}", f"{en} {i}"
    used.add(ko)
    procs = list(arch.core) + [p for p in arch.extra if rng.random() < 0.35]
    n_mat = rng.randint(2, min(5, len(arch.materials)))
    palette = tuple(rng.sample(arch.materials, n_mat))
    equipment = [_equipment(rng, firm_id, k + 1, p, palette) for k, p in enumerate(procs)]
    lat = dist.lat + rng.uniform(-0.012, 0.012)
    lon = dist.lon + rng.uniform(-0.015, 0.015)
    city_ko = "서울특별시" if dist.city == "Seoul" else "인천광역시"
    facility = {
        "firm_id": firm_id,
        "name": {"ko": f"{ko}(주)" if rng.random() < 0.5 else ko, "en": f"{en} Co., Ltd."},
        "description": {
            "ko": f"{dist.area}의 {', '.join(PROCESSES[p].ko for p in procs)} 전문 업체",
            "en": f"{', '.join(PROCESSES[p].en for p in procs)} shop in {dist.en}",
        },
        "location": {
            "city": dist.city,
            "district": dist.ko,
            "address": f"{city_ko} {dist.ko} ({dist.area})",
            "lat": round(lat, 5),
            "lon": round(lon, 5),
        },
        "equipment": equipment,
        "certifications": _certifications(rng, arch.code, today),
        "unspsc": arch.unspsc,
        "employees": max(2, min(250, int(rng.lognormvariate(math.log(14), 0.8)))),
        "contact_email": f"contact@{firm_id}.example.kr",
    }
    evidence = _evidence(rng, equipment, today)
    published = _published(rng, evidence)
    at = None
    if published:
        at = datetime.combine(today - timedelta(days=rng.randint(0, 20)), time(9), tzinfo=UTC)
    doc = {"facility": facility, "evidence": evidence, "published": published, "published_at": at}
    return doc, arch


# Cooperatives: (Korean name, English name, focus processes, archetypes, city or None for both)
COOPS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], str | None], ...] = (
    (
        "서울금속가공협동조합",
        "Seoul Metalworking Cooperative",
        ("milling", "turning"),
        ("machining", "precision"),
        "Seoul",
    ),
    (
        "문래소공인금속협동조합",
        "Mullae Metal Makers Cooperative",
        ("milling", "turning", "welding"),
        ("machining", "welding"),
        "Seoul",
    ),
    (
        "G밸리정밀가공협동조합",
        "G-Valley Precision Machining Cooperative",
        ("milling", "grinding", "edm"),
        ("machining", "precision"),
        "Seoul",
    ),
    (
        "성수제조협동조합",
        "Seongsu Makers Cooperative",
        ("assembly", "sheet_bending"),
        ("sheet_metal", "welding"),
        "Seoul",
    ),
    (
        "을지로인쇄·금속협동조합",
        "Euljiro Metal and Print Cooperative",
        ("laser_cutting", "plating"),
        ("sheet_metal", "surface"),
        "Seoul",
    ),
    (
        "서울판금협동조합",
        "Seoul Sheet Metal Cooperative",
        ("laser_cutting", "sheet_bending"),
        ("sheet_metal",),
        "Seoul",
    ),
    (
        "서울표면처리협동조합",
        "Seoul Surface Finishing Cooperative",
        ("plating", "anodizing"),
        ("surface", "coating"),
        "Seoul",
    ),
    (
        "서울사출협동조합",
        "Seoul Injection Moulding Cooperative",
        ("injection_moulding",),
        ("plastics",),
        "Seoul",
    ),
    (
        "남동산단금속협동조합",
        "Namdong Industrial Park Metal Cooperative",
        ("milling", "turning", "stamping"),
        ("machining", "press"),
        "Incheon",
    ),
    ("인천프레스협동조합", "Incheon Press Cooperative", ("stamping", "deep_drawing"), ("press",), "Incheon"),
    (
        "인천판금용접협동조합",
        "Incheon Sheet Metal and Welding Cooperative",
        ("sheet_bending", "welding"),
        ("sheet_metal", "welding"),
        "Incheon",
    ),
    ("인천도금협동조합", "Incheon Plating Cooperative", ("plating", "anodizing"), ("surface",), "Incheon"),
    (
        "인천도장협동조합",
        "Incheon Coating Cooperative",
        ("powder_coating", "painting"),
        ("coating", "surface"),
        "Incheon",
    ),
    ("인천주물협동조합", "Incheon Foundry Cooperative", ("casting", "die_casting"), ("casting",), "Incheon"),
    (
        "인천열처리협동조합",
        "Incheon Heat Treatment Cooperative",
        ("heat_treatment",),
        ("heat", "precision"),
        "Incheon",
    ),
    (
        "부평정밀기계협동조합",
        "Bupyeong Precision Machinery Cooperative",
        ("milling", "turning", "grinding"),
        ("machining", "precision"),
        "Incheon",
    ),
    (
        "인천플라스틱협동조합",
        "Incheon Plastics Cooperative",
        ("injection_moulding", "assembly"),
        ("plastics",),
        "Incheon",
    ),
    ("경인단조협동조합", "Gyeongin Forging Cooperative", ("forging",), ("forging", "casting"), None),
    ("경인용접기술협동조합", "Gyeongin Welding Cooperative", ("welding", "brazing"), ("welding",), None),
    (
        "수도권3D프린팅협동조합",
        "Capital Area 3D Printing Cooperative",
        ("additive_manufacturing",),
        ("additive", "plastics"),
        None,
    ),
    (
        "서해안금속소재공동구매조합",
        "West Coast Metal Materials Buying Cooperative",
        ("milling", "stamping", "laser_cutting"),
        ("machining", "press", "sheet_metal"),
        None,
    ),
    (
        "서울인천뿌리산업협동조합",
        "Seoul-Incheon Root Industries Cooperative",
        ("casting", "plating", "heat_treatment", "welding"),
        ("casting", "surface", "heat", "welding"),
        None,
    ),
)


def _cooperatives(rng: random.Random, docs: list[dict], archs: list[Archetype]) -> list[Cooperative]:
    """Cooperatives of firms of the right kinds (and city); 12-160 members each.

    The members are stored as granted (`Cooperative.members`, as if each accepted the
    cooperative's invitation: `membership.py`); the profiles naming the cooperative only say so."""
    coops = []
    for k, (ko, en, focus, kinds, city) in enumerate(COOPS):
        pool = [
            d["facility"]
            for d, a in zip(docs, archs, strict=True)
            if a.code in kinds and (city is None or d["facility"]["location"]["city"] == city)
        ]
        if not pool:
            continue
        size = min(len(pool), rng.randint(12, 160))
        members = rng.sample(pool, size)
        coops.append(
            Cooperative(
                id=f"coop-{k + 1:02d}",
                name=Text(ko=ko, en=en),
                members=tuple(sorted(f["firm_id"] for f in members)),
                focus=focus,
                location=Location(**members[0]["location"]),
            )
        )
    return coops


_QTY = {  # (low, high) quantity by process: a plausible lot for that kind of work
    "stamping": (2000, 30000),
    "injection_moulding": (1000, 20000),
    "deep_drawing": (1000, 10000),
    "die_casting": (200, 3000),
    "plating": (200, 5000),
    "anodizing": (100, 3000),
    "heat_treatment": (100, 3000),
    "sheet_cutting": (50, 1000),
    "casting": (10, 300),
    "forging": (100, 2000),
    "edm": (2, 50),
    "additive_manufacturing": (1, 30),
}


def _quantity(rng: random.Random, process: str) -> int:
    lo, hi = _QTY.get(process, (10, 500))
    q = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    step = 100 if q >= 1000 else (10 if q >= 50 else 1)
    return max(1, int(round(q / step)) * step)


def _requests(
    rng: random.Random, n: int, profiles: list[Profile], today: date, index: dict[tuple[str, str], list[int]]
) -> list[Request]:
    out = []
    firm_ids = [p.firm_id for p in profiles]
    chains = [c for c in CHAINS if all(any((p, m) in index for m in c[1]) for p in c[0])]
    for r in range(n):
        multi = chains and rng.random() < 0.45
        if multi:
            procs, mats, unspsc, part_ko, part_en = rng.choice(chains)
            ok = [m for m in mats if all((p, m) in index for p in procs)] or list(mats)
            material = rng.choice(ok)
        else:
            eq = rng.choice(profiles[rng.randrange(len(profiles))].facility.equipment)
            procs, material = (eq.process,), rng.choice(eq.materials)
            unspsc = "73180000"
            part_ko, part_en = "부품", "part"
        quantity = _quantity(rng, procs[0])
        steps = []
        for p in procs:
            tol = env = None
            cands = index.get((p, material), [])
            loose = rng.random() < 0.08 or not cands  # a few requests nobody may be able to do
            if cands:
                fi = rng.choice(cands)
                eq = next(e for e in profiles[fi].facility.equipment if e.process == p)
                if rng.random() < 0.6:
                    tol = round(
                        eq.tolerance_mm * (rng.uniform(0.3, 0.9) if loose else rng.uniform(1.0, 4.0)), 4
                    )
                if rng.random() < 0.5:
                    env = tuple(
                        float(round(x * rng.uniform(0.1, 0.7 if not loose else 1.6), -1) or 10)
                        for x in eq.envelope_mm
                    )
            hours = quantity * PROCESSES[p].minutes_per_unit / 60.0
            if hours > 120:  # a lot no small shop runs in one go: state a realistic estimate
                hours = round(rng.uniform(40, 120), 1)
            certs: tuple[str, ...] = ()
            roll = rng.random()
            if roll < 0.10:
                certs = ("ISO 9001",)
            elif roll < 0.12:
                certs = ("IATF 16949",)
            steps.append(
                Step(
                    process=p,
                    material=material,
                    quantity=quantity,
                    tolerance_mm=tol,
                    envelope_mm=env,
                    certifications=certs,
                    machine_hours=round(max(hours, 0.5), 2),
                )
            )
        posted = today - timedelta(days=rng.randint(0, 10))
        due = today + timedelta(days=rng.randint(7, 56))
        if rng.random() < 0.4:
            requester = rng.choice(firm_ids)
            loc = profiles[int(requester.split("-")[1])].facility.location
        else:
            k = rng.randrange(len(PERSONS))
            requester = f"person:{PERSONS[k]}"
            d = _pick(rng, DISTRICTS, _DIST_CUM)
            loc = Location(
                city=d.city,
                district=d.ko,
                lat=round(d.lat + rng.uniform(-0.01, 0.01), 5),
                lon=round(d.lon + rng.uniform(-0.01, 0.01), 5),
            )
        names_ko = "·".join(PROCESSES[p].ko for p in procs)
        names_en = ", ".join(PROCESSES[p].en.lower() for p in procs)
        mat = MATERIALS[material]
        rate = 60_000 * sum(s.hours() for s in steps)
        out.append(
            Request(
                id=f"req-{r + 1:04d}",
                requester=requester,
                title=Text(
                    ko=f"{part_ko} {quantity:,}개, {mat.ko} ({names_ko})",
                    en=f"{part_en} × {quantity:,}, {mat.en} ({names_en})",
                ),
                steps=tuple(steps),
                due=due,
                posted=posted,
                location=loc,
                max_distance_km=rng.choice((None, None, 10.0, 20.0, 40.0)),
                budget_krw=None if rng.random() < 0.3 else int(round(rate * rng.uniform(1.2, 3.0), -4)),
                confidentiality="nda" if rng.random() < 0.15 else "public",
                unspsc=unspsc,
            )
        )
    return out


_PROFILES = TypeAdapter(list[Profile])
_ARCH_CUM = _cum(a.weight for a in ARCHETYPES)
_DIST_CUM = _cum(d.weight for d in DISTRICTS)
_TOL_CUM = _cum((1, 2, 3, 2, 2, 1))
_COUNT_CUM = _cum((4, 3, 2, 1, 0.5))


def generate_region(
    seed: int = 7, firms: int = 2000, requests: int = 300, today: date | None = None, experts: int = 150
) -> Region:
    """A deterministic region of `firms` firms, ~22 cooperatives, `experts` outside experts
    (cooperate/experts.py) and `requests` open requests."""
    if firms < 1:
        raise ValueError(f"firms must be at least 1, got {firms}")
    if requests < 0:
        raise ValueError(f"requests must be 0 or more, got {requests}")
    if experts < 0:
        raise ValueError(f"experts must be 0 or more, got {experts}")
    today = today or DEFAULT_TODAY
    # The region is hundreds of thousands of small objects that all stay alive: the cyclic
    # garbage collector would rescan them again and again (measured: it tripled the time).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        region = _generate(seed, firms, requests, today)
        region.experts = generate_experts(seed, experts, today) if experts else []
        return region
    finally:
        if was_enabled:
            gc.enable()


def _generate(seed: int, firms: int, requests: int, today: date) -> Region:
    rng = random.Random(seed)
    used: set[str] = set()
    docs: list[dict] = []
    archs: list[Archetype] = []
    for i in range(firms):
        d, a = _firm(rng, i, today, used)
        docs.append(d)
        archs.append(a)
    coops = _cooperatives(rng, docs, archs)
    member_of: dict[str, list[str]] = {}
    for c in coops:
        for f in c.members:
            member_of.setdefault(f, []).append(c.id)
    for d in docs:
        d["facility"]["cooperatives"] = tuple(member_of.get(d["facility"]["firm_id"], ()))
    profiles = _PROFILES.validate_python(docs)  # one pydantic call: every field checked, fast
    index: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(profiles):
        for e in p.facility.equipment:
            for m in e.materials:
                index.setdefault((e.process, m), []).append(i)
    reqs = _requests(rng, requests, profiles, today, index)
    return Region(profiles=profiles, cooperatives=coops, requests=reqs, today=today, seed=seed)


# -- the simulated factory's own profile ------------------------------------------------------------

# Working envelope (mm), machine-hour rate (KRW) and materials we state for the simulated plant's
# machine kinds: assumptions written here (the simulator models time and parts, not these).
_DEMO_EQUIPMENT: dict[str, tuple[tuple[float, float, float], int, tuple[str, ...], str]] = {
    "milling": (
        (800.0, 500.0, 500.0),
        65_000,
        ("aluminium", "stainless_steel", "steel"),
        "CNC 가공 라인 / CNC line",
    ),
    "turning": (
        (500.0, 300.0, 300.0),
        60_000,
        ("aluminium", "stainless_steel", "steel"),
        "CNC 가공 라인 / CNC line",
    ),
    "stamping": ((1200.0, 800.0, 150.0), 50_000, ("aluminium", "steel"), "프레스 라인 / press line"),
    "welding": ((2000.0, 1000.0, 800.0), 45_000, ("stainless_steel", "steel"), "용접 로봇 / welding robots"),
}


def demo_firm_profile(
    store,
    firm_id: str = "acme",
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    today: date | None = None,
    published: frozenset | set | tuple = (),
) -> Profile:
    """The profile of the simulated factory (acme / changwon) with evidence from its store.

    The facility is placed where the simulator's site is, in the Changwon National Industrial
    Complex (경상남도 창원시 성산구; approximate coordinates), not in the generated region. Its
    equipment counts the store's machines by kind (`SIMULATOR_PROCESSES`); each process's
    tolerance is half the specification width of the characteristic the simulator measures on
    that line (CNC bore ±0.025 mm, press flange height ±0.1 mm, weld bead ±0.6 mm). Evidence
    covers [start, end), by default the days the store has state data for. Nothing is
    published unless `published` says so.
    """
    from ..collect.simulator import LINES
    from .evidence import SIMULATOR_PROCESSES, compute_evidence, plant_timezone

    machines = store.machines()
    kinds: dict[str, int] = {}
    for m in machines:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    tol = {ln.kind: round((ln.characteristic.usl - ln.characteristic.lsl) / 2, 4) for ln in LINES}
    equipment = []
    for kind, n in sorted(kinds.items()):
        for process in SIMULATOR_PROCESSES.get(kind, ()):
            env, rate, mats, name = _DEMO_EQUIPMENT[process]
            equipment.append(
                Equipment(
                    id=f"{firm_id}-{kind}-{process}",
                    process=process,
                    name=name,
                    count=n,
                    materials=mats,
                    envelope_mm=env,
                    tolerance_mm=max(tol.get(kind, 1.0), PROCESSES[process].best_tolerance_mm),
                    hourly_rate_krw=rate,
                )
            )
    zone = plant_timezone(store)
    if start is None or end is None:
        row = store.query("SELECT min(ts) AS a, max(ts) AS b FROM v_states").to_pylist()[0]
        if row["a"] is None:
            raise ValueError("store: no state data, so no evidence period (give start and end)")
        from zoneinfo import ZoneInfo

        z = ZoneInfo(zone)
        start = start or row["a"].replace(tzinfo=UTC).astimezone(z).date()
        end = end or row["b"].replace(tzinfo=UTC).astimezone(z).date() + timedelta(days=1)
    evidence = compute_evidence(store, start, end, tz=zone)
    today = today or DEFAULT_TODAY
    facility = Facility(
        firm_id=firm_id,
        name=Text(ko="에이크미 정밀 (시뮬레이션 공장)", en="ACME Precision (simulated factory)"),
        description=Text(
            ko="CNC 가공·프레스·용접 로봇 라인을 갖춘 창원의 시뮬레이션 금속가공 공장",
            en="Simulated metal-working plant in Changwon with CNC, press and robot welding lines",
        ),
        location=Location(
            city="Changwon",
            district="성산구",
            address="경상남도 창원시 성산구 (창원국가산업단지)",
            lat=35.2050,
            lon=128.6650,
        ),
        equipment=tuple(equipment),
        certifications=(
            Certification(
                code="ISO 9001",
                last_checked=today - timedelta(days=60),
                valid_until=today + timedelta(days=400),
            ),
        ),
        unspsc=("73180000", "31280000"),
        employees=45,
        contact_email="demo@acme.example.kr",
    )
    kept = frozenset(k for k in published if getattr(evidence, k) is not None)
    at = datetime.combine(today, time(9), tzinfo=UTC) if kept else None
    return Profile(facility=facility, evidence=evidence, published=kept, published_at=at)
