"""How a state episode and a part count become ISO 22400-2 time elements and quantities.

The one definition of the rules every KPI path uses (docs/kpi.md, "The time model"): the full
query's event stream, the per-episode query, the hourly rollup's SQL and its numpy feed all
build their classification from the tables and functions here, so a rule changed here changes
every path.

- a state (and reason) maps to an element through the config's mapping (`mapping_table`,
  `state_codes`); the reason's entry wins over the state's;
- an episode's *class* is its element's code, or `MICRO` for a down or delay episode shorter
  than the micro-stop threshold (by its whole length; `episode_class_sql`, `episode_class`);
- a down-class episode that starts in a window (or piece) is a failure, its whole length the
  repair time (`failure_sql`, `failure_mask`);
- each second of an episode gets one time element from its class and the calendar status at
  that second (`time_element`); `TIME_SUMS` says which elements each summed time column
  holds and `BUSY` which make up the order execution time;
- a count is valued with the PRU of its order's product in the config (kpi.toml), else the
  order's own, else the product's in the store's product master, else the machine's default
  (`PRU_SQL`, `count_prus`); scrap with a startup reason is startup scrap (`startup_sql`,
  `startup_mask`);
- time before a machine's first state change is no data (`no_data_sql`, `no_data`);
- a count belongs to the window (or piece) [s, e) when s < ts <= e: a count is stamped when
  its parts are done, at the end of the time that made them, so the parts of a window's last
  interval are in it and adjacent windows never share a count (`count_in_sql`, `count_piece`).

The element of a second is written once, in `time_element`: the SQL of every query is
generated from it (`segment_element_sql`, `element_seconds_sql`, `time_sums_sql`) and the
numpy form looks it up (`element_seconds`). The smaller rules (mapping, micro-stop, failure,
no data, PRU, startup scrap) have an SQL and a numpy form side by side here: change both
(tests/test_kpi_rollup.py runs the numpy and SQL feeds against the full query).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from .config import KpiConfig

#: Element codes of an episode: small integers keep the queries' payload narrow.
CODES = {"production": 1, "setup": 2, "down": 3, "delay": 4, "planned_downtime": 5}
#: The class of a down or delay episode shorter than the micro-stop threshold.
MICRO = 6
#: Every episode class.
CLASSES = (*CODES.values(), MICRO)
#: The element codes that become `MICRO` when their episode is short.
MICRO_STOP_CODES = (CODES["down"], CODES["delay"])
#: The calendar statuses of an instant, and their codes in the numpy path.
STATUSES = ("work", "break", "off")
STATUS_CODES = {s: i for i, s in enumerate(STATUSES)}

#: The time elements a second can get (`time_element`); "micro" is a minor stop inside APT.
TIME_ELEMENTS = (
    "no_data",
    "not_scheduled",
    "planned_downtime",
    "production",
    "micro",
    "setup",
    "down",
    "delay",
)
#: Per summed time column (the stem of the rollup's `<name>_us`): the elements it holds.
TIME_SUMS: dict[str, tuple[str, ...]] = {
    "ns": ("not_scheduled",),
    "pdt": ("planned_downtime",),
    "apt": ("production", "micro"),
    "setup": ("setup",),
    "down": ("down",),
    "delay": ("delay",),
    "micro": ("micro",),
    "nodata": ("no_data",),
}
#: The elements of planned busy time: while the state names an order, the order execution time.
BUSY = ("production", "micro", "setup", "down", "delay")
#: The KPI query's raw result column of each summed time (and of the calendar time).
RAW_TIME_COLUMNS = {
    "cal": "calendar_time_s",
    "ns": "not_scheduled_s",
    "pdt": "planned_downtime_s",
    "apt": "actual_production_time_s",
    "setup": "setup_time_s",
    "down": "down_time_s",
    "delay": "delay_time_s",
    "micro": "micro_stop_time_s",
    "nodata": "no_data_s",
    "aoet": "order_execution_time_s",
}


#: quantity sum -> its column in the KPI query's raw result (`quantity_sums_sql`)
RAW_QUANTITY_COLUMNS = {
    "good": "good_quantity",
    "scrap": "scrap_quantity",
    "rework": "rework_quantity",
    "startup": "startup_scrap_quantity",
    "ideal": "ideal_time_s",
    "qwi": "quantity_without_ideal_time",
}


def time_element(cls: int | None, status: str, outside: bool) -> str:
    """The time element of a second of an episode of class `cls` (None: no state known yet)
    at calendar status `status`; `outside`: the config's count_running_outside_schedule.

    The rules of docs/kpi.md, in order: no state yet is no data; production while the
    calendar says work (or anywhere, with `outside`) is production; otherwise off is not
    scheduled, a break is planned downtime (so are production and planned-downtime states
    outside work); else the class's own element (a short stop: micro)."""
    if cls is None:
        return "no_data"
    if cls == CODES["production"] and (status == "work" or outside):
        return "production"
    if status == "off":
        return "not_scheduled"
    if status == "break" or cls in (CODES["production"], CODES["planned_downtime"]):
        return "planned_downtime"
    return {MICRO: "micro", CODES["setup"]: "setup", CODES["down"]: "down"}.get(cls, "delay")


