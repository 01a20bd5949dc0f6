"""Gather the KPI tables one report needs, so the terminal and HTML reports show the same numbers.

The period is shown in the plant's time zone (`Store.plant_timezone()`), machines by their
display names (else the last segment of their path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from ..kpi import LOSS_COLUMNS, KpiConfig, compute_kpis
from ..kpi.downtime import downtime_pareto
from ..kpi.plausibility import KpiWarning, day_zone_warnings, plausibility
from ..store.base import Store


@dataclass
class ReportData:
    start: datetime
    end: datetime
    plant: pd.DataFrame  # one row
    by_line: pd.DataFrame
    by_machine: pd.DataFrame
    by_day: pd.DataFrame
    by_line_day: pd.DataFrame
    pareto: pd.DataFrame
    names: dict[str, str]  # machine path -> display name
    zone: str = "Asia/Seoul"  # the plant's time zone: the period is shown in it
    warnings: list[KpiWarning] = field(default_factory=list)  # kpi/plausibility.py

    def warning_texts(self, lang: str = "both") -> list[str]:
        """The warnings' texts, machines by their display names."""
        out = []
        for w in self.warnings:
            text = w.text(lang)
            if w.group and w.group in self.names:
                text = text.replace(w.group, self.names[w.group])
            out.append(text)
        return out

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def period_text(self) -> str:
        """'2026-10-05 00:00 – 2026-10-08 00:00' in the plant's time zone."""
        s, e = (_aware(v).astimezone(self.tz) for v in (self.start, self.end))
        return f"{s:%Y-%m-%d %H:%M} – {e:%Y-%m-%d %H:%M}"

    @property
    def losses(self) -> list[tuple[str, float]]:
        """Plant losses in seconds, largest first."""
        row = self.plant.iloc[0]
        pairs = [(c, float(row[c])) for c in LOSS_COLUMNS]
        return sorted(pairs, key=lambda p: -p[1])


def _aware(value: datetime) -> datetime:
    """A naive time is UTC (as everywhere in the store)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def gather(store: Store, start: datetime, end: datetime, config: KpiConfig | None = None) -> ReportData:
    config = config or KpiConfig()
    by_machine = compute_kpis(store, start, end, ("machine",), config)
    by_day = compute_kpis(store, start, end, ("day",), config)
    return ReportData(
        start=start,
        end=end,
        plant=compute_kpis(store, start, end, (), config),
        by_line=compute_kpis(store, start, end, ("line",), config),
        by_machine=by_machine,
        by_day=by_day[by_day["day"].notna()].sort_values("day"),
        by_line_day=compute_kpis(store, start, end, ("line", "day"), config),
        pareto=downtime_pareto(store, start, end, config),
        names={m.path: m.display_name or m.path.rsplit("/", 1)[-1] for m in store.machines()},
        zone=store.plant_timezone(),
        warnings=plausibility(by_machine, ("machine",), store=store, start=start, end=end, config=config)
        + day_zone_warnings(store, config),
    )
