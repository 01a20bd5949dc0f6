"""Between the retrofit inference and the store: the current signal in, state changes and
part counts out, and the learned model kept in the store.

An `Inference` (retrofit/infer.py) becomes the records every other part already reads:

* each segment is a `StateChange` with `source = "inferred"` and the segment's confidence:
  running -> `running`; idle -> `idle` (reason `micro_stop` where the inference found a
  micro-stop: a short idle between two runs); off -> `planned_stop` with reason `power_off`
  (the machine had no power: switched off); a gap in the data ("unknown") -> `planned_stop`
  with reason `gap`, confidence 0, so that a sensor outage is neither production nor a loss;
  the same from the end of the data on (what comes after the last sample is not known yet: the
  next inference replaces it);
* the cycle starts, grouped per `count_interval_s`, become `PartCount`s (good = cycles,
  `source = "inferred"`) at the last cycle start of each group.

`write_inference` replaces the machine's inferred records over the inferred range
(`Store.delete_inferred`, then write) and writes nothing when the stored ones are already the
same, so running it twice changes nothing. The model (`CurrentModel.to_dict`) is kept as JSON
in the store's `settings` table under `retrofit_model:<machine path>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from ..store.base import Store
from .infer import UNKNOWN, CurrentModel, Inference


def _compute():  # noqa: ANN202 - the pyarrow.compute module
    """pyarrow.compute, imported when first used: every command line loads this module, and an
    idle collector need not carry pyarrow.compute (about 8 MB; docs/connect.md)."""
    import pyarrow.compute as pc

    return pc


SOURCE = "inferred"
SIGNAL = "current"
MODEL_KEY = "retrofit_model:"
#: electrical state -> (machine state, reason code) of the state change written
STATE_OF = {
    "running": ("running", None),
    "idle": ("idle", None),
    "off": ("planned_stop", "power_off"),
    UNKNOWN: ("planned_stop", "gap"),
}
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Written:
    """What `write_inference` did: rows deleted and written per kind (0, 0 when unchanged)."""

    deleted_states: int = 0
    deleted_counts: int = 0
    states: int = 0
    counts: int = 0
    unchanged: bool = False


def _us(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype("datetime64[us]").astype(np.int64)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def state_table(machine: str, inf: Inference) -> pa.Table:
    """The inference's segments as state changes (the store's `state` columns plus source and
    confidence); consecutive segments that map to the same record are merged."""
    micro = {int(_us(np.array([s]))[0]) for s, _e in inf.micro_stops}
    ts = _us(inf.ts)
    rows: list[tuple[int, str, str | None, float]] = []
    for t, s, c in zip(ts.tolist(), inf.state.tolist(), np.asarray(inf.confidence).tolist(), strict=True):
        state, reason = STATE_OF.get(str(s), ("planned_stop", "gap"))
        if state == "idle" and t in micro:
            reason = "micro_stop"
        conf = 0.0 if s == UNKNOWN else float(np.clip(np.nan_to_num(c, nan=0.0), 0.0, 1.0))
        if rows and rows[-1][1] == state and rows[-1][2] == reason:
            continue
        rows.append((t, state, reason, round(conf, 4)))
    if rows and inf.end is not None:  # after the last sample nothing is known: a gap
        end = int(_us(np.array([inf.end]))[0])
        if end > rows[-1][0] and rows[-1][1:3] != ("planned_stop", "gap"):
            rows.append((end, "planned_stop", "gap", 0.0))
    n = len(rows)
    return pa.table(
        {
            "machine": pa.array([machine] * n, pa.string()),
            "ts": pa.array([r[0] for r in rows], pa.int64()).cast(TS),
            "state": pa.array([r[1] for r in rows], pa.string()),
            "reason_code": pa.array([r[2] for r in rows], pa.string()),
            "order_id": pa.array([None] * n, pa.string()),
            "source": pa.array([SOURCE] * n, pa.string()),
            "confidence": pa.array([r[3] for r in rows], pa.float64()),
        }
    )


def count_table(machine: str, inf: Inference, count_interval_s: int = 60) -> pa.Table:
    """The cycle starts as part counts: good = cycles started in each interval (epoch-aligned),
    stamped at the interval's last cycle start."""
    us = np.sort(_us(inf.cycles))
    if len(us):
        bucket = us // (count_interval_s * 1_000_000)
        last = np.flatnonzero(np.append(bucket[1:] != bucket[:-1], True))
        good = np.diff(np.concatenate([[-1], last]))
        ts = us[last]
    else:
        ts, good = np.empty(0, np.int64), np.empty(0, np.int64)
    n = len(ts)
    return pa.table(
        {
            "machine": pa.array([machine] * n, pa.string()),
            "ts": pa.array(ts, pa.int64()).cast(TS),
            "good": pa.array(good, pa.int64()),
            "scrap": pa.array(np.zeros(n, np.int64), pa.int64()),
            "rework": pa.array(np.zeros(n, np.int64), pa.int64()),
            "scrap_reason": pa.array([None] * n, pa.string()),
            "order_id": pa.array([None] * n, pa.string()),
            "source": pa.array([SOURCE] * n, pa.string()),
        }
    )


