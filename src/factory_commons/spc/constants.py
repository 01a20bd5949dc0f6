"""Control chart constants computed from their definitions, for subgroup sizes 2..25 (and beyond).

Nothing here is copied from a table. With X_1..X_n independent N(0, 1):

- d2(n) = E[R], the mean of the sample range R = max - min:
  d2 = ∫ (1 - Φ(x)^n - (1 - Φ(x))^n) dx over the real line (Tippett 1925; Montgomery,
  *Introduction to Statistical Quality Control*, 6th ed., Appendix VI is the usual table).
- d3(n) = sd(R). The range's distribution is P(R <= w) = n ∫ φ(x) (Φ(x + w) - Φ(x))^(n-1) dx,
  and E[R²] = 2 ∫_0^∞ w P(R > w) dw; d3 = sqrt(E[R²] - d2²).
- c4(n) = E[S] for the sample standard deviation S:
  c4 = sqrt(2 / (n - 1)) Γ(n / 2) / Γ((n - 1) / 2).

Both integrals are evaluated numerically (trapezoid rule on a fine grid; the integrands are
smooth and decay like a normal density, so the error is far below the 3-4 decimals that
tables print). The derived factors follow the textbook definitions:

    A  = 3 / sqrt(n)                 A2 = 3 / (d2 sqrt(n))        A3 = 3 / (c4 sqrt(n))
    D1 = max(0, d2 - 3 d3)           D2 = d2 + 3 d3               E2 = 3 / d2
    D3 = max(0, 1 - 3 d3 / d2)       D4 = 1 + 3 d3 / d2
    B3 = max(0, 1 - 3 sqrt(1 - c4²) / c4)      B4 = 1 + 3 sqrt(1 - c4²) / c4
    B5 = max(0, c4 - 3 sqrt(1 - c4²))          B6 = c4 + 3 sqrt(1 - c4²)

tests/test_spc.py checks them against the printed table values for several n.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
from scipy.special import gammaln, ndtr

_X = np.linspace(-12.0, 12.0, 24001)  # step 0.001
_XC = np.linspace(-9.0, 9.0, 1801)  # step 0.01, for the range distribution
_W = np.linspace(0.0, 14.0, 2801)  # step 0.005


def _check_n(n: int, low: int = 2) -> int:
    if int(n) != n or n < low:
        raise ValueError(f"subgroup size must be an integer >= {low}, got {n}")
    return int(n)


@cache
def d2(n: int) -> float:
    """Mean of the range of n standard normal observations."""
    n = _check_n(n)
    phi = ndtr(_X)
    return float(np.trapezoid(1.0 - phi**n - (1.0 - phi) ** n, _X))


@cache
def d3(n: int) -> float:
    """Standard deviation of the range of n standard normal observations."""
    n = _check_n(n)
    pdf = np.exp(-0.5 * _XC**2) / math.sqrt(2 * math.pi)
    phi = ndtr(_XC)
    # P(R <= w) for every w of the grid: n ∫ φ(x) (Φ(x + w) - Φ(x))^(n-1) dx
    inner = ndtr(_XC[None, :] + _W[:, None]) - phi[None, :]
    cdf = n * np.trapezoid(pdf[None, :] * inner ** (n - 1), _XC, axis=1)
    second_moment = 2.0 * np.trapezoid(_W * (1.0 - np.clip(cdf, 0.0, 1.0)), _W)
    return float(math.sqrt(second_moment - d2(n) ** 2))


def c4(n: int | float) -> float:
    """E[S] / sigma for n normal observations (n may be any real > 1, e.g. pooled degrees + 1)."""
    if n <= 1:
        raise ValueError(f"c4 needs n > 1, got {n}")
    return float(math.sqrt(2.0 / (n - 1)) * math.exp(gammaln(n / 2.0) - gammaln((n - 1) / 2.0)))


@dataclass(frozen=True)
class Factors:
    """All control chart factors for one subgroup size."""

    n: int
    d2: float
    d3: float
    c4: float
    A: float
    A2: float
    A3: float
    B3: float
    B4: float
    B5: float
    B6: float
    D1: float
    D2: float
    D3: float
    D4: float
    E2: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@cache
def factors(n: int) -> Factors:
    """The control chart factors for subgroup size n (2..25 in the usual tables; any n >= 2 works)."""
    n = _check_n(n)
    dd2, dd3, cc4 = d2(n), d3(n), c4(n)
    s_c4 = math.sqrt(1.0 - cc4**2)
    return Factors(
        n=n,
        d2=dd2,
        d3=dd3,
        c4=cc4,
        A=3.0 / math.sqrt(n),
        A2=3.0 / (dd2 * math.sqrt(n)),
        A3=3.0 / (cc4 * math.sqrt(n)),
        B3=max(0.0, 1.0 - 3.0 * s_c4 / cc4),
        B4=1.0 + 3.0 * s_c4 / cc4,
        B5=max(0.0, cc4 - 3.0 * s_c4),
        B6=cc4 + 3.0 * s_c4,
        D1=max(0.0, dd2 - 3.0 * dd3),
        D2=dd2 + 3.0 * dd3,
        D3=max(0.0, 1.0 - 3.0 * dd3 / dd2),
        D4=1.0 + 3.0 * dd3 / dd2,
        E2=3.0 / dd2,
    )


def table(sizes: range = range(2, 26)) -> list[Factors]:
    """The factor table for the given subgroup sizes (default 2..25)."""
    return [factors(n) for n in sizes]
