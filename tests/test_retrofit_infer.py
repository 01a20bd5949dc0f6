"""Retrofit inference (factory_commons/retrofit/infer.py) on small generated current traces.

Each test makes a trace with known states (retrofit/traces.py) or by hand, infers the states
from the current alone and checks the balanced accuracy, the cycles or the behaviour asked for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from factory_commons.retrofit import CurrentModel, infer_states
from factory_commons.retrofit.traces import NONE, Disturbances, trace

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def balanced(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[truth == s] == s) for s in ("off", "idle", "running") if np.any(truth == s)]))


def cycles_found(inf, ts) -> int:
    return int(np.sum((inf.cycles > ts[0]) & (inf.cycles <= ts[-1])))


def true_cycles(cycle: np.ndarray) -> int:
    inc = np.diff(cycle)
    return int(inc[inc > 0].sum())


def test_lathe_with_drift_and_noise():
    rng = np.random.default_rng(1)
    ts, amps, state, cycle = trace(
        "lathe", START, 4 * 3600, rng, hz=1, disturb=Disturbances(drift=0.08, warmup=0.2, noise=0.05)
    )
    inf = infer_states(ts, amps)
    assert balanced(state, inf.sample_states(ts)) >= 0.95
    assert abs(cycles_found(inf, ts) - true_cycles(cycle)) <= max(2, 0.05 * true_cycles(cycle))
