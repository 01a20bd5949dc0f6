"""API routes over a firm's plant data: machines, hierarchy, overview, records, KPIs, downtime,
alarms and the stop reason of a stop.

`plant_router(store, caller, now)` is included by `create_app`. Every route sees only the
machines the caller may read (`Caller.visible`, audited for experts); writes only the firm's own.
"""

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter

from ...accounts.stop_reasons import StopGone, set_stop_reason
from ...kpi.downtime import downtime_pareto
from ...kpi.oee import GROUPS, compute_kpis
from ...store.base import Store
from ...store.validate import BatchError
from ..auth import NOT_FOUND, Caller, api_text, forbidden
from ..limits import check_record_batch
from ..reads import overview_rows, read_limited
from .common import READ_ERRORS, errors, query_window
from .common import utc as _utc

#: record kinds readable through the API (each has a machine column, so it can be scoped)
READ_KINDS = ("signal", "signal_1m", "state", "count", "alarm", "quality", "anomaly")
#: record kinds writable through the API
WRITE_KINDS = ("signal", "state", "count", "alarm", "quality", "anomaly")
MAX_LIMIT = 100_000


#: the longest time window one request may ask for (a KPI over centuries would tie up the server)
MAX_WINDOW = timedelta(days=3 * 366)


class MachineOut(BaseModel):
    path: str
    display_name: str | None = None
    kind: str | None = None
    calendar: str | None = None


class OverviewOut(BaseModel):
    path: str
    display_name: str | None = None
    state: str | None = Field(description="latest state; null when the machine has reported none")
    since: datetime | None = Field(description="when the latest state began")
    reason_code: str | None = None
    active_alarms: int = Field(description="alarm codes whose latest event is active")


class RecordsOut(BaseModel):
    kind: str
    rows: list[dict[str, Any]]
    truncated: bool


class WriteOut(BaseModel):
    kind: str
    received: int
    written: int


class StopReasonIn(BaseModel):
    machine: str
    reason_code: str = Field(min_length=1, max_length=200)
    ts: datetime | None = Field(
        default=None, description="a moment inside the stop; default: now (the current stop)"
    )


class StopReasonOut(BaseModel):
    machine: str
    ts: datetime
    state: str
    reason_code: str


