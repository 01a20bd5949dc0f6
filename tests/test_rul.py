"""Remaining useful life: the model on generated degradation data, metrics, the C-MAPSS reader, the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from factory_commons.ai.base import load_model, save_model
from factory_commons.ai.cmapss import CmapssFormatError, read_rul, read_split
from factory_commons.ai.rul import GbmRul, phm08_score, rmse, unit_folds
from factory_commons.ai.rul_features import ConditionNormaliser, FeatureConfig, check_rows
from factory_commons.cli import app

R_EARLY = 60.0
FAST = {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 20}
SMALL_FEATURES = FeatureConfig(
    n_ops=1,
    ewm_spans=(5, 15),
    mean_windows=(5, 10),
    std_windows=(10,),
    slope_windows=(10, 30),
    baseline_rows=10,
)


def make_units(n_units: int, seed: int, truncate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rows (unit, cycle, op, 4 sensors) of engines that degrade to failure, and their true RUL.

    Each unit lives 60-160 cycles; a health index falls as (t/life)^2 and moves three sensors
    (one not at all: pure noise). The one setting switches between two operating conditions that
    shift every sensor by a fixed amount. With `truncate`, each unit is cut at a random cycle and
    its RUL counts to the (unseen) failure, as in a C-MAPSS test file.
    """
    rng = np.random.default_rng(seed)
    rows, ruls = [], []
    for u in range(1, n_units + 1):
        life = int(rng.integers(60, 161))
        seen = int(rng.integers(20, life)) if truncate else life
        t = np.arange(1, seen + 1)
        wear = (t / life) ** 2
        cond = rng.integers(0, 2, size=seen)
        offset = rng.normal(0, 0.3, size=4)  # unit-to-unit initial differences
        s = (
            np.column_stack([3 * wear, -2 * wear, 1.5 * wear, 0 * wear])
            + offset
            + rng.normal(0, 0.25, (seen, 4))
        )
        s += np.outer(cond, [5.0, -3.0, 8.0, 2.0])
        op = cond * 10.0 + rng.normal(0, 0.05, seen)
        rows.append(np.column_stack([np.full(seen, u), t, op, s]))
        ruls.append(life - t)
    return np.vstack(rows).astype(np.float64), np.concatenate(ruls).astype(np.float64)


@pytest.fixture(scope="module")
def fitted() -> GbmRul:
    X, y = make_units(40, seed=1)
    model = GbmRul(
        n_ops=1,
        r_early=R_EARLY,
        n_folds=4,
        seed=3,
        max_rounds=400,
        early_stopping=30,
        lgb_params=FAST,
        features=SMALL_FEATURES,
    )
    return model.fit(X, y)


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    return make_units(30, seed=2, truncate=True)


def test_model_learns_far_below_constant_baseline(fitted: GbmRul, held_out):
    X, y = held_out
    last = fitted.last_rows(X)
    target = np.minimum(y[last], R_EARLY)
    pred = fitted.predict(X)[last]
    # the best constant a model without signals could predict: the mean clipped training target
    Xtr, ytr = make_units(40, seed=1)
    baseline = rmse(np.full(len(target), np.minimum(ytr, R_EARLY).mean()), target)
    ours = rmse(pred, target)
    assert ours < 0.5 * baseline, (ours, baseline)
    assert fitted.info["conditions"] == 2  # the two operating conditions were found
    assert fitted.info["signals_kept"] == 4


def test_interval_covers_about_the_stated_share(fitted: GbmRul, held_out):
    X, y = held_out
    target = np.minimum(y, R_EARLY)
    for coverage in (0.5, 0.8, 0.9):
        lo, hi = fitted.predict_interval(X, coverage)
        share = np.mean((target >= lo) & (target <= hi))
        assert coverage - 0.12 <= share <= min(coverage + 0.12, 1.0), (coverage, share)
    lo50, hi50 = fitted.predict_interval(X, 0.5)
    lo90, hi90 = fitted.predict_interval(X, 0.9)
    assert (hi90 - lo90 >= hi50 - lo50 - 1e-9).all()
    with pytest.raises(ValueError, match="coverage"):
        fitted.predict_interval(X, 1.5)


