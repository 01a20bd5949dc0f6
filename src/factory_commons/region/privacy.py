"""Optional differential-privacy noise on the published census tables (OpenDP's Laplace mechanism).

A total budget ε covers the whole release. The maturity and platform tables are censuses of
opted-in firms: each firm is in exactly one cell of every *partition* (the cells that filter
on the same dimensions: district × industry, district, industry, ..., the grand total), so in
one partition the cells compose in parallel and the partitions compose in sequence. Each
partition releases its counts and, per measure, its sums, so

    ε_release = ε / Σ over populations (partitions × (1 + measures))

and every release is ε_release-differentially private under adding or removing one firm:

    count     discrete Laplace, scale 1/ε_release (sensitivity 1)
    sum       Laplace, scale hi/ε_release, for values in [0, hi] (maturity scores 1-5: hi 5,
              shares: hi 1); the true sum is the cell's mean times its firms

OpenDP builds each mechanism and its privacy map confirms the ε it spends (`budget_check`).
A variable that appears in two tables (a district total) is released once and reused. The
published value is noisy sum / noisy count (clipped to [0, hi]), `n_firms` the noisy count,
and the interval is the 95 % interval of the noise (delta method):

    sd(value) ≈ sqrt(2 b_sum² + value² · 2 b_count²) / n_firms

Suppression (disclosure.py) is decided on the true counts before the noise; survey tables,
already estimates from a sample, get no noise here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from .disclosure import Cell

NOISY_POPULATIONS = ("maturity", "platform")
#: largest value a measure can take (values are >= 0): maturity scores up to 5, shares up to 1
MEASURE_MAX = {"score": 5.0}
DEFAULT_MAX = 1.0
Z95 = 1.959963984540054


@cache
def _dp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@cache
def count_mechanism(epsilon: float):
    """Discrete Laplace for an integer count with sensitivity 1, spending `epsilon`."""
    dp = _dp()
    return dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=1.0 / epsilon)


@cache
def sum_mechanism(epsilon: float, hi: float):
    """Laplace for a sum of values in [0, hi] (sensitivity hi), spending `epsilon`."""
    dp = _dp()
    return dp.m.make_laplace(
        dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=hi / epsilon
    )


def measure_max(measure: str, population: str) -> float:
    if population == "maturity" and measure not in ("level_3_plus",):
        return MEASURE_MAX.get("score", 5.0)
    return DEFAULT_MAX


def plan(cells: Sequence[Cell], epsilon: float) -> tuple[float, dict[str, tuple[int, int]]]:
    """ε per release, and population -> (partitions, measures) of the noisy populations."""
    if not epsilon > 0:
        raise ValueError(f"the privacy budget epsilon must be positive, got {epsilon}")
    parts: dict[str, set[frozenset]] = {}
    measures: dict[str, set[str]] = {}
    for c in cells:
        pop, key = c.key
        if pop in NOISY_POPULATIONS:
            parts.setdefault(pop, set()).add(frozenset(d for d, _ in key))
            measures.setdefault(pop, set()).add(c.measure)
    shape = {p: (len(parts[p]), len(measures[p])) for p in parts}
    releases = sum(n * (1 + m) for n, m in shape.values())
    return (epsilon / releases if releases else epsilon), shape


def budget_check(eps_release: float, hi: float = 5.0) -> tuple[float, float]:
    """The ε OpenDP's privacy maps give for one count and one sum release."""
    return float(count_mechanism(eps_release).map(1)), float(sum_mechanism(eps_release, hi).map(hi))


def add_noise(cells: Sequence[Cell], epsilon: float) -> list[Cell]:
    """The published cells with noise on the maturity and platform cells (see the module doc)."""
    eps_r, _shape = plan(cells, epsilon)
    counts: dict[tuple, int] = {}
    sums: dict[tuple, float] = {}
    out = []
    for c in cells:
        if c.population not in NOISY_POPULATIONS or c.suppressed or c.n_firms is None:
            out.append(c)
            continue
        key = c.key
        if key not in counts:
            counts[key] = max(int(count_mechanism(eps_r)(int(c.n_firms))), 0)
        n_noisy = counts[key]
        hi = measure_max(c.measure, c.population)
        skey = (key, c.measure)
        if skey not in sums and c.value is not None:
            sums[skey] = float(sum_mechanism(eps_r, hi)(float(c.value) * c.n_firms))
        if c.value is None:
            out.append(replace(c, n_firms=n_noisy, dp_epsilon=epsilon))
            continue
        value = min(max(sums[skey] / max(n_noisy, 1), 0.0), hi)
        b_count, b_sum = 1.0 / eps_r, hi / eps_r
        sd = math.sqrt(2 * b_sum**2 + value**2 * 2 * b_count**2) / max(n_noisy, 1)
        out.append(
            replace(
                c,
                value=value,
                n_firms=n_noisy,
                ci_low=max(value - Z95 * sd, 0.0),
                ci_high=min(value + Z95 * sd, hi),
                dp_epsilon=epsilon,
                note="dp",
            )
        )
    return out
