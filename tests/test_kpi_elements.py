"""The rules of kpi/elements.py: the documented time model, and their SQL and numpy forms
agree for every class, calendar status and flag (the other tests compare whole KPI paths on
random data; this one checks each rule on all of its inputs)."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from factory_commons.kpi import KpiConfig
from factory_commons.kpi import elements as el
from factory_commons.kpi.inputs import ict_table

PROD, SETUP, DOWN, DELAY, PDT = (
    el.CODES[k] for k in ("production", "setup", "down", "delay", "planned_downtime")
)


def _sql(expr: str, table: pa.Table) -> list:
    con = duckdb.connect()
    con.register("t", table)
    return [r[0] for r in con.execute(f"SELECT {expr} FROM t ORDER BY i").fetchall()]


def test_time_element_follows_the_documented_rules():
    assert el.time_element(None, "work", True) == "no_data"
    assert el.time_element(PROD, "break", True) == "production"  # running outside the schedule counts
    assert el.time_element(PROD, "break", False) == "planned_downtime"
    assert el.time_element(PROD, "off", False) == "not_scheduled"
    assert el.time_element(DOWN, "break", True) == "planned_downtime"  # a breakdown into a break
    assert el.time_element(DOWN, "off", True) == "not_scheduled"
    assert el.time_element(PDT, "work", True) == "planned_downtime"
    assert el.time_element(el.MICRO, "work", True) == "micro"
    assert [el.time_element(c, "work", True) for c in (SETUP, DOWN, DELAY)] == ["setup", "down", "delay"]


@pytest.mark.parametrize("outside", [True, False])
def test_segment_element_sql_is_time_element(outside):
    rows = [(c, s) for c in (None, *el.CLASSES) for s in el.STATUSES]
    t = pa.table(
        {
            "i": range(len(rows)),
            "cls": pa.array([c for c, _ in rows], pa.int32()),
            "status": [s for _, s in rows],
        }
    )
    got = _sql(el.segment_element_sql("cls", "status", outside), t)
    assert got == [el.time_element(c, s, outside) for c, s in rows]


@pytest.mark.parametrize("outside", [True, False])
def test_element_seconds_sql_and_numpy_agree(outside):
    """An episode with 1, 10 and 100 s in work, break and off (or each alone) gets the same
    seconds per column from the SQL of the per-episode query and from the numpy of the rollup."""
    spans = [(1, 10, 100), (1, 0, 0), (0, 10, 0), (0, 0, 100)]
    rows = list(itertools.product(el.CLASSES, spans, (True, False)))
    t = pa.table(
        {
            "i": range(len(rows)),
            "cls": pa.array([c for c, _, _ in rows], pa.int32()),
            "w": pa.array([float(sp[0]) for _, sp, _ in rows]),
            "br": pa.array([float(sp[1]) for _, sp, _ in rows]),
            "o": pa.array([float(sp[2]) for _, sp, _ in rows]),
            "has_order": [h for _, _, h in rows],
        }
    )
    sql = el.element_seconds_sql(
        "cls", {"work": "w", "break": "br", "off": "o"}, "w + br + o", "has_order", outside
    )
    for col, expr in sql.items():
        got = np.array(_sql(expr, t), dtype=float)
        # numpy: one segment per status, summed per episode
        want = np.zeros(len(rows))
        for k, status in enumerate(el.STATUSES):
            secs = np.array([sp[k] for _, sp, _ in rows], dtype=np.int64)
            parts = el.element_seconds(
                np.array([c for c, _, _ in rows]),
                np.full(len(rows), el.STATUS_CODES[status]),
                secs,
                np.array([h for _, _, h in rows]),
                outside,
            )
            want += parts[col]
        np.testing.assert_array_equal(got, want, err_msg=col)


def test_episode_class_failure_and_no_data_sql_and_numpy_agree():
    codes = [PROD, SETUP, DOWN, DELAY, PDT]
    rows = list(itertools.product(codes, (True, False), (30.0, 119.0, 120.0, 500.0)))
    t = pa.table(
        {
            "i": range(len(rows)),
            "code": pa.array([c for c, _, _ in rows], pa.int32()),
            "has_next": [h for _, h, _ in rows],
            "len_s": [x for _, _, x in rows],
        }
    )
    got = _sql(el.episode_class_sql("code", "len_s", "has_next", "120.0"), t)
    want = el.episode_class(
        np.array([c for c, _, _ in rows]),
        np.array([h for _, h, _ in rows]),
        np.array([x for _, _, x in rows]),
        120.0,
    )
    assert got == want.tolist()
    assert el.MICRO in got and got.count(el.MICRO) == 2 * 2  # short down and delay with a next change

    cls = np.array([*el.CLASSES] * 2)
    ts = np.array([5] * len(el.CLASSES) + [15] * len(el.CLASSES))
    t = pa.table({"i": range(len(cls)), "cls": pa.array(cls, pa.int32()), "ts": ts})
    assert _sql(el.failure_sql("cls", "ts", "10"), t) == el.failure_mask(cls, ts, 10).tolist()

    ts_type = pa.timestamp("us")
    firsts = [None, 0, 50, 100, 200]
    t = pa.table(
        {
            "i": range(len(firsts)),
            "f": pa.array([None if f is None else f * 1_000_000 for f in firsts], pa.int64()).cast(ts_type),
            "a": pa.array([50_000_000] * len(firsts), pa.int64()).cast(ts_type),
            "b": pa.array([150_000_000] * len(firsts), pa.int64()).cast(ts_type),
        }
    )
    got = _sql(el.no_data_sql("f", "a", "b"), t)
    first = np.array([np.iinfo(np.int64).max if f is None else f for f in firsts])
    assert got == el.no_data(first, np.full(len(firsts), 50), np.full(len(firsts), 150)).tolist()
    assert got == [100, 0, 0, 50, 100]


def test_state_codes_and_prus_sql_and_python_agree():
    config = KpiConfig(
        state_map={("idle", "waiting_material"): "down", "no_order": "delay"},
        ideal_cycle_times={"P1": 2.0},
        startup_scrap_reasons=["warmup"],
    )
    states = ["running", "idle", "idle", "no_order", "unplanned_down", "setup", "planned_stop"]
    reasons = [None, "waiting_material", "other", None, "x", None, None]
    t = pa.table({"i": range(len(states)), "state": states, "reason_code": pa.array(reasons, pa.string())})
    code, joins = el.state_code_sql("t")
    con = duckdb.connect()
    con.register("t", t)
    con.register("_map", el.mapping_table(config))
    got = [r[0] for r in con.execute(f"SELECT {code} FROM t {joins} ORDER BY i").fetchall()]
    assert got == el.state_codes(config, states, reasons).tolist()
    assert got == [PROD, DOWN, DELAY, DELAY, DOWN, SETUP, PDT]

    # the config's product PRU, the order's, the product master's, the machine's, in that order
    products, order_prus, machine_prus = (
        ["P1", "P2", None, "P2", "P3", "P1"],
        [5.0, 5.0, None, None, None, None],
        [9.0, 9.0, 9.0, None, 9.0, None],
    )
    master = {"P1": 7.0, "P2": 3.0, "P3": 4.0}
    counts = pa.table(  # one count per row, with its order's product and PRU (alias o in the SQL)
        {
            "i": range(6),
            "product": pa.array(products, pa.string()),
            "ideal_cycle_time_s": pa.array(order_prus, pa.float64()),
            "m_pru": pa.array(machine_prus, pa.float64()),
            "scrap": [1, 2, 3, 4, 0, 0],
            "reason": pa.array(["warmup", "startup", None, "warmup", None, None], pa.string()),
        }
    )
    con.register("counts", counts)
    con.register("_ict", ict_table(config, master))
    con.register("_startup", pa.table({"reason": pa.array(list(config.startup_scrap_reasons), pa.string())}))
    got = con.execute(
        f"SELECT {el.PRU_SQL.format(m_pru='o.m_pru')}, {el.startup_sql('o.scrap', 'o.reason')} "
        "FROM counts o LEFT JOIN _ict i ON i.product = o.product ORDER BY o.i"
    ).fetchall()
    prus = el.count_prus(config, products, order_prus, machine_prus, master)
    assert [r[0] for r in got] == prus == [2.0, 5.0, 9.0, 3.0, 4.0, 2.0]
    assert el.count_prus(config, products, order_prus, machine_prus)[3:5] == [None, 9.0]
    startup = el.startup_mask(config, counts.column("reason").to_pylist())
    assert [r[1] for r in got] == np.where(startup, counts.column("scrap"), 0).tolist() == [1, 0, 0, 4, 0, 0]


def test_count_window_sql_and_numpy_agree():
    # a count belongs to (s, e]: at s to the piece before, at e to the piece it ends
    edges = np.array([0, 10, 20, 30])
    ts = np.array([0, 1, 10, 11, 20, 29, 30, 31])
    got = el.count_piece(edges, ts).tolist()
    assert got == [-1, 0, 0, 1, 1, 2, 2, 3]
    t = pa.table({"ts": ts})
    con = duckdb.connect()
    con.register("t", t)
    for i in range(3):
        inside = [
            r[0]
            for r in con.execute(
                f"SELECT {el.count_in_sql('ts', str(edges[i]), str(edges[i + 1]))} FROM t"
            ).fetchall()
        ]
        assert inside == [g == i for g in got]
