"""A firm's evidence for its commons profile, computed from its own Store with the ISO 22400 KPIs.

Three records, each with the period it covers (first and last day, inclusive, plant-local):

* **Free capacity** per process per ISO week, in machine hours. For every machine and every
  ISO week (Monday 00:00 to Monday 00:00 in the plant's time zone, clipped to the period),
  the KPI module gives the time elements of planned busy time (PBT = APT + ASUT + ADOT +
  ADET). The free time is what the plan left unused:

      free_s(machine, week) = PBT − APT − ASUT − ADOT = ADET (actual delay time)

  computed with the firm's KPI configuration, except that the state `no_order` counts as
  delay (the machine was scheduled and nobody gave it work: that is exactly the capacity a
  neighbour could use), not as planned downtime. Breaks, planned maintenance and time outside
  the shifts are not free; breakdowns (ADOT) are not free either, and idle episodes shorter
  than the micro-stop threshold are part of APT. Then

      free_hours(process, week) = Σ over machines that do the process of free_s / 3600

  A machine that does two processes (a CNC centre that mills and turns) counts its free hours
  under both: the hours are an either-or offer, not a sum.

* **Quality** over the period: scrap ratio = SQ / PQ and first pass yield = (GQ − RQ) / PQ
  (the KPI module's formulas; PQ = GQ + SQ), and the number of units PQ. None when nothing
  was produced.

* **On-time delivery**: the production orders whose due time falls in the period; an order is
  complete at the time of the count at which its produced quantity (good + scrap) reaches the
  ordered quantity, and on time when that is at or before the due time (an order not complete
  by its due time is late). on_time_ratio = on-time orders / orders. None when the store has
  no order due in the period.

**The data's own span.** Every record covers only the days the store has data for (state and
count records of the firm scope's machines): a period that begins before the first record, or ends after the
ISO week of the last one, is cut to the data (`data_span`), so weeks before a plant was
connected are not counted as 0 free hours and orders due before the data began are not
counted late. Free capacity counts
whole ISO weeks when the cut period holds at least one (a partial first or last week would
lower the weekly mean); its `period_start`/`period_end` say which days were measured. No data
in the period: no capacity, quality or delivery evidence (None).

Which machines do which process is a mapping; `SIMULATOR_PROCESSES` is the default for the
simulated plant (CNC line → milling and turning, press → stamping, welding robots → welding).

**Firm scope.** A server store holds many firms. Every function takes `scope`: the firm's
machine paths or path prefixes (its ISA-95 enterprises, e.g. `["acme"]`). With a scope only
those machines count — capacity and quality cover the firm's machines, delivery the orders
assigned to them (counted with their counts on those machines), and the plant time zone is the
one of the firm's calendars — so a firm's evidence on a shared store equals what its store
alone gives. Without a scope the whole store is the firm (a single-shop install).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..kpi import KpiConfig, compute_kpis
from ..store.base import Store
from .model import CapacityEvidence, CapacityWeek, DeliveryEvidence, Evidence, QualityEvidence, msg
from .vocab import VocabularyError, check_process

#: Machine kind (or path, or path prefix) -> processes; the simulator's plant by kind.
SIMULATOR_PROCESSES: dict[str, tuple[str, ...]] = {
    "cnc": ("milling", "turning"),
    "press": ("stamping",),
    "welding_robot": ("welding",),
}


class EvidenceError(ValueError):
    """Evidence cannot be computed as asked (bad period, bad mapping); the message says why."""


def in_scope(path: str, scope: Sequence[str] | None) -> bool:
    """Whether a machine path is one of `scope`'s paths or below one of its prefixes (None: all)."""
    if scope is None:
        return True
    return any(path == k or path.startswith(k.rstrip("/") + "/") for k in scope)


def scoped_machines(store: Store, scope: Sequence[str] | None = None) -> list:
    """The store's machines within the firm scope (all of them without a scope)."""
    if scope is not None:
        if isinstance(scope, str):
            scope = [scope]
        if not [k for k in scope if k.strip("/")]:
            raise EvidenceError("scope: name at least one machine path or enterprise of the firm")
    return [m for m in store.machines() if in_scope(m.path, scope)]