_ROWS_JSON = TypeAdapter(list[dict[str, Any]])


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN/inf become null, naive datetimes are UTC."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `df` as dicts of `_clean` values, column by column (numpy's `tolist` gives
    Python numbers; pandas' `to_dict(orient="records")` boxes each cell on its own, several ms
    for a KPI table of 50 machines)."""
    cols = []
    for c in df.columns:
        col = df[c]
        if col.dtype.kind == "f":
            vals = col.to_numpy()
            cols.append(
                [
                    None if bad else v
                    for v, bad in zip(vals.tolist(), (~np.isfinite(vals)).tolist(), strict=True)
                ]
            )
        elif col.dtype.kind in "iub":
            cols.append(col.tolist())
        else:
            cols.append([_clean(v) for v in col.tolist()])
    names = [str(c) for c in df.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)] if cols else []


def plant_router(store: Store, caller: Callable[..., Caller], now: Callable[[], datetime]) -> APIRouter:
    """The plant, records and KPI routes over `store`; `caller` is the app's authentication dependency."""
    router = APIRouter()
    CallerDep = Annotated[Caller, Depends(caller)]

    def all_paths() -> list[str]:
        return store.machine_paths()

    def scoped(c: Caller, machine: list[str] | None, known: list[str] | None = None) -> list[str]:
        """The machines a read covers: those asked for (each checked) or all visible ones
        (`known`: the store's machine paths, when the caller has read them)."""
        if machine:
            c.check_read(machine)
            return list(dict.fromkeys(machine))
        paths = c.visible(all_paths() if known is None else known)
        c.audit_reads(paths)
        return paths

    def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        return query_window(start, end, now(), MAX_WINDOW)  # 422 naming the parameter (api/common.py)

    MachinesQ = Annotated[list[str] | None, Query(description="machine paths (repeat); default: all visible")]

    # -- plant -------------------------------------------------------------------------------
    @router.get("/api/machines", response_model=list[MachineOut], responses=READ_ERRORS, tags=["plant"])
    def machines(c: CallerDep) -> list[MachineOut]:
        c.require("read_kpi")
        ms = [m for m in store.machines() if c.may_read(m.path)]
        c.audit_reads([m.path for m in ms])
        return [
            MachineOut(path=m.path, display_name=m.display_name, kind=m.kind, calendar=m.calendar) for m in ms
        ]

    @router.get("/api/hierarchy", response_model=dict[str, Any], responses=READ_ERRORS, tags=["plant"])
    def hierarchy(c: CallerDep) -> dict[str, Any]:
        c.require("read_kpi")
        tree: dict = {}
        for p in scoped(c, None):
            e, s, a, line, m = p.split("/")
            tree.setdefault(e, {}).setdefault(s, {}).setdefault(a, {}).setdefault(line, []).append(m)
        return tree

    @router.get("/api/overview", response_model=list[OverviewOut], responses=READ_ERRORS, tags=["plant"])
    def overview(c: CallerDep) -> list[OverviewOut]:
        """The plant at a glance: every visible machine's current state and active alarms."""
        c.require("read_kpi")
        ms = [m for m in store.machines() if c.may_read(m.path)]
        c.audit_reads([m.path for m in ms])
        rows = overview_rows(store, [m.path for m in ms])
        return [
            OverviewOut(
                path=m.path,
                display_name=m.display_name,
                **{k: _clean(v) for k, v in rows[m.path].items()},
            )
            for m in ms
        ]

    # -- records -----------------------------------------------------------------------------
    @router.get(
        "/api/records/{kind}",
        response_model=RecordsOut,
        responses=errors(401, 403, 404, 422),
        tags=["records"],
    )
    def read_records(
        c: CallerDep,
        kind: str,
        machine: MachinesQ = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10_000,
    ) -> RecordsOut:
        c.require("read_records")
        if kind not in READ_KINDS:
            raise HTTPException(404, f"{NOT_FOUND}: kind {kind!r}; kinds: {', '.join(READ_KINDS)}")
        s, e = window(start, end)
        paths = scoped(c, machine)
        rows = [
            {k: _clean(v) for k, v in r.items()}
            for r in read_limited(store, kind, s, e, paths, limit + 1).to_pylist()
        ]
        return RecordsOut(kind=kind, rows=rows[:limit], truncated=len(rows) > limit)

    @router.post(
        "/api/records/{kind}",
        response_model=WriteOut,
        responses=errors(400, 401, 403, 404, 413, 422),
        tags=["records"],
    )
    def write_records(
        c: CallerDep, request: Request, kind: str, rows: Annotated[list[dict[str, Any]], Body()]
    ) -> WriteOut:
        c.require("write_records")
        if kind not in WRITE_KINDS:
            raise HTTPException(404, f"{NOT_FOUND}: kind {kind!r}; kinds: {', '.join(WRITE_KINDS)}")
        check_record_batch(rows, store, c.owns, request.app.state.limits)  # 413/403 (server/limits.py)
        bad = [
            i + 1
            for i, r in enumerate(rows)
            if isinstance(r.get("machine"), str) and not c.owns(r["machine"])
        ]
        if bad:
            raise forbidden(api_text("rows_not_your_firms", rows=bad[:20]))
        try:
            res = store.write_table(kind, rows)
        except BatchError as err:
            raise HTTPException(
                422,
                {
                    "message": api_text("batch_rejected", kind=kind, n=len(err.problems), total=len(rows))
                    + ": "
                    + "; ".join(str(p) for p in err.problems[:10]),
                    "problems": [{"row": p.row + 1, "field": p.field, "why": p.why} for p in err.problems],
                },
            ) from None
        except (ValueError, TypeError) as err:  # unknown kind, values Arrow cannot read
            raise HTTPException(422, str(err)) from None
        return WriteOut(kind=kind, received=res.received, written=res.written)

    # -- KPIs, downtime, alarms --------------------------------------------------------------
    @router.get("/api/kpi", response_model=list[dict[str, Any]], responses=READ_ERRORS, tags=["kpi"])
    def kpi(
        c: CallerDep,
        start: datetime | None = None,
        end: datetime | None = None,
        by: Annotated[list[str] | None, Query(description=f"group by: {', '.join(GROUPS)}")] = None,
        machine: MachinesQ = None,
    ) -> list[dict[str, Any]]:
        c.require("read_kpi")
        s, e = window(start, end)
        group_by = tuple(by) if by is not None else ("machine",)
        if any(g not in GROUPS for g in group_by) or len(set(group_by)) != len(group_by):
            raise HTTPException(422, f"by: distinct names from {', '.join(GROUPS)}")
        chosen: list[str] = []

        def pick(known: list[str]) -> list[str]:  # the scope, from the machine list KPIs read anyway
            known_set = set(known)
            chosen.extend(p for p in scoped(c, machine, known) if p in known_set)
            return chosen

        df = compute_kpis(store, s, e, group_by, machines=pick)
        if not chosen:
            return []
        if "machine" in df.columns:  # the name a shop gave the machine, beside its path
            names = {m.path: m.display_name for m in store.machines() if m.display_name}
            df.insert(df.columns.get_loc("machine") + 1, "display_name", df["machine"].map(names))
        return Response(_ROWS_JSON.dump_json(_records(df)), media_type="application/json")

    @router.get("/api/downtime", response_model=list[dict[str, Any]], responses=READ_ERRORS, tags=["kpi"])
    def downtime(
        c: CallerDep, start: datetime | None = None, end: datetime | None = None, machine: MachinesQ = None
    ) -> list[dict[str, Any]]:
        c.require("read_kpi")
        s, e = window(start, end)
        paths = scoped(c, machine)
        if not paths:
            return []  # downtime_pareto treats "no machines" as "all machines"
        return _records(downtime_pareto(store, s, e, machines=paths))

    @router.get("/api/alarms", response_model=RecordsOut, responses=READ_ERRORS, tags=["kpi"])
    def alarms(
        c: CallerDep,
        start: datetime | None = None,
        end: datetime | None = None,
        machine: MachinesQ = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    ) -> RecordsOut:
        c.require("read_records")  # alarm texts are raw records (auth.ROUTES)
        s, e = window(start, end)
        paths = scoped(c, machine)
        table = read_limited(store, "alarm", s, e, paths, limit + 1, newest_first=True)
        rows = [{k: _clean(v) for k, v in r.items()} for r in table.to_pylist()]
        return RecordsOut(kind="alarm", rows=rows[:limit], truncated=len(rows) > limit)

    @router.post(
        "/api/stop-reasons",
        response_model=StopReasonOut,
        status_code=201,
        responses=errors(400, 401, 403, 409, 422),
        tags=["records"],
    )
    def stop_reason(c: CallerDep, body: StopReasonIn) -> StopReasonOut:
        c.require("stop_reasons")
        if not c.owns(body.machine):
            raise forbidden()
        at = _utc(body.ts) if body.ts else now()
        states = store.read(
            "state", None, at + timedelta(microseconds=1), machines=[body.machine]
        ).to_pylist()
        if not states or states[-1]["state"] == "running":
            raise HTTPException(409, api_text("not_stopped_then"))
        current = states[-1]
        try:
            ts = set_stop_reason(store, body.machine, _utc(current["ts"]), current["state"], body.reason_code)
        except StopGone:  # removed between the read and the update
            raise HTTPException(409, api_text("stop_gone")) from None
        return StopReasonOut(
            machine=body.machine, ts=ts, state=current["state"], reason_code=body.reason_code
        )

    return router
