"""Remaining useful life in the product: learn from a store's own run-to-failure histories.

A **run** is a machine's time from the end of one breakdown (or its first data) to the start of
the next. A run that ends in a breakdown whose reason is a wear-type failure (`reasons`) is a
run to failure: every hour of it gets the target "hours until that breakdown". Other runs (they
end in a sudden failure, or are still going) are censored: their failure is later than their
end, so only their hours at least `r_early` before the end have a known clipped target, r_early.
The machine's last, ongoing run is what `predict_store` estimates.

Signals: each machine's samples taken while it is running (its state at the sample time) are
averaged per hour, and every signal is scaled by that machine's own median and spread over its
whole history, so that machines of different sizes share one model. Rows are (run, hours since
the run started, scaled signals).

What the model needs, honestly: several runs to failure of the same kind of wear (at least
`MIN_FAILURES`, better dozens), with signals that change before the failure. Sudden failures
cannot be predicted from signals and are left out of the targets. In the demo plant, spindle,
bearing, hydraulic, clutch, torch-cooling and servo failures drift for 10-40 h before they strike
(collect/simulator.py), so R_early = 48 h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ..i18n import Catalog
from ..store.base import Store
from .rul import GbmRul
from .rul_features import FeatureConfig

AI = Catalog("ai")

R_EARLY_H = 48.0
MIN_FAILURES = 5
MIN_BREAKDOWN_MIN = 5.0  # shorter unplanned stops are micro-stops, not breakdowns
STEP_H = 1.0
PRODUCT_FEATURES = FeatureConfig(
    n_ops=0,
    ewm_spans=(3, 8, 24),
    mean_windows=(3, 6, 12, 24),
    std_windows=(6, 24),
    slope_windows=(6, 12, 24),
    baseline_rows=8,
    recent_rows=4,
)


def demo_wear_reasons() -> list[str]:
    """Reason codes of the demo plant's failures that drift the signals first (collect/simulator.py)."""
    from ..collect.simulator import LINES

    return sorted({m.code for line in LINES for m in line.modes if m.drifts})


@dataclass
class MachineRows:
    """One machine's hourly rows: run index, run start, hour end time, hours since run start, signals."""

    machine: str
    signals: list[str]
    run: np.ndarray
    t_end: np.ndarray  # UTC epoch seconds of each hour's end
    hours: np.ndarray
    values: np.ndarray
    run_end: list[float]  # per run: epoch seconds of its end (breakdown start or last data)
    run_failed: list[bool]  # per run: ended in a wear-type breakdown


