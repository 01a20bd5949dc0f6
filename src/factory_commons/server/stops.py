"""Recording why a machine stopped: put a reason code on the state change that began the stop.

The reason is set through the Store interface (`Store.set_state_reason`), so it works the same
on the embedded DuckDB file, PostgreSQL and a RemoteStore that talks to the file's owner.
"""

from __future__ import annotations

from datetime import datetime

from ..store.base import Store


class StopGone(LookupError):
    """The state change that began the stop is no longer stored (deleted by retention, say)."""


def set_stop_reason(
    store: Store, machine: str, stop_start: datetime, state: str, reason_code: str
) -> datetime:
    """Give the stop that began at `stop_start` the reason; returns the ts of the record carrying it."""
    if not store.set_state_reason(machine, stop_start, reason_code):
        raise StopGone(f"{machine}: no {state} state change at {stop_start.isoformat()}")
    return stop_start
