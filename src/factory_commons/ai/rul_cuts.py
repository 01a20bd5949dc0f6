"""How late in life the units to predict were cut, from their ages alone (no label).

A RUL model trained on every cycle of run-to-failure units learns what a unit of some age and
history has left *if units are looked at on every cycle*. Units to predict (a test file, a fleet
read on one day) were cut at some point before failure, and how late decides what an early unit
with no visible wear has left. Their ages (observed lengths: an input, not a label) say it.

The model of a cut: a unit of life L is cut with its remaining life uniform in 1..H(L), with
H(L) = H0 (L / mean training life) ** beta; beta = 0 cuts every unit within the same last H0
cycles, beta = 1 at the same share of its life. A unit's age is L - RUL; the likelihood of the
observed ages is computed with lives drawn from the training lives (slightly smoothed), for each
(beta, H0) of a grid, and the grid's posterior (flat prior) is kept: the ages alone rarely single
out one beta, so the cut is a mixture rather than one guess.

`row_weights` turns that into one weight per training row (the chance that a cut of its unit
falls on that row; every unit sums to 1): the validation rows and the calibration of the gate and
the band then look like the units to predict (`GbmRul.recalibrate`), and `sample_cuts` draws
validation cut points from it.

The earlier estimate (issue 24, first round) kept beta = 0 and H0 from the mean age only:
H = 2 (mean life - mean age) - 1. On C-MAPSS FD002 that gave H = 150 while the units were cut with
up to 194 cycles left (data README); the spread of the ages tells the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BETAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
SMOOTH = 0.1  # lives drawn from the training lives plus noise of this share of their spread
DRAWS = 40  # smoothed lives per training life
FLOOR = 1e-3  # share of a flat density in the likelihood: one odd age does not rule a cut out


def unit_lives(units: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Life (last RUL + 1) of every unit of run-to-failure rows, in the order of np.unique(units)."""
    uniq, inv = np.unique(units, return_inverse=True)
    out = np.zeros(len(uniq))
    np.maximum.at(out, inv, y)
    return out + 1.0


def horizon_from_mean_age(lives: np.ndarray, ages: np.ndarray) -> float:
    """The first-round estimate (beta = 0, mean ages only): H = 2 (mean life - mean age) - 1,
    between 10 cycles and the longest training life."""
    h = 2.0 * (float(np.mean(lives)) - float(np.mean(ages))) - 1.0
    return float(np.clip(h, 10.0, float(np.max(lives))))