def _epoch(col: pd.Series) -> np.ndarray:
    s = pd.to_datetime(col, utc=True)
    return (s - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def machine_rows(store: Store, machine: str, reasons: set[str], step_h: float = STEP_H) -> MachineRows | None:
    """Hourly running-signal rows of one machine, cut into runs at breakdowns; None without data."""
    states = store.read("state", machines=[machine]).to_pandas()
    sig = store.read("signal", machines=[machine]).to_pandas()
    if sig.empty or states.empty:
        return None
    st_t = _epoch(states["ts"])
    st = states["state"].to_numpy()
    reason = states["reason_code"].to_numpy()
    nxt = np.append(st_t[1:], np.inf)
    down = (st == "unplanned_down") & (nxt - st_t >= MIN_BREAKDOWN_MIN * 60)
    b_start, b_end = st_t[down], nxt[down]
    b_fail = np.array([r in reasons for r in reason[down]], dtype=bool)
    sig_t = _epoch(sig["ts"])
    idx = np.searchsorted(st_t, sig_t, side="right") - 1
    running = (idx >= 0) & (st[np.maximum(idx, 0)] == "running")
    sig = sig.assign(t=sig_t)[running]
    if sig.empty:
        return None
    step = step_h * 3600.0
    sig["bucket"] = np.floor(sig["t"] / step).astype(np.int64)
    wide = sig.pivot_table(index="bucket", columns="name", values="value", aggfunc="mean").sort_index()
    wide = wide.dropna()
    if wide.empty:
        return None
    names = [str(c) for c in wide.columns]
    v = wide.to_numpy(dtype=np.float64)
    med = np.median(v, axis=0)
    spread = np.quantile(v, 0.75, axis=0) - np.quantile(v, 0.25, axis=0)
    spread = np.where(spread > 1e-9, spread, np.maximum(np.abs(med) * 0.01, 1e-6))
    v = (v - med) / spread
    t_end = (wide.index.to_numpy(dtype=np.float64) + 1) * step
    # run k: after breakdown k-1 has ended and before breakdown k starts
    run = np.searchsorted(b_start, t_end - step / 2, side="right")
    inside = np.zeros(len(t_end), dtype=bool)
    for s, e in zip(b_start, b_end, strict=True):
        inside |= (t_end - step / 2 >= s) & (t_end - step / 2 < e)
    keep = ~inside
    run, t_end, v = run[keep], t_end[keep], v[keep]
    last_t = float(sig_t.max())
    run_start = np.concatenate([[-np.inf], b_end])
    starts = np.where(np.isfinite(run_start[run]), run_start[run], np.nan)
    first_of_run = pd.Series(t_end).groupby(run).transform("min").to_numpy() - step
    hours = (t_end - np.where(np.isnan(starts), first_of_run, starts)) / 3600.0
    n_runs = len(b_start) + 1
    run_end = [float(b_start[k]) if k < len(b_start) else last_t for k in range(n_runs)]
    run_failed = [bool(b_fail[k]) if k < len(b_start) else False for k in range(n_runs)]
    return MachineRows(machine, names, run, t_end, hours, v, run_end, run_failed)


def training_rows(
    per_machine: list[MachineRows], r_early: float
) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """Rows (unit, hours, signals) and targets from every run; number of runs to failure."""
    names = per_machine[0].signals if per_machine else []
    Xs, ys, unit, failures = [], [], 0, 0
    for mr in per_machine:
        if mr.signals != names:
            raise ValueError(
                f"{mr.machine}: signals {mr.signals} differ from {per_machine[0].machine}'s {names}"
            )
        for k in np.unique(mr.run):
            sel = mr.run == k
            left_h = (mr.run_end[k] - mr.t_end[sel]) / 3600.0
            if mr.run_failed[k]:
                y, use = np.maximum(left_h, 0.0), np.ones(sel.sum(), dtype=bool)
                failures += 1
            else:  # censored: only hours at least r_early before the end have a known target
                use = left_h >= r_early
                y = np.full(sel.sum(), r_early)
            if not use.any():
                continue
            unit += 1
            Xs.append(np.column_stack([np.full(use.sum(), unit), mr.hours[sel][use], mr.values[sel][use]]))
            ys.append(y[use])
    if not Xs:
        return np.zeros((0, 2 + len(names))), np.zeros(0), 0, names
    return np.vstack(Xs), np.concatenate(ys), failures, names


def train_store(
    store: Store,
    machines: list[str] | None = None,
    reasons: list[str] | None = None,
    r_early: float = R_EARLY_H,
    seed: int = 0,
) -> GbmRul:
    """Fit a GbmRul on the store's run-to-failure histories (hours); raises ValueError if too few."""
    paths = machines or [m.path for m in store.machines()]
    wear = set(reasons if reasons is not None else demo_wear_reasons())
    per = [mr for p in paths if (mr := machine_rows(store, p, wear)) is not None]
    if not per:
        raise ValueError("no running-signal data in the store for these machines")
    X, y, failures, names = training_rows(per, r_early)
    if failures < MIN_FAILURES:
        raise ValueError(
            " / ".join(AI.pair("err_few_failures")[::-1]).format(  # English first, as it always was
                failures=failures, reasons=sorted(wear), least=MIN_FAILURES
            )
        )
    model = GbmRul(
        n_ops=0,
        r_early=r_early,
        seed=seed,
        features=PRODUCT_FEATURES,
        lgb_params={"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20},
    )
    model.fit(X, y)
    model.info["store"] = {"signals": names, "reasons": sorted(wear), "step_h": STEP_H, "failures": failures}
    return model


@dataclass(frozen=True)
class RulEstimate:
    machine: str
    at: datetime  # end of the last hour with running data
    run_hours: float  # hours since the last breakdown ended (or since the first data)
    rul_h: float
    low_h: float
    high_h: float
    r_early: float
    # the model sees no wear: the honest answer is "more than low_h" (high_h is then infinite)
    open_ended: bool = False

    @property
    def wearing(self) -> bool:
        """True when the estimate is below R_early: the signals show wear."""
        return not self.open_ended and self.rul_h < self.r_early * 0.9


def predict_store(
    store: Store, model: GbmRul, machines: list[str] | None = None, coverage: float = 0.8
) -> list[RulEstimate]:
    """RUL in hours (with a band) for each machine's ongoing run, at its last running hour."""
    meta = model.info.get("store")
    if not meta:
        raise ValueError("this model was not trained on a store (no 'store' section); use `ai train-rul`")
    paths = machines or [m.path for m in store.machines()]
    out = []
    for p in paths:
        mr = machine_rows(store, p, set(meta["reasons"]), float(meta["step_h"]))
        if mr is None:
            continue
        if mr.signals != meta["signals"]:
            raise ValueError(f"{p}: signals {mr.signals} differ from the model's {meta['signals']}")
        last = mr.run == mr.run.max()
        if mr.run.max() != len(mr.run_end) - 1:  # the machine is down now or has no hour since
            continue
        X = np.column_stack([np.zeros(last.sum()), mr.hours[last], mr.values[last]])
        p_all, wear, _ = model.predict_parts(X)
        excess = model.excess_variance(X)[-1:]
        lo, hi = model.interval_around(p_all[-1:], coverage, excess)  # narrowed as predict_interval
        out.append(
            RulEstimate(
                machine=p,
                at=datetime.fromtimestamp(float(mr.t_end[last][-1]), UTC),
                run_hours=float(mr.hours[last][-1]),
                rul_h=float(p_all[-1]),
                low_h=float(lo[0]),
                high_h=float(hi[0]),
                r_early=model.r_early,
                open_ended=bool(model.open_ended(wear[-1:])[0]),
            )
        )
    return out