def machine_processes(
    machines: Sequence, mapping: Mapping[str, Sequence[str]] | None = None
) -> dict[str, tuple]:
    """Each machine path -> the processes it does, by `mapping`.

    A mapping key is a machine path, a path prefix (`acme/changwon/press` covers every machine
    below it; the longest prefix wins) or a machine kind (`cnc`); a path beats a prefix, a
    prefix beats a kind. Machines no key covers are left out.
    """
    mapping = SIMULATOR_PROCESSES if mapping is None else mapping
    clean: dict[str, tuple[str, ...]] = {}
    for key, procs in mapping.items():
        if isinstance(procs, str):
            procs = (procs,)
        try:
            clean[key] = tuple(check_process(p, f"mapping[{key!r}]") for p in procs)
        except VocabularyError as e:
            raise EvidenceError(str(e)) from None
    out: dict[str, tuple] = {}
    for m in machines:
        path, kind = m.path, m.kind
        if path in clean:
            out[path] = clean[path]
            continue
        prefixes = [k for k in clean if path.startswith(k.rstrip("/") + "/")]
        if prefixes:
            out[path] = clean[max(prefixes, key=len)]
        elif kind is not None and kind in clean:
            out[path] = clean[kind]
    return out


def plant_timezone(store: Store, scope: Sequence[str] | None = None) -> str:
    """The time zone of the first machine calendar (of the scope) in the store, else UTC."""
    cals = store.calendars()
    for m in scoped_machines(store, scope):
        if m.calendar and m.calendar in cals:
            return cals[m.calendar].timezone
    return "UTC"


