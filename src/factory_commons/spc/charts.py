"""Shewhart control charts: X̄-R, X̄-S, I-MR (variables) and p, np, c, u (attributes).

Every chart is computed from the data given (Phase I, "trial" limits in Montgomery's words):
the limits describe the process the data came from. Investigate and drop points with an
assignable cause, then compute again, before using the limits to monitor new data.

Formulas (Montgomery, *Introduction to Statistical Quality Control*, 6th ed., ch. 6 and 7):

- X̄-R: σ̂ = R̄ / d2; X̄ limits x̿ ± A2 R̄, R limits D3 R̄ .. D4 R̄. With subgroup sizes that
  differ, σ̂ = mean(R_i / d2(n_i)) and each point gets its own limits x̿ ± 3 σ̂ / sqrt(n_i),
  R: d2(n_i) σ̂ with D1(n_i) σ̂ .. D2(n_i) σ̂ (the same formulas when every n_i = n).
- X̄-S: σ̂ = S̄ / c4; X̄ limits x̿ ± A3 S̄, S limits B3 S̄ .. B4 S̄. With sizes that differ,
  σ̂ is the pooled standard deviation divided by c4(Σ(n_i - 1) + 1), and each point gets
  x̿ ± 3 σ̂ / sqrt(n_i), S: c4(n_i) σ̂ with B5(n_i) σ̂ .. B6(n_i) σ̂.
- I-MR: MR_i = |x_i - x_{i-1}|, σ̂ = MR̄ / d2(2); I limits x̄ ± 3 σ̂ = x̄ ± E2 MR̄,
  MR limits 0 .. D4(2) MR̄.
- p: p̄ = Σ d_i / Σ n_i, limits p̄ ± 3 sqrt(p̄ (1 - p̄) / n_i) (per point when n_i differ).
- np: n_i p̄ ± 3 sqrt(n_i p̄ (1 - p̄)); with one n this is the textbook np chart, with
  differing n the centre line moves with n_i too (the p chart is easier to read then).
- c: c̄ ± 3 sqrt(c̄), for equal areas of opportunity.
- u: ū = Σ c_i / Σ n_i, limits ū ± 3 sqrt(ū / n_i).

Lower limits below zero are set to zero, upper limits of p above one to one. Each chart keeps
the standard error of each plotted point (`sigma`), so the zone rules (1σ, 2σ) in `rules.py`
work with per-point limits too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..i18n import Catalog
from .constants import c4, d2, d3

#: Fewer subgroups than this still give a chart, but with a warning: Montgomery recommends
#: 20 to 25 subgroups for trial limits.
RECOMMENDED_SUBGROUPS = 20

#: Chart names (Korean, English) are in the `spc` catalog, keyed by `Chart.name`, and so are
#: the errors and warnings below.
CHART_TEXTS = Catalog("spc")


def _text(key: str, **values) -> str:
    """An error or warning of the `spc` catalog, "Korean / English", with its fields filled."""
    return CHART_TEXTS.both(key, " / ").format(**values)


class SpcError(ValueError):
    """The data cannot give the requested chart or index; the message says why and what to do."""


@dataclass
class Chart:
    """One control chart: the plotted points, their limits and the standard error of each."""

    name: str
    values: np.ndarray
    center: np.ndarray
    ucl: np.ndarray
    lcl: np.ndarray
    sigma: np.ndarray
    labels: list = field(default_factory=list)
    sizes: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = list(range(len(self.values)))

    @property
    def title(self) -> str:
        return CHART_TEXTS.both(self.name)

    @property
    def short_title(self) -> str:
        ko, en = CHART_TEXTS.pair(self.name)
        return f"{ko} {en.split(' (')[0]}"

    def __len__(self) -> int:
        return len(self.values)

    @property
    def constant_limits(self) -> bool:
        return bool(
            np.allclose(self.center, self.center[0])
            and np.allclose(self.ucl, self.ucl[0])
            and np.allclose(self.lcl, self.lcl[0])
        )

    def beyond_limits(self) -> list[int]:
        """Indices of the points above the UCL or below the LCL."""
        return [int(i) for i in np.flatnonzero((self.values > self.ucl) | (self.values < self.lcl))]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "constant_limits": self.constant_limits,
            "points": [
                {
                    "index": i,
                    "label": _jsonable(self.labels[i]),
                    "value": float(self.values[i]),
                    "center": float(self.center[i]),
                    "ucl": float(self.ucl[i]),
                    "lcl": float(self.lcl[i]),
                    **({"size": int(self.sizes[i])} if self.sizes is not None else {}),
                }
                for i in range(len(self))
            ],
        }


@dataclass
class VariablesChart:
    """A location chart (X̄ or I) with its dispersion chart (R, S or MR) and the σ estimate."""

    kind: str  # "xbar-r", "xbar-s" or "imr"
    location: Chart
    dispersion: Chart
    sigma_within: float
    #: effective degrees of freedom of sigma_within (for capability confidence intervals)
    sigma_df: float
    sigma_method: str
    observations: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        return [self.location, self.dispersion]


@dataclass
class AttributesChart:
    kind: str  # "p", "np", "c" or "u"
    chart: Chart
    warnings: list[str] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        return [self.chart]


def _jsonable(v):
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _as_subgroups(subgroups: Sequence[Sequence[float]]) -> list[np.ndarray]:
    groups = [np.asarray(g, dtype=float) for g in subgroups]
    if len(groups) < 2:
        raise SpcError(_text("err_few_subgroups", got=len(groups)))
    for i, g in enumerate(groups):
        if g.ndim != 1 or len(g) < 2:
            raise SpcError(_text("err_subgroup_size", i=i, n=g.size))
        if not np.all(np.isfinite(g)):
            raise SpcError(f"subgroup {i} has a value that is not a finite number")
    return groups


def _labels(labels, n: int) -> list:
    if labels is None:
        return list(range(n))
    labels = list(labels)
    if len(labels) != n:
        raise SpcError(f"{len(labels)} labels for {n} points")
    return labels


def _few_warning(m: int, what: str = "subgroups") -> list[str]:
    if m < RECOMMENDED_SUBGROUPS:
        key = "warn_few_subgroups" if what == "subgroups" else "warn_few_values"
        return [_text(key, m=m, want=RECOMMENDED_SUBGROUPS)]
    return []


def _patnaik_df(relative_variance: float) -> float:
    """Degrees of freedom ν of a chi-square approximation σ̂ ≈ σ χ_ν / sqrt(ν) with the same
    relative variance Var(σ̂)/σ² (Patnaik 1950): Var(χ_ν/sqrt(ν)) ≈ 1 / (2ν)."""
    return 1.0 / (2.0 * relative_variance)


def xbar_r(subgroups: Sequence[Sequence[float]], labels=None) -> VariablesChart:
    """X̄ and R charts; σ̂ = R̄ / d2."""
    groups = _as_subgroups(subgroups)
    m = len(groups)
    labels = _labels(labels, m)
    n = np.array([len(g) for g in groups])
    means = np.array([g.mean() for g in groups])
    ranges = np.array([g.max() - g.min() for g in groups])
    d2n = np.array([d2(k) for k in n])
    d3n = np.array([d3(k) for k in n])
    sigma = float(np.mean(ranges / d2n))
    if sigma <= 0:
        raise SpcError(_text("err_zero_range"))
    grand = float(np.sum(n * means) / np.sum(n))
    se = sigma / np.sqrt(n)
    loc = Chart("xbar", means, np.full(m, grand), grand + 3 * se, grand - 3 * se, se, labels, n)
    r_center = d2n * sigma
    disp = Chart(
        "r",
        ranges,
        r_center,
        (d2n + 3 * d3n) * sigma,
        np.maximum(0.0, d2n - 3 * d3n) * sigma,
        d3n * sigma,
        labels,
        n,
    )
    rel_var = float(np.sum((d3n / d2n) ** 2)) / m**2
    return VariablesChart(
        "xbar-r",
        loc,
        disp,
        sigma,
        _patnaik_df(rel_var),
        "R̄/d2",
        np.concatenate(groups),
        _few_warning(m),
    )


def xbar_s(subgroups: Sequence[Sequence[float]], labels=None) -> VariablesChart:
    """X̄ and S charts; σ̂ = S̄ / c4 (pooled standard deviation / c4 when sizes differ)."""
    groups = _as_subgroups(subgroups)
    m = len(groups)
    labels = _labels(labels, m)
    n = np.array([len(g) for g in groups])
    means = np.array([g.mean() for g in groups])
    sds = np.array([g.std(ddof=1) for g in groups])
    c4n = np.array([c4(k) for k in n])
    if np.all(n == n[0]):
        sigma = float(sds.mean() / c4n[0])
        df = _patnaik_df((1 - c4n[0] ** 2) / (m * c4n[0] ** 2))
        method = "S̄/c4"
    else:
        dof = int(np.sum(n - 1))
        pooled = math.sqrt(float(np.sum((n - 1) * sds**2)) / dof)
        sigma = pooled / c4(dof + 1)
        df = float(dof)
        method = "s_pooled/c4"
    if sigma <= 0:
        raise SpcError(_text("err_zero_std"))
    grand = float(np.sum(n * means) / np.sum(n))
    se = sigma / np.sqrt(n)
    loc = Chart("xbar", means, np.full(m, grand), grand + 3 * se, grand - 3 * se, se, labels, n)
    spread = np.sqrt(1 - c4n**2)
    disp = Chart(
        "s",
        sds,
        c4n * sigma,
        (c4n + 3 * spread) * sigma,
        np.maximum(0.0, c4n - 3 * spread) * sigma,
        spread * sigma,
        labels,
        n,
    )
    return VariablesChart("xbar-s", loc, disp, sigma, df, method, np.concatenate(groups), _few_warning(m))


# Moments of |X_i - X_{i-1}| for independent N(0, σ²) observations, in units of σ²:
# Var(MR) = 2 - 4/π (= d3(2)²), and neighbouring moving ranges share one observation:
# Cov(MR_i, MR_{i+1}) = (4/π)(sqrt(3)/2 + (1/2) asin(1/2)) - 4/π  (bivariate normal with ρ = -1/2,
# E|U||V| = (2 σ_U σ_V / π)(sqrt(1 - ρ²) + ρ asin ρ)).
_MR_VAR = 2.0 - 4.0 / math.pi
_MR_COV = (4.0 / math.pi) * (math.sqrt(3.0) / 2.0 + 0.5 * math.asin(0.5)) - 4.0 / math.pi


def imr(values: Sequence[float], labels=None) -> VariablesChart:
    """Individuals and moving-range charts; σ̂ = MR̄ / d2(2)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < 3:
        raise SpcError(_text("err_imr_few_values", got=x.size))
    if not np.all(np.isfinite(x)):
        raise SpcError("a value is not a finite number")
    labels = _labels(labels, len(x))
    mr = np.abs(np.diff(x))
    mr_bar = float(mr.mean())
    d2_2, d3_2 = d2(2), d3(2)
    sigma = mr_bar / d2_2
    if sigma <= 0:
        raise SpcError(_text("err_zero_values"))
    mean = float(x.mean())
    k = len(mr)
    m = len(x)
    loc = Chart(
        "i",
        x,
        np.full(m, mean),
        np.full(m, mean + 3 * sigma),
        np.full(m, mean - 3 * sigma),
        np.full(m, sigma),
        labels,
    )
    # the MR chart has no point for the first value: it is drawn from the second on
    disp = Chart(
        "mr",
        mr,
        np.full(k, mr_bar),
        np.full(k, (d2_2 + 3 * d3_2) * sigma),
        np.zeros(k),
        np.full(k, d3_2 * sigma),
        labels[1:],
    )
    rel_var = (k * _MR_VAR + 2 * (k - 1) * _MR_COV) / (k**2 * d2_2**2)
    return VariablesChart(
        "imr", loc, disp, sigma, _patnaik_df(rel_var), "MR̄/d2", x, _few_warning(m, "values")
    )