@dataclass(frozen=True)
class CutModel:
    """Posterior over (beta, H0) of the cut, learned from training lives and ages to predict."""

    mean_life: float
    betas: np.ndarray  # one per grid point
    h0s: np.ndarray  # one per grid point
    post: np.ndarray  # posterior weight per grid point (sums to 1)

    @classmethod
    def fit(cls, lives: np.ndarray, ages: np.ndarray, seed: int = 0) -> CutModel:
        lives = np.asarray(lives, dtype=np.float64)
        ages = np.asarray(ages, dtype=np.float64)
        if len(lives) < 2 or len(ages) < 1:
            raise ValueError("need the lives of at least 2 training units and at least 1 age")
        rng = np.random.default_rng(seed)
        lv = np.repeat(lives, DRAWS) + rng.normal(0.0, SMOOTH * lives.std() + 1e-9, len(lives) * DRAWS)
        lv = np.maximum(lv, 2.0)
        mean = float(lives.mean())
        h0_grid = np.arange(10.0, float(lives.max()) + 1.0, 5.0)
        rul = lv[None, :] - ages[:, None]  # remaining life at the cut, per age and drawn life
        flat = FLOOR / float(lv.max())
        betas, h0s, lls = [], [], []
        for beta in BETAS:
            scale = (lv / mean) ** beta
            for h0 in h0_grid:
                h = np.minimum(h0 * scale, lv - 1.0)
                dens = ((rul >= 1) & (rul <= h[None, :])) / np.maximum(h, 1.0)[None, :]
                lls.append(float(np.log((1 - FLOOR) * dens.mean(axis=1) + flat).sum()))
                betas.append(beta)
                h0s.append(h0)
        ll = np.array(lls)
        post = np.exp(ll - ll.max())
        return cls(mean, np.array(betas), np.array(h0s), post / post.sum())

    @classmethod
    def fit_joint(
        cls,
        units: np.ndarray,
        y: np.ndarray,
        est_rows: np.ndarray,
        ages: np.ndarray,
        est: np.ndarray,
        width: float = 10.0,
    ) -> CutModel:
        """The posterior from the ages *and* a model's estimate of the units to predict (`est`,
        e.g. the clipped models' RUL; inputs only), against the training rows' out-of-fold
        estimates `est_rows`: under a cut (beta, H0), a unit to predict looks like a training
        row drawn by `row_weights`, so the density of (age, estimate) is a weighted histogram of
        the training rows (`width`-wide bins, smoothed by one bin). The estimate says how many
        units show no wear yet and how many are near failure, which the ages alone barely do."""
        units = np.asarray(units)
        y, q = np.asarray(y, dtype=np.float64), np.asarray(est_rows, dtype=np.float64)
        ages, est = np.asarray(ages, dtype=np.float64), np.asarray(est, dtype=np.float64)
        uniq, inv = np.unique(units, return_inverse=True)
        lives = unit_lives(units, y)
        life = lives[inv]
        age_rows = life - y
        mean = float(lives.mean())
        a_edges = np.arange(0.0, max(age_rows.max(), ages.max()) + 2 * width, width)
        q_edges = np.arange(0.0, max(q.max(), est.max()) + 2 * width, width)
        ia = np.clip(np.searchsorted(a_edges, ages, side="right") - 1, 0, len(a_edges) - 2)
        iq = np.clip(np.searchsorted(q_edges, est, side="right") - 1, 0, len(q_edges) - 2)
        kern = np.array([0.25, 0.5, 0.25])
        h0_grid = np.arange(10.0, float(lives.max()) + 1.0, 5.0)
        betas, h0s, lls = [], [], []
        for beta in BETAS:
            scale = (life / mean) ** beta
            for h0 in h0_grid:
                h = np.floor(np.maximum(np.minimum(h0 * scale, life - 1.0), 1.0))
                w = ((y >= 1) & (y <= h)) / h / len(uniq)
                dens, _, _ = np.histogram2d(age_rows, q, bins=(a_edges, q_edges), weights=w)
                dens = np.apply_along_axis(lambda v: np.convolve(v, kern, mode="same"), 0, dens)
                dens = np.apply_along_axis(lambda v: np.convolve(v, kern, mode="same"), 1, dens)
                dens = (1 - FLOOR) * dens + FLOOR / dens.size
                lls.append(float(np.log(dens[ia, iq]).sum()))
                betas.append(beta)
                h0s.append(h0)
        ll = np.array(lls)
        post = np.exp(ll - ll.max())
        return cls(mean, np.array(betas), np.array(h0s), post / post.sum())

    def horizons(self, life: float) -> np.ndarray:
        """H(L) of every grid point for a unit of life `life`."""
        return np.minimum(self.h0s * (life / self.mean_life) ** self.betas, life - 1.0)

    def row_weights(self, units: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Chance that a cut of its unit falls on each row (run-to-failure rows; y = true RUL);
        the rows of every unit sum to 1."""
        units, y = np.asarray(units), np.asarray(y, dtype=np.float64)
        w = np.zeros(len(y))
        keep = self.post > 1e-4 * self.post.max()
        post = self.post[keep] / self.post[keep].sum()
        for u in np.unique(units):
            rows = np.flatnonzero(units == u)
            r = y[rows]
            life = float(r.max()) + 1.0
            h = np.maximum(
                np.minimum(self.h0s[keep] * (life / self.mean_life) ** self.betas[keep], life - 1), 1
            )
            inside = (r[:, None] >= 1) & (r[:, None] <= np.floor(h)[None, :])
            w[rows] = (inside / np.floor(h)[None, :]) @ post
            s = w[rows].sum()
            if s > 0:
                w[rows] /= s
        return w

    def sample_cuts(self, units: np.ndarray, y: np.ndarray, per_unit: int, seed: int = 0) -> np.ndarray:
        """`per_unit` seeded validation cut points per unit, drawn by `row_weights`."""
        rng = np.random.default_rng(seed)
        w = self.row_weights(units, y)
        out = []
        for u in np.unique(units):
            rows = np.flatnonzero((np.asarray(units) == u) & (w > 0))
            if len(rows):
                out.append(rng.choice(rows, per_unit, replace=True, p=w[rows] / w[rows].sum()))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def summary(self) -> str:
        """The most likely (beta, H0), the posterior mean of beta, and H for a life of the mean."""
        best = int(np.argmax(self.post))
        beta_mean = float(self.post @ self.betas)
        h_mean = float(self.post @ self.horizons(self.mean_life))
        return (
            f"most likely beta {self.betas[best]:g}, H0 {self.h0s[best]:.0f}; posterior mean beta {beta_mean:.2f}, "
            f"H at the mean life {h_mean:.0f}"
        )
