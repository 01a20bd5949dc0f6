"""The generated region: deterministic per seed, the right counts, and consistent with the vocabulary.

The consistency checks run over every generated firm, cooperative and request (property style:
each must hold for all of them, not for a sample).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import timedelta

import pytest

from factory_commons.cooperate.model import Request
from factory_commons.cooperate.sample import DEFAULT_TODAY, DISTRICTS, RATE_KRW, generate_region
from factory_commons.cooperate.vocab import CERTIFICATIONS, MATERIALS, PROCESSES, UNSPSC

HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def region():
    return generate_region()  # the default: seed 7, 2,000 firms, 300 requests


def _km(lat1, lon1, lat2, lon2) -> float:
    dlat = math.radians(lat2 - lat1)
    dlon = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(dlat, dlon)


def test_deterministic_per_seed():
    a = generate_region(seed=5, firms=300, requests=40)
    b = generate_region(seed=5, firms=300, requests=40)
    c = generate_region(seed=6, firms=300, requests=40)
    assert a.profiles == b.profiles and a.requests == b.requests and a.cooperatives == b.cooperatives
    assert a.profiles != c.profiles and a.requests != c.requests
    a.profile(a.profiles[3].firm_id)  # the lookup cache is not part of equality
    assert a == b
    tiny = generate_region(seed=5, firms=1, requests=3)  # too small for chains: single steps only
    assert len(tiny.profiles) == 1 and len(tiny.requests) == 3
    assert all(len(r.steps) == 1 for r in tiny.requests)


def test_counts_and_ids(region):
    assert len(region.profiles) == 2000 and len(region.requests) == 300
    assert region.today == DEFAULT_TODAY
    ids = [p.firm_id for p in region.profiles]
    assert len(set(ids)) == len(ids)
    names = [p.facility.name.ko for p in region.profiles]
    assert len(set(names)) == len(names)
    assert 15 <= len(region.cooperatives) <= 30
    assert len({r.id for r in region.requests}) == 300
    assert region.profile(ids[5]) is region.profiles[5]
    with pytest.raises(KeyError, match="unknown firm 'nobody'"):
        region.profile("nobody")
    with pytest.raises(ValueError, match="firms must be at least 1"):
        generate_region(firms=0)


def test_firms_are_in_real_districts_with_korean_and_english_names(region):
    by_name = {d.ko: d for d in DISTRICTS}
    cities = Counter()
    for p in region.profiles:
        f = p.facility
        assert HANGUL.search(f.name.ko) and f.name.en and not HANGUL.search(f.name.en)
        d = by_name[f.location.district]
        assert f.location.city == d.city
        cities[d.city] += 1
        assert _km(f.location.lat, f.location.lon, d.lat, d.lon) < 2.5
    assert set(cities) == {"Seoul", "Incheon"} and min(cities.values()) > 500
    assert {p.facility.location.district for p in region.profiles} == set(by_name)


def test_equipment_is_consistent_with_the_vocabulary(region):
    for p in region.profiles:
        f = p.facility
        assert f.equipment, f.firm_id
        assert len({e.id for e in f.equipment}) == len(f.equipment)
        for e in f.equipment:
            proc = PROCESSES[e.process]
            for m in e.materials:
                assert e.process in MATERIALS[m].processes, (f.firm_id, e.process, m)
            assert e.tolerance_mm >= proc.best_tolerance_mm - 1e-12, (f.firm_id, e.process)
            assert all(x > 0 for x in e.envelope_mm)
            lo, hi = RATE_KRW[e.process]
            assert lo - 500 <= e.hourly_rate_krw <= hi + 500 and e.hourly_rate_krw % 1000 == 0
        assert all(u in UNSPSC for u in f.unspsc)
        for c in f.certifications:
            assert c.code in CERTIFICATIONS and c.last_checked <= region.today
    processes = Counter(e.process for p in region.profiles for e in p.facility.equipment)
    assert processes["milling"] > processes["heat_treatment"] > 0  # machining shops are the most common
    assert len(processes) >= 20


def test_certificates_some_lapsed(region):
    certs = [c for p in region.profiles for c in p.facility.certifications]
    lapsed = [c for c in certs if not c.valid_on(region.today)]
    assert 0.03 < len(lapsed) / len(certs) < 0.3


def test_evidence_weeks_and_published_sets(region):
    monday = region.today - timedelta(days=region.today.weekday())
    nothing = 0
    published = Counter()
    for p in region.profiles:
        ev, f = p.evidence, p.facility
        assert p.published <= {k for k in ("capacity", "quality", "delivery") if getattr(ev, k) is not None}
        assert (p.published_at is not None) == bool(p.published)
        nothing += not p.published
        published.update(p.published)
        if ev.capacity is None:
            assert ev.quality is None and ev.delivery is None
            continue
        weeks = sorted({w.week_start for w in ev.capacity.weeks})
        assert 8 <= len(weeks) <= 12
        assert all(w.weekday() == 0 and w < monday for w in weeks)
        assert weeks[0] == ev.capacity.period_start and ev.capacity.period_end == weeks[-1] + timedelta(
            days=6
        )
        count = {}
        for e in f.equipment:
            count[e.process] = count.get(e.process, 0) + e.count
        for w in ev.capacity.weeks:
            assert w.process in count and 0 <= w.free_hours <= 168 * count[w.process]
        assert ev.quality.first_pass_yield <= 1 - ev.quality.scrap_ratio + 1e-9
        assert ev.quality.period_start == ev.capacity.period_start
    assert 0.15 < nothing / len(region.profiles) < 0.5
    assert all(published[k] > 200 for k in ("capacity", "quality", "delivery"))


def test_cooperatives_and_membership_agree(region):
    firms = {p.firm_id: p for p in region.profiles}
    seen = {}
    for c in region.cooperatives:
        assert HANGUL.search(c.name.ko) and "조합" in c.name.ko
        assert c.name.en
        assert len(c.members) == len(set(c.members)) >= 10
        assert all(x in PROCESSES for x in c.focus)
        for m in c.members:
            assert c.id in firms[m].facility.cooperatives
            seen.setdefault(m, set()).add(c.id)
    for fid, p in firms.items():
        assert set(p.facility.cooperatives) == seen.get(fid, set())


def _can(p, e, step, due) -> bool:
    """The hard constraints of the model's docstring, written out here."""
    if e.process != step.process or step.material not in e.materials:
        return False
    if step.tolerance_mm is not None and e.tolerance_mm > step.tolerance_mm:
        return False
    if step.envelope_mm is not None and any(
        a > b for a, b in zip(sorted(step.envelope_mm), sorted(e.envelope_mm), strict=True)
    ):
        return False
    valid = {c.code for c in p.facility.certifications if c.valid_on(due)}
    return set(step.certifications) <= valid


