"""Recording why a machine stopped: put a reason code on the state change that began the stop.

The Store interface writes idempotently (the first row of a key wins) and has no update call,
so the reason is set with one UPDATE on the backends the server knows (embedded DuckDB,
PostgreSQL). On any other backend (a RemoteStore) a state change with the reason is written
1 ms after the stop began: the stop then carries the reason for all but that millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..model.records import StateChange
from ..store.base import Store


def set_stop_reason(
    store: Store, machine: str, stop_start: datetime, state: str, reason_code: str
) -> datetime:
    """Give the stop that began at `stop_start` the reason; returns the ts of the record carrying it."""
    naive = stop_start.astimezone(UTC).replace(tzinfo=None)
    sql = (
        "UPDATE states SET reason_code = {p} WHERE ts = {p} "
        "AND machine_id = (SELECT machine_id FROM machines WHERE path = {p})"
    )
    from ..store.duckdb import DuckDBStore

    backends: dict[type, str] = {DuckDBStore: "?"}
    try:
        from ..store.postgres import PostgresStore

        backends[PostgresStore] = "%s"
    except ImportError:  # pragma: no cover - psycopg is a dependency, but keep the fallback
        pass
    mark = next((m for cls, m in backends.items() if isinstance(store, cls)), None)
    if mark is not None:
        with store._lock:  # type: ignore[attr-defined]
            store._con.execute(sql.format(p=mark), [reason_code, naive, machine])  # type: ignore[attr-defined]
        return stop_start
    ts = stop_start + timedelta(milliseconds=1)
    store.write([StateChange(ts=ts, machine=machine, state=state, reason_code=reason_code)])
    return ts
