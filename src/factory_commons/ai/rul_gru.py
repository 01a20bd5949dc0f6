"""Remaining useful life with a recurrent network over each unit's whole history (PyTorch, CPU).

`GruRul` takes the same rows as `GbmRul` (rul.py): `unit, time, op_1..op_k, signal_1..signal_m`,
sorted by unit and time. A GRU reads each unit from its first row on and predicts, at every row,
the remaining life from the rows up to it (a recurrent network is causal: later rows never
change an earlier prediction, so a unit's history can be of any length, 31 rows or 500).

- Inputs per row: the kept signals standardised within their operating condition
  (`ConditionNormaliser`, rul_features.py; clipped to +-10), each signal's change from the mean
  of its unit's first `baseline_rows` rows (`drift`, rul_nn.py), and the unit's age (time since
  its first row / `age_scale`).
- Two heads, as `GbmRul`'s two labels: one learns min(RUL, `cap`) on every row, the other the
  true RUL of the rows at most `horizon` from failure (rows further away do not count in its
  loss); the prediction is the mean of the two, each clipped to its own range.
- Validation: the units are split into `n_folds` groups by a seeded shuffle (`unit_folds`, as
  GbmRul's repeats); one network per fold is trained on the other folds' units, through the
  whole cosine schedule (`GruConfig.epochs`), and keeps its last weights (`stop="none"`, the
  default): no held-out figure picks anything, so the fold's held-out units give honest
  out-of-fold predictions. `stop="inner"` keeps instead the epoch with the lowest RMSE (against
  the true RUL, at rows at most `horizon` from failure) on a seeded fifth of the training units,
  held back from training (so each network learns from fewer units); `stop="held_out"` picks it
  on the fold's held-out units, which made the out-of-fold RMSE look 0.5-1.1 better than it is
  on C-MAPSS (docs/ai.md, fourth and fifth rounds). With `n_repeats` > 1 this
  is done again on other splits (seeds `seed`, `seed` + 1, ...; the networks start from other
  random weights too). The point estimate is the mean of all networks; a training row's
  out-of-fold prediction is the mean over the repeats of the network that did not see its unit.
- The band: out-of-fold residuals binned by the predicted value (`ResidualBand`, as in rul.py),
  against min(RUL, horizon) on rows at most `horizon` from failure.

Saving: the networks' weights as float32 arrays (`net{i}.{name}`), the settings as JSON; nothing
pickled. Training uses one CPU thread (`torch.set_num_threads(1)`).
"""

from __future__ import annotations

import time as _time
from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np

from .base import ModelFileError, RulModel, register
from .rul import ResidualBand, check_target, rmse, stop_units, unit_folds
from .rul_features import ConditionNormaliser, check_rows, unit_segments
from .rul_nn import drift, pack_arrays, unpack_arrays

STOP_MODES = ("none", "inner", "held_out")


@dataclass(frozen=True)
class GruConfig:
    """Network shape and training schedule (rows are cycles or hours)."""

    hidden: int = 128
    head: int = 32
    dropout: float = 0.2
    epochs: int = 120
    patience: int = 25
    units_per_batch: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    clip_grad: float = 1.0
    baseline_rows: int = 20
    input_noise: float = 0.0  # std of Gaussian noise added to the inputs while training (0: none)
    # which weights each network keeps (STOP_MODES): "none" trains the whole cosine schedule and
    # keeps the last weights; "inner" keeps the epoch best on a seeded fifth of its own training
    # units (held back from training); "held_out" the epoch best on the fold's held-out units,
    # which flatters the out-of-fold figures (docs/ai.md, fourth round)
    stop: str = "none"

    def __post_init__(self) -> None:
        if self.stop not in STOP_MODES:
            raise ValueError(f"GruConfig.stop must be one of {', '.join(STOP_MODES)}; got {self.stop!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GruConfig:
        d = dict(d)
        if "stop" not in d:  # saved before `stop`: with the inner_stop flag, or before it (held-out)
            d["stop"] = "inner" if d.pop("inner_stop", False) else "held_out"
        return cls(**d)


def _build_net(n_in: int, cfg: GruConfig):
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(n_in, cfg.hidden, 1, batch_first=True)
            self.head = nn.Sequential(
                nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.head), nn.ReLU(), nn.Linear(cfg.head, 2)
            )

        def forward(self, x):
            return self.head(self.rnn(x)[0])

    return Net()


def _segments(unit: np.ndarray) -> list[np.ndarray]:
    """Each unit's row indices (rows sorted by unit)."""
    return [np.arange(a, b) for a, b in unit_segments(unit)]


