"""Process capability: Cp, Cpk (within-subgroup σ), Pp, Ppk (overall σ), Cpm, with confidence intervals.

    Cp  = (USL - LSL) / (6 σ_within)          Pp  = (USL - LSL) / (6 s)
    Cpk = min(USL - x̄, x̄ - LSL) / (3 σ_within) Ppk = min(USL - x̄, x̄ - LSL) / (3 s)
    Cpm = (USL - LSL) / (6 sqrt(s² + (x̄ - T)²))

σ_within comes from the control chart (R̄/d2, S̄/c4 or MR̄/d2): the short-term spread the
process shows inside subgroups; s is the sample standard deviation of all values: what the
customer receives. With one spec limit, Cp, Pp and Cpm are undefined and Cpk/Ppk are the
one-sided index (Cpu or Cpl).

Confidence intervals (two-sided, level `confidence`; χ²_q,ν and z_q are lower-tail quantiles):

- Cp, Pp: Ĉ sqrt(χ²_{α/2,ν} / ν) .. Ĉ sqrt(χ²_{1-α/2,ν} / ν), exact for normal data when σ̂ is
  a sample standard deviation with ν degrees of freedom (Montgomery, *Introduction to
  Statistical Quality Control*, 6th ed., §8.3.5 "Confidence intervals and tests on process
  capability ratios"; Kane, J. Quality Technology 18(1), 1986). For Pp, ν = N - 1. For Cp
  with σ̂ = R̄/d2, S̄/c4 or MR̄/d2, ν is the effective number of degrees of freedom of that
  estimate (Patnaik's chi-square approximation, see charts.py): about 0.9 m (n - 1) for R̄/d2,
  0.6 (m - 1) for MR̄/d2.
- Cpk, Ppk: Bissell's normal approximation, Ĉ ± z_{1-α/2} sqrt(1/(9N) + Ĉ² / (2ν))
  (A. F. Bissell, "How reliable is your capability index?", Applied Statistics 39(3), 1990,
  331-340; also in Montgomery §8.3.5), with ν = N - 1 in Bissell's paper and ν as above for
  within-subgroup σ.
- Cpm: Ĉpm sqrt(χ²_{α/2,ν} / ν) .. Ĉpm sqrt(χ²_{1-α/2,ν} / ν) with
  ν = N (1 + ξ²)² / (1 + 2ξ²), ξ = (x̄ - T) / s (R. A. Boyles, "The Taguchi capability index",
  J. Quality Technology 23(1), 1991, 17-26; Montgomery §8.3.5).

All of this assumes normal, stable data: compute the indices only when the chart shows no
special causes, and read the intervals: with 30 values a Cpk of 1.33 could well be 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2, norm

from .charts import SpcError, VariablesChart, _text

#: Fewer values than this give a warning: the intervals are wide.
RECOMMENDED_VALUES = 30


@dataclass(frozen=True)
class Index:
    name: str
    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


@dataclass
class Capability:
    n: int
    mean: float
    sigma_within: float
    sigma_within_df: float
    sigma_overall: float
    lsl: float | None
    usl: float | None
    target: float | None
    confidence: float
    cp: Index | None
    cpk: Index
    pp: Index | None
    ppk: Index
    cpm: Index | None
    warnings: list[str] = field(default_factory=list)

    @property
    def indices(self) -> list[Index]:
        return [i for i in (self.cp, self.cpk, self.pp, self.ppk, self.cpm) if i is not None]

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "mean": self.mean,
            "sigma_within": self.sigma_within,
            "sigma_within_df": self.sigma_within_df,
            "sigma_overall": self.sigma_overall,
            "lsl": self.lsl,
            "usl": self.usl,
            "target": self.target,
            "confidence": self.confidence,
            **{i.name.lower(): i.as_dict() for i in self.indices},
            "warnings": self.warnings,
        }


def cp_interval(cp: float, df: float, confidence: float = 0.95) -> tuple[float, float]:
    """Chi-square interval for Cp (or Pp, Cpm) estimated with a σ̂ of `df` degrees of freedom."""
    a = 1.0 - confidence
    return (
        cp * math.sqrt(chi2.ppf(a / 2, df) / df),
        cp * math.sqrt(chi2.ppf(1 - a / 2, df) / df),
    )


def cpk_interval(cpk: float, n: int, df: float, confidence: float = 0.95) -> tuple[float, float]:
    """Bissell (1990): Ĉpk ± z sqrt(1/(9n) + Ĉpk² / (2 df)); df = n - 1 for the overall σ."""
    z = norm.ppf(1 - (1 - confidence) / 2)
    half = z * math.sqrt(1.0 / (9.0 * n) + cpk**2 / (2.0 * df))
    return cpk - half, cpk + half


def process_capability(
    values: Sequence[float],
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    sigma_within: float | None = None,
    sigma_within_df: float | None = None,
    confidence: float = 0.95,
) -> Capability:
    """Capability indices of `values`. Without `sigma_within`, the overall σ is used for both
    (Cp = Pp, Cpk = Ppk); pass the chart's σ̂ (see `capability_from_chart`)."""
    x = np.asarray(values, dtype=float)
    if not 0 < confidence < 1:
        raise SpcError(f"confidence must be between 0 and 1, got {confidence}")
    if lsl is None and usl is None:
        raise SpcError(_text("err_no_spec_limits"))
    if lsl is not None and usl is not None and not lsl < usl:
        raise SpcError(f"LSL ({lsl}) must be below USL ({usl})")
    if x.ndim != 1 or len(x) < 2:
        raise SpcError(_text("err_capability_few_values", got=x.size))
    if not np.all(np.isfinite(x)):
        raise SpcError("a value is not a finite number")
    n = len(x)
    mean = float(x.mean())
    s = float(x.std(ddof=1))
    if s == 0:
        raise SpcError(_text("err_capability_zero_variance"))
    if sigma_within is None:
        sigma_within, sigma_within_df = s, float(n - 1)
    if not sigma_within > 0:
        raise SpcError("the within-subgroup sigma is zero; capability is undefined")
    df_w = float(sigma_within_df) if sigma_within_df else float(n - 1)

    def spread(sigma: float, df: float, name: str) -> Index | None:
        if lsl is None or usl is None:
            return None
        v = (usl - lsl) / (6 * sigma)
        return Index(name, v, *cp_interval(v, df, confidence))

    def centred(sigma: float, df: float, name: str) -> Index:
        sides = []
        if usl is not None:
            sides.append((usl - mean) / (3 * sigma))
        if lsl is not None:
            sides.append((mean - lsl) / (3 * sigma))
        v = min(sides)
        return Index(name, v, *cpk_interval(v, n, df, confidence))

    cpm = None
    if target is not None and lsl is not None and usl is not None:
        if not lsl <= target <= usl:
            raise SpcError(f"target {target} is outside the spec limits [{lsl}, {usl}]")
        xi = (mean - target) / s
        tau = math.sqrt(s**2 + (mean - target) ** 2)
        v = (usl - lsl) / (6 * tau)
        nu = n * (1 + xi**2) ** 2 / (1 + 2 * xi**2)
        cpm = Index("Cpm", v, *cp_interval(v, nu, confidence))

    warnings = []
    if n < RECOMMENDED_VALUES:
        warnings.append(_text("warn_capability_few_values", n=n))
    return Capability(
        n=n,
        mean=mean,
        sigma_within=float(sigma_within),
        sigma_within_df=df_w,
        sigma_overall=s,
        lsl=lsl,
        usl=usl,
        target=target,
        confidence=confidence,
        cp=spread(sigma_within, df_w, "Cp"),
        cpk=centred(sigma_within, df_w, "Cpk"),
        pp=spread(s, n - 1, "Pp"),
        ppk=centred(s, n - 1, "Ppk"),
        cpm=cpm,
        warnings=warnings,
    )


def capability_from_chart(
    chart: VariablesChart,
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    confidence: float = 0.95,
) -> Capability:
    """Capability with the chart's within-subgroup σ̂ (and its effective degrees of freedom)."""
    return process_capability(
        chart.observations, lsl, usl, target, chart.sigma_within, chart.sigma_df, confidence
    )
