"""Anomaly detection: detectors on generated data, save/load, online == batch, store, CLI, simulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from factory_commons.ai.anomaly import DETECTORS, causal_mean, make_detector
from factory_commons.ai.anomaly_alerts import OnlineDetector, alerts_from_frame
from factory_commons.ai.anomaly_store import (
    breakdowns_in_store,
    detect_machine,
    false_alerts,
    lead_times,
    load_models,
    train_machine,
)
from factory_commons.ai.base import ModelFileError, load_model, save_model
from factory_commons.cli import app
from factory_commons.collect.simulator import FactorySimulator, default_machines
from factory_commons.store.duckdb import DuckDBStore
from factory_commons.store.validate import BatchError

SIGNALS = ["load", "vibration", "temperature", "pressure"]
M = "acme/plant/area/line/m01"


def normal_rows(n: int, seed: int = 0) -> np.ndarray:
    """Correlated normal operation: load drives vibration and temperature."""
    rng = np.random.default_rng(seed)
    load = 50 + 5 * rng.standard_normal(n)
    vib = 0.02 * load + 0.1 * rng.standard_normal(n)
    temp = 40 + 0.1 * load + 0.5 * rng.standard_normal(n)
    pres = 3 + 0.05 * rng.standard_normal(n)
    return np.column_stack([load, vib, temp, pres])


def frame(X: np.ndarray, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(X), freq="60s", name="ts")
    return pd.DataFrame(X, index=idx, columns=SIGNALS)


@pytest.fixture(scope="module")
def shifted():
    """Normal rows, then 100 rows with vibration raised by 8 of its standard deviations."""
    X = normal_rows(700, seed=1)
    X[600:, 1] += 0.8
    return X


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detector_flags_shift_and_blames_the_shifted_signal(name, shifted):
    model = make_detector(name).fit(normal_rows(500), signals=SIGNALS)
    pred = model.predict(shifted)
    assert pred[620:].mean() > 0.95  # the shift is found (after the smoothing window fills)
    assert pred[:600].mean() < 0.05  # normal rows mostly pass
    contrib = model.contributions(shifted)
    np.testing.assert_allclose(contrib.sum(axis=1), 1.0, atol=1e-9)
    assert (contrib >= 0).all()
    v = SIGNALS.index("vibration")
    if name == "pca":  # a broken correlation smears over the correlated signals (load) in PCA
        assert (np.argsort(-contrib[620:], axis=1)[:, :2] == v).any(axis=1).all()
        assert contrib[620:, v].mean() > 1.5 * contrib[:600, v].mean()
    else:
        assert (contrib[620:].argmax(axis=1) == v).all()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_save_load_round_trip_without_pickle(name, tmp_path, shifted):
    model = make_detector(name).fit(frame(normal_rows(300)))
    folder = save_model(model, tmp_path / name)
    with np.load(folder / "arrays.npz", allow_pickle=False) as data:  # no object arrays inside
        assert all(data[k].dtype != object for k in data.files)
    back = load_model(folder)
    assert type(back) is type(model) and back.signals == SIGNALS
    np.testing.assert_allclose(back.score(shifted), model.score(shifted))
    assert back.threshold == model.threshold


def test_tampered_model_files_give_model_file_error(tmp_path):
    folder = save_model(make_detector("knn").fit(normal_rows(200), signals=SIGNALS), tmp_path / "m")
    manifest = json.loads((folder / "model.json").read_text())
    broken = {**manifest, "params": {**manifest["params"], "signals": ["only-one"]}}
    (folder / "model.json").write_text(json.dumps(broken))
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(folder)
    missing = {**manifest, "params": {k: v for k, v in manifest["params"].items() if k != "threshold"}}
    (folder / "model.json").write_text(json.dumps(missing))
    with pytest.raises(ModelFileError, match="'threshold' is missing"):
        load_model(folder)
    (folder / "model.json").write_text(json.dumps(manifest))
    np.savez(folder / "arrays.npz", mean=np.array([object()], dtype=object))  # needs pickle
    with pytest.raises(ModelFileError, match="without pickle"):
        load_model(folder)


def test_bad_training_input_is_named():
    X = normal_rows(100)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 8, temperature: value must be a finite number"):
        make_detector("zscore").fit(frame(X))
    with pytest.raises(ValueError, match="at least 20 training rows"):
        make_detector("zscore").fit(normal_rows(5))
    with pytest.raises(ValueError, match="unknown detector 'magic'"):
        make_detector("magic")
    model = make_detector("zscore").fit(normal_rows(100))
    with pytest.raises(ValueError, match="3 columns; the model was trained on 4"):
        model.score(normal_rows(10)[:, :3])


def test_causal_mean_matches_pandas_rolling():
    v = np.random.default_rng(3).random(50)
    np.testing.assert_allclose(causal_mean(v, 7), pd.Series(v).rolling(7, min_periods=1).mean())
    np.testing.assert_allclose(causal_mean(v[20:], 7, history=v[:20]), causal_mean(v, 7)[20:])


def test_online_equals_batch(shifted):
    model = make_detector("knn").fit(normal_rows(500), signals=SIGNALS)
    X = shifted.copy()
    X[300:305, 2] += 10  # a short blip as well as the sustained shift
    f = frame(X)
    batch = alerts_from_frame(model, f, M, "knn")
    online = OnlineDetector(model, M, "knn")
    scores, got = [], []
    for ts, row in zip(f.index, X, strict=True):
        alert = online.update(ts, dict(zip(SIGNALS, row, strict=True)))
        scores.append(online.score)
        if alert is not None:
            got.append(alert)
    np.testing.assert_allclose(scores, model.score(X))
    assert [a.ts for a in got] == [a.ts for a in batch]
    assert len(batch) >= 2 and batch[-1].ts >= f.index[600]
    assert "vibration" in batch[-1].message and "이상 감지 / anomaly detected" in batch[-1].message


def test_alerts_written_and_read_back():
    model = make_detector("zscore").fit(normal_rows(500), signals=SIGNALS)
    X = normal_rows(300, seed=5)
    X[200:, 0] += 40
    alerts = alerts_from_frame(model, frame(X), M, "zscore")
    assert alerts
    with DuckDBStore() as store:
        assert store.write(alerts)["anomaly"].written == len(alerts)
        assert store.write(alerts)["anomaly"].written == 0  # idempotent
        back = store.read("anomaly").to_pylist()
        assert len(back) == len(alerts)
        evidence = json.loads(back[-1]["evidence"])
        assert max(evidence, key=evidence.get) == "load"
        assert sum(evidence.values()) == pytest.approx(1.0, abs=1e-3)
        with pytest.raises(BatchError, match="row 1, field 'evidence'.*between 0 and 1"):
            store.write_table(
                "anomaly",
                [{"machine": M, "ts": datetime(2026, 1, 1), "detector": "x", "score": 1.0, "threshold": 0.5,
                  "evidence": '{"load": 3}'}],
            )  # fmt: skip


# -- the simulated plant --------------------------------------------------------------------------
MACHINES = ("cnc-01", "cnc-02", "cnc-03", "cnc-04", "cnc-05")
DAYS = 8  # breakdowns after drifts on cnc-01, cnc-02, cnc-03 on day 7 (seed 7); cnc-04/05 healthy


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    specs = [s for s in default_machines() if s.machine.path.rsplit("/", 1)[-1] in MACHINES]
    sim = FactorySimulator(seed=7, days=DAYS, specs=specs)
    path = tmp_path_factory.mktemp("plant") / "plant.duckdb"
    with DuckDBStore(path) as store:
        sim.write_to(store)
    return sim, path


def test_degradation_detected_before_breakdown(plant, tmp_path):
    sim, path = plant
    alerts, trained_to = [], None
    with DuckDBStore(path) as store:
        for m in sim.machines():
            model, _ = train_machine(store, m.path, tmp_path, train_days=3)
            trained_to = datetime.fromisoformat(model.meta["train_to"])
            alerts += detect_machine(store, m.path, model)
    report = lead_times(alerts, sim.breakdowns, since=trained_to)
    assert len(report) >= 3  # the seed gives drifting breakdowns after the training days
    for r in report:
        assert r.flagged, f"{r.machine} {r.reason_code} at {r.breakdown} not flagged"
        assert r.lead > timedelta(minutes=30)
    healthy = [a for a in false_alerts(alerts, sim.breakdowns) if a.machine.endswith(("cnc-04", "cnc-05"))]
    assert len(healthy) <= 2 * (DAYS - 3)  # at most about one false alert per healthy machine-day


def test_cli_train_and_detect(plant, tmp_path):
    sim, path = plant
    runner = CliRunner()
    machine = sim.machines()[0].path
    models = tmp_path / "models"
    r = runner.invoke(app, ["ai", "train", "--store", str(path), "-m", machine, "--model", str(models)])
    assert r.exit_code == 0, r.output
    assert "trained knn" in r.output
    assert load_models(models)[machine].meta["machine"] == machine
    r = runner.invoke(app, ["ai", "detect", "--store", str(path), "--model", str(models)])
    assert r.exit_code == 0, r.output
    assert "이상 감지 / anomalies" in r.output and "stored:" in r.output
    with DuckDBStore(path) as store:
        stored = store.read("anomaly", machines=[machine]).to_pylist()
        trained_to = datetime.fromisoformat(load_models(models)[machine].meta["train_to"])
        downs = breakdowns_in_store(store, [machine], trained_to)
    assert stored and all(json.loads(a["evidence"]) for a in stored)
    assert downs, "the test plant should break down after the training days"
    assert "warnings before breakdowns" in r.output
    assert "breakdowns warned of: " in " ".join(r.output.split())
    r = runner.invoke(app, ["ai", "detect", "--store", str(path), "--model", str(tmp_path / "none")])
    assert r.exit_code == 2 and "model folder not found" in " ".join(r.output.split())
    r = runner.invoke(
        app, ["ai", "train", "--store", str(path), "-m", "acme/x/y/z/nope", "--model", str(models)]
    )
    assert r.exit_code == 2 and "no signals" in " ".join(r.output.split())