@register("gru_rul")
class GruRul(RulModel):
    """GRU over each unit's history, two heads (capped / near-failure RUL), fold ensemble + band."""

    def __init__(
        self,
        n_ops: int = 0,
        cap: float = 130.0,
        horizon: float = 150.0,
        age_scale: float = 150.0,
        n_folds: int = 5,
        seed: int = 0,
        n_bins: int = 5,
        net: GruConfig | None = None,
        n_repeats: int = 1,
    ):
        if not 0 < cap <= horizon:
            raise ValueError(f"need 0 < cap <= horizon, got cap={cap}, horizon={horizon}")
        if age_scale <= 0:
            raise ValueError(f"age_scale must be positive, got {age_scale}")
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        if n_repeats < 1:
            raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
        self.n_ops = int(n_ops)
        self.cap = float(cap)
        self.horizon = float(horizon)
        self.r_early = self.horizon  # the largest value predicted
        self.age_scale = float(age_scale)
        self.n_folds = int(n_folds)
        self.seed = int(seed)
        self.n_repeats = int(n_repeats)
        self.n_bins = int(n_bins)
        self.net = net or GruConfig()
        self.norm: ConditionNormaliser | None = None
        self.states: list[dict[str, np.ndarray]] = []
        self.band = ResidualBand()
        self.info: dict[str, Any] = {}

    # -- inputs ------------------------------------------------------------------------------
    def _inputs(self, X: np.ndarray) -> np.ndarray:
        k = self.n_ops
        _, z = self.norm.transform(X[:, 2 : 2 + k], X[:, 2 + k :])
        z = np.clip(z, -10, 10)
        age = np.empty(len(X))
        for rows in _segments(X[:, 0]):
            age[rows] = X[rows, 1] - X[rows[0], 1]
        cols = [z, drift(X, z, self.net.baseline_rows)] if self.net.baseline_rows > 0 else [z]
        return np.hstack([*cols, (age / self.age_scale)[:, None]]).astype(np.float32)

    @staticmethod
    def _padded(inp: np.ndarray, segs: list[np.ndarray]) -> np.ndarray:
        """(units, longest, channels): each unit's rows from its first, zero-padded at the end."""
        out = np.zeros((len(segs), max(len(s) for s in segs), inp.shape[1]), dtype=np.float32)
        for i, s in enumerate(segs):
            out[i, : len(s)] = inp[s]
        return out

    def _combine(self, o: np.ndarray) -> np.ndarray:
        return (
            np.clip(o[..., 0] * self.cap, 0, self.cap) + np.clip(o[..., 1] * self.horizon, 0, self.horizon)
        ) / 2

    # -- learning ----------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Self:
        """Learn from rows X (unit, time, settings, signals) and their true remaining life y."""
        import torch

        X = check_rows(X, self.n_ops)
        y = check_target(X, y, type(self).__name__)
        t0 = _time.perf_counter()
        torch.set_num_threads(1)
        k = self.n_ops
        self.norm = ConditionNormaliser().fit(X[:, 2 : 2 + k], X[:, 2 + k :], seed=self.seed)
        segs = _segments(X[:, 0])
        S = torch.from_numpy(self._padded(self._inputs(X), segs))
        tgt = np.column_stack(
            [np.minimum(y, self.cap) / self.cap, np.minimum(y, self.horizon) / self.horizon]
        )
        msk = np.column_stack([np.ones(len(y)), y <= self.horizon]).astype(np.float32)
        T = torch.from_numpy(self._padded(tgt.astype(np.float32), segs))
        M = torch.from_numpy(self._padded(msk, segs))  # padding rows have mask 0
        units = np.array([X[s[0], 0] for s in segs])
        oof = np.zeros(len(X))
        self.states, epochs = [], []
        for rep in range(self.n_repeats):
            split = self.seed + rep
            folds = unit_folds(units, self.n_folds, split)
            for f in range(self.n_folds):
                tr, va = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
                stop = None
                if self.net.stop == "inner":
                    stop = np.sort(stop_units(tr, split * 1000 + f))
                    tr = np.setdiff1d(tr, stop)
                elif self.net.stop == "held_out":
                    stop = va
                state, best_epoch = self._train_one(S, T, M, segs, y, tr, stop, split * 1000 + f)
                net = self._net_from(state)
                for i, p in zip(va.tolist(), self._predict_units(net, S, segs, va), strict=True):
                    oof[segs[i]] += p / self.n_repeats
                self.states.append(state)
                epochs.append(best_epoch)
        near = y <= self.horizon
        self.band = ResidualBand.fit(oof[near], y[near], self.n_bins, self.seed)
        self.info = {
            "rows": int(len(X)),
            "units": int(len(segs)),
            "conditions": int(self.norm.n_conditions),
            "signals_kept": int(self.norm.keep.sum()),
            "best_epochs": epochs,
            "oof_rmse_horizon": rmse(oof[near], y[near]),
            "train_seconds": round(_time.perf_counter() - t0, 2),
        }
        self.oof_ = oof  # out-of-fold predictions of the training rows (not saved)
        return self

    def _train_one(
        self, S, T, M, segs, y, tr: np.ndarray, va: np.ndarray | None, seed: int
    ) -> tuple[dict[str, np.ndarray], int]:
        """Train one network on units tr; keep the epoch with the lowest RMSE on units va
        (None: train the whole schedule and keep the last weights)."""
        import torch

        cfg = self.net
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = _build_net(S.shape[2], cfg)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
        if va is not None:
            vy = np.concatenate([y[segs[i]] for i in va])
            near = vy <= self.horizon
        best, best_epoch, best_state, waited = np.inf, cfg.epochs, None, 0
        for epoch in range(cfg.epochs):
            net.train()
            order = tr[torch.randperm(len(tr), generator=gen).numpy()]
            for i in range(0, len(order), cfg.units_per_batch):
                b = order[i : i + cfg.units_per_batch]
                n = max(len(segs[j]) for j in b)
                opt.zero_grad()
                m = M[b, :n]
                xb = S[b, :n]
                if cfg.input_noise > 0:
                    xb = xb + cfg.input_noise * torch.randn(xb.shape, generator=gen)
                loss = (((net(xb) - T[b, :n]) ** 2) * m).sum() / m.sum().clamp(min=1.0)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_grad)
                opt.step()
            sched.step()
            if va is None:
                continue
            p = np.concatenate(self._predict_units(net, S, segs, va))
            val = rmse(p[near], vy[near]) if near.any() else rmse(p, np.minimum(vy, self.horizon))
            if val < best:
                best, best_epoch, waited = val, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
        if best_state is None:  # no stopping units, or their RMSE was never finite: the last weights
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        return {k: v.numpy().copy() for k, v in best_state.items()}, best_epoch

    def _predict_units(self, net, S, segs, idx: np.ndarray) -> list[np.ndarray]:
        """Predictions for every row of units idx (indices into segs), one array per unit."""
        import torch

        net.eval()
        out: list[np.ndarray] = []
        for i in range(0, len(idx), 64):
            b = idx[i : i + 64]
            n = max(len(segs[j]) for j in b)
            with torch.no_grad():
                o = net(S[b, :n]).numpy().astype(np.float64)
            out += [self._combine(o[k, : len(segs[j])]) for k, j in enumerate(b)]
        return out

    def _net_from(self, state: dict[str, np.ndarray]):
        import torch

        n_sig = int(self.norm.keep.sum()) * (2 if self.net.baseline_rows > 0 else 1)
        net = _build_net(n_sig + 1, self.net)
        net.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state.items()})
        return net

    # -- predicting --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.norm is None or not self.states:
            raise ValueError("the model is not fitted; call fit() or load a saved model")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Remaining life for every row, from its unit's rows up to it (0..horizon)."""
        import torch

        self._check_fitted()
        torch.set_num_threads(1)
        X = check_rows(X, self.n_ops)
        segs = _segments(X[:, 0])
        S = torch.from_numpy(self._padded(self._inputs(X), segs))
        idx = np.arange(len(segs))
        out = np.zeros(len(X))
        for state in self.states:
            for s, p in zip(segs, self._predict_units(self._net_from(state), S, segs, idx), strict=True):
                out[s] += p / len(self.states)
        return np.clip(out, 0.0, self.horizon)

    def predict_interval(self, X: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Band that holds min(true RUL, horizon) with probability `coverage` (from validation units)."""
        return self.interval_around(self.predict(X), coverage)

    def interval_around(self, p: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """The band for point predictions `p` already computed."""
        return self.band.interval(p, coverage, self.horizon)

    # -- saving ------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        params = {
            "n_ops": self.n_ops,
            "cap": self.cap,
            "horizon": self.horizon,
            "age_scale": self.age_scale,
            "n_folds": self.n_folds,
            "seed": self.seed,
            "n_repeats": self.n_repeats,
            "n_bins": self.n_bins,
            "net": self.net.to_json(),
            "n_nets": len(self.states),
            "weight_names": list(self.states[0]),
            "info": self.info,
        }
        return params, pack_arrays(self.norm, self.band, self.states)

    def set_state(self, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        try:
            self.__init__(
                n_ops=params["n_ops"],
                cap=params["cap"],
                horizon=params["horizon"],
                age_scale=params["age_scale"],
                n_folds=params["n_folds"],
                seed=params["seed"],
                n_bins=params["n_bins"],
                net=GruConfig.from_json(params["net"]),
                n_repeats=params.get("n_repeats", 1),
            )
            self.norm, self.states, self.band = unpack_arrays(params, arrays)
        except KeyError as e:
            raise ModelFileError(f"gru_rul model: field {e.args[0]!r} is missing") from None
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"gru_rul model: bad network config ({e})") from None
        self.info = dict(params.get("info", {}))
