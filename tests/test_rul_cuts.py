"""How late units were cut, from their ages and a model's estimates (ai/rul_cuts.py, issue 24).

Generated lives and cuts (no model is trained): units to predict are cut with their remaining
life uniform in 1..H(L), H(L) = H0 (L / mean life) ** beta; the fit must find that cut again from
the ages and a noisy clipped estimate only, and the row weights must describe it.
"""

from __future__ import annotations

import numpy as np
import pytest

from factory_commons.ai.rul import ResidualBand, choose_gate, weighted_quantile
from factory_commons.ai.rul_cuts import CutModel, horizon_from_mean_age, unit_lives


def training_rows(n_units: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-to-failure rows: unit, true RUL and a clipped estimate min(RUL, 100) + noise."""
    rng = np.random.default_rng(seed)
    lives = rng.integers(120, 320, n_units)
    units = np.repeat(np.arange(1, n_units + 1), lives)
    y = np.concatenate([np.arange(L - 1, -1, -1) for L in lives]).astype(float)
    est = np.minimum(y, 100.0) + rng.normal(0, 6, len(y))
    return units, y, est


def cut_units(n: int, h0: float, beta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ages and clipped estimates of units cut with RUL uniform in 1..H(L) (mean life 220)."""
    rng = np.random.default_rng(seed)
    lives = rng.integers(120, 320, n).astype(float)
    h = np.floor(np.minimum(h0 * (lives / 220.0) ** beta, lives - 1))
    rul = np.floor(rng.uniform(0, 1, n) * h) + 1
    return lives - rul, np.minimum(rul, 100.0) + rng.normal(0, 6, n)


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return training_rows(120, seed=1)


@pytest.mark.parametrize(("h0", "beta"), [(60.0, 0.0), (160.0, 0.0), (150.0, 1.0)])
def test_the_cut_is_found_again_from_ages_and_estimates(rows, h0, beta):
    units, y, est = rows
    ages, t_est = cut_units(400, h0, beta, seed=2)
    cut = CutModel.fit_joint(units, y, est, ages, t_est)
    h_mean = float(cut.post @ cut.horizons(cut.mean_life))
    assert abs(h_mean - h0 * (cut.mean_life / 220.0) ** beta) < 0.15 * h0, cut.summary()
    w = cut.row_weights(units, y)
    cut_rul = float(np.sum(w * y) / w.sum())
    assert abs(cut_rul - (h0 + 1) / 2) < 0.15 * h0  # the validation cut's mean RUL is the cut's
    if h0 == 60.0:  # a late cut: rows far from failure get no weight
        assert w[y > 1.5 * h0].sum() < 0.01 * w.sum()


def test_the_ages_alone_and_the_first_round_estimate(rows):
    units, y, _ = rows
    lives = unit_lives(units, y)
    assert lives.shape == (120,) and lives.min() >= 120
    ages, _ = cut_units(300, 80.0, 0.0, seed=3)
    cut = CutModel.fit(lives, ages)
    assert abs(float(cut.post @ cut.horizons(cut.mean_life)) - 80.0) < 15.0, cut.summary()
    assert abs(horizon_from_mean_age(lives, ages) - 80.0) < 15.0
    with pytest.raises(ValueError, match="at least 2 training units"):
        CutModel.fit(lives[:1], ages)


def test_row_weights_and_cut_points(rows):
    units, y, est = rows
    ages, t_est = cut_units(200, 100.0, 0.0, seed=4)
    cut = CutModel.fit_joint(units, y, est, ages, t_est)
    w = cut.row_weights(units, y)
    per_unit = np.bincount(np.unique(units, return_inverse=True)[1], w)
    assert np.allclose(per_unit, 1.0)  # each unit counts once, however long its life
    assert (w[y < 1] == 0).all()  # never cut at the failure itself
    pts = cut.sample_cuts(units, y, per_unit=5, seed=0)
    assert len(pts) == 5 * 120 and (w[pts] > 0).all()
    assert np.array_equal(pts, cut.sample_cuts(units, y, per_unit=5, seed=0))


def test_weighted_gate_and_band():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 100, 4000)
    assert np.allclose(weighted_quantile(x, [0.2, 0.5]), np.quantile(x, [0.2, 0.5]))
    w = np.where(x < 50, 1.0, 0.0)  # only the lower half counts
    assert weighted_quantile(x, 0.5, w) == pytest.approx(25.0, abs=2.0)
    # the gate: rows of weight 0 do not choose it
    wear, life = np.full(4000, 50.0), np.full(4000, 150.0)
    y = np.where(x < 50, 150.0, 50.0)
    assert choose_gate(wear, life, y, 1, w)[1][0] == 1.0
    assert choose_gate(wear, life, y, 1, 1.0 - w)[1][0] == 0.0
    # the band: weighted residuals give the weighted rows' spread
    res = np.where(x < 50, rng.normal(0, 1, 4000), rng.normal(0, 20, 4000))
    band = ResidualBand.fit(np.zeros(4000), res, 1, 0, w)
    lo, hi = band.interval(np.zeros(1), 0.8, np.inf)
    assert 1.0 < hi[0] - lo[0] < 4.0  # about 2 x 1.28 standard deviations of the weighted rows
