"""Run rules: the Western Electric rules and the eight Nelson rules.

Each point is placed by its distance from the centre line in standard errors,
z_i = (x_i - CL_i) / σ_i, where σ_i is the standard error of that point (a third of the
distance from the centre line to the unclipped upper limit). Zone C is |z| <= 1, zone B
1 < |z| <= 2, zone A 2 < |z| <= 3. "Beyond" is strict; a point exactly on the centre line is
on neither side and breaks a same-side run; equal neighbours break a trend or alternation.
Rule 1 uses the chart's actual limits (which may be clipped at zero).

Western Electric (Western Electric Co., *Statistical Quality Control Handbook*, 1956):
  1. one point beyond the 3σ limits
  2. two of three consecutive points beyond 2σ on the same side
  3. four of five consecutive points beyond 1σ on the same side
  4. eight consecutive points on the same side of the centre line

Nelson (L. S. Nelson, "The Shewhart control chart - tests for special causes",
Journal of Quality Technology 16(4), 1984, 237-239):
  1. one point beyond 3σ
  2. nine points in a row on the same side of the centre line
  3. six points in a row steadily increasing or decreasing
  4. fourteen points in a row alternating up and down
  5. two of three points in a row beyond 2σ on the same side
  6. four of five points in a row beyond 1σ on the same side
  7. fifteen points in a row within 1σ of the centre line (either side)
  8. eight points in a row beyond 1σ, on either side

A violation lists the points involved; overlapping windows of the same rule are
merged into one violation (a run of 12 points on one side is one violation of Nelson 2, not
four). `signal_index` is the first point at which the rule fired: where an online chart would
have raised the alarm.

The rules assume roughly normal, independent points. On R, S, MR and attribute charts with
small counts the distribution is skewed, so by default only rule 1 is applied to dispersion
charts (see `analysis.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .charts import CHART_TEXTS, Chart


@dataclass(frozen=True)
class Rule:
    system: str  # "nelson" or "western_electric"
    number: int
    ko: str
    en: str

    @property
    def code(self) -> str:
        return f"{'N' if self.system == 'nelson' else 'WE'}{self.number}"

    @property
    def description(self) -> str:
        return f"{self.ko} / {self.en}"


#: rule descriptions (Korean, English) are in the `spc` catalog, keyed by the rule's code
NELSON: dict[int, Rule] = {
    1: Rule("nelson", 1, *CHART_TEXTS.pair("rule_n1")),
    2: Rule("nelson", 2, *CHART_TEXTS.pair("rule_n2")),
    3: Rule("nelson", 3, *CHART_TEXTS.pair("rule_n3")),
    4: Rule("nelson", 4, *CHART_TEXTS.pair("rule_n4")),
    5: Rule("nelson", 5, *CHART_TEXTS.pair("rule_n5")),
    6: Rule("nelson", 6, *CHART_TEXTS.pair("rule_n6")),
    7: Rule("nelson", 7, *CHART_TEXTS.pair("rule_n7")),
    8: Rule("nelson", 8, *CHART_TEXTS.pair("rule_n8")),
}

WESTERN_ELECTRIC: dict[int, Rule] = {
    1: Rule("western_electric", 1, *CHART_TEXTS.pair("rule_we1")),
    2: Rule("western_electric", 2, *CHART_TEXTS.pair("rule_we2")),
    3: Rule("western_electric", 3, *CHART_TEXTS.pair("rule_we3")),
    4: Rule("western_electric", 4, *CHART_TEXTS.pair("rule_we4")),
}

RULE_SETS = {"nelson": NELSON, "western_electric": WESTERN_ELECTRIC, "we": WESTERN_ELECTRIC}


@dataclass
class Violation:
    rule: Rule
    chart: str
    indices: list[int]
    signal_index: int
    labels: list = field(default_factory=list)

    def as_dict(self) -> dict:
        from .charts import _jsonable

        return {
            "rule": self.rule.code,
            "system": self.rule.system,
            "number": self.rule.number,
            "description_ko": self.rule.ko,
            "description_en": self.rule.en,
            "chart": self.chart,
            "indices": self.indices,
            "signal_index": self.signal_index,
            "labels": [_jsonable(x) for x in self.labels],
        }


# -- detectors: each returns (window end index, involved indices) for every triggering window --

Hit = tuple[int, list[int]]


def _beyond_limits(x, z, chart) -> list[Hit]:
    return [(i, [i]) for i in chart.beyond_limits()]


def _k_of_m(k: int, m: int, level: float) -> Callable:
    def detect(x, z, chart) -> list[Hit]:
        hits = []
        for end in range(m - 1, len(z)):
            w = range(end - m + 1, end + 1)
            for sign in (1, -1):
                pts = [i for i in w if sign * z[i] > level]
                if len(pts) >= k:
                    hits.append((end, pts))
        return hits

    return detect


def _run(length: int, test: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """`length` points in a row for which test(z) holds (test gives one boolean per point)."""

    def detect(x, z, chart) -> list[Hit]:
        ok = test(z)
        hits, streak = [], 0
        for i, flag in enumerate(ok):
            streak = streak + 1 if flag else 0
            if streak >= length:
                hits.append((i, list(range(i - length + 1, i + 1))))
        return hits

    return detect


def _same_side(length: int) -> Callable:
    def detect(x, z, chart) -> list[Hit]:
        return _run(length, lambda z: z > 0)(x, z, chart) + _run(length, lambda z: z < 0)(x, z, chart)

    return detect


def _trend(points: int) -> Callable:
    def detect(x, z, chart) -> list[Hit]:
        hits = []
        d = np.sign(np.diff(x))
        for sign in (1, -1):
            streak = 0
            for j, s in enumerate(d):  # d[j] compares x[j] and x[j+1]
                streak = streak + 1 if s == sign else 0
                if streak >= points - 1:
                    end = j + 1
                    hits.append((end, list(range(end - points + 1, end + 1))))
        return hits

    return detect


def _alternating(points: int) -> Callable:
    def detect(x, z, chart) -> list[Hit]:
        hits = []
        d = np.sign(np.diff(x))
        streak = 0
        for j, s in enumerate(d):
            if s == 0:
                streak = 0
            elif j > 0 and streak > 0 and s == -d[j - 1]:
                streak += 1
            else:
                streak = 1
            if streak >= points - 1:
                end = j + 1
                hits.append((end, list(range(end - points + 1, end + 1))))
        return hits

    return detect


DETECTORS: dict[str, dict[int, Callable]] = {
    "nelson": {
        1: _beyond_limits,
        2: _same_side(9),
        3: _trend(6),
        4: _alternating(14),
        5: _k_of_m(2, 3, 2.0),
        6: _k_of_m(4, 5, 1.0),
        7: _run(15, lambda z: np.abs(z) < 1.0),
        8: _run(8, lambda z: np.abs(z) > 1.0),
    },
    "western_electric": {
        1: _beyond_limits,
        2: _k_of_m(2, 3, 2.0),
        3: _k_of_m(4, 5, 1.0),
        4: _same_side(8),
    },
}


def _merge(hits: list[Hit]) -> list[tuple[int, list[int]]]:
    """Merge windows that share a point: (first signal, sorted union of involved points)."""
    spans = sorted((min(pts), max(pts), end, pts) for end, pts in hits)
    merged: list[list] = []
    for lo, hi, end, pts in spans:
        if merged and lo <= merged[-1][1]:
            cur = merged[-1]
            cur[1] = max(cur[1], hi)
            cur[2] = min(cur[2], end)
            cur[3] |= set(pts)
        else:
            merged.append([lo, hi, end, set(pts)])
    return [(end, sorted(pts)) for _, _, end, pts in merged]


def zscores(chart: Chart) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (chart.values - chart.center) / chart.sigma
    return np.where(chart.sigma > 0, z, 0.0)


def check(chart: Chart, system: str = "nelson", rules: list[int] | None = None) -> list[Violation]:
    """Violations of the chosen rules of `system` ("nelson" or "western_electric") on a chart."""
    key = "western_electric" if system in ("we", "western_electric") else system
    if key not in DETECTORS:
        raise ValueError(f"unknown rule system {system!r}; use nelson or western_electric")
    catalogue = RULE_SETS[key]
    chosen = sorted(catalogue) if rules is None else sorted(rules)
    bad = [r for r in chosen if r not in catalogue]
    if bad:
        raise ValueError(f"{key} has no rule {bad}; rules are {sorted(catalogue)}")
    x = np.asarray(chart.values, dtype=float)
    z = zscores(chart)
    out: list[Violation] = []
    for number in chosen:
        for signal, pts in _merge(DETECTORS[key][number](x, z, chart)):
            out.append(Violation(catalogue[number], chart.name, pts, signal, [chart.labels[i] for i in pts]))
    out.sort(key=lambda v: (v.signal_index, v.rule.number))
    return out
