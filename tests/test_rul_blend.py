"""The GbmRul + GruRul blend on tiny generated data: weight from held-out units, saves without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from test_rul import SMALL_FEATURES, make_units  # noqa: E402
from test_rul_gru import TINY  # noqa: E402

from factory_commons.ai.base import ModelFileError, load_model, save_model  # noqa: E402
from factory_commons.ai.rul import rmse  # noqa: E402
from factory_commons.ai.rul_blend import BlendRul, choose_weight  # noqa: E402

CAP, HORIZON = 40.0, 50.0


@pytest.fixture(scope="module")
def fitted() -> BlendRul:
    X, y = make_units(24, seed=1)
    gbm = {"features": SMALL_FEATURES, "max_rounds": 300, "early_stopping": 30}
    return BlendRul(
        n_ops=1,
        cap=CAP,
        horizon=HORIZON,
        seed=3,
        n_folds=3,
        n_repeats=2,
        gru_repeats=1,
        net=TINY,
        gbm_params=gbm,
    ).fit(X, y)


def test_choose_weight_finds_the_better_mix():
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 100, 2000)
    a = y + rng.normal(0, 5, len(y))
    b = y + rng.normal(0, 10, len(y))
    w, err = choose_weight(a, b, y, horizon=150)
    assert w == pytest.approx(0.8, abs=0.1)  # independent errors: w = 1/25 / (1/25 + 1/100) = 0.8
    assert err < rmse(a, y)
    assert choose_weight(b, a, y, 150)[0] == pytest.approx(1 - w, abs=0.1)
    with pytest.raises(ValueError, match="no training row"):
        choose_weight(a, b, y, horizon=-1)


def test_blend_is_the_weighted_mean_and_learns(fitted: BlendRul):
    X, y = make_units(30, seed=2, truncate=True)
    w = fitted.weight
    assert 0.0 <= w <= 1.0
    p = fitted.predict(X)
    both = w * fitted.gbm.predict(X) + (1 - w) * fitted.gru.predict(X)
    np.testing.assert_allclose(p, np.clip(both, 0, HORIZON))
    near = y <= HORIZON
    assert rmse(p[near], y[near]) < 0.6 * rmse(np.full(near.sum(), y[near].mean()), y[near])
    # the weight is the best on the grid for the two models' out-of-fold predictions
    Xt, yt = make_units(24, seed=1)
    sel = yt <= HORIZON
    err = rmse(fitted.oof_[sel], yt[sel])
    assert err == pytest.approx(fitted.info["oof_rmse_horizon"])
    for other in {0.0, 1.0, max(w - 0.05, 0.0), min(w + 0.05, 1.0)}:
        mixed = other * fitted.gbm.oof_ + (1 - other) * fitted.gru.oof_
        assert err <= rmse(mixed[sel], yt[sel]) + 1e-12
    # both models use the two labels: the GBM's repeats alternate the cap and the horizon
    assert sorted(set(fitted.gbm.caps)) == [CAP, HORIZON]
    assert fitted.gru.cap == CAP and fitted.gru.horizon == HORIZON
    lo, hi = fitted.predict_interval(X, 0.8)
    assert (lo <= hi).all()
    assert fitted.info["weight_gbm"] == w


def test_save_load_round_trip_without_pickle(fitted: BlendRul, tmp_path: Path):
    X, _ = make_units(5, seed=4, truncate=True)
    folder = save_model(fitted, tmp_path / "blend")
    manifest = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert manifest["method"] == "blend_rul"
    assert manifest["params"]["weight"] == fitted.weight
    with np.load(folder / "arrays.npz", allow_pickle=False) as data:
        assert any(k.startswith("gbm.") for k in data.files)
        assert any(k.startswith("gru.") for k in data.files)
    loaded = load_model(folder)
    assert isinstance(loaded, BlendRul)
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X), atol=1e-5)
    lo1, hi1 = loaded.predict_interval(X)
    lo2, hi2 = fitted.predict_interval(X)
    np.testing.assert_allclose(lo1, lo2, atol=1e-5)
    np.testing.assert_allclose(hi1, hi2, atol=1e-5)
    old = json.loads(json.dumps(manifest))
    old["params"]["cnn"] = old["params"].pop("gru")  # the layout of the GbmRul + CnnRul version
    (folder / "model.json").write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(ModelFileError, match="older version.*train it again"):
        load_model(folder)
    del manifest["params"]["weight"]
    (folder / "model.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelFileError, match="weight"):
        load_model(folder)
