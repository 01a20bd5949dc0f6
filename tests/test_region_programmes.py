"""Programme outcomes (region/programmes.py): a planted effect is recovered inside the interval,
none is reported where none was planted, costs follow the effect, bad programmes are named."""

from __future__ import annotations

import random
from datetime import date

import pytest

from factory_commons.region.models import KpiSnapshot, Programme, RegionFirm
from factory_commons.region.programmes import ProgrammeError, evaluate, evaluate_all, outcome_cells

START, END = date(2025, 1, 1), date(2025, 12, 1)


def _world(seed: int, effect: float, effect_oee: float, n_firms: int = 160, n_supported: int = 30):
    """Firms with a before level and OEE; every firm drifts by a shared trend, supported firms gain
    `effect` (level) and `effect_oee` on top, plus noise. Nothing is clipped."""
    rng = random.Random(seed)
    firms, snaps = [], []
    for i in range(n_firms):
        fid = f"f{i:03d}"
        size = rng.choice(("micro", "small", "medium"))
        firms.append(RegionFirm(firm_id=fid, city="c", district="d", industry="i", employees=20, size=size))
    supported = sorted(rng.sample([f.firm_id for f in firms], n_supported))
    for f in firms:
        lvl0 = 1.8 + rng.random() * 1.4
        oee0 = 0.45 + rng.random() * 0.2
        gain = f.firm_id in supported
        lvl1 = lvl0 + 0.2 + (effect if gain else 0.0) + rng.gauss(0, 0.25)
        oee1 = oee0 + 0.01 + (effect_oee if gain else 0.0) + rng.gauss(0, 0.03)
        snaps.append(KpiSnapshot(firm_id=f.firm_id, on=START, overall_level=lvl0, oee=oee0))
        snaps.append(KpiSnapshot(firm_id=f.firm_id, on=END, overall_level=lvl1, oee=oee1))
    prog = Programme(
        id="p", name_ko="p", name_en="p", budget_krw=600_000_000, start=START, end=END,
        firms=tuple(supported), level_target=3,
    )  # fmt: skip
    return prog, snaps, firms


@pytest.mark.parametrize(("effect", "effect_oee"), [(0.5, 0.04), (0.0, 0.0)])
def test_the_interval_covers_the_planted_effect_about_95_of_100_times(
    effect: float, effect_oee: float
) -> None:
    covered = {"overall_level": 0, "oee": 0}
    significant = 0
    reps = 40
    for seed in range(reps):
        prog, snaps, firms = _world(seed, effect, effect_oee)
        o = evaluate(prog, snaps, firms)
        for m, truth in (("overall_level", effect), ("oee", effect_oee)):
            e = o.effect(m, "did")
            covered[m] += e.ci_low <= truth <= e.ci_high
        significant += o.effect("overall_level").significant
    for m, n in covered.items():
        assert 0.85 * reps <= n, f"{m}: the 95% interval held the planted effect {n} of {reps} times"
    if effect == 0.0:  # no effect planted: an effect is reported about 5 times in 100
        assert significant <= 0.15 * reps
    else:
        assert significant == reps


def test_naive_before_after_holds_the_trend_the_comparison_removes() -> None:
    prog, snaps, firms = _world(1, 0.5, 0.04)
    o = evaluate(prog, snaps, firms)
    naive, did = o.effect("overall_level", "before_after"), o.effect("overall_level", "did")
    assert naive.ci_low <= 0.7 <= naive.ci_high  # effect + the trend of 0.2 every firm shared
    assert did.ci_low <= 0.5 <= did.ci_high
    assert o.n_with_data == 30 and o.n_comparison > 30


def test_cost_per_level_and_per_oee_point() -> None:
    prog, snaps, firms = _world(2, 0.5, 0.04)
    o = evaluate(prog, snaps, firms)
    level, oee = o.costs
    e = o.effect("overall_level")
    assert level.per == "level" and level.value == pytest.approx(600_000_000 / (e.value * 30))
    assert level.ci_low < level.value < level.ci_high  # from the effect's interval, inverted
    assert oee.value == pytest.approx(600_000_000 / (o.effect("oee").value * 100 * 30))
    prog, snaps, firms = _world(2, 0.0, 0.0)
    o = evaluate(prog, snaps, firms)
    assert o.effect("overall_level").ci_low <= 0 and o.costs[0].ci_high is None  # no upper bound


def test_the_sample_region_programmes() -> None:
    """The sample region plants an effect in prog-basic and prog-upgrade and none in prog-none."""
    from factory_commons.region.sample import PLANTED_EFFECT, generate_region_sample

    s = generate_region_sample(seed=7, firms=400, experts=10)
    outcomes = {o.programme: o for o in evaluate_all(s.programmes, s.snapshots, s.firms)}
    assert set(outcomes) == {"prog-basic", "prog-upgrade", "prog-none"}
    for pid in ("prog-basic", "prog-upgrade"):
        assert outcomes[pid].effect("overall_level").significant
        assert outcomes[pid].effect("overall_level").value > 0.3
    # one draw: prog-none may cross zero by chance (5 in 100; the simulation above counts that), but
    # its interval stays well below the planted effect
    assert outcomes["prog-none"].effect("overall_level").ci_high < PLANTED_EFFECT["overall_level"] / 2
    assert outcomes["prog-none"].effect("oee").ci_high < PLANTED_EFFECT["oee"] / 2
    cells = outcome_cells(list(outcomes.values()))
    assert {c.n_firms for c in cells if c.row == "prog-basic"} == {40}


def test_a_programme_without_data_is_named() -> None:
    prog, snaps, firms = _world(3, 0.5, 0.04)
    late = prog.model_copy(update={"start": date(2024, 1, 1), "end": date(2024, 6, 1), "id": "late"})
    with pytest.raises(ProgrammeError, match=r"'late': 0 of 30 supported firms have a snapshot on or before"):
        evaluate(late, snaps, firms)
    with pytest.raises(ProgrammeError, match="comparison firms"):
        evaluate(prog, [s for s in snaps if s.firm_id in prog.firms], firms)
