"""The GRU RUL model on tiny generated data: learns, is causal, saves without pickle, is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from test_rul import make_units  # noqa: E402

from factory_commons.ai.base import ModelFileError, load_model, save_model  # noqa: E402
from factory_commons.ai.rul import rmse  # noqa: E402
from factory_commons.ai.rul_gru import GruConfig, GruRul  # noqa: E402

CAP, HORIZON = 40.0, 50.0
TINY = GruConfig(hidden=16, head=8, dropout=0.0, epochs=25, patience=8, units_per_batch=4, lr=1e-2)


@pytest.fixture(scope="module")
def fitted() -> GruRul:
    X, y = make_units(24, seed=1)
    return GruRul(n_ops=1, cap=CAP, horizon=HORIZON, age_scale=50.0, n_folds=3, seed=3, net=TINY).fit(X, y)


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    return make_units(30, seed=2, truncate=True)


def test_learns_far_below_constant_baseline(fitted: GruRul, held_out):
    X, y = held_out
    near = y <= HORIZON
    p = fitted.predict(X)
    assert p.shape == (len(X),)
    assert (p >= 0).all() and (p <= HORIZON).all()
    ours = rmse(p[near], y[near])
    const = rmse(np.full(near.sum(), y[near].mean()), y[near])
    assert ours < 0.6 * const, (ours, const)
    # out-of-fold predictions exist for every training row and are informative too
    Xt, yt = make_units(24, seed=1)
    assert fitted.oof_.shape == (len(Xt),)
    sel = yt <= HORIZON
    oof = rmse(fitted.oof_[sel], yt[sel])
    assert abs(oof - fitted.info["oof_rmse_horizon"]) < 1e-9
    assert oof < 0.8 * rmse(np.full(sel.sum(), yt[sel].mean()), yt[sel])


def test_predictions_use_only_the_past(fitted: GruRul):
    X, _ = make_units(3, seed=5)
    full = fitted.predict(X)
    first_unit = X[:, 0] == X[0, 0]
    cut = int(first_unit.sum() * 0.6)
    part = fitted.predict(X[:cut])
    np.testing.assert_allclose(part, full[:cut], rtol=1e-5, atol=1e-4)
    # a unit's prediction does not depend on the other units predicted with it
    other = X[~first_unit]
    np.testing.assert_allclose(fitted.predict(other), full[~first_unit], rtol=1e-5, atol=1e-4)


def test_band_holds_roughly_the_stated_share(fitted: GruRul, held_out):
    X, y = held_out
    near = y <= HORIZON
    lo, hi = fitted.predict_interval(X, 0.8)
    assert (lo <= hi).all()
    assert 0.5 <= np.mean((y[near] >= lo[near]) & (y[near] <= hi[near])) <= 0.99
    with pytest.raises(ValueError, match="coverage"):
        fitted.predict_interval(X, 1.5)


def test_save_load_round_trip_without_pickle(fitted: GruRul, held_out, tmp_path: Path):
    X, _ = held_out
    save_model(fitted, tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as a:
        assert all(a[k].dtype != object for k in a.files)
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, GruRul)
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X), rtol=1e-6, atol=1e-5)
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    del manifest["params"]["weight_names"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="weight_names"):
        load_model(tmp_path / "m")
    manifest["params"]["weight_names"] = list(fitted.states[0])
    manifest["params"]["net"]["stop"] = "sometimes"
    (tmp_path / "m" / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="bad network config.*GruConfig.stop must be one of"):
        load_model(tmp_path / "m")


def test_fit_is_deterministic():
    X, y = make_units(9, seed=4)
    cfg = GruConfig(hidden=4, head=4, epochs=3, patience=3)
    a = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, seed=0, net=cfg).fit(X, y)
    b = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, seed=0, net=cfg).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.oof_, b.oof_)


def test_repeats_are_the_mean_of_single_runs_on_other_splits(tmp_path: Path):
    X, y = make_units(9, seed=4)
    cfg = GruConfig(hidden=4, head=4, epochs=3, patience=3)
    runs = [GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, seed=s, net=cfg).fit(X, y) for s in (5, 6)]
    both = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, seed=5, net=cfg, n_repeats=2).fit(X, y)
    assert len(both.states) == 6
    assert not np.allclose(runs[0].oof_, runs[1].oof_)  # the second split really differs
    np.testing.assert_allclose(both.oof_, (runs[0].oof_ + runs[1].oof_) / 2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        both.predict(X),
        np.clip((runs[0].predict(X) + runs[1].predict(X)) / 2, 0, HORIZON),
        rtol=1e-5,
        atol=1e-5,
    )
    save_model(both, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.n_repeats == 2 and len(loaded.states) == 6
    np.testing.assert_allclose(loaded.predict(X), both.predict(X), rtol=1e-6, atol=1e-5)


def test_input_noise_changes_training_and_stays_deterministic():
    X, y = make_units(9, seed=4)
    plain = GruConfig(hidden=4, head=4, epochs=3, patience=3)
    noisy = GruConfig(hidden=4, head=4, epochs=3, patience=3, input_noise=0.5)
    a = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, net=noisy).fit(X, y)
    b = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, net=noisy).fit(X, y)
    c = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, net=plain).fit(X, y)
    np.testing.assert_array_equal(a.oof_, b.oof_)
    assert not np.allclose(a.oof_, c.oof_)


def test_only_held_out_stopping_lets_held_out_targets_reach_their_own_predictions():
    """A fold's out-of-fold predictions must not change when only its units' targets do."""
    from factory_commons.ai.rul import unit_folds

    X, y = make_units(12, seed=4)
    fold0 = unit_folds(X[:, 0], 3, 0) == 0
    y2 = y.copy()
    y2[fold0] = 0.0  # other targets for the held-out units of fold 0 only
    for stop in ("held_out", "inner", "none"):
        cfg = GruConfig(hidden=4, head=4, epochs=12, patience=12, stop=stop)
        a = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, net=cfg).fit(X, y)
        b = GruRul(n_ops=1, cap=CAP, horizon=HORIZON, n_folds=3, net=cfg).fit(X, y2)
        same = np.array_equal(a.oof_[fold0], b.oof_[fold0])
        assert same == (stop != "held_out"), (stop, a.info["best_epochs"], b.info["best_epochs"])
        if stop == "none":  # the whole schedule, last weights
            assert a.info["best_epochs"] == [12, 12, 12]


def test_stop_mode_is_checked_and_old_files_map_to_it():
    with pytest.raises(ValueError, match="GruConfig.stop must be one of none, inner, held_out"):
        GruConfig(stop="best")
    old = {**GruConfig().to_json()}
    del old["stop"]
    assert GruConfig.from_json({**old, "inner_stop": True}).stop == "inner"
    assert GruConfig.from_json({**old, "inner_stop": False}).stop == "held_out"
    assert GruConfig.from_json(old).stop == "held_out"  # saved before inner_stop existed


def test_bad_input_is_rejected():
    X, y = make_units(6, seed=4)
    with pytest.raises(ValueError, match="one value per row"):
        GruRul(n_ops=1).fit(X, y[:-1])
    with pytest.raises(ValueError, match="not fitted"):
        GruRul(n_ops=1).predict(X)
    with pytest.raises(ValueError, match="cap"):
        GruRul(cap=200.0, horizon=150.0)
    with pytest.raises(ValueError, match="age_scale"):
        GruRul(age_scale=0.0)
    with pytest.raises(ValueError, match="n_repeats"):
        GruRul(n_repeats=0)
