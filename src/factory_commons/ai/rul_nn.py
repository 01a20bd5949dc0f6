"""Remaining useful life with a small 1-D convolutional network over sliding windows (PyTorch, CPU).

`CnnRul` takes the same rows as `GbmRul` (rul.py): `unit, time, op_1..op_k, signal_1..signal_m`,
sorted by unit and time, and predicts every row's remaining life from the last `window` rows
of its unit up to it (the first rows of a unit are padded with its first row, so short
histories work too; never later rows).

- Operating conditions and signal scaling: `ConditionNormaliser` (rul_features.py), fitted on
  the training rows; the inputs are the kept signals standardised within their condition plus
  the unit's age (time since its first row, divided by `r_early`).
- Targets: min(true RUL, `r_early`), as for `GbmRul`; the network predicts target / r_early.
- Validation: the training units are split into `n_folds` groups by a seeded shuffle
  (`unit_folds`); one network per fold is trained on the other folds' units, and the epoch with
  the lowest loss on its own held-out units is kept (early stopping on training units only).
  The point estimate is the mean of the fold networks.
- The band: out-of-fold residuals binned by the predicted value (`ResidualBand`, as in rul.py).

Saving: the networks' weights go into the npz as plain float32 arrays (`net{i}.{name}`), the
architecture into the JSON config; nothing is pickled. Training uses one CPU thread per process
(`torch.set_num_threads(1)`), because the office PCs this runs on are small and shared.
"""

from __future__ import annotations

import time as _time
from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np

from .base import ModelFileError, RulModel, register
from .rul import ResidualBand, check_target, rmse, unit_folds
from .rul_features import ConditionNormaliser, check_rows, unit_segments


@dataclass(frozen=True)
class NetConfig:
    """Network shape and training schedule (rows are cycles or hours)."""

    window: int = 40
    channels: int = 32
    kernel: int = 5
    layers: int = 3
    hidden: int = 64
    dropout: float = 0.2
    epochs: int = 40
    patience: int = 8
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    age: bool = True  # add the unit's age (time since its first row / r_early) as an input channel
    baseline_rows: int = 20  # > 0: add each signal's change from the mean of its unit's first rows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NetConfig:
        return cls(**d)


