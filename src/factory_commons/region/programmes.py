"""Programme outcomes: what a support programme changed, against comparable firms it did not support.

A programme (budget, period, firms supported, level target) is judged on each firm's
`KpiSnapshot`s: the one on or before its start ("before") and the first on or after its end
("after"). Three estimates per measure (overall maturity level, OEE), each with a 95% interval:

* `before_after` — the supported firms' mean change; it also holds the trend every firm shared,
  so it is shown only as the naive figure a one-off assessment would give;
* `matched` — each supported firm against its `n_matches` nearest unsupported firms of the same
  size class (nearest on the before values of both measures, scaled by their spread): the mean
  difference of the after values, interval from the spread of those paired differences (t);
* `did` — difference-in-differences on the supported firms and their matched comparison firms:
  OLS of the measure on supported × after (statsmodels), errors clustered by firm.

Comparison firms are those of no programme running in the period. Cost per level gained is
the budget over (DiD effect × firms with data); per point of OEE likewise with the effect in
percentage points; their intervals come from the effect's (none where that interval reaches 0).
In the spirit of the national evaluation of smart-factory adopters (2019), which compared
adopters' productivity, quality, cost and delivery with non-adopters'; here the measures the
platform holds for every firm before and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np

from .models import KpiSnapshot, Programme, RegionFirm

MEASURES: tuple[str, ...] = ("overall_level", "oee")
METHODS: tuple[str, ...] = ("before_after", "matched", "did")
#: the method whose effect the costs are computed from
MAIN_METHOD = "did"


class ProgrammeError(ValueError):
    """A programme that cannot be evaluated (no firm with data, no comparison firms), and why."""


@dataclass(frozen=True)
class Effect:
    """One estimate of a programme's effect on one measure, with its 95% interval."""

    measure: str
    method: str
    value: float
    ci_low: float
    ci_high: float
    se: float
    n_supported: int
    n_comparison: int

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class Cost:
    """Budget per unit gained (KRW), with the interval the effect's interval gives (None: unbounded)."""

    per: str  # "level" | "oee_point"
    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ProgrammeOutcome:
    """What one programme changed: means before and after, effects by method, costs."""

    programme: str
    budget_krw: int
    start: date
    end: date
    level_target: int
    n_supported: int  # firms the programme lists
    n_with_data: int  # of them, firms with a before and an after snapshot
    n_comparison: int  # distinct matched comparison firms
    before: dict[str, float]
    after: dict[str, float]
    reached_target: int  # supported firms whose after level is at least the target
    effects: tuple[Effect, ...]
    costs: tuple[Cost, ...]

    def effect(self, measure: str, method: str = MAIN_METHOD) -> Effect:
        return next(e for e in self.effects if e.measure == measure and e.method == method)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return d


def before_after(
    snapshots: Sequence[KpiSnapshot], start: date, end: date
) -> dict[str, tuple[KpiSnapshot, KpiSnapshot]]:
    """Each firm's last snapshot on or before `start` and first on or after `end` (firms with both)."""
    before: dict[str, KpiSnapshot] = {}
    after: dict[str, KpiSnapshot] = {}
    for s in snapshots:
        if s.on <= start and (s.firm_id not in before or s.on > before[s.firm_id].on):
            before[s.firm_id] = s
        if s.on >= end and (s.firm_id not in after or s.on < after[s.firm_id].on):
            after[s.firm_id] = s
    return {f: (before[f], after[f]) for f in before if f in after}


