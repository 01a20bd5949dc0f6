"""OEE benchmark: `compute_kpis` (one SQL query in DuckDB) against a vectorized pandas version.

Runnable alone:  python bench/oee.py [--machines 100 --days 365 --repeat 3]

Data: MACHINES machines for DAYS days, written through the Store API into a temporary DuckDB
file: state changes alternating running and stops (micro-stops of idle and unplanned_down under
120 s, long idle, breakdowns, setup, planned stops, no order), about 190 per machine and day
(7M rows for 100 machines x 1 year), one part count per running episode with startup and
other scrap, a production order per machine and day (ideal cycle time per order), and a
two-shift calendar (Mon-Sat, 06-14 and 14-22 Asia/Seoul, with a 30 min break each) for 90% of
the machines; the rest have no calendar (planned 24/7).

Timed, same run, same store, `group_by=("machine",)` with the loss breakdown:
  ours    compute_kpis(store, start, end): everything inside DuckDB
  pandas  the same computation in pandas (sort, groupby shift/ffill, np.select, groupby sum;
          no Python loop over rows), reading its inputs from the same store; the read and the
          compute are timed separately and the speedup uses their sum
Both results are compared column by column; the last line is `oee_speedup: <pandas/ours>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.kpi import LOSS_COLUMNS, KpiConfig, compute_kpis  # noqa: E402
from factory_commons.kpi.formulas import series_ratio as _ratio  # noqa: E402
from factory_commons.kpi.inputs import ALWAYS  # noqa: E402
from factory_commons.kpi.inputs import always_timeline as _always_timeline  # noqa: E402
from factory_commons.model import Machine, PlannedBreak, Shift, ShiftCalendar, timeline_table  # noqa: E402
from factory_commons.store import DuckDBStore  # noqa: E402

START = datetime(2025, 1, 1)
CAL = ShiftCalendar(
    name="two-shift",
    timezone="Asia/Seoul",
    shifts=(
        Shift(
            name="day",
            start=dtime(6),
            end=dtime(14),
            days=("mon", "tue", "wed", "thu", "fri", "sat"),
            breaks=(PlannedBreak(name="lunch", start=dtime(10), end=dtime(10, 30)),),
        ),
        Shift(
            name="swing",
            start=dtime(14),
            end=dtime(22),
            days=("mon", "tue", "wed", "thu", "fri", "sat"),
            breaks=(PlannedBreak(name="dinner", start=dtime(18), end=dtime(18, 30)),),
        ),
    ),
)
# stop kinds: (state, reason, min s, max s, weight)
STOPS = [
    ("idle", None, 5, 119, 0.45),  # operator checks: micro-stops
    ("unplanned_down", "jam", 5, 119, 0.15),  # micro-stops
    ("idle", "waiting_material", 120, 900, 0.20),
    ("unplanned_down", "hydraulic", 300, 3600, 0.06),
    ("setup", "changeover", 600, 2400, 0.07),
    ("planned_stop", "cleaning", 600, 1800, 0.04),
    ("no_order", None, 600, 3600, 0.03),
]


def paths(n: int) -> list[str]:
    return [f"acme/plant1/area{m // 20 + 1}/line{m // 5 % 4 + 1}/m{m:03d}" for m in range(n)]


def generate(store: DuckDBStore, machines: int, days: int, seed: int = 7) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    store.save_calendar(CAL)
    ps = paths(machines)
    prus = rng.uniform(20, 60, machines).round(1)
    store.register_machines(
        Machine(
            path=p,
            calendar=None if i % 10 == 9 else CAL.name,
            default_ideal_cycle_time_s=float(prus[i]),
        )
        for i, p in enumerate(ps)
    )
    horizon = days * 86400
    weights = np.array([s[4] for s in STOPS])
    lo = np.array([s[2] for s in STOPS])
    hi = np.array([s[3] for s in STOPS])
    n_states = n_counts = 0
    order_rows = {"order_id": [], "product": [], "quantity": [], "ideal_cycle_time_s": [], "machine": []}
    for m, p in enumerate(ps):
        n = int(horizon / 800) + 2000  # enough episodes, trimmed to the horizon below
        kind = rng.choice(len(STOPS), size=n, p=weights / weights.sum())
        stop_dur = rng.integers(lo[kind], hi[kind] + 1)
        run_dur = np.maximum(5, rng.lognormal(np.log(350), 0.6, n)).astype(np.int64)
        dur = np.empty(2 * n, np.int64)
        dur[0::2], dur[1::2] = run_dur, stop_dur
        t = np.concatenate([[0], np.cumsum(dur)[:-1]])
        keep = t < horizon
        t, dur = t[keep], dur[keep]
        is_run = np.arange(len(t)) % 2 == 0
        k = kind[np.arange(len(t)) // 2]
        state = np.where(is_run, "running", np.array([s[0] for s in STOPS], dtype=object)[k])
        reason = np.where(is_run, None, np.array([s[1] for s in STOPS], dtype=object)[k])
        day = t // 86400
        order = np.char.add(f"O{m:03d}-", day.astype(str)).astype(object)
        order[state == "no_order"] = None
        ts = np.datetime64(START, "us") + t.astype("timedelta64[s]")
        store.write_table(
            "state",
            pa.table(
                {
                    "machine": pa.array([p] * len(t)),
                    "ts": pa.array(ts, pa.timestamp("us")),
                    "state": pa.array(state, pa.string()),
                    "reason_code": pa.array(reason, pa.string()),
                    "order_id": pa.array(order, pa.string()),
                }
            ),
        )
        n_states += len(t)
        # orders: one per machine and day, ideal cycle time around the machine's default
        n_days = int(day.max()) + 1
        order_rows["order_id"] += [f"O{m:03d}-{d}" for d in range(n_days)]
        order_rows["product"] += [f"P{m % 7}-{d % 5}" for d in range(n_days)]
        order_rows["quantity"] += [1000] * n_days
        order_rows["ideal_cycle_time_s"] += list(prus[m] * rng.uniform(0.9, 1.1, n_days).round(3))
        order_rows["machine"] += [p] * n_days
        # one count per closed running episode: parts at 70-98% of the ideal rate
        r = np.flatnonzero(is_run[:-1])
        ict = prus[m] * 1.1
        parts = np.floor(dur[r] / ict * rng.uniform(0.7, 0.98, len(r))).astype(np.int64)
        r, parts = r[parts > 0], parts[parts > 0]
        scrap = rng.binomial(parts, 0.02)
        good = parts - scrap
        rework = rng.binomial(good, 0.01)
        startup = rng.random(len(r)) < 0.3
        ctime = ts[r] + (dur[r] - 1).astype("timedelta64[s]")
        store.write_table(
            "count",
            pa.table(
                {
                    "machine": pa.array([p] * len(r)),
                    "ts": pa.array(ctime, pa.timestamp("us")),
                    "good": pa.array(good),
                    "scrap": pa.array(scrap),
                    "rework": pa.array(rework),
                    "scrap_reason": pa.array(
                        np.where(scrap == 0, None, np.where(startup, "startup", "burr")), pa.string()
                    ),
                    "order_id": pa.array(order[r], pa.string()),
                }
            ),
        )
        n_counts += len(r)
    store.write_table("order", pa.table(order_rows))
    return {"states": n_states, "counts": n_counts, "orders": len(order_rows["order_id"])}


# -- the same computation in pandas -------------------------------------------------------------


def load_inputs(store: DuckDBStore) -> dict[str, pd.DataFrame]:
    q = store.query
    return {
        "machines": q(
            "SELECT machine_id, path, calendar, default_ideal_cycle_time_s AS m_pru FROM machines"
        ).to_pandas(),
        "states": q("SELECT machine_id, ts, state, reason_code, order_id FROM states").to_pandas(),
        "counts": q(
            "SELECT machine_id, ts, good, scrap, rework, scrap_reason, order_id FROM counts"
        ).to_pandas(),
        "orders": q("SELECT order_id, product, ideal_cycle_time_s FROM orders").to_pandas(),
    }


ELEMENTS = ["production", "setup", "down", "delay", "planned_downtime", "micro"]
E_CODE = {name: i for i, name in enumerate(ELEMENTS)}  # -1: no state yet
STATUS = {"work": 0, "break": 1, "off": 2}


def pandas_kpis(inp: dict[str, pd.DataFrame], start: datetime, end: datetime, cfg: KpiConfig) -> pd.DataFrame:
    """The same rules as compute_kpis, in pandas: integer codes instead of strings, one sort,
    groupby shift/ffill per machine, np.select, groupby sums."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    mach = inp["machines"]
    mach = mach.assign(cal=mach["calendar"].fillna(ALWAYS))
    # orders and counts share one integer code space for order ids
    st_all, cnt_all = inp["states"], inp["counts"]
    o_codes, o_uniques = pd.factorize(pd.concat([st_all["order_id"], cnt_all["order_id"]], ignore_index=True))
    st_ord, cnt_ord = o_codes[: len(st_all)], o_codes[len(st_all) :]
    orders = inp["orders"].set_index("order_id")
    o_pru = (
        orders["product"]
        .map(pd.Series(cfg.ideal_cycle_times, dtype=float))
        .fillna(orders["ideal_cycle_time_s"])
    )
    pru_of_code = pd.Series(o_uniques).map(o_pru).to_numpy(float)
    # 1. episodes: element per (state, reason), LEAD by groupby shift
    rows = pd.DataFrame(cfg.mapping_rows(), columns=["state", "reason_code", "element"])
    by_reason = rows.dropna(subset=["reason_code"]).set_index(["state", "reason_code"])["element"]
    by_state = rows[rows["reason_code"].isna()].set_index("state")["element"]
    pairs = st_all[["state", "reason_code"]].astype("category")
    element = pd.Series(
        by_reason.reindex(pd.MultiIndex.from_arrays([pairs["state"], pairs["reason_code"]])).to_numpy(),
        index=st_all.index,
    ).fillna(pairs["state"].map(by_state).astype(object))
    code = element.map(E_CODE).to_numpy(np.int8)
    order = np.lexsort((st_all["ts"].to_numpy(), st_all["machine_id"].to_numpy()))
    mid = st_all["machine_id"].to_numpy()[order]
    ts = st_all["ts"].to_numpy()[order]
    code, st_ord = code[order], st_ord[order]
    same_next = np.r_[mid[1:] == mid[:-1], False]
    nxt = np.where(same_next, np.r_[ts[1:], ts[:1]], np.datetime64("NaT"))
    nxt_or_e = np.where(np.isnat(nxt), np.datetime64(e), nxt)
    dur_s = (nxt_or_e - ts) / np.timedelta64(1, "s")
    keep = (np.isnat(nxt) | (nxt > np.datetime64(s))) & (ts < np.datetime64(e))
    micro = np.isin(code, [E_CODE["down"], E_CODE["delay"]]) & ~np.isnat(nxt)
    micro &= dur_s < cfg.micro_stop_threshold_s
    cls = np.where(micro, E_CODE["micro"], code)
    fail = (cls == E_CODE["down"]) & (ts >= np.datetime64(s))
    ep = pd.DataFrame(
        {
            "machine_id": mid[keep],
            "ts": np.maximum(ts[keep], np.datetime64(s)),
            "k": np.int8(1),
            "cls": cls[keep].astype(float),
            "ord": st_ord[keep].astype(float),
            "failure": fail[keep].astype(np.int64),
            "repair_s": np.where(fail, dur_s, np.nan)[keep],
        }
    )
    # 2. calendar events per machine
    cals = [CAL] if (mach["cal"] == CAL.name).any() else []
    tl = pd.concat([timeline_table(cals, start, end).to_pandas(), _always_timeline(start, end).to_pandas()])
    tl = tl[tl["ts"] < e]
    ce = mach[["machine_id", "cal"]].merge(tl, left_on="cal", right_on="calendar")
    ce = pd.DataFrame(
        {
            "machine_id": ce["machine_id"],
            "ts": ce["ts"].clip(lower=s),
            "k": np.int8(0),
            "status": ce["status"].map(STATUS).astype(float),
        }
    )
    in_win = ((cnt_all["ts"] > s) & (cnt_all["ts"] <= e)).to_numpy()  # a count at e is e's (kpi.md)
    cnt = cnt_all[in_win]
    ce_c = pd.DataFrame(
        {
            "machine_id": cnt["machine_id"],
            "ts": cnt["ts"],
            "k": np.int8(-1),  # before a boundary or state change at its own instant
            "good": cnt["good"],
            "scrap": cnt["scrap"],
            "rework": cnt["rework"],
            "startup": cnt["scrap"].where(cnt["scrap_reason"].isin(cfg.startup_scrap_reasons), 0),
            "c_ord": np.where(cnt_ord[in_win] >= 0, cnt_ord[in_win], np.nan),
        }
    )
    # 3. one stream, sorted by machine, ts, kind; forward filled per machine
    ev = pd.concat([ce, ep, ce_c], ignore_index=True)
    order = np.lexsort((ev["k"].to_numpy(), ev["ts"].to_numpy(), ev["machine_id"].to_numpy()))
    ev = ev.take(order).reset_index(drop=True)
    g = ev.groupby("machine_id", sort=False)
    filled = g[["status", "cls", "ord"]].ffill()
    # 4. segments: LEAD by groupby shift, classify, value counts with their PRU
    nxt = g["ts"].shift(-1).fillna(e)
    dur = ((nxt - ev["ts"]) / np.timedelta64(1, "s")).to_numpy()
    f_cls = filled["cls"].fillna(-1).to_numpy()
    f_status = filled["status"].to_numpy()
    prod = (f_cls == E_CODE["production"]) & (
        (f_status == STATUS["work"]) | cfg.count_running_outside_schedule
    )
    el = np.select(
        [
            f_cls == -1,
            prod,
            f_status == STATUS["off"],
            f_status == STATUS["break"],
            f_cls == E_CODE["production"],
        ],
        [9, E_CODE["production"], 7, E_CODE["planned_downtime"], E_CODE["planned_downtime"]],
        default=f_cls,
    ).astype(np.int64)  # 7 not scheduled, 9 no data
    is_count = (ev["k"] == -1).to_numpy()
    ord2 = ev["c_ord"].fillna(filled["ord"]).to_numpy()
    pru = np.full(len(ev), np.nan)
    ok = is_count & ~np.isnan(ord2) & (ord2 >= 0)
    pru[ok] = pru_of_code[ord2[ok].astype(np.int64)]
    m_pru = mach.set_index("machine_id")["m_pru"]
    missing = is_count & np.isnan(pru)
    pru[missing] = ev["machine_id"][missing].map(m_pru).to_numpy(float)
    frame = pd.DataFrame({"machine_id": ev["machine_id"].to_numpy(), "el": el, "dur": dur})
    times = frame.groupby(["machine_id", "el"])["dur"].sum().unstack(fill_value=0.0)
    names = {**{v: k for k, v in E_CODE.items()}, 7: "not_scheduled", 9: "no_data"}
    times = times.rename(columns=names)
    for c in (
        "not_scheduled",
        "planned_downtime",
        "production",
        "micro",
        "setup",
        "down",
        "delay",
        "no_data",
    ):
        if c not in times:
            times[c] = 0.0
    times = times[
        ["not_scheduled", "planned_downtime", "production", "micro", "setup", "down", "delay", "no_data"]
    ]
    q = pd.DataFrame(
        {
            "machine_id": ev["machine_id"],
            "good": ev["good"],
            "scrap": ev["scrap"],
            "rework": ev["rework"],
            "startup": ev["startup"],
            "ideal": (ev["good"] + ev["scrap"]) * pru,
            "failure": ev["failure"],
            "repair": ev["repair_s"],
        }
    )
    sums = q.groupby("machine_id").sum(min_count=0)
    out = times.join(sums, how="outer").fillna(0.0)
    out.index = out.index.map(mach.set_index("machine_id")["path"])
    df = pd.DataFrame(index=out.index)
    df["calendar_time_s"] = out[list(times.columns)].sum(axis=1)
    df["not_scheduled_s"] = out["not_scheduled"]
    df["no_data_s"] = out["no_data"]
    df["planned_downtime_s"] = out["planned_downtime"]
    df["planned_busy_time_s"] = (
        df["calendar_time_s"] - df["not_scheduled_s"] - df["no_data_s"] - df["planned_downtime_s"]
    )
    apt = out["production"] + out["micro"]
    df["actual_production_time_s"] = apt
    df["setup_time_s"], df["down_time_s"], df["delay_time_s"] = out["setup"], out["down"], out["delay"]
    df["micro_stop_time_s"] = out["micro"]
    df["good_quantity"], df["scrap_quantity"] = out["good"], out["scrap"]
    df["produced_quantity"] = out["good"] + out["scrap"]
    df["ideal_time_s"], df["failures"], df["repair_time_s"] = out["ideal"], out["failure"], out["repair"]
    df["availability"] = _ratio(apt, df["planned_busy_time_s"])
    df["effectiveness"] = _ratio(out["ideal"], apt)
    df["quality_ratio"] = _ratio(out["good"], df["produced_quantity"])
    df["oee"] = df["availability"] * df["effectiveness"] * df["quality_ratio"]
    mean_pru = _ratio(out["ideal"], df["produced_quantity"]).fillna(0.0)
    df["loss_breakdowns_s"], df["loss_setup_s"] = out["down"], out["setup"]
    df["loss_idling_s"], df["loss_minor_stops_s"] = out["delay"], out["micro"]
    df["loss_reduced_speed_s"] = apt - out["micro"] - out["ideal"]
    df["loss_defects_s"] = (out["scrap"] - out["startup"]) * mean_pru
    df["loss_reduced_yield_s"] = out["startup"] * mean_pru
    return df.rename_axis("machine").reset_index().sort_values("machine").reset_index(drop=True)


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--machines", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each; best and median shown")
    args = ap.parse_args()

    cfg = KpiConfig(startup_scrap_reasons=["startup"])
    start, end = START, START + timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "oee.duckdb")
        t0 = time.perf_counter()
        sizes = generate(store, args.machines, args.days)
        print(
            f"data: {args.machines} machines x {args.days} days: {sizes['states']:,} state changes, "
            f"{sizes['counts']:,} counts, {sizes['orders']:,} orders "
            f"(generated and written through the Store in {time.perf_counter() - t0:.1f} s)"
        )
        compute_kpis(store, start, end, ("machine",), cfg)  # warm-up
        t_ours, ours = timed(lambda: compute_kpis(store, start, end, ("machine",), cfg), args.repeat)
        # for information: a grouping that needs the forward-filled event stream
        t_day, by_day = timed(lambda: compute_kpis(store, start, end, ("machine", "day"), cfg), 1)
        t_load, inp = timed(lambda: load_inputs(store), args.repeat)
        t_pd, theirs = timed(lambda: pandas_kpis(inp, start, end, cfg), args.repeat)
        store.close()

    cols = [c for c in theirs.columns if c != "machine"]
    assert list(ours["machine"]) == list(theirs["machine"]), "machine lists differ"
    worst = 0.0
    for c in cols:
        a, b = ours[c].to_numpy(float), theirs[c].to_numpy(float)
        scale = np.maximum(1.0, np.abs(b))
        diff = np.nanmax(np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b) / scale))
        worst = max(worst, diff)
        if not diff <= 1e-9:
            raise SystemExit(f"MISMATCH in {c}: max relative difference {diff:.3g}")
    losses = ours[list(LOSS_COLUMNS)].sum(axis=1)
    ident = (losses - (ours["planned_busy_time_s"] * (1 - ours["oee"]))).abs().max()
    plant = ours[[c for c in cols if c.endswith("_s") or c.endswith("quantity")]].sum()
    print(
        f"results agree: {len(cols)} columns x {len(ours)} machines, max relative difference {worst:.2g}; "
        f"max |sum(losses) - PBT(1-OEE)| = {ident:.2g} s"
    )
    print(
        f"plant: OEE {plant['ideal_time_s'] * plant['good_quantity'] / plant['produced_quantity'] / plant['planned_busy_time_s']:.1%}, "
        f"PBT {plant['planned_busy_time_s'] / 3600:,.0f} h, APT {plant['actual_production_time_s'] / 3600:,.0f} h, "
        f"minor stops {plant['micro_stop_time_s'] / 3600:,.0f} h, PQ {int(plant['produced_quantity']):,}"
    )

    def fmt(ts: list[float]) -> str:
        return f"best {min(ts):.3f} s, median {statistics.median(ts):.3f} s"

    best_pd = min(t_load) + min(t_pd)
    print(f"ours   compute_kpis(group_by=('machine',)):  {fmt(t_ours)}")
    print(
        f"ours   compute_kpis(group_by=('machine', 'day')), event stream + forward fill: "
        f"{t_day[0]:.3f} s ({len(by_day):,} rows; not compared)"
    )
    print(f"pandas read inputs from the store:          {fmt(t_load)}")
    print(f"pandas compute:                             {fmt(t_pd)}")
    print(f"pandas read + compute (best):               {best_pd:.3f} s")
    print(f"speedup on compute alone: {min(t_pd) / min(t_ours):.1f}x")
    print(f"oee_speedup: {best_pd / min(t_ours):.1f}")


if __name__ == "__main__":
    main()