def test_requests_are_plausible_and_mostly_satisfiable(region):
    firms = {p.firm_id for p in region.profiles}
    sizes = Counter(len(r.steps) for r in region.requests)
    assert set(sizes) <= {1, 2, 3, 4} and sizes[1] > 100 and sizes[2] + sizes[3] + sizes[4] > 80
    satisfiable = 0
    for r in region.requests:
        assert isinstance(r, Request)
        assert 7 <= (r.due - region.today).days <= 56 and r.posted <= region.today
        assert r.requester in firms or r.requester.startswith("person:")
        assert HANGUL.search(r.title.ko) and r.title.en
        materials = {s.material for s in r.steps}
        assert len(materials) == 1  # one part goes through every step
        for s in r.steps:
            assert s.process in MATERIALS[s.material].processes
            assert s.quantity >= 1 and s.hours() > 0
        if all(
            any(_can(p, e, s, r.due) for p in region.profiles for e in p.facility.equipment) for s in r.steps
        ):
            satisfiable += 1
    assert satisfiable / len(region.requests) > 0.85
    chain = next(
        r
        for r in region.requests
        if [s.process for s in r.steps][:3] == ["laser_cutting", "sheet_bending", "welding"]
    )
    assert chain.steps[0].quantity == chain.steps[-1].quantity


def test_region_has_experts_in_the_shared_vocabulary():
    from factory_commons.cooperate.experts import skill_kind
    from factory_commons.cooperate.sample import generate_region

    region = generate_region(seed=3, firms=50, requests=5, experts=40)
    assert len(region.experts) == 40
    assert generate_region(seed=3, firms=50, requests=5, experts=40).experts == region.experts
    assert len({e.id for e in region.experts}) == 40
    for e in region.experts:
        assert all(skill_kind(s) in ("process", "material", "topic") for s in e.skills)
    assert generate_region(seed=3, firms=50, requests=5, experts=0).experts == []


def test_every_place_of_the_region_romanises(region):
    """English pages and OKW exports name places in Latin letters (issue 27): every district and
    address of the region, and the demo plant's site, romanise with no Hangul left; districts
    get their official names (places.py), areas their hyphenated units."""
    from factory_commons.cooperate.romanise import romanise, romanise_place

    places = {p.facility.location.district for p in region.profiles} | {
        p.facility.location.address for p in region.profiles
    }
    left = sorted(x for x in places if HANGUL.search(romanise_place(x)))
    assert left == []
    assert {romanise_place(d.ko) for d in DISTRICTS} == {d.en for d in DISTRICTS}
    assert (
        romanise_place("서울특별시 영등포구 (문래동 철공소 골목)")
        == "Seoul Yeongdeungpo-gu (Mullae-dong Ironworks Alley)"
    )
    assert romanise_place("경상남도 창원시 성산구 (창원국가산업단지)") == (
        "Gyeongsangnam-do Changwon-si Seongsan-gu (Changwon National Industrial Complex)"
    )
    assert romanise_place("송도") == "Songdo" and romanise_place("종로") == "Jongno"  # names, not units
    assert romanise("한빛정밀(주)") == "Hanbitjeongmil Co., Ltd." and romanise("Seoul") == "Seoul"
    assert not [p.firm_id for p in region.profiles if HANGUL.search(romanise(p.facility.name.ko))]