def _stored(store: Store, machine: str, start: datetime, end: datetime) -> tuple[pa.Table, pa.Table]:
    where = "m.path = ? AND x.source = ? AND x.ts >= ? AND x.ts < ?"
    params = [machine, SOURCE, _naive(start), _naive(end)]
    states = store.query(
        "SELECT x.ts, x.state, x.reason_code, x.confidence FROM states x JOIN machines m "
        f"USING (machine_id) WHERE {where} ORDER BY x.ts",
        params,
    )
    counts = store.query(
        f"SELECT x.ts, x.good FROM counts x JOIN machines m USING (machine_id) WHERE {where} ORDER BY x.ts",
        params,
    )
    return states, counts


def _same(stored: pa.Table, new: pa.Table, cols: tuple[str, ...]) -> bool:
    if stored.num_rows != new.num_rows:
        return False
    a = _us(stored.column("ts").to_numpy(zero_copy_only=False))
    b = _us(new.column("ts").cast(pa.timestamp("us")).to_numpy(zero_copy_only=False))
    if not np.array_equal(a, b):
        return False
    for c in cols:
        x, y = stored.column(c).to_pylist(), new.column(c).to_pylist()
        if c == "confidence":
            if not np.allclose(np.array(x, float), np.array(y, float), atol=1e-4, equal_nan=True):
                return False
        elif x != y:
            return False
    return True


def write_inference(
    store: Store,
    machine: str,
    inf: Inference,
    start: datetime,
    end: datetime,
    counts: bool = True,
    count_interval_s: int = 60,
) -> Written:
    """Replace `machine`'s inferred states (and counts) with ts in [start, end) by `inf`'s.

    Reported data is never touched. When the stored inferred rows are already these, nothing
    is deleted or written (`Written.unchanged`), so a repeated run changes nothing.
    """
    lo, hi = np.datetime64(_naive(start), "us"), np.datetime64(_naive(end), "us")
    keep_s = (inf.ts >= lo) & (inf.ts < hi)
    keep_c = (inf.cycles >= lo) & (inf.cycles < hi)
    inf = replace(
        inf,
        ts=inf.ts[keep_s],
        state=inf.state[keep_s],
        confidence=np.asarray(inf.confidence)[keep_s],
        cycles=inf.cycles[keep_c] if counts else inf.cycles[:0],
        end=inf.end if inf.end is not None and lo < inf.end < hi else None,
    )
    states, cnts = state_table(machine, inf), count_table(machine, inf, count_interval_s)
    old_s, old_c = _stored(store, machine, start, end)
    if _same(old_s, states, ("state", "reason_code", "confidence")) and _same(old_c, cnts, ("good",)):
        return Written(unchanged=True)
    deleted = store.delete_inferred(machine, start, end)
    ws = store.write_table("state", states).written if states.num_rows else 0
    wc = store.write_table("count", cnts).written if cnts.num_rows else 0
    return Written(deleted.get("state", 0), deleted.get("count", 0), ws, wc)


