"""The two-firm plant of test_server_plant with a commons: a small generated region (200 firms),
profiles for acme and beta, a cooperative account, an outside expert. Shared by the commons
API and browser tests.

beta's quality evidence carries marker values (scrap 0.04242, first pass yield 0.91919, 13,579 units)
that it never publishes in the fixture: they must never reach another firm.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient
from test_server_plant import PASSWORD, T0, Plant, make_plant

from factory_commons.cooperate.experts import Availability, Expert, save_experts
from factory_commons.cooperate.model import (
    CapacityEvidence,
    CapacityWeek,
    Certification,
    Cooperative,
    DeliveryEvidence,
    Equipment,
    Evidence,
    Facility,
    Location,
    Profile,
    QualityEvidence,
    Text,
)
from factory_commons.cooperate.sample import Region, generate_region
from factory_commons.server import create_app
from factory_commons.store import Store

COOP = "coop-geumcheon"
TODAY = (T0 + timedelta(days=1)).date()
SECRET_SCRAP, SECRET_FPY, SECRET_UNITS = 0.04242, 0.91919, 13_579  # beta's unpublished quality record
_REGION: dict[int, Region] = {}


def region(firms: int = 200) -> Region:
    """The generated region (built once per process; deterministic)."""
    if firms not in _REGION:
        _REGION[firms] = generate_region(seed=11, firms=firms, requests=20, today=TODAY)
    return _REGION[firms]


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def facility(firm: str, name_ko: str, name_en: str, district: str, lat: float, lon: float) -> Facility:
    return Facility(
        firm_id=firm,
        name=Text(ko=name_ko, en=name_en),
        location=Location(city="Seoul", district=district, lat=lat, lon=lon),
        equipment=(
            Equipment(
                id=f"{firm}-cnc",
                process="milling",
                materials=("aluminium", "steel"),
                envelope_mm=(800, 500, 400),
                tolerance_mm=0.01,
                hourly_rate_krw=60_000,
                count=2,
            ),
            Equipment(
                id=f"{firm}-press",
                process="stamping",
                materials=("steel",),
                envelope_mm=(1200, 800, 300),
                tolerance_mm=0.1,
                hourly_rate_krw=50_000,
            ),
        ),
        certifications=(Certification(code="ISO 9001", last_checked=TODAY - timedelta(days=30)),),
        cooperatives=(COOP,),
    )


def evidence(scrap: float, fpy: float, units: int, free: float) -> Evidence:
    start = _monday(TODAY) - timedelta(weeks=4)
    weeks = tuple(
        CapacityWeek(process=p, week_start=start + timedelta(weeks=k), free_hours=free)
        for k in range(4)
        for p in ("milling", "stamping")
    )
    return Evidence(
        capacity=CapacityEvidence(weeks=weeks, period_start=start, period_end=TODAY),
        quality=QualityEvidence(
            scrap_ratio=scrap, first_pass_yield=fpy, units=units, period_start=start, period_end=TODAY
        ),
        delivery=DeliveryEvidence(on_time_ratio=0.95, orders=40, period_start=start, period_end=TODAY),
    )


def commons_plant(store: Store, firms: int = 200, commons: str | None = None) -> Plant:
    """make_plant plus the commons: the region's profiles, acme and beta, a cooperative, an expert.

    `commons`: where the commons database is (a PostgreSQL URL; default: in memory)."""
    plant = make_plant(store)
    if commons is not None:
        plant.app = create_app(store, plant.accounts, clock=plant.clock, commons=commons)
    db = plant.app.state.commons
    db.put_many("profile", [(p.firm_id, p.firm_id, p) for p in region(firms).profiles])
    acme = Profile(
        facility=facility("acme", "에이크미정밀", "Acme Precision", "금천구", 37.4772, 126.8956),
        evidence=evidence(0.02, 0.97, 5000, 30.0),
        published=frozenset({"capacity", "quality"}),
    )
    beta = Profile(
        facility=facility("beta", "베타금속", "Beta Metal", "구로구", 37.4850, 126.9010),
        evidence=evidence(SECRET_SCRAP, SECRET_FPY, SECRET_UNITS, 40.0),
        published=frozenset({"capacity"}),
    )
    db.put("profile", "acme", "acme", acme)
    db.put("profile", "beta", "beta", beta)
    # the cooperative granted acme and beta membership (membership.py); gamma is outside it
    db.put(
        "cooperative",
        COOP,
        COOP,
        Cooperative(id=COOP, name=Text(ko="금천조합", en="Geumcheon"), members=("acme", "beta")),
    )
    coop = plant.accounts.create_firm(COOP, [])
    plant.accounts.create_user(coop.id, "office@coop.example", "금천조합 사무국", "owner", PASSWORD)
    plant.emails["coop"] = "office@coop.example"
    gamma = plant.accounts.create_firm("gamma", ["gamma"])
    plant.accounts.create_user(gamma.id, "owner@gamma.example", "gamma owner", "owner", PASSWORD)
    plant.emails["gamma:owner"] = "owner@gamma.example"
    xuser = plant.accounts.user_by_email(plant.emails["expert"])
    save_experts(
        db,
        [
            Expert(
                id="x-kim",
                name=Text(ko="김박사", en="Dr. Kim"),
                kind="retired_engineer",
                user_id=xuser.id,
                affiliation="전 대기업 프레스 공정 팀장",
                skills=("stamping", "spc", "press_die"),
                years=30,
                region=Location(city="Seoul", district="금천구", lat=37.46, lon=126.9),
                availability=(Availability(start=TODAY, end=TODAY + timedelta(weeks=26), hours_per_week=20),),
            )
        ],
    )
    return plant


def post_request(c: TestClient, confidentiality: str = "public", steps=None, **kw) -> dict:
    body = {
        "title": {"ko": "알루미늄 브래킷 가공", "en": "Aluminium bracket"},
        "steps": steps
        or [{"process": "milling", "material": "aluminium", "quantity": 40, "tolerance_mm": 0.05}],
        "due": str(TODAY + timedelta(days=30)),
        "location": {"city": "Seoul", "district": "금천구", "lat": 37.4772, "lon": 126.8956},
        "confidentiality": confidentiality,
        **kw,
    }
    r = c.post("/api/commons/requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def open_pool(plant, _who: str = "coop", **kw) -> dict:
    body = {
        "cooperative": COOP,
        "title": {"ko": "SS400 강판 공동구매", "en": "SS400 sheet co-purchase"},
        "material": "steel",
        "spec": {"ko": "SS400 3.2t 1219x2438", "en": "SS400 3.2 mm 1219x2438"},
        "unit": "kg",
        "tiers": [
            {"min_quantity": "1000", "unit_price_krw": "1100"},
            {"min_quantity": "5000", "unit_price_krw": "1000"},
        ],
        "minimum_quantity": "1000",
        "closes": (plant.clock() + timedelta(days=7)).isoformat(),
        **kw,
    }
    r = plant.client(_who).post("/api/commons/pools", json=body)
    assert r.status_code == 201, r.text
    return r.json()