# -- state -> element code ----------------------------------------------------------------


def mapping_table(config: KpiConfig) -> pa.Table:
    """The config's state mapping as the `_map` relation of the queries: state, reason_code
    (NULL: the state's entry) and the element's code."""
    rows = config.mapping_rows()
    return pa.table(
        {
            "state": pa.array([r[0] for r in rows], pa.string()),
            "reason_code": pa.array([r[1] for r in rows], pa.string()),
            "code": pa.array([CODES[r[2]] for r in rows], pa.int32()),
        }
    )


def state_code_sql(states: str) -> tuple[str, str]:
    """(expression, joins): the element code of the state changes aliased `states`, read from
    `_map` (the reason's entry wins over the state's)."""
    joins = (
        f"LEFT JOIN _map r ON r.state = {states}.state AND r.reason_code = {states}.reason_code "
        f"LEFT JOIN _map g ON g.state = {states}.state AND g.reason_code IS NULL"
    )
    return "CAST(coalesce(r.code, g.code) AS INTEGER)", joins


def state_codes(config: KpiConfig, states: Sequence[str], reasons: Sequence[str | None]) -> np.ndarray:
    """`state_code_sql` in Python: the element code of each (state, reason) (0: unmapped)."""
    code_of_row = {(s, r): CODES[el] for s, r, el in config.mapping_rows()}
    keys = list(zip(states, reasons, strict=True))
    code_of: dict[tuple, int] = {}
    for state, reason in set(keys):
        code = code_of_row.get((state, reason)) if reason is not None else None
        code_of[(state, reason)] = code or code_of_row.get((state, None), 0)
    return np.array([code_of[k] for k in keys], dtype=np.int64)


# -- episode class and failures -----------------------------------------------------------


def episode_class_sql(code: str, length_s: str, has_next: str, threshold_s: str) -> str:
    """SQL: the class of an episode with element `code`, whole length `length_s` (seconds),
    `has_next` (it has a next change) and the micro-stop threshold literal `threshold_s`."""
    micro_codes = ", ".join(str(c) for c in MICRO_STOP_CODES)
    return (
        f"CASE WHEN {code} IN ({micro_codes}) AND {has_next} AND {length_s} < {threshold_s} "
        f"THEN {MICRO} ELSE {code} END"
    )


def episode_class(
    code: np.ndarray, has_next: np.ndarray, length_s: np.ndarray, threshold_s: float
) -> np.ndarray:
    """numpy: `episode_class_sql` of arrays (the length only counts where `has_next`)."""
    short = has_next & (length_s < threshold_s)
    return np.where(np.isin(code, MICRO_STOP_CODES) & short, MICRO, code)


def failure_sql(cls: str, ts: str, since: str) -> str:
    """SQL: whether an episode of class `cls` that starts at `ts` is a failure of the window
    (or piece) that starts at `since`: a down episode (not a micro-stop) starting in it."""
    return f"{cls} = {CODES['down']} AND {ts} >= {since}"


def failure_mask(cls: np.ndarray, ts: np.ndarray, since: int) -> np.ndarray:
    """numpy: `failure_sql` of arrays."""
    return (cls == CODES["down"]) & (ts >= since)


# -- time elements of a segment or an episode ----------------------------------------------


