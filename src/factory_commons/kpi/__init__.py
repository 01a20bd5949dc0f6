"""ISO 22400-2 KPIs (OEE and its losses) and downtime analysis, computed inside the store."""

from .config import DEFAULT_STATE_MAP, ELEMENTS, KpiConfig, KpiConfigError
from .oee import GROUPS, KPI_COLUMNS, LOSS_COLUMNS, QUANTITY_COLUMNS, TIME_COLUMNS, compute_kpis
from .plausibility import KpiWarning, plausibility

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
