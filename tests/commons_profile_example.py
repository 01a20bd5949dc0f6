"""A firm's profile with three machines, shared by the profile tests and the OKW tests."""

from __future__ import annotations

from datetime import date

from factory_commons.cooperate.model import (
    CapacityEvidence,
    CapacityWeek,
    Certification,
    Equipment,
    Evidence,
    Facility,
    Location,
    Profile,
    QualityEvidence,
    Text,
)


def three_machine_profile(make_model: str = "") -> Profile:
    """Three machines (milling, turning x2, welding) in Geumcheon with capacity and quality evidence,
    capacity published: the profile the profile and OKW tests share."""
    eq = (
        Equipment(
            id="e1",
            process="milling",
            materials=("aluminium", "steel"),
            envelope_mm=(800, 400, 400),
            tolerance_mm=0.02,
            hourly_rate_krw=55000,
        ),
        Equipment(
            id="e2",
            process="turning",
            materials=("steel",),
            envelope_mm=(400, 200, 200),
            tolerance_mm=0.01,
            hourly_rate_krw=45000,
            count=2,
            make_model=make_model,
        ),
        Equipment(
            id="e3",
            process="welding",
            materials=("steel",),
            envelope_mm=(2000, 1000, 800),
            tolerance_mm=0.5,
            hourly_rate_krw=40000,
        ),
    )
    d = date(2026, 11, 2)
    return Profile(
        facility=Facility(
            firm_id="geumcheon-precision",
            name=Text(ko="금천정밀", en="Geumcheon Precision"),
            location=Location(city="Seoul", district="금천구", lat=37.47, lon=126.89),
            equipment=eq,
            certifications=(Certification(code="ISO 9001", last_checked=date(2026, 6, 1)),),
            unspsc=("73180000",),
        ),
        evidence=Evidence(
            capacity=CapacityEvidence(
                weeks=(CapacityWeek(process="milling", week_start=d, free_hours=12.5),),
                period_start=d,
                period_end=date(2026, 11, 8),
            ),
            quality=QualityEvidence(
                scrap_ratio=0.01,
                first_pass_yield=0.98,
                units=1000,
                period_start=d,
                period_end=date(2026, 11, 8),
            ),
        ),
        published=frozenset({"capacity"}),
    )