def _t_interval(diffs: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    from scipy import stats

    n = len(diffs)
    mean = float(diffs.mean())
    se = float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se if n > 1 else math.inf
    return mean, mean - half, mean + half, se


def _did(
    pairs: dict[str, tuple[KpiSnapshot, KpiSnapshot]],
    treated: list[str],
    weights: dict[str, float],
    measure: str,
) -> tuple[float, float, float, float]:
    """OLS y ~ supported + after + supported×after on two periods, weighted, errors clustered by firm."""
    import statsmodels.api as sm

    rows, ys, ws, groups = [], [], [], []
    treated_set = set(treated)
    for gi, (firm, w) in enumerate(sorted(weights.items())):
        b, a = pairs[firm]
        d = 1.0 if firm in treated_set else 0.0
        for post, snap in ((0.0, b), (1.0, a)):
            rows.append((1.0, d, post, d * post))
            ys.append(float(getattr(snap, measure)))
            ws.append(w)
            groups.append(gi)
    fit = sm.WLS(np.array(ys), np.array(rows), weights=np.array(ws)).fit(
        cov_type="cluster", cov_kwds={"groups": np.array(groups)}
    )
    lo, hi = fit.conf_int(0.05)[3]
    return float(fit.params[3]), float(lo), float(hi), float(fit.bse[3])


def _matches(
    pairs: dict[str, tuple[KpiSnapshot, KpiSnapshot]],
    treated: list[str],
    pool: list[str],
    size_of: dict[str, str],
    n_matches: int,
) -> dict[str, list[str]]:
    """Each supported firm's nearest comparison firms (same size class when it has enough)."""
    scale = {m: float(np.std([getattr(pairs[f][0], m) for f in pool + treated])) or 1.0 for m in MEASURES}

    def distance(a: str, b: str) -> float:
        return math.fsum(
            ((getattr(pairs[a][0], m) - getattr(pairs[b][0], m)) / scale[m]) ** 2 for m in MEASURES
        )

    out = {}
    for t in treated:
        same = [c for c in pool if size_of.get(c) == size_of.get(t)]
        candidates = same if len(same) >= n_matches else pool
        out[t] = sorted(candidates, key=lambda c: (distance(t, c), c))[:n_matches]
    return out


def _cost(per: str, budget: int, effect: Effect, n: int, unit: float) -> Cost:
    def at(x: float) -> float | None:
        return budget / (x * unit * n) if x > 0 and n else None

    if effect.ci_low <= 0:  # the interval reaches no gain: the cost has no upper bound
        return Cost(per, at(effect.value), at(effect.ci_high), None)
    return Cost(per, at(effect.value), at(effect.ci_high), at(effect.ci_low))


def evaluate(
    programme: Programme,
    snapshots: Sequence[KpiSnapshot],
    firms: Sequence[RegionFirm],
    programmes: Sequence[Programme] = (),
    n_matches: int = 3,
) -> ProgrammeOutcome:
    """The outcome of `programme` against firms not in any programme that overlaps its period."""
    pairs = before_after(snapshots, programme.start, programme.end)
    treated = sorted(f for f in programme.firms if f in pairs)
    if len(treated) < 2:
        raise ProgrammeError(
            f"programme {programme.id!r}: {len(treated)} of {len(programme.firms)} supported firms have "
            f"a snapshot on or before {programme.start} and one on or after {programme.end} (need 2)"
        )
    busy = set(programme.firms)
    for p in programmes:
        if p.start <= programme.end and p.end >= programme.start:
            busy |= set(p.firms)
    pool = sorted(f for f in pairs if f not in busy)
    if len(pool) < n_matches:
        raise ProgrammeError(
            f"programme {programme.id!r}: {len(pool)} comparison firms with snapshots (need {n_matches})"
        )
    size_of = {f.firm_id: f.size for f in firms}
    matches = _matches(pairs, treated, pool, size_of, n_matches)
    weights: dict[str, float] = {t: 1.0 for t in treated}
    for ms in matches.values():  # a comparison firm counts as often as it was matched, 1/n each time
        for c in ms:
            weights[c] = weights.get(c, 0.0) + 1.0 / n_matches
    n_comp = len(weights) - len(treated)
    effects = []
    for m in MEASURES:
        change = np.array([getattr(pairs[t][1], m) - getattr(pairs[t][0], m) for t in treated])
        v, lo, hi, se = _t_interval(change)
        effects.append(Effect(m, "before_after", v, lo, hi, se, len(treated), 0))
        paired = np.array(
            [
                getattr(pairs[t][1], m) - float(np.mean([getattr(pairs[c][1], m) for c in matches[t]]))
                for t in treated
            ]
        )
        v, lo, hi, se = _t_interval(paired)
        effects.append(Effect(m, "matched", v, lo, hi, se, len(treated), n_comp))
        v, lo, hi, se = _did(pairs, treated, weights, m)
        effects.append(Effect(m, "did", v, lo, hi, se, len(treated), n_comp))
    by = {(e.measure, e.method): e for e in effects}
    n = len(treated)
    return ProgrammeOutcome(
        programme=programme.id,
        budget_krw=programme.budget_krw,
        start=programme.start,
        end=programme.end,
        level_target=programme.level_target,
        n_supported=len(programme.firms),
        n_with_data=n,
        n_comparison=n_comp,
        before={m: float(np.mean([getattr(pairs[t][0], m) for t in treated])) for m in MEASURES},
        after={m: float(np.mean([getattr(pairs[t][1], m) for t in treated])) for m in MEASURES},
        reached_target=sum(1 for t in treated if pairs[t][1].overall_level >= programme.level_target),
        effects=tuple(effects),
        costs=(
            _cost("level", programme.budget_krw, by[("overall_level", MAIN_METHOD)], n, 1.0),
            _cost("oee_point", programme.budget_krw, by[("oee", MAIN_METHOD)], n, 100.0),
        ),
    )


def evaluate_all(
    programmes: Sequence[Programme], snapshots: Sequence[KpiSnapshot], firms: Sequence[RegionFirm]
) -> list[ProgrammeOutcome]:
    """Every programme's outcome (those that cannot be evaluated are left out; see `evaluate`)."""
    out = []
    for p in sorted(programmes, key=lambda p: p.id):
        try:
            out.append(evaluate(p, snapshots, firms, programmes))
        except ProgrammeError:
            continue
    return out


def outcome_cells(outcomes: Sequence[ProgrammeOutcome]) -> list:
    """The programmes' DiD effects as report cells (table `programme_outcomes`, one row per programme),
    for `disclosure.protect` together with the report's other cells: a programme of fewer than k
    firms with data is suppressed like any small cell."""
    from .disclosure import ALL, Cell

    cells = []
    for o in outcomes:
        for m in MEASURES:
            e = o.effect(m)
            cells.append(
                Cell(
                    table="programme_outcomes",
                    population=f"programme:{o.programme}",
                    row_dim="programme",
                    row=o.programme,
                    column_dim=None,
                    column=ALL,
                    measure=f"did_{m}",
                    value=round(e.value, 4),
                    n_firms=o.n_with_data,
                    ci_low=round(e.ci_low, 4),
                    ci_high=round(e.ci_high, 4),
                )
            )
    return cells
