"""KPI formulas: the ISO 22400-2 ratios and the six big losses from summed time elements.

`finish` turns the raw sums of any feed (the full query, the per-episode query, the rollup's
pieces) into the result frame: planned operation and busy time, the KPIs (availability,
effectiveness, quality ratio, OEE, MTBF, MTTR, ...) and the loss columns. The result's
columns are named here.

When some of a group's parts have no ideal cycle time (`quantity_without_ideal_time` > 0),
its ideal time is not known: effectiveness, OEE and the losses valued with the ideal cycle
time (reduced speed, defects, reduced yield) are NaN, never a number that looks measured
(kpi/plausibility.py says why and how to fix it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: The six big losses (seven columns: quality is split into defects and startup yield), in
#: seconds. For every group they add up to PBT − GQ·PRU, so OEE = 1 − Σ losses / PBT.
LOSS_COLUMNS = (
    "loss_breakdowns_s",
    "loss_setup_s",
    "loss_idling_s",
    "loss_minor_stops_s",
    "loss_reduced_speed_s",
    "loss_defects_s",
    "loss_reduced_yield_s",
)

TIME_COLUMNS = (
    "calendar_time_s",
    "not_scheduled_s",
    "planned_operation_time_s",
    "planned_downtime_s",
    "planned_busy_time_s",
    "actual_production_time_s",
    "setup_time_s",
    "down_time_s",
    "delay_time_s",
    "micro_stop_time_s",
    "no_data_s",
)
QUANTITY_COLUMNS = ("produced_quantity", "good_quantity", "scrap_quantity", "rework_quantity")
KPI_COLUMNS = (
    "availability",
    "effectiveness",
    "quality_ratio",
    "oee",
    "mtbf_s",
    "mttr_s",
    "throughput_rate_per_h",
    "scrap_ratio",
    "setup_rate",
    "first_pass_yield",
)


def series_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den as floats, NaN where den is 0 (for pandas columns)."""
    num = num.astype(float)
    den = den.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return out.where(den != 0, np.nan)


#: The summed times of the KPI query's raw result (seconds).
_SECONDS = (
    "calendar_time_s",
    "not_scheduled_s",
    "planned_downtime_s",
    "actual_production_time_s",
    "setup_time_s",
    "down_time_s",
    "delay_time_s",
    "micro_stop_time_s",
    "no_data_s",
    "order_execution_time_s",
)


def finish(raw: pd.DataFrame | dict[str, Any], group_by: tuple[str, ...]) -> pd.DataFrame:
    """Ratios and losses from the summed time elements and quantities (`raw`: the KPI query's
    result, or the rollup's sums as a dict of columns), on numpy arrays (one DataFrame built
    at the end: a request's fixed cost, not a per-column pandas round)."""

    def num(c: str) -> np.ndarray:  # a plant with no machines sums to NULL: 0
        if isinstance(raw, pd.DataFrame):
            a = raw[c].to_numpy(dtype=float, na_value=np.nan)
        else:
            a = np.asarray(raw[c], dtype=float)
        return np.where(np.isnan(a), 0.0, a)

    def ratio(n: np.ndarray, d: np.ndarray) -> np.ndarray:
        n, d = n.astype(float), d.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = n / d
        return np.where(d != 0, out, np.nan)

    v = {c: num(c) for c in raw if c not in group_by}
    # times to whole microseconds, the resolution of timestamps: float noise of the sums goes,
    # so equal elements give equal sums (a zero planned busy time is exactly 0, whichever way
    # it was summed: the full query or hours of the rollup, kpi/rollup.py)
    for c in (*_SECONDS, "repair_time_s"):
        if c in v:
            v[c] = np.round(v[c] * 1e6) / 1e6
    out: dict[str, object] = {
        g: raw[g].reset_index(drop=True) if isinstance(raw, pd.DataFrame) else list(raw[g]) for g in group_by
    }
    for c in TIME_COLUMNS:
        if c in v:
            out[c] = v[c]
    pot = v["calendar_time_s"] - v["not_scheduled_s"] - v["no_data_s"]
    pbt = pot - v["planned_downtime_s"]
    out["planned_operation_time_s"] = pot
    out["planned_busy_time_s"] = pbt
    gq, sq, rq, failures = (
        v[q].astype("int64") for q in ("good_quantity", "scrap_quantity", "rework_quantity", "failures")
    )
    pq_ = gq + sq
    apt, ideal = v["actual_production_time_s"], v["ideal_time_s"]
    startup = v["startup_scrap_quantity"].astype("int64")
    out.update(produced_quantity=pq_, good_quantity=gq, scrap_quantity=sq, rework_quantity=rq)
    out.update(ideal_time_s=ideal, failures=failures, repair_time_s=v["repair_time_s"])
    out["order_execution_time_s"] = v["order_execution_time_s"]
    out["startup_scrap_quantity"] = startup
    out["quantity_without_ideal_time"] = v["quantity_without_ideal_time"].astype("int64")
    qwi = v["quantity_without_ideal_time"]
    unknown = qwi > 0  # parts without an ideal cycle time: the ideal time is not known
    availability, quality = ratio(apt, pbt), ratio(gq, pq_)
    effectiveness = np.where(unknown, np.nan, ratio(ideal, apt))
    out.update(availability=availability, effectiveness=effectiveness, quality_ratio=quality)
    out["oee"] = availability * effectiveness * quality
    out["mtbf_s"] = ratio(apt, failures)
    out["mttr_s"] = ratio(v["repair_time_s"], failures)
    out["throughput_rate_per_h"] = ratio(pq_ * 3600.0, v["order_execution_time_s"])
    out["scrap_ratio"] = ratio(sq, pq_)
    out["setup_rate"] = ratio(v["setup_time_s"], apt + v["setup_time_s"])
    out["first_pass_yield"] = ratio(gq - rq, pq_)

    # Losses. Quality losses are valued at the group's mean PRU (ideal time / PQ), so that
    # Σ losses = PBT − GQ·PRU = PBT·(1 − OEE) holds exactly even when products are mixed.
    mean_pru = ratio(ideal, pq_)
    mean_pru = np.where(np.isnan(mean_pru), 0.0, mean_pru)
    out["loss_breakdowns_s"] = v["down_time_s"]
    out["loss_setup_s"] = v["setup_time_s"]
    out["loss_idling_s"] = v["delay_time_s"]
    out["loss_minor_stops_s"] = v["micro_stop_time_s"]
    out["loss_reduced_speed_s"] = np.where(unknown, np.nan, apt - v["micro_stop_time_s"] - ideal)
    out["loss_defects_s"] = np.where(unknown, np.nan, (sq - startup) * mean_pru)
    out["loss_reduced_yield_s"] = np.where(unknown, np.nan, startup.astype(float) * mean_pru)

    cols = [
        *group_by,
        *TIME_COLUMNS,
        *QUANTITY_COLUMNS,
        "ideal_time_s",
        "failures",
        "repair_time_s",
        "order_execution_time_s",
        "startup_scrap_quantity",
        "quantity_without_ideal_time",
        *KPI_COLUMNS,
        *LOSS_COLUMNS,
    ]
    df = pd.DataFrame({c: out[c] for c in cols})
    if group_by:
        df = df.sort_values(list(group_by), na_position="last", kind="stable")
    return df.reset_index(drop=True)
