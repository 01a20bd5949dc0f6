"""Maturity items measured from a firm's own data in its store, each with what it was computed from.

Over a period (default: the 30 days before `now`), for the firm's machines (`scope`: path
prefixes; none: the whole store is the firm):

* `auto_collection_share`: machines with state or count records in the period / machines;
* `realtime_monitoring`: machines whose newest state, count or signal is at most 15 minutes
  older than `now` / machines;
* `spc_in_use`: machines with quality measurements that carry a specification limit / machines;
* `alerts_acted_on`: anomaly alerts followed within 24 hours by a stop with a reason code on the
  same machine / alerts (no alert: not measured);
* `closed_loop_changes`: machines whose setpoint signal (a signal named `*setpoint*`) changed
  in the period / machines — a setting written back from data;
* `order_coverage`: changes into `running` that name a production order / changes into running;
* `codified_knowhow`: unplanned stops in the period that have a written know-how case / stops,
  from the know-how package (`knowhow.metrics.codification_metrics`) when it is installed and
  a know-how database sits beside the store; otherwise not measured.

A metric that cannot be measured (no machines, no alerts, no know-how package) is absent, and
its item is answered by the firm instead. Each value becomes a level with the item's thresholds
(`maturity_model.toml`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..store.base import Store
from .maturity import MaturityModel, load_model
from .models import EvidenceValue

REALTIME_LAG = timedelta(minutes=15)
ALERT_ACTION_WINDOW = timedelta(hours=24)


def _lit(ts: datetime) -> str:
    return f"TIMESTAMP '{ts.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


def _in_scope(paths: list[str], scope: Sequence[str] | None) -> list[str]:
    if not scope:
        return paths
    return [p for p in paths if any(p == s or p.startswith(s.rstrip("/") + "/") for s in scope)]


def _machines_with(store: Store, sql: str, machines: set[str]) -> set[str]:
    return {m for m in store.query(sql).column("machine").to_pylist() if m in machines}


def codified_share(
    store: Store, store_target: str | None, start: datetime, end: datetime, machines: list[str]
) -> tuple[float, dict] | None:
    """Share of the period's unplanned stops that have a written know-how case, from the know-how
    package (`knowhow.metrics.codification_metrics`) when it is installed and the store has a
    know-how database beside it; None otherwise (the item is then answered)."""
    if not store_target:
        return None
    try:
        kdb = importlib.import_module("factory_commons.knowhow.db")
        metrics = importlib.import_module("factory_commons.knowhow.metrics")
        path = kdb.default_knowhow_path(store_target)
        if not path.startswith(("postgresql://", "postgres://")) and not Path(path).exists():
            return None
        db = kdb.open_knowhow(store_target)
    except (ImportError, AttributeError):
        return None
    try:
        got = metrics.codification_metrics(store, db, start=start, end=end, machines=machines)
    except Exception:  # noqa: BLE001 - an optional source that fails leaves the item to be answered
        return None
    finally:
        close = getattr(db, "close", None)
        if close:
            close()
    share = got.get("share_with_case")
    if share is None:
        return None
    return float(share), {
        "source": "knowhow",
        "stops": got.get("stops", 0),
        "with_case": got.get("stops_with_case", 0),
    }


def measure(
    store: Store,
    now: datetime | None = None,
    days: int = 30,
    scope: Sequence[str] | None = None,
    store_target: str | None = None,
) -> dict[str, tuple[float, dict]]:
    """metric -> (value, basis) for every metric the store can answer."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = now - timedelta(days=days)
    machines = set(_in_scope(store.machine_paths(), scope))
    out: dict[str, tuple[float, dict]] = {}
    if not machines:
        return out
    ks = codified_share(store, store_target, start, now, sorted(machines))
    if ks is not None:
        out["codified_knowhow"] = ks
    n = len(machines)
    period = f"ts >= {_lit(start)} AND ts <= {_lit(now)}"
    basis = {"machines": n, "days": days, "until": now.isoformat()}
    collected = _machines_with(
        store,
        f"SELECT DISTINCT machine FROM v_states WHERE {period} "
        f"UNION SELECT DISTINCT machine FROM v_counts WHERE {period}",
        machines,
    )
    out["auto_collection_share"] = (len(collected) / n, basis | {"reporting": len(collected)})
    recent = f"ts >= {_lit(now - REALTIME_LAG)} AND ts <= {_lit(now)}"
    live = _machines_with(
        store,
        f"SELECT DISTINCT machine FROM v_states WHERE {recent} UNION SELECT DISTINCT machine FROM v_counts "
        f"WHERE {recent} UNION SELECT DISTINCT machine FROM v_signals WHERE {recent}",
        machines,
    )
    out["realtime_monitoring"] = (len(live) / n, basis | {"live": len(live), "lag_min": 15})
    spc = _machines_with(
        store,
        f"SELECT DISTINCT machine FROM v_quality WHERE {period} AND (lsl IS NOT NULL OR usl IS NOT NULL)",
        machines,
    )
    out["spc_in_use"] = (len(spc) / n, basis | {"with_spc": len(spc)})
    loop = _machines_with(
        store,
        f"SELECT machine FROM v_signals WHERE {period} AND lower(name) LIKE '%setpoint%' "
        "GROUP BY machine, name HAVING count(DISTINCT value) > 1",
        machines,
    )
    out["closed_loop_changes"] = (len(loop) / n, basis | {"with_setpoint_changes": len(loop)})
    rows = store.query(
        f"SELECT machine, count(*) AS n, count(order_id) AS with_order FROM v_states "
        f"WHERE {period} AND state = 'running' GROUP BY machine"
    ).to_pylist()
    runs = sum(r["n"] for r in rows if r["machine"] in machines)
    if runs:
        with_order = sum(r["with_order"] for r in rows if r["machine"] in machines)
        out["order_coverage"] = (with_order / runs, basis | {"runs": runs, "with_order": with_order})
    win = int(ALERT_ACTION_WINDOW.total_seconds())
    alerts = store.query(
        f"SELECT a.machine, a.ts, EXISTS (SELECT 1 FROM v_states s WHERE s.machine = a.machine "
        f"AND s.ts >= a.ts AND s.ts <= a.ts + INTERVAL '{win} seconds' AND s.reason_code IS NOT NULL "
        f"AND s.state IN ('unplanned_down', 'planned_stop', 'setup')) AS acted "
        f"FROM v_anomalies a WHERE a.ts >= {_lit(start)} AND a.ts <= {_lit(now)}"
    ).to_pylist()
    alerts = [a for a in alerts if a["machine"] in machines]
    if alerts:
        acted = sum(1 for a in alerts if a["acted"])
        out["alerts_acted_on"] = (acted / len(alerts), basis | {"alerts": len(alerts), "acted": acted})
    return out


def evidence_values(
    metrics: dict[str, tuple[float, dict]], model: MaturityModel | None = None
) -> dict[str, EvidenceValue]:
    """item id -> the measured value and the level it reaches, for the metrics the model uses."""
    model = model or load_model()
    out: dict[str, EvidenceValue] = {}
    for metric, item in model.metric_items().items():
        if metric in metrics:
            value, basis = metrics[metric]
            out[item.id] = EvidenceValue(
                item=item.id, metric=metric, value=round(value, 4), level=item.level_of(value), basis=basis
            )
    return out
