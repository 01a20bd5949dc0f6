"""The ISO 22400 loss tree of one KPI row: from planned busy time down to fully productive time.

    planned busy time (PBT)
    ├─ availability losses: breakdowns, setup, idling
    └─ actual production time (APT)
       ├─ performance losses: minor stops, reduced speed
       └─ net production time (Σ PQ·PRU)
          ├─ quality losses: defects, reduced yield
          └─ fully productive time (GQ·PRU = OEE · PBT)

Each node is a key of the `kpi` or `dashboard` catalog, its hours and its share of PBT; the
dashboard and the HTML report draw it. A time that cannot be known (parts without an ideal
cycle time: performance unknown) is None, never 0. See docs/kpi.md, "The six big losses".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: (key, level, kind): kind "time" is what is left, "group" a sum of losses, "loss" one loss
TREE: tuple[tuple[str, int, str], ...] = (
    ("planned_busy_time_s", 0, "time"),
    ("dash_availability_losses", 1, "group"),
    ("loss_breakdowns_s", 2, "loss"),
    ("loss_setup_s", 2, "loss"),
    ("loss_idling_s", 2, "loss"),
    ("dash_actual_production_time", 1, "time"),
    ("dash_performance_losses", 2, "group"),
    ("loss_minor_stops_s", 3, "loss"),
    ("loss_reduced_speed_s", 3, "loss"),
    ("dash_net_production_time", 2, "time"),
    ("dash_quality_losses", 3, "group"),
    ("loss_defects_s", 4, "loss"),
    ("loss_reduced_yield_s", 4, "loss"),
    ("fully_productive", 3, "time"),
)
GROUPS = {
    "dash_availability_losses": ("loss_breakdowns_s", "loss_setup_s", "loss_idling_s"),
    "dash_performance_losses": ("loss_minor_stops_s", "loss_reduced_speed_s"),
    "dash_quality_losses": ("loss_defects_s", "loss_reduced_yield_s"),
}


@dataclass(frozen=True)
class LossNode:
    key: str
    level: int
    kind: str  # time | group | loss
    seconds: float | None  # None: unknown (no ideal cycle time)
    share: float | None  # of planned busy time

    @property
    def hours(self) -> float | None:
        return None if self.seconds is None else self.seconds / 3600


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def loss_tree(row: Mapping[str, Any]) -> list[LossNode]:
    """The nodes of the tree, in reading order, for a KPI result row (plant, line or machine)."""
    pbt = _num(row.get("planned_busy_time_s")) or 0.0
    values: dict[str, float | None] = {c: _num(row.get(c)) for k in GROUPS.values() for c in k}
    values["planned_busy_time_s"] = pbt
    for group, members in GROUPS.items():
        parts = [values[m] for m in members]
        values[group] = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
    avail = values["dash_availability_losses"]
    apt = None if avail is None else pbt - avail
    values["dash_actual_production_time"] = apt
    perf = values["dash_performance_losses"]
    net = None if apt is None or perf is None else apt - perf
    values["dash_net_production_time"] = net
    quality = values["dash_quality_losses"]
    values["fully_productive"] = None if net is None or quality is None else net - quality
    nodes = []
    for key, level, kind in TREE:
        sec = values[key]
        if sec is not None and abs(sec) < 1e-6:
            sec = 0.0
        share = sec / pbt if sec is not None and pbt > 0 else None
        nodes.append(LossNode(key, level, kind, sec, share))
    return nodes
