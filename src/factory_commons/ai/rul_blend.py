"""Remaining useful life from two different learners, averaged with a weight chosen on held-out units.

`BlendRul` trains `GbmRul` (windowed features + LightGBM, rul.py) and `GruRul` (a GRU over each
unit's whole history, rul_gru.py) on the same rows, with the same two labels (min(RUL, `cap`),
and the true RUL of rows at most `horizon` from failure), then predicts w * gbm + (1 - w) * gru.
This is the C-MAPSS bench's headline (bench/cmapss.py).

- The weight w is chosen inside `fit`, from the two models' out-of-fold predictions (each
  training row predicted by fold models that did not see its unit): the w on a grid of 0, 0.05,
  ..., 1 with the lowest RMSE against the true remaining life (not clipped) at the rows whose
  true life is at most `horizon`. Nothing but the training rows is used.
- Both models split the units with the same seeds (seed, seed + 1, ... per repeat), so their
  out-of-fold predictions come from the same held-out units where their repeats overlap.
- The band: out-of-fold residuals of the blend, binned by the predicted value (`ResidualBand`),
  against min(RUL, horizon) at the rows at most `horizon` from failure.

Saving: the two models' states side by side (parameters under "gbm" and "gru", arrays prefixed
"gbm." and "gru."), nothing pickled. Needs PyTorch (the `deep` extra), as GruRul does.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from .base import ModelFileError, RulModel, register
from .rul import GbmRul, ResidualBand, check_target, rmse
from .rul_features import check_rows
from .rul_gru import GruConfig, GruRul

WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)


def choose_weight(a: np.ndarray, b: np.ndarray, y: np.ndarray, horizon: float) -> tuple[float, float]:
    """Weight w of `a` in w * a + (1 - w) * b with the lowest RMSE against y where y <= horizon."""
    sel = y <= horizon
    if not sel.any():
        raise ValueError(f"no training row has a true remaining life <= {horizon:g}")
    errs = [rmse(w * a[sel] + (1 - w) * b[sel], y[sel]) for w in WEIGHT_GRID]
    i = int(np.argmin(errs))
    return float(WEIGHT_GRID[i]), float(errs[i])


@register("blend_rul")
class BlendRul(RulModel):
    """GbmRul and GruRul, averaged with a weight chosen on their out-of-fold predictions."""

    def __init__(
        self,
        n_ops: int = 0,
        cap: float = 130.0,
        horizon: float = 150.0,
        seed: int = 0,
        n_folds: int = 5,
        n_repeats: int = 4,
        gru_repeats: int = 3,
        n_bins: int = 5,
        net: GruConfig | None = None,
        gbm_params: dict[str, Any] | None = None,
    ):
        if not 0 < cap <= horizon:
            raise ValueError(f"need 0 < cap <= horizon, got cap={cap}, horizon={horizon}")
        self.n_ops = int(n_ops)
        self.cap = float(cap)
        self.horizon = float(horizon)
        self.r_early = self.horizon  # the largest value predicted
        self.seed = int(seed)
        self.n_bins = int(n_bins)
        self.gbm = GbmRul(
            n_ops=n_ops,
            r_early=self.horizon,
            labels=((self.cap, False), (self.horizon, True)),
            seed=seed,
            n_folds=n_folds,
            n_repeats=n_repeats,
            **(gbm_params or {}),
        )
        self.gru = GruRul(
            n_ops=n_ops,
            cap=self.cap,
            horizon=self.horizon,
            seed=seed,
            n_folds=n_folds,
            n_bins=n_bins,
            net=net,
            n_repeats=gru_repeats,
        )
        self.weight = 0.5
        self.band = ResidualBand()
        self.info: dict[str, Any] = {}

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Self:
        """Fit both models on rows X and true remaining life y, then choose the weight."""
        X = check_rows(X, self.n_ops)
        y = check_target(X, y, "BlendRul")
        self.gbm.fit(X, y)
        self.gru.fit(X, y)
        self.weight, err = choose_weight(self.gbm.oof_, self.gru.oof_, y, self.horizon)
        oof = self.weight * self.gbm.oof_ + (1 - self.weight) * self.gru.oof_
        near = y <= self.horizon
        self.band = ResidualBand.fit(oof[near], y[near], self.n_bins, self.seed)
        self.info = {
            **self.gbm.info,
            "weight_gbm": self.weight,
            "oof_rmse_horizon": err,
            "gbm_train_seconds": self.gbm.info["train_seconds"],
            "gru_train_seconds": self.gru.info["train_seconds"],
            "train_seconds": round(self.gbm.info["train_seconds"] + self.gru.info["train_seconds"], 2),
        }
        self.oof_ = oof  # out-of-fold predictions of the training rows (not saved)
        return self

    def _check_fitted(self) -> None:
        if not self.gbm.boosters or not self.gru.states:
            raise ValueError("the model is not fitted; call fit() or load a saved model")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Remaining life for every row, from its unit's rows up to it (0..horizon)."""
        self._check_fitted()
        return self.mix(self.gbm.predict(X), self.gru.predict(X))

    def mix(self, gbm: np.ndarray, gru: np.ndarray) -> np.ndarray:
        """The blend of the two models' predictions already computed."""
        return np.clip(self.weight * gbm + (1 - self.weight) * gru, 0.0, self.horizon)

    def predict_interval(self, X: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Band that holds min(true RUL, horizon) with probability `coverage` (from validation units)."""
        return self.interval_around(self.predict(X), coverage)

    def interval_around(self, p: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """The band for point predictions `p` already computed."""
        return self.band.interval(p, coverage, self.horizon)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        gp, ga = self.gbm.get_state()
        rp, ra = self.gru.get_state()
        params = {
            "n_ops": self.n_ops,
            "cap": self.cap,
            "horizon": self.horizon,
            "seed": self.seed,
            "n_bins": self.n_bins,
            "weight": self.weight,
            "gbm": gp,
            "gru": rp,
            "info": self.info,
        }
        arrays = {**{f"gbm.{k}": v for k, v in ga.items()}, **{f"gru.{k}": v for k, v in ra.items()}}
        arrays.update(self.band.arrays())
        return params, arrays

    def set_state(self, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if "cnn" in params:
            raise ModelFileError(
                "blend_rul model: saved by an older version that paired GbmRul with CnnRul; "
                "train it again (it now pairs GbmRul with GruRul)"
            )
        try:
            self.__init__(
                n_ops=params["n_ops"],
                cap=params["cap"],
                horizon=params["horizon"],
                seed=params["seed"],
                n_bins=params["n_bins"],
            )
            self.weight = float(params["weight"])
            self.gbm = GbmRul.__new__(GbmRul)
            self.gbm.set_state(params["gbm"], {k[4:]: v for k, v in arrays.items() if k.startswith("gbm.")})
            self.gru = GruRul.__new__(GruRul)
            self.gru.set_state(params["gru"], {k[4:]: v for k, v in arrays.items() if k.startswith("gru.")})
            self.band = ResidualBand.from_arrays(arrays)
        except KeyError as e:
            raise ModelFileError(f"blend_rul model: field {e.args[0]!r} is missing") from None
        self.info = dict(params.get("info", {}))
