"""The KPI engine: `compute_kpis`, the one entry for ISO 22400-2 time elements, KPIs and losses.

Where the rules live (docs/kpi.md, "Where to change what"):

- `elements`: how a state episode and a count become time elements and quantities (state
  mapping, micro-stops, failures, the element of each second by calendar status, PRU);
- `queries`: the SQL that applies them: the full query (`stream_sql`: event stream, forward
  fill, segments), the per-episode query (`episode_sql`: machine, line, plant) and the
  rollup's hourly query (`hourly_sql`);
- `rollup` (+ `piece_sums`): whole hours and days cached in the store, the rest computed;
- `formulas`: ratios and losses from the sums (`finish`), the same for every feed.

`compute_kpis` picks the feed (the rollup for machine/line/plant groupings on a store that
keeps one, else the per-episode query where the grouping allows, else the full query) and
always finishes with `formulas.finish`. The flags below switch feeds off (the references the
tests compare against).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..store.base import Store
from . import rollup
from .config import KpiConfig
from .elements import CODES, MICRO, count_in_sql
from .formulas import (
    KPI_COLUMNS,
    LOSS_COLUMNS,
    QUANTITY_COLUMNS,
    TIME_COLUMNS,
    finish,
    series_ratio,
)
from .inputs import (
    ALWAYS,
    SLICE_MAX,
    always_timeline,
    calendar_timeline,
    duckdb_state_slice,
    machine_filter,
    naive_utc,
    product_cycle_times,
    side_tables,
    state_bounds,
)
from .queries import calendar_buckets, episode_sql, float_epochs, stream_sql

GROUPS = ("machine", "line", "shift", "day", "order")

#: Use the per-episode query for machine/line/plant groupings (see `queries.episode_sql`).
FAST_PATH = True
#: Read only the state changes the window needs (see `inputs.state_bounds`); False reads
#: every machine's whole history (the reference that tests/test_kpi_bounded.py compares
#: against).
BOUNDED_STATES = True
#: Sum whole hours from the store's hourly rollup for machine/line/plant groupings (see
#: kpi/rollup.py); False computes every request from the raw rows (the reference that
#: tests/test_kpi_rollup.py compares against).
ROLLUP = True

# Old names of what moved, for code that imports them from here (bench/oee.py did).
_always_timeline, _ratio = always_timeline, series_ratio

__all__ = [
    "ALWAYS",
    "CODES",
    "GROUPS",
    "KPI_COLUMNS",
    "LOSS_COLUMNS",
    "MICRO",
    "QUANTITY_COLUMNS",
    "SLICE_MAX",
    "TIME_COLUMNS",
    "compute_kpis",
    "machine_filter",
]


def compute_kpis(
    store: Store,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = ("machine",),
    config: KpiConfig | None = None,
    machines: list[str] | Callable[[list[str]], list[str]] | None = None,
) -> pd.DataFrame:
    """ISO 22400-2 time elements, quantities, KPIs and losses for [start, end), one row per group.

    `group_by` is any combination of machine, line, shift, day and order (() for the plant).
    `machines`: the machine paths to include (unknown ones are an error), or a function that
    picks them from every machine path of the store (its unknown picks are left out), or None
    for every machine.
    Times are seconds, quantities integers, ratios NaN where their denominator is 0.
    """
    config = config or KpiConfig()
    group_by = tuple(group_by)
    bad = [g for g in group_by if g not in GROUPS]
    if bad or len(set(group_by)) != len(group_by):
        raise ValueError(f"group_by {group_by!r}: use distinct names from {', '.join(GROUPS)}")
    s, e = naive_utc(start), naive_utc(end)
    if not s < e:
        raise ValueError(f"start ({s}) must be before end ({e})")

    from_rollup = ROLLUP and getattr(store, "kpi_rollup", False) and set(group_by) <= {"machine", "line"}
    cals = None
    if from_rollup:  # what the rollup needs about each machine, calendar and product, in one read
        mrows, cals, master = rollup.machine_info(store)
    else:
        mrows = store.query("SELECT machine_id, path, calendar FROM machines ORDER BY path").to_pylist()
        master = product_cycle_times(store)
    mrows = _chosen(mrows, machines)
    if from_rollup:
        raw = rollup.compute_from_rollup(store, s, e, group_by, config, mrows, cals, master)
        if raw is not None:
            return finish(raw, group_by)
    return finish(_query(store, s, e, group_by, config, mrows, cals, master), group_by)


def day_zones(store: Store, mrows: list[dict]) -> dict[int, str]:
    """Machine id -> the IANA zone its days are cut in when it has no calendar: its own zone,
    else the plant's (`Store.machine_timezones`)."""
    zones = store.machine_timezones()
    plant = store.plant_timezone()
    return {m["machine_id"]: zones.get(m["path"], plant) for m in mrows}


