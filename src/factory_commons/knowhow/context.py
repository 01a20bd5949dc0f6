"""What the store knew about a stop or an alarm: the context a case captures automatically.

`capture_context(store, machine, start, end)` reads, for one machine:
* the state change that began the stop at `start` (state, reason code, order);
* the alarm with `alarm_code` (or any alarm) raised in the window, and its message;
* anomaly alerts overlapping the window and an hour before, with their evidence
  (signal -> share) merged, and the highest score;
* each signal's mean in the hour before and during the event;
* the orders (and their products) running in the window or just before, and whether a setup
  (a changeover) ended in the two hours before.

Only the Store interface is used, so it works on DuckDB, PostgreSQL and a remote store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ..store.base import Store
from .cases import Case, CaseContext, SignalSummary

BEFORE = timedelta(hours=1)
CHANGEOVER_WINDOW = timedelta(hours=2)
MAX_SIGNALS = 12


def _aware(ts) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def capture_context(
    store: Store,
    machine: str,
    start: datetime,
    end: datetime | None = None,
    alarm_code: str | None = None,
    event: str | None = None,
) -> CaseContext:
    """The context of an event on `machine` from `start` to `end` (now when None)."""
    start = _aware(start)
    end = _aware(end) or datetime.now(UTC)
    ctx = CaseContext(
        event=event or ("alarm" if alarm_code else "stop"), start=start, end=end, alarm_code=alarm_code
    )
    states = store.read("state", start - CHANGEOVER_WINDOW, end + timedelta(seconds=1), [machine]).to_pylist()
    at_start = [s for s in states if _aware(s["ts"]) <= start]
    if at_start:
        s = at_start[-1]
        ctx.state, ctx.reason_code = s["state"], s["reason_code"]
    ctx.changeover_before = any(s["state"] == "setup" for s in at_start[:-1] or at_start)
    orders = [s["order_id"] for s in states if s["order_id"]]
    ctx.orders = list(dict.fromkeys(orders))[-5:]
    if ctx.orders:
        known = {o["order_id"]: o["product"] for o in store.read("order").to_pylist()}
        ctx.products = list(dict.fromkeys(known[o] for o in ctx.orders if o in known))
    alarms = store.read("alarm", start - timedelta(minutes=5), end, [machine]).to_pylist()
    chosen = [a for a in alarms if a["active"] and (alarm_code is None or a["code"] == alarm_code)]
    if chosen:
        ctx.alarm_code, ctx.alarm_message = chosen[0]["code"], chosen[0]["message"] or None
    evidence: dict[str, float] = {}
    for a in store.read("anomaly", start - BEFORE - timedelta(days=1), end, [machine]).to_pylist():
        a_end = _aware(a["ts_end"]) or _aware(a["ts"])
        if a_end < start - BEFORE:
            continue
        ctx.anomaly_score = max(ctx.anomaly_score or 0.0, float(a["score"]))
        try:
            for k, v in json.loads(a["evidence"] or "{}").items():
                evidence[k] = max(evidence.get(k, 0.0), float(v))
        except (ValueError, AttributeError):
            pass
    ctx.anomaly_evidence = dict(sorted(evidence.items(), key=lambda kv: -kv[1]))
    sig = store.query(
        "SELECT name, avg(CASE WHEN ts < ? THEN value END) AS before, avg(CASE WHEN ts >= ? THEN value END) AS during, "
        "max(unit) AS unit FROM v_signals WHERE machine = ? AND ts >= ? AND ts < ? GROUP BY name ORDER BY name",
        [_naive(start), _naive(start), machine, _naive(start - BEFORE), _naive(end)],
    ).to_pylist()
    ctx.signals = [SignalSummary(**r) for r in sig[:MAX_SIGNALS]]
    return ctx


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def case_from_event(context: CaseContext, machine: str, machine_type: str | None = None, **fields) -> Case:
    """A case draft for an event: machine, codes and context filled; `fields` add the text."""
    return Case(
        machine=machine,
        machine_type=machine_type,
        alarm_code=context.alarm_code,
        reason_code=context.reason_code,
        occurred=context.start,
        context=context,
        product=(context.products[0] if context.products else None),
        **fields,
    )
