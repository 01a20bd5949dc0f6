"""Codification metrics: how much of the shop's know-how is written down.

* share of stops with a recorded cause: unplanned stops (state changes into `unplanned_down`)
  in the window that carry a reason code, and those that have a case (a case of that machine
  whose event began at the stop);
* verified cases per machine, and all cases per machine;
* instructions per product and single-person tasks come from the instructions and skills
  tables (the web's know-how pages): pass them in and they are reported beside the rest.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from ..store.base import Store
from .db import KnowhowDB


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).astimezone(UTC)


def codification_metrics(
    store: Store | None,
    db: KnowhowDB,
    start: datetime | None = None,
    end: datetime | None = None,
    firm: str | None = None,
    machines: list[str] | None = None,
    instructions_per_product: dict[str, int] | None = None,
    single_person_tasks: list[str] | None = None,
) -> dict:
    """The metrics as one dict (numbers and per-machine maps; shares are 0..1, None without stops)."""
    cases = db.cases(firm=firm)
    if machines is not None:
        cases = [c for c in cases if c.machine in machines]
    out: dict = {
        "cases": len(cases),
        "verified_cases": sum(c.verified for c in cases),
        "cases_per_machine": dict(Counter(c.machine for c in cases if c.machine)),
        "verified_per_machine": dict(Counter(c.machine for c in cases if c.machine and c.verified)),
    }
    stops = []
    if store is not None:
        rows = store.read("state", start, end, machines).to_pylist()
        stops = [r for r in rows if r["state"] == "unplanned_down"]
    case_starts = {
        (c.machine, _utc(c.context.start if c.context and c.context.start else c.occurred)) for c in cases
    }
    with_reason = sum(1 for r in stops if r["reason_code"])
    with_case = sum(1 for r in stops if (r["machine"], _utc(r["ts"])) in case_starts)
    with_cause = sum(1 for r in stops if r["reason_code"] or (r["machine"], _utc(r["ts"])) in case_starts)
    out |= {
        "stops": len(stops),
        "stops_with_reason": with_reason,
        "stops_with_case": with_case,
        "stops_with_cause": with_cause,
        "share_with_cause": (with_cause / len(stops)) if stops else None,
        "share_with_case": (with_case / len(stops)) if stops else None,
    }
    if instructions_per_product is not None:
        out["instructions_per_product"] = dict(instructions_per_product)
    if single_person_tasks is not None:
        out["single_person_tasks"] = list(single_person_tasks)
    return out
