"""ISO 22400-2 KPIs (OEE and its losses) and downtime analysis, computed inside the store.

The names below are imported on first use (`from factory_commons.kpi import compute_kpis` works
as before), so loading `kpi.cli` to register the commands does not load pandas."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import DEFAULT_STATE_MAP, ELEMENTS, KpiConfig, KpiConfigError
    from .oee import GROUPS, KPI_COLUMNS, LOSS_COLUMNS, QUANTITY_COLUMNS, TIME_COLUMNS, compute_kpis
    from .plausibility import KpiWarning, plausibility

_WHERE = {
    "DEFAULT_STATE_MAP": "config",
    "ELEMENTS": "config",
    "KpiConfig": "config",
    "KpiConfigError": "config",
    "GROUPS": "oee",
    "KPI_COLUMNS": "oee",
    "LOSS_COLUMNS": "oee",
    "QUANTITY_COLUMNS": "oee",
    "TIME_COLUMNS": "oee",
    "compute_kpis": "oee",
    "KpiWarning": "plausibility",
    "plausibility": "plausibility",
}

__all__ = [
    "DEFAULT_STATE_MAP",
    "ELEMENTS",
    "GROUPS",
    "KPI_COLUMNS",
    "LOSS_COLUMNS",
    "QUANTITY_COLUMNS",
    "TIME_COLUMNS",
    "KpiConfig",
    "KpiConfigError",
    "KpiWarning",
    "compute_kpis",
    "plausibility",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