def no_data_sql(first_ts: str, a: str, b: str) -> str:
    """SQL: the seconds of [a, b) before a machine's first state change `first_ts` (NULL: it
    has none): its no-data time there (the per-episode and hourly queries; the event stream
    gets it as segments without a state, `segment_element_sql`)."""
    return f"greatest(0, extract(epoch FROM (least(coalesce({first_ts}, {b}), {b}) - {a})))"


def no_data(first: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """numpy: `no_data_sql` of arrays (`first`: the int64 maximum for a machine without one)."""
    return np.maximum(0, np.minimum(first, b) - a)


def _one_of(expr: str, values: Sequence[int | str]) -> str:
    """SQL: `expr` equals one of `values` (numbers or our own element names)."""
    items = [str(v) if isinstance(v, int) else f"'{v}'" for v in values]
    return f"{expr} = {items[0]}" if len(items) == 1 else f"{expr} IN ({', '.join(items)})"


def segment_element_sql(cls: str, status: str, outside: bool) -> str:
    """SQL: the element name (a `TIME_ELEMENTS` string) of a segment of class `cls` (NULL: no
    state yet) at calendar status `status` (the event stream's segments lie in one status)."""
    per_status = []
    for st in STATUSES:
        groups: dict[str, list[int]] = {}
        for c in CLASSES:
            groups.setdefault(time_element(c, st, outside), []).append(c)
        common = max(groups, key=lambda el: len(groups[el]))
        default = common if len(groups[common]) > 1 else "delay"
        whens = " ".join(f"WHEN {_one_of(cls, cs)} THEN '{el}'" for el, cs in groups.items() if el != default)
        per_status.append(
            f"WHEN {status} = '{st}' THEN "
            + (f"CASE {whens} ELSE '{default}' END" if whens else f"'{default}'")
        )
    return f"CASE WHEN {cls} IS NULL THEN 'no_data' {' '.join(per_status)} ELSE 'delay' END"


def time_sums_sql(el: str, dur: str, has_order: str) -> dict[str, str]:
    """SQL aggregates of the segments' element names `el` and seconds `dur`: per `TIME_SUMS`
    stem its sum, and "aoet", the busy seconds where `has_order`."""
    out = {
        col: f"coalesce(sum(CASE WHEN {_one_of(el, els)} THEN {dur} END), 0)"
        for col, els in TIME_SUMS.items()
    }
    out["aoet"] = f"coalesce(sum(CASE WHEN {_one_of(el, BUSY)} AND {has_order} THEN {dur} END), 0)"
    return out


def _seconds_case(
    cls: str, pick: Mapping[int, tuple[str, ...]], seconds: Mapping[str, str], whole: str
) -> str:
    """A CASE on `cls` giving, per class, the sum of `seconds` of the statuses `pick` names
    (`whole` when it names all three; 0 when none)."""
    branches: dict[str, list[int]] = {}
    for c in CLASSES:
        sts = pick[c]
        expr = whole if len(sts) == len(STATUSES) else " + ".join(seconds[s] for s in sts) if sts else "0"
        branches.setdefault(expr, []).append(c)
    branches.pop("0", None)
    if not branches:
        return "0"
    whens = " ".join(f"WHEN {_one_of(cls, cs)} THEN {e}" for e, cs in branches.items())
    return f"CASE {whens} ELSE 0 END"


def element_seconds_sql(
    cls: str, seconds: Mapping[str, str], whole: str, has_order: str, outside: bool
) -> dict[str, str]:
    """SQL: per `TIME_SUMS` stem except no data, and "aoet", the seconds of an episode (or a
    piece of one) of class `cls` that holds `seconds[status]` seconds in each calendar status
    and `whole` seconds in all (the per-episode and hourly queries)."""
    out = {}
    for col, els in TIME_SUMS.items():
        if col == "nodata":
            continue
        pick = {c: tuple(s for s in STATUSES if time_element(c, s, outside) in els) for c in CLASSES}
        out[col] = _seconds_case(cls, pick, seconds, whole)
    pick = {c: tuple(s for s in STATUSES if time_element(c, s, outside) in BUSY) for c in CLASSES}
    out["aoet"] = f"CASE WHEN NOT {has_order} THEN 0 ELSE {_seconds_case(cls, pick, seconds, whole)} END"
    return out


def element_seconds(
    cls: np.ndarray, status: np.ndarray, seconds: np.ndarray, has_order: np.ndarray, outside: bool
) -> dict[str, np.ndarray]:
    """numpy: `element_seconds_sql` for segments that each lie in one calendar status
    (`status`: `STATUS_CODES`) with `seconds` each."""
    lookup = np.zeros((MICRO + 1, len(STATUSES)), dtype=np.int64)  # class x status -> element
    for c in CLASSES:
        for s, i in STATUS_CODES.items():
            lookup[c, i] = TIME_ELEMENTS.index(time_element(c, s, outside))
    for i in STATUS_CODES.values():  # an unmapped state (code 0): as the event stream's ELSE
        lookup[0, i] = TIME_ELEMENTS.index(time_element(0, STATUSES[i], outside))
    el = lookup[cls, status]
    zero = np.zeros_like(seconds)
    out = {}
    for col, els in TIME_SUMS.items():
        if col != "nodata":
            out[col] = np.where(np.isin(el, [TIME_ELEMENTS.index(x) for x in els]), seconds, zero)
    busy = np.isin(el, [TIME_ELEMENTS.index(x) for x in BUSY]) & has_order
    out["aoet"] = np.where(busy, seconds, zero)
    return out


# -- counts ------------------------------------------------------------------------------


def count_in_sql(ts: str, s: str, e: str) -> str:
    """SQL: whether a count stamped `ts` belongs to the window (or piece) from `s` to `e`:
    s < ts <= e (time is [s, e); a count is stamped at the end of the time that made it)."""
    return f"{ts} > {s} AND {ts} <= {e}"


def count_piece(edges: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """numpy: `count_in_sql` for pieces: the index of the piece (edges[i], edges[i + 1]] that
    holds each count stamped `ts` (-1 or len(edges) - 1: none)."""
    return np.searchsorted(edges, ts, "left") - 1


#: SQL: a count's PRU (ideal cycle time): its order's product in the config (`_ict i`, ict),
#: the order's own (`orders o`), the product's in the product master (`_ict i`, mict) and the
#: machine's default `m_pru`, in that order.
PRU_SQL = "coalesce(i.ict, o.ideal_cycle_time_s, i.mict, {m_pru})"


def startup_sql(scrap: str, reason: str) -> str:
    """SQL: the startup scrap of a count (its scrap when its reason is in `_startup`)."""
    return f"CASE WHEN {reason} IN (SELECT reason FROM _startup) THEN {scrap} ELSE 0 END"


def quantity_sums_sql(names: Mapping[str, str] | None = None) -> str:
    """SQL aggregates over rows of good, scrap, rework, startup and pru (NULL for rows that are
    not counts): good, scrap, rework and startup quantities, the ideal time and the parts
    without one. `names`: output names (default: the KPI query's raw result columns)."""
    n = RAW_QUANTITY_COLUMNS | dict(names or {})
    return f"""coalesce(sum(good), 0) AS {n["good"]},
        coalesce(sum(scrap), 0) AS {n["scrap"]},
        coalesce(sum(rework), 0) AS {n["rework"]},
        coalesce(sum(startup), 0) AS {n["startup"]},
        coalesce(sum((good + scrap) * pru), 0) AS {n["ideal"]},
        coalesce(sum(CASE WHEN good IS NOT NULL AND pru IS NULL THEN good + scrap END), 0)
            AS {n["qwi"]}"""


def count_prus(
    config: KpiConfig,
    products: Sequence[str | None],
    order_prus: Sequence[float | None],
    machine_prus: Sequence[float | None],
    master: Mapping[str, float] | None = None,
) -> list[float | None]:
    """`PRU_SQL` in Python, per count: its product's PRU in the config, else its order's,
    else its product's in the product master `master`, else its machine's default (None:
    none known)."""
    ict, master = config.ideal_cycle_times, master or {}
    out: list[float | None] = []
    for p, o, m in zip(products, order_prus, machine_prus, strict=True):
        for x in (ict.get(p) if p is not None else None, o, master.get(p) if p is not None else None, m):
            if x is not None:
                out.append(x)
                break
        else:
            out.append(None)
    return out


def startup_mask(config: KpiConfig, reasons: Sequence[str | None]) -> np.ndarray:
    """`startup_sql` in Python: which counts' scrap is startup scrap."""
    startup = set(config.startup_scrap_reasons)
    return np.array([r in startup for r in reasons], dtype=bool)