def _build_net(n_in: int, cfg: NetConfig):
    """Conv1d stack (same padding, ReLU) -> flatten -> dense -> one output."""
    import torch.nn as nn

    layers: list[nn.Module] = []
    c = n_in
    for _ in range(cfg.layers):
        layers += [nn.Conv1d(c, cfg.channels, cfg.kernel, padding=cfg.kernel // 2), nn.ReLU()]
        c = cfg.channels
    layers += [
        nn.Flatten(),
        nn.Linear(cfg.channels * cfg.window, cfg.hidden),
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, 1),
    ]
    return nn.Sequential(*layers)


def drift(X: np.ndarray, z: np.ndarray, rows: int) -> np.ndarray:
    """z minus the mean of its unit's first `rows` rows (fewer while the unit is younger): causal."""
    out = np.empty_like(z)
    for a, b in unit_segments(X[:, 0]):
        c = np.cumsum(z[a:b], axis=0)
        k = np.minimum(np.arange(1, b - a + 1), rows)
        out[a:b] = z[a:b] - c[k - 1] / k[:, None]
    return out


def windows(X: np.ndarray, z: np.ndarray, window: int, age_scale: float) -> np.ndarray:
    """(rows, channels, window) float32: each row's last `window` rows of its unit (front-padded).

    Channels: the columns of z, then (if age_scale > 0) the time since the unit's first row / age_scale.
    """
    t = X[:, 1]
    n_ch = z.shape[1] + (1 if age_scale > 0 else 0)
    out = np.empty((len(X), n_ch, window), dtype=np.float32)
    for a, b in unit_segments(X[:, 0]):
        cols = [z[a:b], (t[a:b] - t[a])[:, None] / age_scale] if age_scale > 0 else [z[a:b]]
        feats = np.column_stack(cols).astype(np.float32)
        padded = np.vstack([np.repeat(feats[:1], window - 1, axis=0), feats])
        w = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (n, ch, window)
        out[a:b] = w
    return out


@register("cnn_rul")
class CnnRul(RulModel):
    """Sliding-window 1-D CNN fold ensemble + binned out-of-fold residual band."""

    def __init__(
        self,
        n_ops: int = 0,
        r_early: float = 125.0,
        n_folds: int = 5,
        seed: int = 0,
        n_bins: int = 5,
        net: NetConfig | None = None,
        drop_beyond: bool = False,
    ):
        if r_early <= 0:
            raise ValueError(f"r_early must be positive, got {r_early}")
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        self.n_ops = int(n_ops)
        self.r_early = float(r_early)
        self.n_folds = int(n_folds)
        self.seed = int(seed)
        self.n_bins = int(n_bins)
        self.net = net or NetConfig()
        self.drop_beyond = bool(drop_beyond)  # rows further than r_early from failure: not learned from
        self.norm: ConditionNormaliser | None = None
        self.states: list[dict[str, np.ndarray]] = []
        self.band = ResidualBand()
        self.info: dict[str, Any] = {}

    # -- learning ----------------------------------------------------------------------------
    def _inputs(self, X: np.ndarray) -> np.ndarray:
        k = self.n_ops
        _, z = self.norm.transform(X[:, 2 : 2 + k], X[:, 2 + k :])
        z = np.clip(z, -10, 10)
        if self.net.baseline_rows > 0:
            z = np.hstack([z, drift(X, z, self.net.baseline_rows)])
        return windows(X, z, self.net.window, self.r_early if self.net.age else 0.0)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Self:
        """Learn from rows X (unit, time, settings, signals) and their true remaining life y."""
        import torch

        X = check_rows(X, self.n_ops)
        y = check_target(X, y, type(self).__name__)
        t0 = _time.perf_counter()
        torch.set_num_threads(1)
        k = self.n_ops
        self.norm = ConditionNormaliser().fit(X[:, 2 : 2 + k], X[:, 2 + k :], seed=self.seed)
        W = torch.from_numpy(self._inputs(X))
        target = np.minimum(y, self.r_early)
        T = torch.from_numpy((target / self.r_early).astype(np.float32))
        folds = unit_folds(X[:, 0], self.n_folds, self.seed)
        use = y <= self.r_early if self.drop_beyond else np.ones(len(X), dtype=bool)
        oof = np.zeros(len(X))
        self.states, epochs = [], []
        for f in range(self.n_folds):
            tr = torch.from_numpy(np.flatnonzero((folds != f) & use))
            va = torch.from_numpy(np.flatnonzero((folds == f) & use))
            held = np.flatnonzero(folds == f)
            state, best_epoch, p = self._train_one(W, T, tr, va, torch.from_numpy(held), self.seed + 101 * f)
            oof[held] = np.clip(p * self.r_early, 0, self.r_early)
            self.states.append(state)
            epochs.append(best_epoch)
        self.band = ResidualBand.fit(oof[use], target[use], self.n_bins, self.seed)
        self.info = {
            "rows": int(len(X)),
            "units": int(len(np.unique(X[:, 0]))),
            "conditions": int(self.norm.n_conditions),
            "signals_kept": int(self.norm.keep.sum()),
            "best_epochs": epochs,
            "oof_rmse_clipped": rmse(oof[use], target[use]),
            "train_seconds": round(_time.perf_counter() - t0, 2),
        }
        self.oof_ = oof  # out-of-fold predictions of the training rows (not saved)
        return self

    def _train_one(self, W, T, tr, va, held, seed: int) -> tuple[dict[str, np.ndarray], int, np.ndarray]:
        """Train one network on rows tr, keep its best epoch on rows va; predict rows held."""
        import torch

        cfg = self.net
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = _build_net(W.shape[1], cfg)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = torch.nn.MSELoss()
        best, best_epoch, best_state, waited = np.inf, 0, None, 0
        for epoch in range(cfg.epochs):
            net.train()
            order = tr[torch.randperm(len(tr), generator=gen)]
            for i in range(0, len(order), cfg.batch):
                idx = order[i : i + cfg.batch]
                opt.zero_grad()
                loss = loss_fn(net(W[idx]).squeeze(1), T[idx])
                loss.backward()
                opt.step()
            p = _predict_net(net, W[va])
            val = float(np.mean((p - T[va].numpy()) ** 2))
            if val < best:
                best, best_epoch, waited = val, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
        if best_state is None:  # the held-out loss was never finite: keep the last weights
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(best_state)
        p = _predict_net(net, W[held])
        return {k: v.numpy().copy() for k, v in best_state.items()}, best_epoch, p

    # -- predicting --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.norm is None or not self.states:
            raise ValueError("the model is not fitted; call fit() or load a saved model")

    def _nets(self):
        import torch

        nets = []
        for s in self.states:
            n_sig = int(self.norm.keep.sum()) * (2 if self.net.baseline_rows > 0 else 1)
            net = _build_net(n_sig + int(self.net.age), self.net)
            net.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in s.items()})
            nets.append(net)
        return nets

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Remaining life for every row, from its unit's last `window` rows up to it (0..r_early)."""
        import torch

        self._check_fitted()
        torch.set_num_threads(1)
        X = check_rows(X, self.n_ops)
        W = torch.from_numpy(self._inputs(X))
        p = np.mean([_predict_net(net, W) for net in self._nets()], axis=0)
        return np.clip(p * self.r_early, 0.0, self.r_early)

    def predict_interval(self, X: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Band that holds min(true RUL, r_early) with probability `coverage` (from validation units)."""
        return self.interval_around(self.predict(X), coverage)

    def interval_around(self, p: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """The band for point predictions `p` already computed."""
        return self.band.interval(p, coverage, self.r_early)

    # -- saving ------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        params = {
            "n_ops": self.n_ops,
            "r_early": self.r_early,
            "n_folds": self.n_folds,
            "seed": self.seed,
            "n_bins": self.n_bins,
            "net": self.net.to_json(),
            "drop_beyond": self.drop_beyond,
            "n_nets": len(self.states),
            "weight_names": list(self.states[0]),
            "info": self.info,
        }
        return params, pack_arrays(self.norm, self.band, self.states)

    def set_state(self, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        try:
            self.__init__(
                n_ops=params["n_ops"],
                r_early=params["r_early"],
                n_folds=params["n_folds"],
                seed=params["seed"],
                n_bins=params["n_bins"],
                net=NetConfig.from_json(params["net"]),
                drop_beyond=params.get("drop_beyond", False),
            )
            self.norm, self.states, self.band = unpack_arrays(params, arrays)
        except KeyError as e:
            raise ModelFileError(f"cnn_rul model: field {e.args[0]!r} is missing") from None
        except TypeError as e:
            raise ModelFileError(f"cnn_rul model: bad network config ({e})") from None
        self.info = dict(params.get("info", {}))


def pack_arrays(
    norm: ConditionNormaliser, band: ResidualBand, states: list[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays a fitted network model saves (`CnnRul`, `GruRul`): its normaliser, its band
    and each network's weights as `net{i}.{name}`; the params name the weights and count the
    networks (`weight_names`, `n_nets`)."""
    arrays = {f"norm_{k}": v for k, v in norm.get_state().items()}
    arrays.update(band.arrays())
    for i, s in enumerate(states):
        for k, v in s.items():
            arrays[f"net{i}.{k}"] = v
    return arrays


def unpack_arrays(
    params: dict[str, Any], arrays: dict[str, np.ndarray]
) -> tuple[ConditionNormaliser, list[dict[str, np.ndarray]], ResidualBand]:
    """What `pack_arrays` wrote (KeyError names a missing field)."""
    norm = ConditionNormaliser.from_state(
        {k.removeprefix("norm_"): v for k, v in arrays.items() if k.startswith("norm_")}
    )
    names = params["weight_names"]
    states = [
        {k: np.asarray(arrays[f"net{i}.{k}"], dtype=np.float32) for k in names}
        for i in range(int(params["n_nets"]))
    ]
    return norm, states, ResidualBand.from_arrays(arrays)


def _predict_net(net, W) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(W), 4096):
            out.append(net(W[i : i + 4096]).squeeze(1).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