def read_current(
    store: Store,
    machine: str,
    start: datetime | None = None,
    end: datetime | None = None,
    name: str = SIGNAL,
) -> tuple[np.ndarray, np.ndarray]:
    """A machine's stored current signal: (ts as UTC datetime64[us], amps), ordered by time."""
    where, params = ["machine = ?", "name = ?"], [machine, name]
    if start is not None:
        where.append("ts >= ?")
        params.append(_naive(start))
    if end is not None:
        where.append("ts < ?")
        params.append(_naive(end))
    t = store.query(f"SELECT ts, value FROM v_signals WHERE {' AND '.join(where)} ORDER BY ts", params)
    ts = t.column("ts").cast(pa.timestamp("us")).to_numpy(zero_copy_only=False).astype("datetime64[us]")
    return ts, t.column("value").to_numpy(zero_copy_only=False).astype(np.float64)


def current_machines(store: Store, name: str = SIGNAL) -> list[str]:
    """The machines that have a stored signal `name` (the current sensors), by path."""
    t = store.query(
        "SELECT DISTINCT m.path FROM series s JOIN machines m USING (machine_id) WHERE s.name = ? "
        "ORDER BY m.path",
        [name],
    )
    return t.column("path").to_pylist()


def save_model(store: Store, machine: str, model: CurrentModel) -> None:
    """Keep the machine's learned model in the store (settings `retrofit_model:<path>`)."""
    store.query_write("settings", [{"key": MODEL_KEY + machine, "value": model.to_json()}])


def load_model(store: Store, machine: str) -> CurrentModel | None:
    """The machine's learned model, or None when none was learned."""
    t = store.query("SELECT value FROM settings WHERE key = ?", [MODEL_KEY + machine])
    if t.num_rows == 0:
        return None
    return CurrentModel.from_dict(json.loads(t.column("value")[0].as_py()))


def inferred_share(store: Store, machine: str, start: datetime, end: datetime) -> dict[str, float]:
    """Mean confidence and count of the machine's inferred state changes in [start, end)."""
    t = store.query(
        "SELECT count(*) AS n, avg(x.confidence) AS c FROM states x JOIN machines m USING (machine_id) "
        "WHERE m.path = ? AND x.source = ? AND x.ts >= ? AND x.ts < ?",
        [machine, SOURCE, _naive(start), _naive(end)],
    ).to_pylist()[0]
    return {
        "changes": float(t["n"] or 0),
        "confidence": float(t["c"]) if t["c"] is not None else float("nan"),
    }


