"""The sliding-window CNN RUL model on tiny generated data: learns, is causal, saves without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from test_rul import R_EARLY, make_units  # noqa: E402

from factory_commons.ai.base import ModelFileError, load_model, save_model  # noqa: E402
from factory_commons.ai.rul import rmse  # noqa: E402
from factory_commons.ai.rul_nn import CnnRul, NetConfig, windows  # noqa: E402

TINY = NetConfig(
    window=12,
    channels=8,
    kernel=3,
    layers=2,
    hidden=16,
    dropout=0.0,
    epochs=12,
    patience=4,
    batch=64,
    lr=3e-3,
)


@pytest.fixture(scope="module")
def fitted() -> CnnRul:
    X, y = make_units(24, seed=1)
    return CnnRul(n_ops=1, r_early=R_EARLY, n_folds=3, seed=3, net=TINY).fit(X, y)


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    return make_units(30, seed=2, truncate=True)


def test_learns_far_below_constant_baseline(fitted: CnnRul, held_out):
    X, y = held_out
    target = np.minimum(y, R_EARLY)
    p = fitted.predict(X)
    assert p.shape == (len(X),)
    assert (p >= 0).all() and (p <= R_EARLY).all()
    ours = rmse(p, target)
    const = rmse(np.full(len(target), target.mean()), target)
    assert ours < 0.6 * const, (ours, const)


def test_band_covers_roughly_the_stated_share(fitted: CnnRul, held_out):
    X, y = held_out
    lo, hi = fitted.predict_interval(X, 0.8)
    t = np.minimum(y, R_EARLY)
    assert (lo <= hi).all()
    assert 0.55 <= np.mean((t >= lo) & (t <= hi)) <= 0.98
    with pytest.raises(ValueError, match="coverage"):
        fitted.predict_interval(X, 1.5)


def test_predictions_use_only_the_past(fitted: CnnRul):
    X, _ = make_units(3, seed=5)
    full = fitted.predict(X)
    first_unit = X[:, 0] == X[0, 0]
    cut = int(first_unit.sum() * 0.6)
    part = fitted.predict(X[:cut])
    np.testing.assert_allclose(part, full[:cut], rtol=1e-5, atol=1e-4)


def test_windows_are_front_padded_per_unit():
    X = np.array([[1, 1, 0, 10.0], [1, 2, 0, 11.0], [1, 3, 0, 12.0], [2, 1, 0, 20.0], [2, 2, 0, 21.0]])
    w = windows(X, X[:, 3:], window=3, age_scale=1.0)
    assert w.shape == (5, 2, 3)
    np.testing.assert_array_equal(w[0, 0], [10, 10, 10])
    np.testing.assert_array_equal(w[2, 0], [10, 11, 12])
    np.testing.assert_array_equal(w[3, 0], [20, 20, 20])  # unit 2 never sees unit 1
    np.testing.assert_array_equal(w[4, 0], [20, 20, 21])
    np.testing.assert_array_equal(w[4, 1], [0, 0, 1])  # age channel


def test_save_load_round_trip_without_pickle(fitted: CnnRul, held_out, tmp_path: Path):
    X, _ = held_out
    save_model(fitted, tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as a:
        assert all(a[k].dtype != object for k in a.files)
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, CnnRul)
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X), rtol=1e-6, atol=1e-5)
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    del manifest["params"]["weight_names"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="weight_names"):
        load_model(tmp_path / "m")


def test_fit_is_deterministic():
    X, y = make_units(9, seed=4)
    cfg = NetConfig(window=8, channels=4, kernel=3, layers=1, hidden=8, epochs=3, patience=3, batch=64)
    a = CnnRul(n_ops=1, r_early=R_EARLY, n_folds=3, seed=0, net=cfg).fit(X, y).predict(X)
    b = CnnRul(n_ops=1, r_early=R_EARLY, n_folds=3, seed=0, net=cfg).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def test_bad_input_is_rejected():
    X, y = make_units(6, seed=4)
    with pytest.raises(ValueError, match="one value per row"):
        CnnRul(n_ops=1).fit(X, y[:-1])
    with pytest.raises(ValueError, match="not fitted"):
        CnnRul(n_ops=1).predict(X)
    with pytest.raises(ValueError, match="r_early"):
        CnnRul(r_early=0)


def test_drop_beyond_is_learned_and_saved(tmp_path: Path):
    X, y = make_units(12, seed=6)
    m = CnnRul(n_ops=1, r_early=40.0, n_folds=3, seed=1, net=TINY, drop_beyond=True).fit(X, y)
    assert m.oof_.shape == (len(X),)  # every row gets an out-of-fold prediction, dropped or not
    loaded = load_model(save_model(m, tmp_path / "drop"))
    assert isinstance(loaded, CnnRul) and loaded.drop_beyond
    np.testing.assert_allclose(loaded.predict(X), m.predict(X), atol=1e-5)
