"""Plausibility checks of a KPI result: warnings, in Korean and English, when the figures
cannot be right or cannot be known, each saying what to change.

`plausibility(df, group_by, store=..., start=..., end=...)` looks at a `compute_kpis` result
and returns a list of `KpiWarning` (the command line prints them on stderr; the dashboard and
the import preview can show them):

- `no_ideal_cycle_time`: parts without an ideal cycle time (performance and OEE are then
  unknown, NaN, never 0 %): load the product master or set kpi.toml's `[ideal_cycle_times]`;
- `above_100`: availability, performance, quality or OEE above 100 %: the ideal cycle time is
  likely too long, or parts are counted twice;
- `day_zone`: grouped by day or shift, a machine's days are cut by its calendar in another
  time zone than the machine's own (when it has one) or else the plant's;
- `no_state_data`: a group without any machine state in the window.

The texts are in the `kpi_cli` catalog (docs/kpi.md, "Warnings").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from ..i18n import Catalog, label
from ..store.base import Store
from .config import KpiConfig
from .elements import count_in_sql
from .inputs import naive_utc

TEXTS = Catalog("kpi_cli")
#: The ratios that cannot exceed 1 when the data are right.
RATIOS = ("availability", "effectiveness", "quality_ratio", "oee")
#: Tolerance for float noise above 1.
_EPS = 1e-9


@dataclass(frozen=True)
class KpiWarning:
    """One warning: a stable `key`, its text in Korean and English, and the group it is about
    (`group`: the machine path, line path or other group value; None for the whole plant)."""

    key: str
    ko: str
    en: str
    group: str | None = None
    values: dict = field(default_factory=dict, compare=False)

    def text(self, lang: str = "both") -> str:
        """The text in 'ko', 'en' or 'both' ("Korean / English")."""
        if lang == "ko":
            return self.ko
        if lang == "en":
            return self.en
        return f"{self.ko} / {self.en}"

    def as_dict(self) -> dict:
        """For JSON: key, group, ko, en."""
        return {"key": self.key, "group": self.group, "ko": self.ko, "en": self.en}


def _warning(key: str, msgid: str, about: str | None, **values) -> KpiWarning:
    """A warning with the `kpi_cli` text `msgid` in both languages, `{name}` fields filled
    (a value given as a (ko, en) pair is filled per language)."""
    texts = []
    for lang in ("ko", "en"):
        filled = {
            k: (v[0] if lang == "ko" else v[1]) if isinstance(v, tuple) else v for k, v in values.items()
        }
        texts.append(TEXTS.get(msgid, lang).format(**filled))
    return KpiWarning(key, texts[0], texts[1], about, values)


def _group_name(row: pd.Series, group_by: Sequence[str]) -> tuple[str | None, str | tuple[str, str]]:
    """(the group's value as one string or None for the plant, its name in the texts)."""
    if not group_by:
        return None, TEXTS.pair("whole_plant")
    parts = []
    for g in group_by:
        v = row[g]
        parts.append("–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    text = " / ".join(parts)
    return text, text


def plausibility(
    df: pd.DataFrame,
    group_by: Sequence[str] = ("machine",),
    *,
    store: Store | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    config: KpiConfig | None = None,
    machines: Sequence[str] | None = None,
) -> list[KpiWarning]:
    """The warnings about a `compute_kpis` result `df` grouped by `group_by`.

    With `store` (and the window `start`, `end`), the warnings name the products without an
    ideal cycle time and check the zones days are cut in (`machines`: the machines of the
    result, default all)."""
    group_by = tuple(group_by)
    out: list[KpiWarning] = []
    products: list[str] | None = None
    for _, row in df.iterrows():
        group, name = _group_name(row, group_by)
        cal = float(row["calendar_time_s"])
        if cal > 0 and float(row["no_data_s"]) >= cal:
            out.append(_warning("no_state_data", "warn_no_state", group, group=name))
            continue
        n = int(row["quantity_without_ideal_time"])
        if n > 0:
            if products is None and store is not None and start is not None and end is not None:
                products = products_without_ideal(store, start, end, config, machines)
            shown: str | tuple[str, str] = ""
            if products:
                shown = tuple(
                    TEXTS.get("warn_products", lang).format(
                        codes=", ".join(
                            p if p is not None else TEXTS.get("warn_no_product", lang) for p in products[:10]
                        )
                    )
                    for lang in ("ko", "en")
                )
            out.append(
                _warning("no_ideal_cycle_time", "warn_no_ideal", group, group=name, n=n, products=shown)
            )
        for k in RATIOS:
            v = row[k]
            if v is not None and not (isinstance(v, float) and math.isnan(v)) and float(v) > 1 + _EPS:
                kpi = (label(k, "ko"), label(k, "en"))
                out.append(
                    _warning("above_100", "warn_above_100", group, group=name, kpi=kpi, value=f"{v:.1%}")
                )
    if store is not None and ({"day", "shift"} & set(group_by)):
        out += day_zone_warnings(store, config, machines)
    return out


def products_without_ideal(
    store: Store,
    start: datetime,
    end: datetime,
    config: KpiConfig | None = None,
    machines: Sequence[str] | None = None,
) -> list[str | None]:
    """The products (None: counts whose order names none) of the window's counts that have
    no ideal cycle time anywhere (config, order, product master, machine default)."""
    config = config or KpiConfig()
    s, e = naive_utc(start), naive_utc(end)
    t = store.query(
        "SELECT DISTINCT o.product FROM counts c JOIN machines m ON m.machine_id = c.machine_id "
        "LEFT JOIN orders o ON o.order_id = c.order_id "
        "LEFT JOIN products p ON p.product = o.product "
        f"WHERE {count_in_sql('c.ts', '?', '?')} AND o.ideal_cycle_time_s IS NULL "
        "AND p.ideal_cycle_time_s IS NULL AND m.default_ideal_cycle_time_s IS NULL"
        + (f" AND m.path IN ({', '.join('?' for _ in machines)})" if machines else ""),
        [s, e, *(machines or [])],
    )
    found = [p for p in t.column("product").to_pylist() if p is None or p not in config.ideal_cycle_times]
    return sorted(found, key=lambda p: (p is None, p or ""))


def day_zone_warnings(
    store: Store, config: KpiConfig | None = None, machines: Sequence[str] | None = None
) -> list[KpiWarning]:
    """A warning per machine whose days are cut in another zone than its own (when it has one)
    or else the plant's: its calendar's (or kpi.toml's default calendar's) zone; a machine
    planned 24/7 has the days of its own zone, else the plant's, so it never gets one."""
    config = config or KpiConfig()
    plant = store.plant_timezone()
    cals = store.calendars()
    wanted = set(machines) if machines else None
    out = []
    for m in store.machines():
        if wanted is not None and m.path not in wanted:
            continue
        name = m.calendar or config.default_calendar
        if name not in cals:
            continue
        own = getattr(m, "timezone", None)
        expected, whose = (own, TEXTS.pair("whose_machine")) if own else (plant, TEXTS.pair("whose_plant"))
        zone = cals[name].timezone
        if zone != expected:
            why = tuple(t.format(calendar=name) for t in TEXTS.pair("why_calendar"))
            out.append(
                _warning(
                    "day_zone",
                    "warn_day_zone",
                    m.path,
                    group=m.path,
                    zone=zone,
                    why=why,
                    whose=whose,
                    expected=expected,
                )
            )
    return out