def test_predictions_use_only_the_past(fitted: GbmRul):
    X, _ = make_units(3, seed=5)
    full = fitted.predict(X)
    cut = X[:, 1] <= 30  # each unit's first 30 cycles alone
    assert np.allclose(fitted.predict(X[cut]), full[cut])


def test_save_load_round_trip_without_pickle(fitted: GbmRul, held_out, tmp_path: Path):
    X, _ = held_out
    folder = save_model(fitted, tmp_path / "m")
    with np.load(folder / "arrays.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    manifest = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert manifest["method"] == "gbm_rul"
    loaded = load_model(folder)
    assert isinstance(loaded, GbmRul)
    assert np.array_equal(loaded.predict(X), fitted.predict(X))
    a, b = loaded.predict_interval(X, 0.8), fitted.predict_interval(X, 0.8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_fit_is_deterministic():
    X, y = make_units(12, seed=7)
    kw = dict(n_ops=1, r_early=R_EARLY, n_folds=3, seed=1, max_rounds=60, early_stopping=10, lgb_params=FAST)
    a = GbmRul(**kw, features=SMALL_FEATURES).fit(X, y).predict(X)
    b = GbmRul(**kw, features=SMALL_FEATURES).fit(X, y).predict(X)
    assert np.array_equal(a, b)


def test_folds_split_by_whole_units():
    units = np.repeat(np.arange(1, 11), 5)
    folds = unit_folds(units, 5, seed=0)
    for u in range(1, 11):
        assert len(set(folds[units == u])) == 1
    assert sorted(np.bincount(folds)) == [10] * 5
    with pytest.raises(ValueError, match="at least 5 units"):
        unit_folds(np.array([1, 1, 2]), 5, seed=0)


def test_bad_rows_are_rejected_with_row_number():
    X, y = make_units(5, seed=1)
    with pytest.raises(ValueError, match="row 3: rows must be sorted"):
        check_rows(np.delete(X, 2, axis=0)[[0, 1, 3, 2, 4]], 1)
    bad = X.copy()
    bad[4, 3] = np.nan
    with pytest.raises(ValueError, match="row 4, column 3"):
        check_rows(bad, 1)
    with pytest.raises(ValueError, match="one value per row"):
        GbmRul(n_ops=1).fit(X, y[:-1])
    with pytest.raises(ValueError, match="not fitted"):
        GbmRul(n_ops=1).predict(X)


def test_one_condition_when_settings_are_noise():
    rng = np.random.default_rng(0)
    ops = rng.normal(0, 1, (500, 2))
    norm = ConditionNormaliser().fit(ops, rng.normal(0, 1, (500, 3)))
    assert norm.n_conditions == 1
    six = np.repeat(rng.uniform(0, 40, (6, 2)), 100, axis=0) + rng.normal(0, 0.01, (600, 2))
    assert ConditionNormaliser().fit(six, rng.normal(0, 1, (600, 3))).n_conditions == 6


# -- metrics, worked by hand ------------------------------------------------------------------


def test_rmse_by_hand():
    # d = 10-13 = -3 and 20-16 = 4: sqrt((9 + 16) / 2) = sqrt(12.5) = 3.5355...
    assert rmse(np.array([10.0, 20.0]), np.array([13.0, 16.0])) == pytest.approx(3.5355339, abs=1e-6)
    assert rmse(np.array([5.0]), np.array([5.0])) == 0.0


def test_phm08_score_by_hand():
    # early by 3 (d = -3): exp(3/13) = exp(0.230769) = 1.259569, minus 1: 0.259569; late by 4 (d = 4): exp(4/10) - 1 = 0.491825
    assert phm08_score(np.array([10.0]), np.array([13.0])) == pytest.approx(0.259569, abs=1e-6)
    assert phm08_score(np.array([20.0]), np.array([16.0])) == pytest.approx(0.491825, abs=1e-6)
    assert phm08_score(np.array([10.0, 20.0]), np.array([13.0, 16.0])) == pytest.approx(
        0.751394, abs=1e-6
    )  # the sum
    # late costs more than early by the same amount; exact hit costs nothing
    assert phm08_score(np.array([30.0]), np.array([20.0])) > phm08_score(np.array([10.0]), np.array([20.0]))
    assert phm08_score(np.array([7.0]), np.array([7.0])) == 0.0


# -- the C-MAPSS reader ------------------------------------------------------------------------


def _line(unit: int, cycle: int) -> str:
    return f"{unit} {cycle} " + " ".join(f"{0.5 + k:.4f}" for k in range(24)) + "  "


def test_reader_reads_units_and_targets(tmp_path: Path):
    p = tmp_path / "train_FD009.txt"
    p.write_text("\n".join([_line(1, 1), _line(1, 2), _line(1, 3), _line(2, 1), _line(2, 2)]) + "\n")
    split = read_split(p)
    assert split.units.tolist() == [1, 2]
    assert split.rul().tolist() == [2, 1, 0, 1, 0]
    assert split.last_rows().tolist() == [2, 4]
    assert split.matrix().shape == (5, 26)


def test_reader_names_file_line_and_field(tmp_path: Path):
    p = tmp_path / "test_FD009.txt"
    p.write_text(_line(1, 1) + "\n" + _line(1, 2).replace("0.5000 ", "", 1) + "\n")
    with pytest.raises(CmapssFormatError, match=r"test_FD009.txt:2: expected 26 columns.*got 25"):
        read_split(p)
    p.write_text(_line(1, 1) + "\n" + _line(1, 2).replace("2.5000", "x2.5") + "\n")
    with pytest.raises(CmapssFormatError, match=r"test_FD009.txt:2: field 'op_setting_3' is not a number"):
        read_split(p)
    p.write_text(_line(1, 1) + "\n" + _line(1, 3) + "\n")
    with pytest.raises(CmapssFormatError, match=r"line 2: field 'cycle' must count"):
        read_split(p)
    with pytest.raises(CmapssFormatError, match="file not found"):
        read_split(tmp_path / "missing.txt")


def test_rul_file_errors(tmp_path: Path):
    p = tmp_path / "RUL_FD009.txt"
    p.write_text("112\n98\n")
    assert read_rul(p, n_units=2).tolist() == [112, 98]
    with pytest.raises(CmapssFormatError, match="2 RUL values for 3 test units"):
        read_rul(p, n_units=3)
    p.write_text("112\n-4\n")
    with pytest.raises(CmapssFormatError, match=r"RUL_FD009.txt:2: field 'rul' must be a non-negative"):
        read_rul(p)


# -- the product: `factory-commons ai train-rul` / `ai rul` on a simulated store ----------------

runner = CliRunner()


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory) -> Path:
    from factory_commons.collect.simulator import FactorySimulator
    from factory_commons.store import open_store

    path = tmp_path_factory.mktemp("rul") / "plant.duckdb"
    sim = FactorySimulator(
        seed=7, start=datetime(2026, 10, 5, tzinfo=ZoneInfo("Asia/Seoul")), days=21, signal_interval_s=600
    )
    with open_store(str(path)) as st:
        sim.write_to(st)
    return path


def test_cli_train_rul_and_rul(sim_store: Path, tmp_path: Path):
    model = tmp_path / "rul-model"
    r = runner.invoke(app, ["ai", "train-rul", "--store", str(sim_store), "--model", str(model)])
    assert r.exit_code == 0, r.output
    assert "runs to failure" in r.output and (model / "model.json").exists()
    r = runner.invoke(app, ["ai", "rul", "--store", str(sim_store), "--model", str(model)])
    assert r.exit_code == 0, r.output
    assert "press-01" in r.output and "cnc-01" in r.output and "RUL h" in r.output
    assert "more than" in r.output  # machines with no wear seen: a lower bound, not a capped number
    one = "acme/changwon/press/press-1/press-02"
    r = runner.invoke(app, ["ai", "rul", "--store", str(sim_store), "--model", str(model), "--machine", one])
    assert r.exit_code == 0, r.output
    assert "press-02" in r.output and "cnc-01" not in r.output


def test_cli_rul_needs_runs_to_failure(tmp_path: Path, sim_store: Path):
    r = runner.invoke(
        app,
        [
            "ai",
            "train-rul",
            "--store",
            str(sim_store),
            "--reasons",
            "no_such_reason",
            "--model",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2
    assert "needs at" in r.output and "least 5" in r.output
    r = runner.invoke(app, ["ai", "rul", "--store", str(sim_store), "--model", str(tmp_path / "none")])
    assert r.exit_code == 2 and "model.json is missing" in r.output


def test_labels_alternate_over_repeats_and_survive_saving(tmp_path: Path):
    X, y = make_units(16, seed=8)
    kw = dict(n_ops=1, n_folds=3, seed=1, max_rounds=80, early_stopping=10, lgb_params=FAST)
    model = GbmRul(
        **kw, r_early=R_EARLY, n_repeats=2, labels=((40.0, False), (R_EARLY, True)), features=SMALL_FEATURES
    ).fit(X, y)
    assert model.caps == [40.0] * 3 + [R_EARLY] * 3
    p = model.predict(X)
    assert (p >= 0).all() and (p <= R_EARLY).all()
    assert p.max() > 40.0  # the models learning the unclipped label go beyond the other cap
    loaded = load_model(save_model(model, tmp_path / "labels"))
    assert loaded.caps == model.caps and loaded.labels == model.labels
    assert np.array_equal(loaded.predict(X), p)
    with pytest.raises(ValueError, match="label cap"):
        GbmRul(n_ops=1, r_early=50.0, labels=((60.0, False),))


def test_inner_stop_keeps_held_out_targets_out_of_their_own_predictions(tmp_path: Path):
    """With inner_stop, a fold's out-of-fold predictions do not change when its units' targets do."""
    X, y = make_units(15, seed=10)
    fold0 = unit_folds(X[:, 0], 3, seed=1) == 0
    y2 = y.copy()
    y2[fold0] = y[fold0] * 1.5 + 20  # other targets for the held-out units of fold 0 only
    kw = dict(n_ops=1, r_early=R_EARLY, n_folds=3, seed=1, max_rounds=200, early_stopping=10, lgb_params=FAST)
    for inner in (False, True):
        a = GbmRul(**kw, inner_stop=inner, features=SMALL_FEATURES).fit(X, y)
        b = GbmRul(**kw, inner_stop=inner, features=SMALL_FEATURES).fit(X, y2)
        same = np.array_equal(a.oof_[fold0], b.oof_[fold0])
        # held-out early stopping lets those targets pick the rounds; the inner fifth does not
        assert same == inner, (inner, a.info["rounds"], b.info["rounds"])
    loaded = load_model(save_model(a, tmp_path / "inner"))
    assert loaded.inner_stop and np.array_equal(loaded.predict(X), a.predict(X))


def test_drop_beyond_leaves_far_rows_out():
    X, y = make_units(16, seed=9)
    kw = dict(n_ops=1, n_folds=3, seed=1, max_rounds=80, early_stopping=10, lgb_params=FAST)
    clip = GbmRul(**kw, r_early=40.0, features=SMALL_FEATURES).fit(X, y)
    drop = GbmRul(**kw, r_early=40.0, drop_beyond=True, features=SMALL_FEATURES).fit(X, y)
    healthy = y > 80  # far from failure: labelled 40 by the clipped model, never seen by the other
    assert clip.predict(X)[healthy].mean() > drop.predict(X)[healthy].mean()
    near = y <= 40
    assert rmse(drop.oof_[near], y[near]) < rmse(clip.oof_[near], y[near]) + 2.0
