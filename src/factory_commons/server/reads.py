"""Bounded reads for the API: Store.read's query with the limit pushed into the store.

A year of signals must not be loaded to answer "the first 10,000 rows", so the API reads the
same documented views as `Store.read` with ORDER BY and LIMIT in SQL (both dialects use `?`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from ..store.base import Store
from ..store.schema import READ_VIEWS


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def read_limited(
    store: Store,
    kind: str,
    start: datetime,
    end: datetime,
    machines: list[str],
    limit: int,
    newest_first: bool = False,
) -> pa.Table:
    """At most `limit` records of `kind` for `machines` with ts in [start, end).

    Ordered by machine and time (as Store.read), or by time, newest first.
    """
    if not machines:
        return pa.table({})
    view = READ_VIEWS[kind]
    marks = ", ".join("?" for _ in machines)
    order = "ts DESC, machine" if newest_first else "machine, ts"
    sql = (
        f"SELECT * FROM {view} WHERE ts >= ? AND ts < ? AND machine IN ({marks}) "
        f"ORDER BY {order} LIMIT {int(limit)}"
    )
    return store.query(sql, [_naive(start), _naive(end), *machines])


def overview_rows(store: Store, machines: list[str]) -> dict[str, dict]:
    """Each machine's latest state (state, since, reason_code) and its count of active alarms.

    The latest state comes from `latest_states`, one row per machine kept by the store's write
    path (see store/latest.py), so the cost does not grow with the history.
    """
    if not machines:
        return {}
    marks = ", ".join("?" for _ in machines)
    latest = store.query(
        "SELECT m.path AS machine, l.state, l.reason_code, l.ts"
        " FROM latest_states l JOIN machines m USING (machine_id)"
        f" WHERE m.path IN ({marks})",
        list(machines),
    ).to_pylist()
    alarms = store.query(
        "SELECT machine, count(*) AS n FROM ("
        " SELECT machine, active,"
        "  row_number() OVER (PARTITION BY machine, code ORDER BY ts DESC) AS rn"
        f" FROM v_alarms WHERE machine IN ({marks})) t WHERE rn = 1 AND active GROUP BY machine",
        list(machines),
    ).to_pylist()
    active = {r["machine"]: int(r["n"]) for r in alarms}
    out = {
        m: {"state": None, "since": None, "reason_code": None, "active_alarms": active.get(m, 0)}
        for m in machines
    }
    for r in latest:
        out[r["machine"]].update(state=r["state"], since=r["ts"], reason_code=r["reason_code"])
    return out