def _as_dt(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return datetime.combine(value, time(0), tzinfo=tz)


def _period(start: date | datetime, end: date | datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    s, e = _as_dt(start, tz), _as_dt(end, tz)
    if not s < e:
        raise EvidenceError(f"period: start ({s}) must be before end ({e})")
    return s, e


def _days(s: datetime, e: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """First and last day (inclusive, plant-local) of [s, e)."""
    return s.astimezone(tz).date(), (e.astimezone(tz) - timedelta(microseconds=1)).date()


def data_span(store: Store, scope: Sequence[str] | None = None) -> tuple[datetime, datetime] | None:
    """(first, last) UTC time of the state and count records of the firm scope's machines; None
    without any."""
    rows = store.query(
        "SELECT machine, min(ts) AS a, max(ts) AS b FROM v_states GROUP BY machine "
        "UNION ALL SELECT machine, min(ts) AS a, max(ts) AS b FROM v_counts GROUP BY machine"
    ).to_pylist()
    rows = [r for r in rows if r["a"] is not None and in_scope(r["machine"], scope)]
    if not rows:
        return None

    def utc(ts: datetime) -> datetime:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

    return min(utc(r["a"]) for r in rows), max(utc(r["b"]) for r in rows)


def _within_data(
    store: Store, s: datetime, e: datetime, zone: ZoneInfo, scope: Sequence[str] | None
) -> tuple[datetime, datetime] | None:
    """[s, e) cut to the store's data: from the plant-local day of the first record to the end of
    the ISO week of the last one (a machine's last state lasts; a plant that stops on Saturday
    has data for its quiet Sunday). None when they do not meet."""
    span = data_span(store, scope)
    if span is None:
        return None
    first = datetime.combine(span[0].astimezone(zone).date(), time(0), tzinfo=zone)
    last_day = span[1].astimezone(zone).date()
    last = datetime.combine(last_day + timedelta(days=7 - last_day.weekday()), time(0), tzinfo=zone)
    a, b = max(s, first), min(e, last)
    return (a, b) if a < b else None


def _whole_weeks(s: datetime, e: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The whole ISO weeks (Monday 00:00 to Monday 00:00, plant-local) inside [s, e), if there is
    at least one; else [s, e) as it is."""
    day = s.astimezone(zone).date()
    monday = day + timedelta(days=(7 - day.weekday()) % 7)
    a = datetime.combine(monday, time(0), tzinfo=zone)
    if a < s:  # s is a Monday after midnight
        a += timedelta(days=7)
    end_day = e.astimezone(zone).date()
    b = datetime.combine(end_day - timedelta(days=end_day.weekday()), time(0), tzinfo=zone)
    return (a, b) if a < b else (s, e)


def free_time_config(config: KpiConfig | None = None) -> KpiConfig:
    """The firm's KPI configuration with `no_order` counted as delay (free, unused plan)."""
    base = (config or KpiConfig()).model_dump()
    base["state_map"] = {**base["state_map"], "no_order": "delay"}
    return KpiConfig(**base)


def last_weeks(today: date, weeks: int = 8) -> tuple[date, date]:
    """[Monday, Monday) of the `weeks` full ISO weeks before the week of `today`."""
    if weeks < 1:
        raise EvidenceError(f"weeks must be at least 1, got {weeks}")
    end = today - timedelta(days=today.weekday())
    return end - timedelta(days=7 * weeks), end


def capacity_evidence(
    store: Store,
    start: date | datetime,
    end: date | datetime,
    mapping: Mapping[str, Sequence[str]] | None = None,
    config: KpiConfig | None = None,
    tz: str | None = None,
    scope: Sequence[str] | None = None,
) -> CapacityEvidence | None:
    """Free machine hours per process per ISO week of the firm scope's machines, over the whole
    weeks of [start, end) that the store has data for (see "The data's own span"); None when
    the store has no data in the period."""
    zone = ZoneInfo(tz or plant_timezone(store, scope))
    s, e = _period(start, end, zone)
    procs = machine_processes(scoped_machines(store, scope), mapping)
    if not procs:
        raise EvidenceError("mapping: no machine of the store does any process (check the mapping's keys)")
    cut = _within_data(store, s, e, zone, scope)
    if cut is None:
        return None
    s, e = _whole_weeks(*cut, zone)
    cfg = free_time_config(config)
    weeks: list[CapacityWeek] = []
    monday = s.astimezone(zone).date()
    monday -= timedelta(days=monday.weekday())
    while (ws := datetime.combine(monday, time(0), tzinfo=zone)) < e:
        a, b = max(ws, s), min(datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone), e)
        df = compute_kpis(store, a, b, ("machine",), cfg, machines=sorted(procs))
        free: dict[str, float] = {}
        for path, delay_s in zip(df["machine"], df["delay_time_s"], strict=True):
            for p in procs[path]:
                free[p] = free.get(p, 0.0) + float(delay_s)
        for p in sorted(free):
            weeks.append(CapacityWeek(process=p, week_start=monday, free_hours=round(free[p] / 3600.0, 3)))
        monday += timedelta(days=7)
    first, last = _days(s, e, zone)
    return CapacityEvidence(weeks=tuple(weeks), period_start=first, period_end=last, source="kpi")


def quality_evidence(
    store: Store,
    start: date | datetime,
    end: date | datetime,
    config: KpiConfig | None = None,
    machines: Sequence[str] | None = None,
    tz: str | None = None,
    scope: Sequence[str] | None = None,
) -> QualityEvidence | None:
    """Scrap ratio and first pass yield over [start, end) of `machines` (default: every machine
    of the firm scope), cut to the days with data; None when nothing was produced."""
    zone = ZoneInfo(tz or plant_timezone(store, scope))
    s, e = _period(start, end, zone)
    cut = _within_data(store, s, e, zone, scope)
    if cut is None:
        return None
    s, e = cut
    paths = [p for p in machines if in_scope(p, scope)] if machines else None
    if paths is None and scope is not None:
        paths = sorted(m.path for m in scoped_machines(store, scope))
    if paths is not None and not paths:
        return None
    row = compute_kpis(store, s, e, (), config, machines=paths).iloc[0]
    pq = int(row["produced_quantity"])
    if pq == 0:
        return None
    first, last = _days(s, e, zone)
    return QualityEvidence(
        scrap_ratio=float(row["scrap_quantity"]) / pq,
        first_pass_yield=float(row["good_quantity"] - row["rework_quantity"]) / pq,
        units=pq,
        period_start=first,
        period_end=last,
        source="kpi",
    )


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def order_completions(
    store: Store, order_ids: Sequence[str], until: datetime, scope: Sequence[str] | None = None
) -> dict[str, datetime]:
    """order id -> UTC time of the count at which produced (good + scrap) reached the quantity
    (counts on the firm scope's machines only)."""
    if not order_ids:
        return {}
    marks = ", ".join("?" for _ in order_ids)
    qty = {
        r["order_id"]: int(r["quantity"])
        for r in store.query(
            f"SELECT order_id, quantity FROM v_orders WHERE order_id IN ({marks})", list(order_ids)
        ).to_pylist()
        if r["quantity"] is not None  # an order without a quantity is never complete
    }
    rows = store.query(
        f"SELECT order_id, ts, good + scrap AS n, machine FROM v_counts WHERE order_id IN ({marks}) "
        "AND ts < ? ORDER BY order_id, ts",
        [*order_ids, _naive_utc(until)],
    ).to_pylist()
    rows = [r for r in rows if in_scope(r["machine"], scope)]
    done: dict[str, datetime] = {}
    made: dict[str, int] = {}
    for r in rows:
        oid = r["order_id"]
        if oid in done or oid not in qty:
            continue
        made[oid] = made.get(oid, 0) + int(r["n"])
        if made[oid] >= qty[oid]:
            ts = r["ts"]
            done[oid] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return done


def delivery_evidence(
    store: Store,
    start: date | datetime,
    end: date | datetime,
    tz: str | None = None,
    scope: Sequence[str] | None = None,
) -> DeliveryEvidence | None:
    """Share of the orders due in [start, end) completed by their due time; None without orders.

    With a firm scope only the orders assigned to its machines count (an order with no machine
    belongs to no firm of a shared store and is left out). The period is cut to the days with
    data: an order due before the data began cannot be judged."""
    zone = ZoneInfo(tz or plant_timezone(store, scope))
    s, e = _period(start, end, zone)
    cut = _within_data(store, s, e, zone, scope)
    if cut is None:
        return None
    s, e = cut
    due = store.query(
        "SELECT order_id, due, machine FROM v_orders WHERE due >= ? AND due < ? ORDER BY order_id",
        [_naive_utc(s), _naive_utc(e)],
    ).to_pylist()
    if scope is not None:
        due = [r for r in due if r["machine"] is not None and in_scope(r["machine"], scope)]
    if not due:
        return None
    done = order_completions(store, [r["order_id"] for r in due], e, scope)
    on_time = 0
    for r in due:
        d = r["due"]
        d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
        if r["order_id"] in done and done[r["order_id"]] <= d:
            on_time += 1
    first, last = _days(s, e, zone)
    return DeliveryEvidence(
        on_time_ratio=on_time / len(due), orders=len(due), period_start=first, period_end=last, source="kpi"
    )


def weekly_free_hours(capacity: CapacityEvidence) -> dict[str, float]:
    """Mean free hours a week of each process over the weeks the evidence measured."""
    weeks: dict[str, set] = {}
    total: dict[str, float] = {}
    for w in capacity.weeks:
        weeks.setdefault(w.process, set()).add(w.week_start)
        total[w.process] = total.get(w.process, 0.0) + w.free_hours
    return {p: total[p] / len(weeks[p]) for p in sorted(total)}


def compute_evidence(
    store: Store,
    start: date | datetime,
    end: date | datetime,
    mapping: Mapping[str, Sequence[str]] | None = None,
    config: KpiConfig | None = None,
    tz: str | None = None,
    scope: Sequence[str] | None = None,
) -> Evidence:
    """Capacity, quality and delivery evidence of the firm's plant over [start, end).

    `scope`: the firm's machine paths or enterprises on a shared store (None: the whole store).
    Quality covers the machines the mapping assigns a process (the ones the profile offers).
    """
    zone = tz or plant_timezone(store, scope)
    procs = machine_processes(scoped_machines(store, scope), mapping)
    return Evidence(
        capacity=capacity_evidence(store, start, end, mapping, config, zone, scope),
        quality=quality_evidence(store, start, end, config, sorted(procs) or None, zone, scope),
        delivery=delivery_evidence(store, start, end, zone, scope),
    )


def firm_evidence(store: Store, enterprises: Sequence[str], today: date, weeks: int = 8) -> Evidence:
    """The evidence of one firm from a store that may hold other firms' machines too: capacity,
    quality and delivery of the firm's own machines and orders only (its enterprises are the
    firm scope of `cooperate.evidence`), over the last `weeks` full ISO weeks."""
    scope = sorted(enterprises)
    if not scope or not machine_processes(scoped_machines(store, scope)):
        why = msg("no_machine_with_process", kinds=", ".join(sorted(SIMULATOR_PROCESSES)))
        raise EvidenceError(f"machines: {why.both()}")
    start, end = last_weeks(today, weeks)
    return compute_evidence(store, start, end, scope=scope)