def _counts(counts, sizes=None, *, integer: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    c = np.asarray(counts, dtype=float)
    if c.ndim != 1 or len(c) < 2:
        raise SpcError(f"need counts for at least 2 subgroups, got {c.size}")
    if np.any(c < 0) or not np.all(np.isfinite(c)):
        raise SpcError("counts must be finite and not negative")
    if integer and np.any(c != np.round(c)):
        raise SpcError("counts must be whole numbers")
    if sizes is None:
        return c, None
    if np.isscalar(sizes):
        n = np.full(len(c), float(sizes))
    else:
        n = np.asarray(sizes, dtype=float)
    if n.shape != c.shape:
        raise SpcError(f"{len(n)} subgroup sizes for {len(c)} counts")
    if np.any(n <= 0) or not np.all(np.isfinite(n)):
        raise SpcError("subgroup sizes must be positive")
    return c, n


def p_chart(defectives, sizes, labels=None) -> AttributesChart:
    """Fraction nonconforming: `defectives[i]` of `sizes[i]` inspected units."""
    d, n = _counts(defectives, sizes)
    if np.any(d > n):
        raise SpcError("a subgroup has more defectives than inspected units")
    p_bar = float(d.sum() / n.sum())
    if p_bar in (0.0, 1.0):
        raise SpcError(
            f"p̄ = {p_bar:g}: no variation, so no limits (every unit {'good' if p_bar == 0 else 'bad'})"
        )
    se = np.sqrt(p_bar * (1 - p_bar) / n)
    chart = Chart(
        "p",
        d / n,
        np.full(len(d), p_bar),
        np.minimum(1.0, p_bar + 3 * se),
        np.maximum(0.0, p_bar - 3 * se),
        se,
        _labels(labels, len(d)),
        n,
    )
    return AttributesChart("p", chart, _few_warning(len(d)))


def np_chart(defectives, sizes, labels=None) -> AttributesChart:
    """Number nonconforming; with one subgroup size this is the textbook np chart."""
    d, n = _counts(defectives, sizes)
    if np.any(d > n):
        raise SpcError("a subgroup has more defectives than inspected units")
    p_bar = float(d.sum() / n.sum())
    if p_bar in (0.0, 1.0):
        raise SpcError(f"p̄ = {p_bar:g}: no variation, so no limits")
    se = np.sqrt(n * p_bar * (1 - p_bar))
    chart = Chart(
        "np",
        d,
        n * p_bar,
        np.minimum(n, n * p_bar + 3 * se),
        np.maximum(0.0, n * p_bar - 3 * se),
        se,
        _labels(labels, len(d)),
        n,
    )
    warnings = _few_warning(len(d))
    if not np.allclose(n, n[0]):
        warnings.append(_text("warn_np_sizes_differ"))
    return AttributesChart("np", chart, warnings)


def c_chart(defects, labels=None) -> AttributesChart:
    """Nonconformities per inspection unit of constant size."""
    c, _ = _counts(defects)
    c_bar = float(c.mean())
    if c_bar == 0:
        raise SpcError("c̄ = 0: no nonconformities at all, so no limits")
    se = math.sqrt(c_bar)
    m = len(c)
    chart = Chart(
        "c",
        c,
        np.full(m, c_bar),
        np.full(m, c_bar + 3 * se),
        np.full(m, max(0.0, c_bar - 3 * se)),
        np.full(m, se),
        _labels(labels, m),
    )
    return AttributesChart("c", chart, _few_warning(m))


def u_chart(defects, sizes, labels=None) -> AttributesChart:
    """Nonconformities per unit: `defects[i]` found in `sizes[i]` units (sizes may be fractional)."""
    c, n = _counts(defects, sizes)
    u_bar = float(c.sum() / n.sum())
    if u_bar == 0:
        raise SpcError("ū = 0: no nonconformities at all, so no limits")
    se = np.sqrt(u_bar / n)
    chart = Chart(
        "u",
        c / n,
        np.full(len(c), u_bar),
        u_bar + 3 * se,
        np.maximum(0.0, u_bar - 3 * se),
        se,
        _labels(labels, len(c)),
        n,
    )
    return AttributesChart("u", chart, _few_warning(len(c)))
