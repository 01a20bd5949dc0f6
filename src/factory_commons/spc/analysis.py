"""One SPC analysis from a store: the chart, its rule violations and capability, as the CLI shows it.

The run rules of the chosen system are applied to the location chart (X̄, I) and to attribute
charts; dispersion charts (R, S, MR) get rule 1 only, because their points are skewed and the
zone rules assume symmetric, normal points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from . import charts as ch
from .capability import Capability, capability_from_chart
from .charts import AttributesChart, SpcError, VariablesChart, _text
from .data import attribute_counts, load_measurements, make_subgroups, spec_limits
from .rules import Violation, check

VARIABLE_CHARTS = ("xbar-r", "xbar-s", "imr")
ATTRIBUTE_CHARTS = ("p", "np", "c", "u")


@dataclass
class SpcReport:
    machine: str
    characteristic: str | None
    chart_kind: str
    result: VariablesChart | AttributesChart
    violations: list[Violation]
    capability: Capability | None
    rules: str
    unit: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        r = self.result
        out = {
            "machine": self.machine,
            "characteristic": self.characteristic,
            "unit": self.unit,
            "chart": self.chart_kind,
            "rules": self.rules,
            "charts": [c.as_dict() for c in r.charts],
            "violations": [v.as_dict() for v in self.violations],
            "capability": self.capability.as_dict() if self.capability else None,
            "notes": self.notes + r.warnings,
        }
        if isinstance(r, VariablesChart):
            out["sigma_within"] = r.sigma_within
            out["sigma_method"] = r.sigma_method
            out["sigma_within_df"] = r.sigma_df
        return out


def violations_of(result: VariablesChart | AttributesChart, rules: str = "nelson") -> list[Violation]:
    if isinstance(result, VariablesChart):
        out = check(result.location, rules) + check(result.dispersion, rules, [1])
    else:
        out = check(result.chart, rules)
    return sorted(out, key=lambda v: (v.signal_index, v.chart, v.rule.number))


def analyze(
    store,
    machine: str,
    characteristic: str | None = None,
    chart: str = "xbar-r",
    start: datetime | None = None,
    end: datetime | None = None,
    subgroup_size: int = 5,
    by: str = "day",
    rules: str = "nelson",
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    confidence: float = 0.95,
) -> SpcReport:
    """Chart `characteristic` of `machine` (variables charts) or its scrap counts (attribute charts)."""
    notes: list[str] = []
    if chart in VARIABLE_CHARTS:
        if not characteristic:
            raise SpcError("--characteristic is needed for X̄-R, X̄-S and I-MR charts")
        df = load_measurements(store, machine, characteristic, start, end)
        unit = next((u for u in df["unit"] if u), None) if "unit" in df else None
        if chart == "imr":
            result = ch.imr(df["value"].to_numpy(float), list(df["ts"]))
        else:
            sg = make_subgroups(df, subgroup_size)
            notes += sg.notes
            notes.append(
                _text("note_subgroups_by_sample")
                if sg.by == "sample_id"
                else _text("note_subgroups_consecutive", n=subgroup_size)
            )
            fn = ch.xbar_r if chart == "xbar-r" else ch.xbar_s
            result = fn(sg.groups, sg.labels)
        r_lsl, r_usl, r_target, spec_notes = spec_limits(df)
        lsl = r_lsl if lsl is None else lsl
        usl = r_usl if usl is None else usl
        target = r_target if target is None else target
        notes += spec_notes
        cap = None
        if lsl is None and usl is None:
            notes.append(_text("note_no_spec_limits"))
        else:
            cap = capability_from_chart(result, lsl, usl, target, confidence)
        report = SpcReport(machine, characteristic, chart, result, [], cap, rules, unit, notes)
    elif chart in ATTRIBUTE_CHARTS:
        data = attribute_counts(store, machine, start, end, by)
        labels = data.labels
        if chart == "p":
            result = ch.p_chart(data.nonconforming, data.inspected, labels)
        elif chart == "np":
            result = ch.np_chart(data.nonconforming, data.inspected, labels)
        elif chart == "u":
            result = ch.u_chart(data.nonconforming, data.inspected, labels)
        else:
            result = ch.c_chart(data.nonconforming, labels)
            notes.append(_text("note_c_chart_equal_units"))
        notes.append(_text("note_nonconforming_is_scrap", by=by))
        report = SpcReport(machine, None, chart, result, [], None, rules, None, notes)
    else:
        raise SpcError(f"unknown chart {chart!r}; use one of {', '.join(VARIABLE_CHARTS + ATTRIBUTE_CHARTS)}")
    report.violations = violations_of(result, rules)
    return report
