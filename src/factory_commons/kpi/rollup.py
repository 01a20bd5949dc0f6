"""The KPI cache: machine/line/plant sums from an exact hourly rollup (`kpi_hours`, `kpi_days`).

This module only caches; it classifies nothing. A request [s, e) is cut at whole UTC hours:
the hours inside it are read from `kpi_hours` (whole days from `kpi_days`) where the store
has them, and everything else (the partial hours at both edges, hours not rolled up yet,
hours the machine's still open last episode reaches) is computed per contiguous run of such
pieces by `piece_sums` (with the rules of `elements`), one row per (machine, piece). The
request's sums are the sums of its pieces, so the result equals `compute_kpis`' full query
(see docs/kpi.md, "Hourly rollup", for why every element is additive and how the store keeps
the hours exact; tests/test_kpi_rollup.py checks it on random data, windows and writes).

A piece's row holds the time elements the full query sums, split at the piece's bounds:
an episode's class (micro-stop or not) and repair time come from its whole length, not the
clipped one, and a failure belongs to the piece where the episode starts, exactly as the
window query treats an episode that the window cuts. Only hours before the machine's newest
state change are stored (their episodes are all closed), together with a fingerprint of the
KPI config, the machine's calendar and its default ideal cycle time, and only when the
machine's rollup version has not moved since before the computation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model.calendar import ShiftCalendar
from ..store.base import Store
from ..store.rollup import COLUMNS, VALUE_COLUMNS
from . import piece_sums
from .config import KpiConfig
from .elements import RAW_QUANTITY_COLUMNS, RAW_TIME_COLUMNS
from .inputs import calendar_timeline, lit, machine_filter, side_tables
from .piece_sums import VALUES

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Windows with at least this many whole UTC days read them from `kpi_days` (`_stored`).
DAYS_FROM = 2 * DAY
#: Runs of pieces up to this long are computed in Python from their raw rows (`run_rows`:
#: a few plain reads, no big query to plan); longer ones (a cold rollup) by `hourly_sql`.
#: Both give the same whole microseconds; tests/test_kpi_rollup.py runs each against the
#: full query.
PY_MAX = timedelta(hours=6)

#: rollup value column -> the column name of the KPI query's raw result
RAW_NAMES = {
    **{f"{c}_us": name for c, name in RAW_TIME_COLUMNS.items()},
    **RAW_QUANTITY_COLUMNS,
    "failures": "failures",
    "repair_us": "repair_time_s",
}


#: What a rollup request reads about the machines and calendars, in one statement (one
#: snapshot): each machine (kind 0: path, calendar, line path, default ideal cycle time), its
#: rollup version (kind 1; read with the rest: hours computed from then on are stored only if
#: no write moved it), its newest state change (kind 2), each calendar's definition (kind
#: 3) and the product master's ideal cycle times (kind 4). A UNION ALL of plain scans instead of joins: DuckDB plans it in about half the time,
#: and it saves the separate calendars read (bench/kpi_reads.py). `machine_info` assembles it.
MACHINE_INFO = (
    "SELECT 0 AS kind, machine_id, path AS name, calendar AS text, "
    "enterprise || '/' || site || '/' || area || '/' || line AS line_path, "
    "default_ideal_cycle_time_s AS pru, CAST(NULL AS TIMESTAMP) AS ts, CAST(NULL AS BIGINT) AS ver "
    "FROM machines UNION ALL "
    "SELECT 1, machine_id, NULL, NULL, NULL, NULL, NULL, ver FROM kpi_versions UNION ALL "
    "SELECT 2, machine_id, NULL, NULL, NULL, NULL, ts, NULL FROM latest_states UNION ALL "
    "SELECT 3, NULL, name, definition, NULL, NULL, NULL, NULL FROM calendars UNION ALL "
    "SELECT 4, NULL, product, NULL, NULL, ideal_cycle_time_s, NULL, NULL FROM products"
)

#: The version of the rules a stored hour was computed with, part of its fingerprint: hours
#: of older rules are never read (2: a count stamped at a piece's end belongs to it).
RULES = 2


@functools.lru_cache(maxsize=256)
def _calendar(definition: str) -> ShiftCalendar:
    """A calendar from its stored JSON (parsed once per distinct definition)."""
    return ShiftCalendar.model_validate(json.loads(definition))


def machine_info(store: Store) -> tuple[list[dict], dict[str, ShiftCalendar], dict[str, float]]:
    """The machines by path, each a dict of machine_id, path, calendar, ver, newest,
    line_path and pru, the store's calendars by name and the product master (product ->
    ideal cycle time): one read (MACHINE_INFO)."""
    t = store.query(MACHINE_INFO)
    cols = {c: t.column(c).to_pylist() for c in t.column_names}
    machines: dict[int, dict] = {}
    ver: dict[int, int] = {}
    newest: dict[int, datetime] = {}
    cals: dict[str, ShiftCalendar] = {}
    master: dict[str, float] = {}
    for kind, mid, name, text, line_path, pru, ts, v in zip(*cols.values(), strict=True):
        if kind == 0:
            machines[mid] = {
                "machine_id": mid,
                "path": name,
                "calendar": text,
                "line_path": line_path,
                "pru": pru,
            }
        elif kind == 1:
            ver[mid] = v
        elif kind == 2:
            newest[mid] = ts
        elif kind == 3:
            cals[name] = _calendar(text)
        else:
            master[name] = pru
    rows = sorted(machines.values(), key=lambda r: r["path"])
    for r in rows:
        r["ver"] = ver.get(r["machine_id"], 0)
        r["newest"] = newest.get(r["machine_id"])
    return rows, dict(sorted(cals.items())), master


def _floor_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    f = _floor_hour(t)
    return f if f == t else f + HOUR


def pieces(s: datetime, e: datetime) -> list[tuple[datetime, datetime]]:
    """[s, e) cut at every whole UTC hour: the partial edge pieces and the whole hours."""
    out, a = [], s
    while a < e:
        b = min(_floor_hour(a) + HOUR, e)
        out.append((a, b))
        a = b
    return out


def fingerprint(
    config: KpiConfig,
    calendar: str,
    definition: str | None,
    pru: float | None,
    master: dict[str, float] | None = None,
) -> str:
    """What a machine's hours depend on besides its events: the KPI config and the product
    master (with the version of the rules, `RULES`), the machine's calendar (name and
    definition) and its default ideal cycle time."""
    return _fingerprint(_config_json(config, master), calendar, definition, pru)


def _config_json(config: KpiConfig, master: dict[str, float] | None = None) -> str:
    """The config, the product master and `RULES` as one JSON text."""
    data = {"config": config.model_dump(mode="json"), "products": master or {}, "rules": RULES}
    return json.dumps(data, sort_keys=True)


@functools.lru_cache(maxsize=4096)
def _fingerprint(config_json: str, calendar: str, definition: str | None, pru: float | None) -> str:
    """`fingerprint` with the config's JSON given: the text of
    json.dumps([config, calendar, definition, pru], sort_keys=True), built from its parts
    (cached: every request asks again for each machine's)."""
    text = f"[{config_json}, {json.dumps(calendar)}, {json.dumps(definition)}, {json.dumps(pru)}]"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def compute_from_rollup(
    store: Store,
    s: datetime,
    e: datetime,
    group_by: tuple[str, ...],
    config: KpiConfig,
    mrows: list[dict],
    cals: dict[str, ShiftCalendar],
    master: dict[str, float] | None = None,
) -> dict[str, object] | None:
    """The raw sums `formulas.finish` takes, for machine/line/plant groupings of `mrows` over
    [s, e), from the rollup; None when the window holds no whole hour or counts without an
    order (then the caller runs the full query). `master`: the product master's ideal cycle
    times."""
    whole = [(a, b) for a, b in pieces(s, e) if b - a == HOUR]
    if not whole or not mrows:
        return None
    ids = sorted(int(m["machine_id"]) for m in mrows)
    info = mrows  # read by compute_kpis with `machine_info`, before anything else
    timeline, cal_of = calendar_timeline(store, mrows, s, e, config, cals)
    cfg = _config_json(config, master)
    fps: dict[tuple, str] = {}  # machines sharing calendar and ideal cycle time: one hash
    cal_json = {c: cals[c].model_dump_json() if c in cals else None for c in set(cal_of.values())}
    fp_of = {}
    for r in info:
        cal = cal_of[r["machine_id"]]
        key = (cal, r["pru"])
        if key not in fps:
            fps[key] = _fingerprint(cfg, cal, cal_json[cal], r["pru"])
        fp_of[r["machine_id"]] = fps[key]
    have, cached = _stored(store, ids, fp_of, whole)
    all_pieces = pieces(s, e)
    have_all = have.all_have_before(ids)
    need = [pc_ for pc_ in all_pieces if not have.all_have(ids, pc_[0], have_all)]
    runs: list[list[tuple[datetime, datetime]]] = []
    for pc_ in need:
        if runs and runs[-1][-1][1] == pc_[0]:
            runs[-1].append(pc_)
        else:
            runs.append([pc_])
    pru_of = {r["machine_id"]: r["pru"] for r in info}
    newest = {r["machine_id"]: r["newest"] for r in info}
    computed = []
    for run in runs:
        run_ids = [m for m in ids if have.lacks(m, run)]
        if run[-1][1] - run[0][0] <= PY_MAX:
            computed.append(
                piece_sums.run_rows(store, run, e, config, run_ids, timeline, cal_of, pru_of, newest, master)
            )
        else:
            tables = side_tables(config, cal_of, master)  # only a cold run's query reads them
            computed.append(piece_sums.compute_run(store, run, e, config, run_ids, timeline, tables))
    comp = {
        c: np.concatenate([x[c] for x in computed]) if computed else np.zeros(0)
        for c in ("machine_id", "h0", *VALUES)
    }
    n_comp = len(comp["machine_id"])
    if n_comp:
        h0s = comp["h0"].astype("datetime64[us]").astype(datetime).tolist()
        keys = list(zip(comp["machine_id"].tolist(), h0s, strict=True))
        starts = {a for a, _ in whole}
        _save(store, comp, keys, info, fp_of, {k for k in keys if k[1] in starts and k not in have})
        # a run computes all of its pieces for its machines; the stored ones are read instead
        fresh = np.array([k not in have for k in keys], dtype=bool)
        comp = {c: v[fresh] for c, v in comp.items()}
        n_comp = int(fresh.sum())
    if n_comp + len(have) != len(ids) * len(all_pieces):
        raise RuntimeError(
            f"KPI rollup: {n_comp + len(have)} pieces for {len(ids)} machines x {len(all_pieces)} pieces"
        )
    return _group_sums([comp, cached], ids, info, group_by)


def _group_sums(
    parts: list, ids: list[int], info: list[dict], group_by: tuple[str, ...]
) -> dict[str, object] | None:
    """The raw sums of `formulas.finish` from piece rows (machine_id, VALUES): per group of
    `group_by` (machine path, line path; () the plant), sorted by the group keys as pandas'
    groupby sorts them; None when a row has counts without an order. Plain numpy: integer
    sums are exact, the ideal time is summed with `math.fsum` (correctly rounded). A part is a
    DataFrame or a dict of columns (lists or arrays)."""
    vals = [c for c in VALUES if c != "orderless"]
    ints = [c for c in vals if c != "ideal"]
    parts = [p for p in parts if len(p["machine_id"])]
    mid = (
        np.concatenate([np.asarray(p["machine_id"], dtype=np.int64) for p in parts])
        if parts
        else np.zeros(0, np.int64)
    )
    if parts and any(np.asarray(p["orderless"], dtype=float).sum() > 0 for p in parts):
        return None
    ids_a = np.asarray(ids, dtype=np.int64)
    idx = np.searchsorted(ids_a, mid)
    order = np.argsort(idx, kind="stable")
    cut = np.searchsorted(idx[order], np.arange(len(ids) + 1))
    rows = np.zeros((len(mid), len(ints)), np.int64)
    for j, c in enumerate(ints):
        rows[:, j] = np.concatenate([np.asarray(p[c], dtype=np.int64) for p in parts]) if parts else []
    running = np.vstack([np.zeros((1, len(ints)), np.int64), np.cumsum(rows[order], axis=0)])
    mat = running[cut[1:]] - running[cut[:-1]]  # per machine: exact integer sums
    ideal = np.concatenate([np.asarray(p["ideal"], dtype=float) for p in parts]) if parts else np.zeros(0)
    cut = cut.tolist()
    ideal_sorted = ideal[order].tolist()
    present = sorted(set(idx.tolist()))  # as groupby: only machines with rows
    meta = {r["machine_id"]: r for r in info}
    cols = {"machine": "path", "line": "line_path"}
    groups: dict[tuple, list[int]] = {}
    for i in present:
        key = tuple(meta[ids[i]][cols[g]] for g in group_by)
        groups.setdefault(key, []).append(i)
    keys = sorted(groups) if group_by else [()]
    if not group_by:
        groups = {(): present}
    out: dict[str, object] = {g: [k[j] for k in keys] for j, g in enumerate(group_by)}
    sums = np.array([mat[groups[k]].sum(axis=0) for k in keys], dtype=np.int64).reshape(len(keys), len(ints))
    for j, c in enumerate(ints):
        out[RAW_NAMES[c]] = sums[:, j] / 1e6 if c.endswith("_us") else sums[:, j]
    out[RAW_NAMES["ideal"]] = np.array(
        [math.fsum(x for i in groups[k] for x in ideal_sorted[cut[i] : cut[i + 1]]) for k in keys],
        dtype=float,
    )
    return {c: out[c] for c in (*group_by, *(RAW_NAMES[c] for c in vals))}


class _Have:
    """The stored hours of a request: per machine a run [first whole hour, upto) (`upto`), or
    any set of (machine, hour) keys (`keys`)."""

    def __init__(self, h0: datetime, upto: dict[int, datetime] | None, keys: set | None):
        self.h0, self.upto, self.keys = h0, upto, keys

    def __contains__(self, key: tuple[int, datetime]) -> bool:
        if self.keys is not None:
            return key in self.keys
        return self.h0 <= key[1] < self.upto.get(key[0], self.h0)

    def __len__(self) -> int:
        if self.keys is not None:
            return len(self.keys)
        return sum((u - self.h0) // HOUR for u in self.upto.values())

    def all_have_before(self, ids: list[int]) -> datetime | None:
        """With runs: the end of the hours every machine of `ids` has stored (else None)."""
        if self.keys is not None:
            return None
        return min((self.upto.get(m, self.h0) for m in ids), default=self.h0)

    def all_have(self, ids: list[int], h: datetime, before: datetime | None = None) -> bool:
        """Whether every machine of `ids` has the piece starting at h stored (`before`: what
        `all_have_before(ids)` gave, to ask for many pieces)."""
        if self.keys is None:
            return self.h0 <= h < (before if before is not None else self.all_have_before(ids))
        return all((m, h) in self.keys for m in ids)

    def lacks(self, m: int, run: list[tuple[datetime, datetime]]) -> bool:
        """Whether machine m lacks a piece of the contiguous `run`."""
        if self.keys is None:
            return not (self.h0 <= run[0][0] and run[-1][0] < self.upto.get(m, self.h0))
        return any((m, a) not in self.keys for a, _ in run)


def _stored(
    store: Store, ids: list[int], fp_of: dict[int, str], whole: list[tuple[datetime, datetime]]
) -> tuple[_Have, dict[str, np.ndarray]]:
    """The stored hours of [first whole hour, last whole hour] for the machines' current
    fingerprints: the (machine, hour) keys and the rows that sum them (machine_id, VALUES).

    The whole UTC days inside the window come from `kpi_days` (one row for a machine's 24
    stored hours), the other hours from `kpi_hours`: those before the first whole day, and
    those from the end of each machine's run of day rows on (the newest day is usually not
    complete yet). Usually each machine's stored hours are a run from the first hour on
    (hours and days are dropped from a point onward): then `_Have` keeps one bound per
    machine, else the set of keys. PostgreSQL sums each part per machine in SQL (rows cross
    psycopg one Python value at a time: a day of 50 machines read as rows cost 10 ms, as sums
    1-2 ms) and reads rows only when that is not a run from the first hour. DuckDB reads the
    rows and they are summed in numpy (`_group_sums`): its GROUP BY with twenty sums cost more
    than the plain read."""
    h0, h1 = whole[0][0], whole[-1][1]
    d0 = h0 if h0 == _floor_day(h0) else _floor_day(h0) + DAY
    d1 = max(_floor_day(h1), d0)  # the whole days [d0, d1)
    if d1 - d0 < DAYS_FROM:  # a day's hours are one read; the day rows are worth a second one
        d0 = d1 = h1
    a = min(d0, h1)  # the hours [h0, a) come before them
    if store.dialect == "postgresql":
        fast = _stored_sums(store, ids, fp_of, h0, h1, a, d0, d1)
        if fast is not None:
            return fast
    mf = machine_filter(ids, store.dialect)
    cols = ", ".join(VALUES)
    ids_a = np.asarray(ids, dtype=np.int64)
    fps = sorted(set(fp_of.values()))
    want = np.array([fps.index(fp_of[m]) if m in fp_of else -1 for m in ids], dtype=np.int64)

    def current(t: pa.Table) -> tuple[pa.Table, np.ndarray]:  # rows of the current fingerprints
        idx = np.searchsorted(ids_a, t.column("machine_id").to_numpy().astype(np.int64))
        code = pc.fill_null(pc.index_in(t.column("fp"), value_set=pa.array(fps, pa.string())), -2)
        keep = code.to_numpy(zero_copy_only=False) == want[idx]
        return t.filter(pa.array(keep)), idx[keep]

    n_hours = (h1 - h0) // HOUR
    cov = np.zeros((len(ids), n_hours), dtype=bool)
    rows: dict[str, list[np.ndarray]] = {c: [] for c in ("machine_id", *VALUES)}
    x, ends = a, np.zeros(len(ids), np.int64)
    if d0 < d1:
        days, didx = current(
            store.query(
                f"SELECT machine_id, fp, day_ts, {cols} FROM kpi_days WHERE {mf} AND day_ts >= ? AND day_ts < ?",
                [d0, d1],
            )
        )
        doff = (days.column("day_ts").to_numpy() - np.datetime64(h0, "us")) // np.timedelta64(1, "h")
        for j in range(24):
            cov[didx, doff + j] = True
        rows["machine_id"].append(ids_a[didx])
        for c in VALUES:
            rows[c].append(days.column(c).to_numpy(zero_copy_only=False))
        # the hours from x on are read for every machine, x being where the shortest run of
        # day rows from d0 ends among the machines with any; the machines without day rows
        # (no data for days, or hours stored before the daily level) also get [a, x)
        run = cov[:, (d0 - h0) // HOUR : (d1 - h0) // HOUR]
        ends = np.where(run.all(axis=1), run.shape[1], np.argmin(run, axis=1))
        if (ends > 0).any():
            x = d0 + int(ends[ends > 0].min()) * HOUR
    hours = store.query(
        f"SELECT machine_id, fp, hour_ts, {cols} FROM kpi_hours WHERE {mf} "
        "AND ((hour_ts >= ? AND hour_ts < ?) OR (hour_ts >= ? AND hour_ts < ?))",
        [h0, a, x, h1],
    )
    if x > a and (ends == 0).any():
        lacking = ids_a[ends == 0].tolist()
        hours = pa.concat_tables(
            [
                hours,
                store.query(
                    f"SELECT machine_id, fp, hour_ts, {cols} FROM kpi_hours WHERE "
                    f"{machine_filter(lacking, store.dialect)} AND hour_ts >= ? AND hour_ts < ?",
                    [a, x],
                ).cast(hours.schema),
            ]
        )
    hours, hidx = current(hours)
    hoff = (hours.column("hour_ts").to_numpy() - np.datetime64(h0, "us")) // np.timedelta64(1, "h")
    fresh = ~cov[hidx, hoff]  # an hour inside a stored day is counted by the day row
    cov[hidx, hoff] = True
    rows["machine_id"].append(ids_a[hidx[fresh]])
    for c in VALUES:
        rows[c].append(hours.column(c).to_numpy(zero_copy_only=False)[fresh])
    out = {c: np.concatenate(v) for c, v in rows.items()}
    n = cov.sum(axis=1)
    upto = np.where(cov.all(axis=1), n_hours, np.argmin(cov, axis=1))
    if np.all(upto == n):
        return _Have(h0, {int(m): h0 + int(k) * HOUR for m, k in zip(ids_a, n, strict=True) if k}, None), out
    m_i, h_i = np.nonzero(cov)
    keys = {(int(ids_a[m]), h0 + int(k) * HOUR) for m, k in zip(m_i, h_i, strict=True)}
    return _Have(h0, None, keys), out


def _stored_sums(
    store: Store,
    ids: list[int],
    fp_of: dict[int, str],
    h0: datetime,
    h1: datetime,
    a: datetime,
    d0: datetime,
    d1: datetime,
) -> tuple[_Have, dict[str, np.ndarray]] | None:
    """`_stored` from per-machine sums, when every machine's stored hours are a run from h0
    (else None): its hours [h0, a), its run of days from d0 (to at most d1) and its hours from
    the end of that run to h1, each summed in SQL."""
    mf = machine_filter(ids, store.dialect)
    sums = ", ".join(
        f"CAST(sum({c}) AS {'DOUBLE PRECISION' if c == 'ideal' else 'BIGINT'}) AS {c}" for c in VALUES
    )

    def current(rows: list[dict]) -> dict[int, dict]:
        return {r["machine_id"]: r for r in rows if fp_of.get(r["machine_id"]) == r["fp"]}

    days: dict[int, dict] = {}
    if d0 < d1:
        days = current(
            store.query(
                f"SELECT machine_id, fp, count(*) AS n, min(day_ts) AS lo, max(day_ts) AS hi, {sums} "
                f"FROM kpi_days WHERE {mf} AND day_ts >= ? AND day_ts < ? GROUP BY machine_id, fp",
                [d0, d1],
            ).to_pylist()
        )
        if any(r["lo"] != d0 or r["n"] != (r["hi"] - d0) // DAY + 1 for r in days.values()):
            return None  # a gap in a machine's days
    # where each machine's hours after its days start: the end of its run of days, else a
    after = {m: d0 + days[m]["n"] * DAY if m in days else a for m in ids}
    agg = store.query(
        f"SELECT h.machine_id, h.fp, CASE WHEN h.hour_ts < ? THEN 0 ELSE 2 END AS part, count(*) AS n, "
        f"min(h.hour_ts) AS lo, max(h.hour_ts) AS hi, {sums.replace('sum(', 'sum(h.')} FROM kpi_hours h "
        f"JOIN (VALUES {', '.join(f'({int(m)}, {lit(after[m])})' for m in ids)}) AS b(id, x) "
        f"ON h.machine_id = b.id WHERE {mf.replace('machine_id', 'h.machine_id')} "
        "AND ((h.hour_ts >= ? AND h.hour_ts < ?) OR (h.hour_ts >= ? AND h.hour_ts < ?)) "  # for the index
        "AND ((h.hour_ts >= ? AND h.hour_ts < ?) OR (h.hour_ts >= b.x AND h.hour_ts < ?)) GROUP BY 1, 2, 3",
        [a, h0, a, min(after.values(), default=a), h1, h0, a, h1],
    ).to_pylist()
    lead = current([r for r in agg if r["part"] == 0])
    tail = current([r for r in agg if r["part"] == 2])
    upto = {}
    for m in ids:
        p0, p1, p2 = lead.get(m), days.get(m), tail.get(m)
        n0 = 0 if p0 is None else p0["n"]
        if p0 is not None and (p0["lo"] != h0 or n0 != (p0["hi"] - h0) // HOUR + 1):
            return None
        if (p1 is not None or p2 is not None) and n0 != (a - h0) // HOUR:
            return None  # hours missing before later ones
        if p2 is not None:
            if p2["lo"] != after[m] or p2["n"] != (p2["hi"] - after[m]) // HOUR + 1:
                return None
            if p1 is None and after[m] != a and d0 < d1:
                return None
        hours = n0 + (0 if p1 is None else 24 * p1["n"]) + (0 if p2 is None else p2["n"])
        if hours:
            upto[m] = h0 + hours * HOUR
    parts = [*lead.values(), *days.values(), *tail.values()]
    return _Have(h0, upto, None), {c: np.asarray([r[c] for r in parts]) for c in ("machine_id", *VALUES)}


def _save(
    store: Store,
    comp: dict[str, np.ndarray],
    keys: list[tuple[int, datetime]],
    info: list[dict],
    fp_of: dict[int, str],
    new: set[tuple[int, datetime]],
) -> None:
    """Store the computed whole hours (`comp`, columns; `keys` their (machine, hour)) that lie
    before their machine's newest state change."""
    if not new:
        return
    newest = {r["machine_id"]: r["newest"] for r in info}
    ok = np.array(
        [(m, h) in new and newest.get(m) is not None and h + HOUR <= newest[m] for m, h in keys], dtype=bool
    )
    if not ok.any():
        return
    mids = comp["machine_id"][ok].astype(np.int64)
    data = {
        "fp": pa.array([fp_of[m] for m in mids.tolist()], pa.string()),
        "machine_id": pa.array(mids.astype(np.int32)),
        "hour_ts": pa.array(comp["h0"][ok].astype("datetime64[us]"), pa.timestamp("us")),
    }
    for c, typ in VALUE_COLUMNS:
        data[c] = pa.array(comp[c][ok].astype("int64" if typ == "BIGINT" else "float64"))
    rows = pa.table(data).select(list(COLUMNS))
    saved = set(mids.tolist())
    versions = {r["machine_id"]: int(r["ver"]) for r in info if r["machine_id"] in saved}
    store.kpi_rollup_save(rows, versions)
