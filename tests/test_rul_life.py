"""GbmRul beyond its cap (issue 24): models on the true RUL, the gate, "more than N", the band.

Tiny generated engines (tests/test_rul.py's `make_units`, lives 60-160 cycles) with a cap of 40:
early in life the truth is far above the cap, which a clipped model cannot say.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from test_rul import FAST, SMALL_FEATURES, make_units

from factory_commons.ai.base import ModelFileError, load_model, save_model
from factory_commons.ai.rul import GbmRul, choose_gate, gate_mix, rmse

CAP = 40.0
KW = dict(
    n_ops=1,
    r_early=CAP,
    n_folds=4,
    seed=3,
    max_rounds=300,
    early_stopping=30,
    lgb_params=FAST,
    features=SMALL_FEATURES,
)
BENCH = Path(__file__).resolve().parents[1] / "bench" / "cmapss.py"


@pytest.fixture(scope="module")
def models() -> tuple[GbmRul, GbmRul]:
    X, y = make_units(40, seed=1)
    return GbmRul(**KW).fit(X, y), GbmRul(**KW, life_repeats=1).fit(X, y)


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    """Units cut at random points over their whole life, as a test file cuts them."""
    return make_units(60, seed=2, truncate=True)


def test_life_models_answer_beyond_the_cap(models, held_out):
    clipped, life = models
    X, y = held_out
    last = life.last_rows(X)
    p_clip, p_life = clipped.predict(X)[last], life.predict(X)[last]
    assert p_clip.max() <= CAP
    far = y[last] > 1.5 * CAP
    assert far.sum() >= 5 and p_life[far].mean() > 1.2 * CAP  # it says "far", not "the cap"
    # against the true RUL, over units cut anywhere in their life, the life models win clearly
    assert rmse(p_life, y[last]) < 0.8 * rmse(p_clip, y[last]), (rmse(p_life, y[last]), rmse(p_clip, y[last]))
    # near failure the gate keeps the clipped models' accuracy
    near = y[last] <= 0.5 * CAP
    assert rmse(p_life[near], y[last][near]) < rmse(p_clip[near], y[last][near]) + 3.0


def test_band_covers_the_true_rul(models, held_out):
    _, life = models
    X, y = held_out
    lo, hi = life.predict_interval(X, 0.8)
    assert np.isfinite(hi).all() and (lo >= 0).all()
    share = np.mean((y >= lo) & (y <= hi))
    assert 0.68 <= share <= 0.92, share


def test_open_ended_where_no_wear_is_seen(models, held_out):
    clipped, life = models
    X, y = held_out
    p, wear, _ = life.predict_parts(X)
    opened = life.open_ended(wear)
    assert opened.any() and (~opened).any()
    assert np.median(y[opened]) > 2 * np.median(y[~opened])  # flagged rows are early in life
    # without life models the band's top at the cap is open: "more than", not a number
    p_clip, wear_clip, _ = clipped.predict_parts(X)
    assert np.array_equal(p_clip, wear_clip)
    lo, hi = clipped.interval_around(p_clip, 0.8)
    assert np.isinf(hi).any() and np.isfinite(hi).any() and (lo <= CAP).all()


def test_gate_weights_follow_the_better_estimate():
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 100, 4000)
    wear = np.minimum(y, 50) + rng.normal(0, 2, len(y))  # right near failure, capped beyond
    life = y + rng.normal(0, 15, len(y))  # noisy everywhere, but not capped
    edges, w = choose_gate(wear, life, y, n_bins=4)
    assert w[0] == 0.0 and w[-1] >= 0.5  # near failure: the clipped estimate; beyond its cap: the life one
    mixed = gate_mix(wear, life, edges, w)
    assert rmse(mixed, y) < min(rmse(wear, y), rmse(life, y))


def test_life_models_survive_saving(models, held_out, tmp_path: Path):
    _, life = models
    X, _ = held_out
    folder = save_model(life, tmp_path / "m")
    assert (
        len(json.loads((folder / "model.json").read_text(encoding="utf-8"))["params"]["life_boosters"]) == 4
    )
    loaded = load_model(folder)
    assert np.array_equal(loaded.predict(X), life.predict(X))
    a, b = loaded.predict_interval(X, 0.8), life.predict_interval(X, 0.8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with np.load(folder / "arrays.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["gate_weights"] = arrays["gate_weights"][:-1]
    np.savez(folder / "arrays.npz", **arrays)
    with pytest.raises(ModelFileError, match="gate_weights has"):
        load_model(folder)


def test_bench_cuts_over_the_whole_life():
    spec = importlib.util.spec_from_file_location("bench_cmapss_cuts", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    X, y = make_units(30, seed=4)
    cut = bench.cut_rows(X[:, 0], y, seed=0)
    assert len(cut) == 30 * bench.CUTS_PER_UNIT and (y[cut] >= 1).all()
    life = np.array([y[X[:, 0] == u].max() + 1 for u in X[cut, 0]])
    frac = X[cut, 1] / life  # where in its life each unit was cut
    assert frac.min() < 0.15 and frac.max() > 0.85  # early and late, not only near failure
    assert y[cut].max() > 100
    late = bench.cut_rows(X[:, 0], y, seed=0, horizon=30)
    assert (y[late] >= 1).all() and (y[late] <= 30).all() and y[late].max() > 20
    # how late units were cut, from their ages: lives 100, cut with 1..H left, mean age 100 - (H+1)/2
    lives = np.full(50, 100.0)
    assert bench.horizon_from_ages(lives, np.full(10, 100 - 31 / 2)) == pytest.approx(30.0)
    assert bench.horizon_from_ages(lives, np.full(10, 99.0)) == 10.0  # at least 10 cycles


def test_recalibrate_to_units_cut_late_in_life(models, held_out):
    clipped, life = models
    X, _ = held_out
    Xtr, ytr = make_units(40, seed=1)  # the fixture's training rows
    before, wear, part = life.predict_parts(X)
    band = life.interval_around(before, 0.8)
    late = (ytr >= 1) & (ytr <= CAP)  # units looked at only in their last CAP cycles
    life.recalibrate(ytr, late)
    try:
        after = life.mix(wear, part)
        opened = life.open_ended(wear)
        # where no wear is seen, units cut late have less life left than units cut anywhere
        assert after[opened].mean() < before[opened].mean()
        assert (
            rmse(life.oof_[late], ytr[late]) <= rmse(before[:0].sum() + life.oof_wear_[late], ytr[late]) + 1.0
        )
    finally:
        life.recalibrate(ytr, ytr >= 0)  # every row again: the fit's own gate and band
    assert np.allclose(life.mix(wear, part), before)
    assert all(np.allclose(a, b) for a, b in zip(life.interval_around(before, 0.8), band, strict=True))
    with pytest.raises(ValueError, match="needs life models"):
        clipped.recalibrate(ytr, late)


def test_band_narrowed_to_the_full_ensembles_own_error(models, held_out):
    """The band is fitted on out-of-fold estimates (one fold model per split); the mean of all
    fold models errs less, and `excess_variance` narrows the band by that much, not more."""
    clipped, life = models
    X, y = held_out
    p = life.predict(X)
    excess = life.excess_variance(X)
    assert excess.shape == (len(X),) and (excess >= 0).all() and excess.mean() > 0
    lo, hi = life.interval_around(p, 0.8, excess)
    lo_w, hi_w = life.interval_around(p, 0.8)
    assert (hi - lo <= hi_w - lo_w + 1e-9).all() and (hi - lo).mean() < (hi_w - lo_w).mean()
    assert (hi - lo >= 0.5 * (hi_w - lo_w) - 1e-9).all()  # at most half the width goes
    assert 0.65 <= np.mean((y >= lo) & (y <= hi)) <= 0.95  # still about the stated share
    a, b = life.predict_interval(X, 0.8)
    assert np.allclose(a, lo) and np.allclose(b, hi)  # the product's band is the narrowed one
    assert clipped.excess_variance(X).shape == (len(X),)