def _chosen(mrows: list[dict], machines: list[str] | Callable[[list[str]], list[str]] | None) -> list[dict]:
    """The rows of `mrows` (machines by path) that `machines` asks for (see `compute_kpis`)."""
    if callable(machines):  # a choice made from the store's paths (the API's scope)
        known = {m["path"] for m in mrows}
        machines = [p for p in machines([m["path"] for m in mrows]) if p in known]
    if machines is None:
        return mrows
    wanted = set(machines)
    unknown = wanted - {m["path"] for m in mrows}
    if unknown:
        raise ValueError(f"unknown machines: {', '.join(sorted(unknown))}")
    return [m for m in mrows if m["path"] in wanted]


def _query(
    store: Store,
    s: datetime,
    e: datetime,
    group_by: tuple[str, ...],
    config: KpiConfig,
    mrows: list[dict],
    cals: dict | None,
    master: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The raw sums of [s, e) from the store's rows in one query: the per-episode query
    (`episode_sql`) for machine/line/plant groupings when every count names its order, else
    the full query (`stream_sql`). Grouped by day, a machine planned 24/7 has the days of its
    time zone (`day_zones`)."""
    zones = day_zones(store, mrows) if "day" in group_by else None
    timeline, cal_of = calendar_timeline(store, mrows, s, e, config, cals, stacklevel=4, zones=zones)
    timeline = timeline.filter(pc.less(timeline.column("ts"), pa.scalar(e, pa.timestamp("us"))))
    timeline = timeline.append_column("ci", pa.array(range(timeline.num_rows), pa.int32()))
    tables = {"_timeline": timeline, **side_tables(config, cal_of, master)}
    ids = sorted(cal_of)
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    bounds, states_from, counts_from = None, "states", "counts"
    if BOUNDED_STATES and store.dialect == "duckdb" and e - s <= SLICE_MAX:
        # DuckDB has no index: read the window's states and counts once each, as Arrow slices
        tables["_states"], states_from = duckdb_state_slice(store, ids, s, e), "_states"
        tables["_counts"] = store.query(
            f"SELECT * FROM counts WHERE {machine_filter(ids, store.dialect)} AND {count_in_sql('ts', '?', '?')}",
            [s, e],
        )
        counts_from = "_counts"
        orderless = tables["_counts"].column("order_id").null_count
    else:
        if BOUNDED_STATES:
            bounds = state_bounds(store, ids, s, e)
        orderless = (
            store.query(
                f"SELECT count(*) AS n FROM counts WHERE order_id IS NULL AND {count_in_sql('ts', '?', '?')} "
                f"AND machine_id IN ({id_list})",
                [s, e],
            )
            .column("n")[0]
            .as_py()
        )
    if FAST_PATH and not ({"shift", "day", "order"} & set(group_by)) and orderless == 0:
        tables["_buckets"] = calendar_buckets(timeline, s, e)
        sql, params = episode_sql(group_by, s, e, config, ids, bounds, states_from, counts_from), []
    else:
        sql, params = stream_sql(
            store.dialect, group_by, s, e, config, orderless > 0, ids, bounds, states_from, counts_from
        )
    raw = store.query(float_epochs(store.dialect, sql), params, tables=tables).to_pandas()
    return raw.rename(columns={f"g_{g}": g for g in group_by})
