"""Remaining useful life from degrading signals: windowed features and a LightGBM ensemble.

`GbmRul` takes rows `unit, time, op_1..op_k, signal_1..signal_m` (sorted by unit and time; see
rul_features.py) and predicts, for every row, the remaining life in the unit of `time` (cycles,
hours) from that unit's history up to the row.

How it learns, and what it promises:

- Targets are clipped piece-wise linear: min(true RUL, `r_early`). Early in life the signals do
  not show how far away the failure is, so the model predicts at most `r_early` (C-MAPSS
  practice: R_early = 125-130 cycles; state it with every figure). With `drop_beyond`, rows
  further than `r_early` from failure are left out of training instead of being labelled
  `r_early` (the model then learns the true RUL of the rows it is evaluated on).
- `labels` gives one (cap, drop) pair per repeat, in turn: e.g. ((130, False), (150, True))
  trains half the fold models on min(RUL, 130) and half on the true RUL of rows at most 150
  from failure; the mean of the two kinds was better on held-out C-MAPSS units than either
  alone (bench/cmapss.py, docs/ai.md). Each model's prediction is clipped to its own cap.
- Units (engines, runs between repairs) are split into `n_folds` groups by a seeded shuffle.
  One LightGBM model per fold is trained on the other folds' units and early-stopped on its
  own held-out units; the point estimate is the mean of the fold models. Nothing else is
  used for stopping or tuning, so an evaluation file stays unseen.
- With `life_repeats` > 0, further fold models learn the true remaining life of every row,
  not clipped ("life" models). Early in life, where the signals show no wear, the clipped
  models can only say "at least the cap"; the life models give the expected remaining life of
  a unit of that age and history, which is what a unit cut early (a test file, a machine early
  in its run) needs. The point estimate is (1 - w) x clipped + w x life, with one weight w per
  bin of the clipped estimate, chosen on the out-of-fold predictions of the training units
  (`gate_bins` bins, w on a 0.05 grid): near failure the clipped models win, early in life
  the life models. The life models need uncensored targets: runs that ended in the failure.
- `open_ended` says where the clipped models see no wear (their estimate is at least 90% of
  their largest value): the honest answer there is "more than N", N being the band's lower
  bound, and the band is wide.
- The band comes from the out-of-fold residuals (each row predicted by the model that did not
  see its unit), grouped into bins of the predicted value, because errors grow with the
  predicted life: the interval for coverage c is the prediction plus the (1-c)/2 and (1+c)/2
  quantiles of its bin's residuals (split-conformal style, per bin: Mondrian conformal, so
  the coverage holds within each bin whatever the share of early and late rows in the data
  predicted). With life models it covers the true remaining life; without, min(RUL, r_early),
  and an upper bound that reaches r_early is open (infinite): "more than that".

Metrics (standard C-MAPSS protocol, Saxena et al. 2008): `rmse` and the PHM08 `phm08_score`.
"""

from __future__ import annotations

import time as _time
from typing import Any, Self

import numpy as np

from .base import RulModel, register
from .rul_features import ConditionNormaliser, FeatureConfig, build_features, check_rows, normalise

DEFAULT_LGB: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.6,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "num_threads": 1,  # on a shared 2-core PC one thread was 4-10x faster than two (OpenMP waits)
    "max_bin": 63,
    "deterministic": True,
    "force_row_wise": True,
}


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sqrt(np.mean(d**2)))


def phm08_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 scoring function: sum of exp(-d/13)-1 for early (d<0), exp(d/10)-1 for late, d = pred - true."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def _ridge(z: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Intercept and weights of a ridge regression of y on z (the linear health index)."""
    a = np.column_stack([np.ones(len(z)), z])
    reg = alpha * np.eye(a.shape[1])
    reg[0, 0] = 0.0
    return np.linalg.solve(a.T @ a + reg, a.T @ y)


