"""Store.set_state_reason: the one update of stored events, on DuckDB, PostgreSQL and a RemoteStore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from factory_commons.model import Machine, StateChange
from factory_commons.store import DuckDBStore
from factory_commons.store.remote import FlightStoreServer, RemoteStore

T0 = datetime(2024, 3, 4, 8, tzinfo=UTC)
M1, M2 = "acme/s1/a1/l1/m1", "acme/s1/a1/l1/m2"


def _fill(store) -> None:
    store.register_machines([Machine(path=M1), Machine(path=M2)])
    store.write(
        [
            StateChange(ts=T0, machine=M1, state="running"),
            StateChange(ts=T0 + timedelta(hours=1), machine=M1, state="unplanned_down"),
            StateChange(ts=T0 + timedelta(hours=1), machine=M2, state="unplanned_down"),
        ]
    )


def _reasons(store, machine: str) -> list:
    return [r["reason_code"] for r in store.read("state", machines=[machine]).to_pylist()]


def test_set_state_reason_updates_exactly_one_row(store_factory):
    store = store_factory()
    _fill(store)
    stop = T0 + timedelta(hours=1)
    assert store.set_state_reason(M1, stop, "금형 교체") is True
    assert _reasons(store, M1) == [None, "금형 교체"]
    assert _reasons(store, M2) == [None]  # same ts, other machine: untouched
    # a naive ts is UTC; a ts in another zone is the same instant
    kst = stop.astimezone(ZoneInfo("Asia/Seoul"))
    assert store.set_state_reason(M1, kst, "breakdown") is True
    assert store.set_state_reason(M1, stop.replace(tzinfo=None), "breakdown2") is True
    assert _reasons(store, M1) == [None, "breakdown2"]
    assert store.set_state_reason(M1, stop, None) is True  # cleared
    assert _reasons(store, M1) == [None, None]


def test_set_state_reason_reports_a_miss_and_writes_nothing(store_factory):
    store = store_factory()
    _fill(store)
    assert store.set_state_reason(M1, T0 + timedelta(minutes=30), "x") is False  # no change at that ts
    assert store.set_state_reason("acme/s1/a1/l1/nope", T0, "x") is False  # unknown machine
    assert _reasons(store, M1) == [None, None] and len(store.read("state").to_pylist()) == 3


def test_set_state_reason_through_a_remote_store():
    store = DuckDBStore(":memory:")
    _fill(store)
    server = FlightStoreServer(store)
    remote = RemoteStore(server.location, server.token)
    try:
        assert remote.set_state_reason(M2, T0 + timedelta(hours=1), "자재 대기") is True
        assert remote.set_state_reason(M2, T0, "x") is False
        assert _reasons(store, M2) == ["자재 대기"]
    finally:
        remote.close()
        server.shutdown()
        store.close()


def test_the_overview_shows_a_reason_set_on_the_current_stop(store_factory):
    from factory_commons.server.reads import overview_rows

    store = store_factory()
    _fill(store)
    assert overview_rows(store, [M1])[M1]["reason_code"] is None
    assert store.set_state_reason(M1, T0 + timedelta(hours=1), "설비 고장")
    assert overview_rows(store, [M1])[M1]["reason_code"] == "설비 고장"
    store.set_state_reason(M1, T0, "older change")  # not the latest: the overview is unchanged
    assert overview_rows(store, [M1])[M1]["reason_code"] == "설비 고장"