def simulated_oee(
    seed: int = 7,
    days: int = 2,
    sensor_days: int = 1,
    start: datetime | None = None,
    kinds: tuple[str, ...] | None = None,
) -> list[dict]:
    """OEE of the simulator's legacy machines from inferred states and cycles against OEE from
    their true states and counts, over the days their sensors were on; one dict per machine
    (and one for the legacy line, machine "legacy-1"); a machine without a cycle time (the
    compressor makes no parts) has no OEE and is left out, of the line too.

    A current sensor cannot tell a good part from a bad one, so the inferred side takes the
    true quality ratio (as when the shop records scrap by hand): `oee_inferred` = inferred
    availability x inferred effectiveness x true quality ratio. `kinds` picks some of the
    legacy machines by kind (lathe, machining_center, mechanical_press, injection, welding,
    compressor); default all.
    """
    from zoneinfo import ZoneInfo

    from ..collect.simulator import FactorySimulator
    from ..kpi import compute_kpis
    from ..store.duckdb import DuckDBStore

    if start is None:
        start = datetime(2026, 10, 5, tzinfo=ZoneInfo("Asia/Seoul"))
    sim = FactorySimulator(seed=seed, start=start, days=days, legacy=True, legacy_days=sensor_days)
    legacy = [s.path for s in sim.legacy_specs if kinds is None or s.machine.kind in kinds]
    a, b = sim.sensor_start, sim.sensor_end
    out = []
    with DuckDBStore() as inferred, DuckDBStore() as truth:
        for st in (inferred, truth):
            st.register_machines([m for m in sim.machines() if m.path in legacy])
            st.save_calendar(sim.calendar())
        for _d, batches in sim.iter_days():
            sig = batches["signal"]
            inferred.write_table("signal", sig.filter(_compute().is_in(sig["machine"], pa.array(legacy))))
        for m in legacy:
            ts, amps = read_current(inferred, m, a, b)
            inf = CurrentModel.learn(ts, amps).infer(ts, amps)
            write_inference(inferred, m, inf, a, b)
            t = sim.legacy_truth(m)
            truth.write_table("state", t["state"])
            truth.write_table("count", t["count"])
        parts = [x.path for x in sim.machines() if x.path in legacy and x.default_ideal_cycle_time_s]
        for by in (("machine",), ("line",)):
            ki = compute_kpis(inferred, a, b, by, machines=parts).set_index(by[0])
            kt = compute_kpis(truth, a, b, by, machines=parts).set_index(by[0])
            for key in kt.index:
                if not np.isfinite(kt.loc[key, "oee"]):
                    continue  # a machine without a cycle time (the compressor) has no OEE
                q = float(kt.loc[key, "quality_ratio"])
                row = {
                    "machine": key.rsplit("/", 1)[-1],
                    "oee_true": float(kt.loc[key, "oee"]),
                    "oee_inferred": float(ki.loc[key, "availability"] * ki.loc[key, "effectiveness"] * q),
                    "availability_true": float(kt.loc[key, "availability"]),
                    "availability_inferred": float(ki.loc[key, "availability"]),
                    "parts_true": int(kt.loc[key, "produced_quantity"]),
                    "cycles_inferred": int(ki.loc[key, "produced_quantity"]),
                }
                row["difference_points"] = 100.0 * (row["oee_inferred"] - row["oee_true"])
                out.append(row)
    return out


def write_simulated_folder(out, seed: int = 7, days: int = 3, sensor_days: int = 2) -> list:
    """The simulator's legacy machines as a folder in the benchmark format (one CSV per machine:
    ts, current_a, state, cycle), so that `bench/retrofit.py --data DIR` runs on traces made
    apart from retrofit/traces.py. `state` is what the current can show of the true state
    (simulator.electrical_states); `cycle` counts the parts begun (a compressor's load cycles)."""
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from ..collect.simulator import FactorySimulator
    from .traces import write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 10, 5, tzinfo=ZoneInfo("Asia/Seoul"))
    sim = FactorySimulator(seed=seed, start=start, days=days, legacy=True, legacy_days=sensor_days)
    tables = [b["signal"] for _d, b in sim.iter_days()]
    sig = pa.concat_tables(tables)
    written = []
    for m in sim.legacy_paths():
        cur = sig.filter(_compute().equal(sig["machine"], m))
        ts = cur["ts"].cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]")
        amps = cur["value"].to_numpy()
        truth = sim.legacy_truth(m)
        e = truth["electrical"]
        state = e["state"][np.maximum(np.searchsorted(e["ts"], ts, side="right") - 1, 0)]
        cycle = np.searchsorted(truth["cycles"], ts, side="right")
        path = out / f"sim_{m.rsplit('/', 1)[-1]}_{seed}.csv"
        write_csv(path, ts, amps, np.asarray(state, dtype=str), cycle)
        written.append(path)
    return written