def unit_folds(units: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per row: whole units are assigned to folds by a seeded shuffle."""
    uniq = np.unique(units)
    if len(uniq) < n_folds:
        raise ValueError(f"need at least {n_folds} units (one per validation fold), got {len(uniq)}")
    perm = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = np.empty(len(uniq), dtype=np.int64)
    fold_of[perm] = np.arange(len(uniq)) % n_folds
    return fold_of[np.searchsorted(uniq, units)]


def stop_units(units: np.ndarray, seed: int) -> np.ndarray:
    """A seeded fifth (at least one) of a fold's training `units`, held back to pick when to stop.

    With `inner_stop`, GbmRul and GruRul early-stop on these instead of on the fold's held-out
    units, so the out-of-fold predictions play no part in choosing the rounds or the epoch.
    """
    pick = np.random.default_rng(seed).permutation(len(units))
    return units[pick[: max(1, len(units) // 5)]]


def check_target(X: np.ndarray, y: np.ndarray | None, who: str) -> np.ndarray:
    """The true remaining life per row of X, as float64; a clear error if missing or bad."""
    if y is None:
        raise ValueError(f"{who} needs the true remaining life y of every row")
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(X),):
        raise ValueError(f"y must have one value per row: {len(X)} rows, y has shape {y.shape}")
    if not np.isfinite(y).all() or (y < 0).any():
        raise ValueError(
            f"row {int(np.flatnonzero(~(np.isfinite(y) & (y >= 0)))[0])}: y must be finite and >= 0"
        )
    return y


OPEN_SHARE = 0.9  # clipped estimate at least this share of its largest value: "no wear seen"
GATE_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)


def choose_gate(
    wear: np.ndarray, life: np.ndarray, y: np.ndarray, n_bins: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges of the clipped estimate and, per bin, the weight w of the life estimate in
    (1 - w) x wear + w x life with the lowest (row-`weights`) squared error against y (out-of-fold
    rows)."""
    wt = np.ones(len(wear)) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.unique(weighted_quantile(wear, np.linspace(0, 1, n_bins + 1)[1:-1], weights))
    b = np.searchsorted(edges, wear, side="right")
    weights_out = np.zeros(len(edges) + 1)
    for i in range(len(edges) + 1):
        sel = (b == i) & (wt > 0)
        if sel.any():
            errs = [
                float(np.sum(wt[sel] * ((1 - w) * wear[sel] + w * life[sel] - y[sel]) ** 2))
                for w in GATE_GRID
            ]
            weights_out[i] = GATE_GRID[int(np.argmin(errs))]
    return edges, weights_out


def weighted_quantile(x: np.ndarray, q: np.ndarray | float, weights: np.ndarray | None = None) -> np.ndarray:
    """Quantiles q of x, each value counted with its weight (np.quantile's 'linear' without them)."""
    x = np.asarray(x, dtype=np.float64)
    if weights is None:
        return np.quantile(x, q)
    w = np.asarray(weights, dtype=np.float64)
    keep = w > 0
    x, w = x[keep], w[keep]
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cum = np.cumsum(w)
    centre = (cum - 0.5 * w) / cum[-1]  # each value at the middle of its weight
    return np.interp(q, centre, x)


def gate_mix(wear: np.ndarray, life: np.ndarray, edges: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(1 - w) x wear + w x life, w by the bin of the clipped estimate (`choose_gate`)."""
    w = weights[np.searchsorted(edges, wear, side="right")]
    return (1 - w) * wear + w * life


class ResidualBand:
    """Uncertainty band from out-of-fold residuals, binned by the predicted value.

    Errors grow with the predicted life, so the residuals (target - prediction) of rows predicted
    by a model that did not see their unit are grouped into `n_bins` bins of the prediction; the
    interval for coverage c is the prediction plus the (1-c)/2 and (1+c)/2 quantiles of its bin.
    """

    def __init__(self, edges: np.ndarray | None = None, residuals: list[np.ndarray] | None = None):
        self.edges = np.zeros(0) if edges is None else np.asarray(edges, dtype=np.float64)
        self.residuals = residuals or [np.zeros(1)]

    @classmethod
    def fit(
        cls, pred: np.ndarray, target: np.ndarray, n_bins: int, seed: int, weights: np.ndarray | None = None
    ) -> ResidualBand:
        """Bins at quantiles of `pred` and each bin's residuals; with row `weights` (a validation
        cut that looks like the units to predict) the bins and residuals are weighted, each bin's
        residuals kept as 2,000 weighted quantiles."""
        qs = np.linspace(0, 1, n_bins + 1)[1:-1]
        edges = np.unique(weighted_quantile(pred, qs, weights))
        b = np.searchsorted(edges, pred, side="right")
        res = target - pred
        rng = np.random.default_rng(seed)
        residuals = []
        for i in range(len(edges) + 1):
            sel = b == i
            if weights is not None:
                sel &= np.asarray(weights) > 0
                r = (
                    weighted_quantile(res[sel], (np.arange(2000) + 0.5) / 2000, np.asarray(weights)[sel])
                    if sel.any()
                    else res[sel]
                )
            else:
                r = res[sel]
            if len(r) > 5000:  # keep the saved model small; quantiles barely move
                r = rng.choice(r, 5000, replace=False)
            residuals.append(np.sort(r) if len(r) else np.zeros(1))
        return cls(edges, residuals)

    def interval(
        self, p: np.ndarray, coverage: float, r_early: float, excess: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The band around predictions p. `excess` (per prediction): how much more variance the
        residuals it was fitted on carry than p's own, e.g. an out-of-fold prediction of few fold
        models against the mean of all of them; each bin's spread around its median is narrowed to
        match (to no less than half its width)."""
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be between 0 and 1, got {coverage}")
        b = np.searchsorted(self.edges, p, side="right")
        lo, hi = np.empty(len(p)), np.empty(len(p))
        a = (1 - coverage) / 2
        for i, r in enumerate(self.residuals):
            sel = b == i
            if sel.any():
                med, q_lo, q_hi = np.quantile(r, [0.5, a, 1 - a])
                scale = np.ones(int(sel.sum()))
                if excess is not None and float(np.var(r)) > 0:
                    scale = np.sqrt(np.clip(1.0 - np.asarray(excess)[sel] / float(np.var(r)), 0.25, 1.0))
                lo[sel] = p[sel] + med + (q_lo - med) * scale
                hi[sel] = p[sel] + med + (q_hi - med) * scale
        return np.clip(lo, 0.0, r_early), np.clip(hi, 0.0, r_early)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"bin_edges": self.edges}
        out.update({f"residuals_{i}": r for i, r in enumerate(self.residuals)})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ResidualBand:
        edges = np.asarray(arrays["bin_edges"], dtype=np.float64)
        return cls(
            edges, [np.asarray(arrays[f"residuals_{i}"], dtype=np.float64) for i in range(len(edges) + 1)]
        )


@register("gbm_rul")
class GbmRul(RulModel):
    """Windowed features + LightGBM fold ensemble + binned out-of-fold residual band."""

    def __init__(
        self,
        n_ops: int = 0,
        r_early: float = 125.0,
        n_folds: int = 5,
        seed: int = 0,
        max_rounds: int = 4000,
        early_stopping: int = 100,
        n_bins: int = 5,
        n_repeats: int = 1,
        health_index: bool = True,
        drop_beyond: bool = False,
        labels: tuple[tuple[float, bool], ...] | None = None,
        lgb_params: dict[str, Any] | None = None,
        features: FeatureConfig | None = None,
        inner_stop: bool = False,
        life_repeats: int = 0,
        gate_bins: int = 8,
    ):
        if r_early <= 0:
            raise ValueError(f"r_early must be positive, got {r_early}")
        # labels: (cap, drop) per repeat, in turn; default: one, (r_early, drop_beyond)
        labels = tuple((float(c), bool(d)) for c, d in (labels or ((r_early, drop_beyond),)))
        if any(not 0 < c <= r_early for c, _ in labels):
            raise ValueError(f"each label cap must be in (0, r_early={r_early:g}], got {labels}")
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        self.r_early = float(r_early)
        self.n_folds = int(n_folds)
        self.seed = int(seed)
        self.max_rounds = int(max_rounds)
        self.early_stopping = int(early_stopping)
        self.n_bins = int(n_bins)
        self.n_repeats = int(n_repeats)
        self.health_index = bool(health_index)
        self.drop_beyond = bool(drop_beyond)
        self.labels = labels
        # early-stop each fold model on a seeded fifth of its own training units instead of the
        # fold's held-out units, so the out-of-fold predictions did not pick the rounds
        self.inner_stop = bool(inner_stop)
        self.caps: list[float] = []  # per booster: the cap of the label it learned
        self.life_repeats = int(life_repeats)  # seeded fold splits of models on the true RUL
        self.gate_bins = int(gate_bins)
        self.life_boosters: list[Any] = []
        self.life_hi_weights: list[np.ndarray] = []
        self.gate_edges = np.zeros(0)
        self.gate_weights = np.zeros(1)
        self.lgb_params = {**DEFAULT_LGB, **(lgb_params or {})}
        self.features = features or FeatureConfig(n_ops=n_ops)
        if features is not None and features.n_ops != n_ops and n_ops:
            raise ValueError(f"n_ops={n_ops} disagrees with features.n_ops={features.n_ops}")
        self.norm: ConditionNormaliser | None = None
        self.boosters: list[Any] = []
        self.hi_weights: list[np.ndarray] = []
        self.bin_edges = np.zeros(0)
        self.residuals: list[np.ndarray] = []
        self.info: dict[str, Any] = {}

    # -- learning ----------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Self:
        """Learn from rows X (unit, time, settings, signals) and their true remaining life y."""
        import lightgbm as lgb

        k = self.features.n_ops
        X = check_rows(X, k)
        y = check_target(X, y, "GbmRul")
        t0 = _time.perf_counter()
        self.norm = ConditionNormaliser().fit(X[:, 2 : 2 + k], X[:, 2 + k :], seed=self.seed)
        F = build_features(X, self.norm, self.features)
        _, z = normalise(X, self.norm, self.features)
        oof = np.zeros(len(X))
        self.boosters, self.hi_weights, self.caps, rounds = [], [], [], []
        for rep in range(self.n_repeats):  # each repeat: another seeded split of the units into folds
            folds = unit_folds(X[:, 0], self.n_folds, self.seed + rep)
            # this repeat's label: min(RUL, cap); with drop, rows further than cap from failure
            # are left out of its training and early stopping instead of being labelled cap
            cap, drop = self.labels[rep % len(self.labels)]
            target = np.minimum(y, cap)
            use = y <= cap if drop else np.ones(len(X), dtype=bool)
            for f in range(self.n_folds):
                held = folds == f
                tr, va = (folds != f) & use, held & use
                if self.inner_stop:
                    inner = np.isin(
                        X[:, 0], stop_units(np.unique(X[folds != f, 0]), self.seed + 101 * f + 7 * rep)
                    )
                    tr, va = (folds != f) & ~inner & use, (folds != f) & inner & use
                if self.health_index:
                    self.hi_weights.append(_ridge(z[tr], target[tr]))
                Ff = self._with_hi(X, F, z, len(self.boosters))
                params = {**self.lgb_params, "seed": self.seed + 101 * f + 7 * rep}
                dtrain = lgb.Dataset(Ff[tr], target[tr], params={"max_bin": params.get("max_bin", 255)})
                booster = lgb.train(
                    params,
                    dtrain,
                    num_boost_round=self.max_rounds,
                    valid_sets=[lgb.Dataset(Ff[va], target[va], reference=dtrain)],
                    callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
                )
                p = booster.predict(Ff[held], num_iteration=booster.best_iteration)
                oof[held] += np.clip(p, 0, cap) / self.n_repeats
                rounds.append(int(booster.best_iteration))
                self.boosters.append(booster)
                self.caps.append(cap)
        self.oof_wear_ = oof.copy()
        self.life_boosters, self.life_hi_weights = [], []
        if self.life_repeats:
            life = self._fit_life(lgb, X, y, F, z, rounds)
            self.gate_edges, self.gate_weights = choose_gate(oof, life, y, self.gate_bins)
            oof = gate_mix(oof, life, self.gate_edges, self.gate_weights)
            target, use = y, np.ones(len(X), dtype=bool)  # the band covers the true RUL
        else:
            # the band covers min(RUL, r_early); rows beyond r_early only where no label drops them
            target = np.minimum(y, self.r_early)
            use = y <= self.r_early if any(d for _, d in self.labels) else np.ones(len(X), dtype=bool)
        self._calibrate(oof[use], target[use])
        self.info = {
            "rows": int(len(X)),
            "units": int(len(np.unique(X[:, 0]))),
            "conditions": int(self.norm.n_conditions),
            "signals_kept": int(self.norm.keep.sum()),
            "features": int(Ff.shape[1]),
            "rounds": rounds,
            "oof_rmse_clipped": rmse(
                np.minimum(oof[use], self.r_early), np.minimum(target[use], self.r_early)
            ),
            "oof_rmse": rmse(oof[use], target[use]),
            "train_seconds": round(_time.perf_counter() - t0, 2),
        }
        self.oof_ = oof  # out-of-fold predictions of the training rows (not saved)
        return self

    def _fit_life(
        self, lgb: Any, X: np.ndarray, y: np.ndarray, F: np.ndarray, z: np.ndarray, rounds: list
    ) -> np.ndarray:
        """Fold models on the true remaining life of every row; their out-of-fold predictions."""
        oof = np.zeros(len(X))
        for rep in range(self.life_repeats):  # other seeded splits than the clipped models'
            folds = unit_folds(X[:, 0], self.n_folds, self.seed + self.n_repeats + rep)
            for f in range(self.n_folds):
                held = folds == f
                tr, va = ~held, held
                if self.inner_stop:
                    inner = np.isin(
                        X[:, 0], stop_units(np.unique(X[~held, 0]), self.seed + 101 * f + 13 * rep)
                    )
                    tr, va = ~held & ~inner, ~held & inner
                w = _ridge(z[tr], y[tr]) if self.health_index else np.zeros(0)
                self.life_hi_weights.append(w)
                Ff = self._with_hi(X, F, z, w)
                params = {**self.lgb_params, "seed": self.seed + 101 * f + 13 * rep + 5}
                dtrain = lgb.Dataset(Ff[tr], y[tr], params={"max_bin": params.get("max_bin", 255)})
                booster = lgb.train(
                    params,
                    dtrain,
                    num_boost_round=self.max_rounds,
                    valid_sets=[lgb.Dataset(Ff[va], y[va], reference=dtrain)],
                    callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
                )
                p = booster.predict(Ff[held], num_iteration=booster.best_iteration)
                oof[held] += np.maximum(p, 0.0) / self.life_repeats
                rounds.append(int(booster.best_iteration))
                self.life_boosters.append(booster)
        self.oof_life_ = oof
        return oof

    def _with_hi(self, X: np.ndarray, F: np.ndarray, z: np.ndarray, fold: int | np.ndarray) -> np.ndarray:
        """Append the windowed features of a health index (a ridge fit of the signals): the
        weights of clipped model `fold`, or the given weights."""
        if not self.health_index:
            return F
        w = self.hi_weights[fold] if isinstance(fold, int) else fold
        hi = z @ w[1:] + w[0]
        cfg = self.features
        n = len(cfg.ewm_spans) + len(cfg.mean_windows) + len(cfg.std_windows) + len(cfg.slope_windows) + 1
        return np.hstack([F, build_features(X, self.norm, cfg, z=hi[:, None])[:, 1 : 1 + n]])

    def _calibrate(self, pred: np.ndarray, target: np.ndarray) -> None:
        band = ResidualBand.fit(pred, target, self.n_bins, self.seed)
        self.bin_edges, self.residuals = band.edges, band.residuals

    # -- predicting --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.norm is None or not self.boosters:
            raise ValueError("the model is not fitted; call fit() or load a saved model")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Remaining life for every row, from its unit's rows up to it (0..r_early without life
        models; with them, not capped)."""
        return self.predict_parts(X)[0]

    def predict_parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the point estimate, the clipped models' estimate (what `open_ended` reads) and
        the life models' (the clipped one again without life models)."""
        clipped, lives = self._members(X)
        wear = np.clip(np.mean(clipped, axis=0), 0.0, self.r_early)
        if not self.life_boosters:
            return wear, wear, wear
        life = np.mean(lives, axis=0)
        return gate_mix(wear, life, self.gate_edges, self.gate_weights), wear, life

    def _members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every clipped booster's (clipped to its cap) and every life booster's prediction per row."""
        self._check_fitted()
        X = check_rows(X, self.features.n_ops)
        F = build_features(X, self.norm, self.features)
        _, z = normalise(X, self.norm, self.features)
        caps = self.caps or [self.r_early] * len(self.boosters)
        clipped = np.array(
            [
                np.clip(b.predict(self._with_hi(X, F, z, f), num_iteration=b.best_iteration), 0.0, cap)
                for f, (b, cap) in enumerate(zip(self.boosters, caps, strict=True))
            ]
        )
        lives = np.array(
            [
                np.maximum(b.predict(self._with_hi(X, F, z, w), num_iteration=b.best_iteration), 0.0)
                for b, w in zip(self.life_boosters, self.life_hi_weights, strict=True)
            ]
        ).reshape(len(self.life_boosters), len(X))
        return clipped, lives

    def excess_variance(self, X: np.ndarray) -> np.ndarray:
        """Per row: how much more variance an out-of-fold estimate (one fold model per seeded
        split, what the band was fitted on) has than the mean of all fold models (what `predict`
        gives): the spread of the n_folds one-model-per-split estimates, times (1 - 1 / n_folds).
        Without it the band of the full ensemble is wider than it needs to be."""
        clipped, lives = self._members(X)
        nf = self.n_folds
        if len(clipped) % nf or len(lives) % nf:
            return np.zeros(len(X))
        wear = np.clip(clipped.reshape(-1, nf, clipped.shape[1]).mean(axis=0), 0.0, self.r_early)
        if self.life_boosters:
            life = lives.reshape(-1, nf, lives.shape[1]).mean(axis=0)
            draws = np.array(
                [gate_mix(w, v, self.gate_edges, self.gate_weights) for w, v in zip(wear, life, strict=True)]
            )
        else:
            draws = wear
        return np.var(draws, axis=0, ddof=1) * (1.0 - 1.0 / nf)

    def mix(self, wear: np.ndarray, life: np.ndarray) -> np.ndarray:
        """The point estimate from the two parts of `predict_parts` (after `recalibrate`, say)."""
        if not self.life_boosters:
            return wear
        return gate_mix(wear, life, self.gate_edges, self.gate_weights)

    def recalibrate(self, y: np.ndarray, rows: np.ndarray, weights: np.ndarray | None = None) -> Self:
        """Choose the gate and the band again on out-of-fold rows `rows` of the last `fit` (y: its
        targets), e.g. a validation cut like the units to be predicted: the life a unit of some age
        has left depends on how late in life units are looked at, which the training rows (every
        cycle of every unit) do not say. With `weights` (one per row of the fit, e.g.
        `rul_cuts.CutModel.row_weights`) each row counts by the chance that a cut falls on it. The
        boosters stay; needs the in-memory out-of-fold predictions of `fit` (not saved)."""
        if not self.life_boosters or not hasattr(self, "oof_life_"):
            raise ValueError("recalibrate needs life models and the out-of-fold predictions of fit()")
        y = np.asarray(y, dtype=np.float64)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[rows]
        wear, life = self.oof_wear_[rows], self.oof_life_[rows]
        self.gate_edges, self.gate_weights = choose_gate(wear, life, y[rows], self.gate_bins, w)
        self.oof_ = gate_mix(self.oof_wear_, self.oof_life_, self.gate_edges, self.gate_weights)
        band = ResidualBand.fit(self.oof_[rows], y[rows], self.n_bins, self.seed, w)
        self.bin_edges, self.residuals = band.edges, band.residuals
        return self

    def open_ended(self, wear: np.ndarray) -> np.ndarray:
        """True where the clipped models see no wear (at least 90% of their largest value)."""
        caps = self.caps or [self.r_early] * len(self.boosters)
        return np.asarray(wear) >= OPEN_SHARE * float(np.mean(caps))

    def predict_interval(self, X: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Band that holds min(true RUL, r_early) (with life models: the true RUL) with probability
        `coverage` (from validation units; narrowed to the full ensemble's own error)."""
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be between 0 and 1, got {coverage}")
        return self.interval_around(self.predict(X), coverage, self.excess_variance(X))

    def interval_around(
        self, p: np.ndarray, coverage: float = 0.8, excess: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The band for point predictions `p` already computed (saves predicting twice); `excess`
        from `excess_variance` narrows it to the full ensemble's own error (ResidualBand.interval).

        Without life models an upper bound that reaches r_early is infinite: "more than r_early"."""
        band = ResidualBand(self.bin_edges, self.residuals)
        if self.life_boosters:
            return band.interval(p, coverage, np.inf, excess)
        lo, hi = band.interval(p, coverage, self.r_early, excess)
        return lo, np.where(hi >= self.r_early, np.inf, hi)

    def last_rows(self, X: np.ndarray) -> np.ndarray:
        """Index of each unit's last row (where the standard protocol predicts)."""
        unit = np.asarray(X)[:, 0]
        return np.append(np.flatnonzero(np.diff(unit) != 0), len(unit) - 1)

    # -- saving ------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        params = {
            "r_early": self.r_early,
            "n_folds": self.n_folds,
            "seed": self.seed,
            "max_rounds": self.max_rounds,
            "early_stopping": self.early_stopping,
            "n_bins": self.n_bins,
            "n_repeats": self.n_repeats,
            "health_index": self.health_index,
            "drop_beyond": self.drop_beyond,
            "inner_stop": self.inner_stop,
            "labels": [list(x) for x in self.labels],
            "caps": self.caps,
            "lgb_params": self.lgb_params,
            "features": self.features.to_json(),
            "boosters": [b.model_to_string() for b in self.boosters],
            "life_repeats": self.life_repeats,
            "gate_bins": self.gate_bins,
            "life_boosters": [b.model_to_string() for b in self.life_boosters],
            "info": self.info,
        }
        arrays = {f"norm_{k}": v for k, v in self.norm.get_state().items()}
        arrays["bin_edges"] = self.bin_edges
        for i, w in enumerate(self.hi_weights):
            arrays[f"hi_weights_{i}"] = w
        for i, r in enumerate(self.residuals):
            arrays[f"residuals_{i}"] = r
        for i, w in enumerate(self.life_hi_weights):
            arrays[f"life_hi_weights_{i}"] = w
        arrays["gate_edges"], arrays["gate_weights"] = self.gate_edges, self.gate_weights
        return params, arrays

    def set_state(self, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        import lightgbm as lgb

        try:
            self.__init__(
                r_early=params["r_early"],
                n_folds=params["n_folds"],
                seed=params["seed"],
                max_rounds=params["max_rounds"],
                early_stopping=params["early_stopping"],
                n_bins=params["n_bins"],
                n_repeats=params.get("n_repeats", 1),
                health_index=params["health_index"],
                drop_beyond=params.get("drop_beyond", False),
                labels=params.get("labels"),
                lgb_params=params["lgb_params"],
                features=FeatureConfig.from_json(params["features"]),
                inner_stop=params.get("inner_stop", False),
                life_repeats=params.get("life_repeats", 0),
                gate_bins=params.get("gate_bins", 8),
            )
            self.norm = ConditionNormaliser.from_state(
                {k.removeprefix("norm_"): v for k, v in arrays.items() if k.startswith("norm_")}
            )
            self.boosters = [lgb.Booster(model_str=s) for s in params["boosters"]]
            self.caps = [float(c) for c in params.get("caps", [self.r_early] * len(self.boosters))]
            if self.health_index:
                self.hi_weights = [np.asarray(arrays[f"hi_weights_{i}"]) for i in range(len(self.boosters))]
            self.life_boosters = [lgb.Booster(model_str=s) for s in params.get("life_boosters", [])]
            self.life_hi_weights = [
                np.asarray(arrays[f"life_hi_weights_{i}"]) for i in range(len(self.life_boosters))
            ]
            if self.life_boosters:
                self.gate_edges = np.asarray(arrays["gate_edges"], dtype=np.float64)
                self.gate_weights = np.asarray(arrays["gate_weights"], dtype=np.float64)
                if self.gate_weights.shape != (len(self.gate_edges) + 1,):
                    raise ValueError(
                        f"gate_weights has {self.gate_weights.size} values for {len(self.gate_edges)} edges"
                    )
            self.bin_edges = np.asarray(arrays["bin_edges"], dtype=np.float64)
            n = len(self.bin_edges) + 1
            self.residuals = [np.asarray(arrays[f"residuals_{i}"], dtype=np.float64) for i in range(n)]
        except KeyError as e:
            from .base import ModelFileError

            raise ModelFileError(f"gbm_rul model: field {e.args[0]!r} is missing") from None
        except ValueError as e:
            from .base import ModelFileError

            raise ModelFileError(f"gbm_rul model: {e}") from None
        self.info = dict(params.get("info", {}))
