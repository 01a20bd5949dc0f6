"""Warnings before breakdowns, read from the store's states: no ground truth needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factory_commons.ai.anomaly_store import Breakdown, breakdowns_in_store, warnings_before
from factory_commons.model.records import AnomalyAlert, StateChange
from factory_commons.store import DuckDBStore

M = "acme/창원/가공/line-1/cnc-1"
OTHER = "acme/창원/가공/line-1/cnc-2"
T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def alert(machine: str, hours: float) -> AnomalyAlert:
    return AnomalyAlert(
        ts=T0 + timedelta(hours=hours),
        machine=machine,
        detector="knn",
        score=2.0,
        threshold=1.0,
        evidence={"온도": 1.0},
    )


def test_breakdowns_are_long_unplanned_stops_only():
    store = DuckDBStore()
    h = lambda x: T0 + timedelta(hours=x)  # noqa: E731
    store.write(
        [
            StateChange(ts=h(0), machine=M, state="running"),
            StateChange(
                ts=h(1), machine=M, state="unplanned_down", reason_code="chip_clearing"
            ),  # 2 min: micro-stop
            StateChange(ts=h(1) + timedelta(minutes=2), machine=M, state="running"),
            StateChange(ts=h(10), machine=M, state="unplanned_down", reason_code="주축 과열"),
            StateChange(ts=h(12), machine=M, state="running"),
            StateChange(ts=h(20), machine=M, state="planned_stop"),
        ]
    )
    downs = breakdowns_in_store(store, [M], min_minutes=15)
    assert [(b.start, b.end, b.reason_code) for b in downs] == [(h(10), h(12), "주축 과열")]
    assert breakdowns_in_store(store, [M], start=h(11)) == []
    assert breakdowns_in_store(store, []) == []


def test_first_alert_in_the_lookback_window_and_not_before_the_previous_breakdown():
    downs = [
        Breakdown(M, T0 + timedelta(hours=30), T0 + timedelta(hours=32), "a"),
        Breakdown(M, T0 + timedelta(hours=40), T0 + timedelta(hours=41), "b"),
        Breakdown(OTHER, T0 + timedelta(hours=30), None, "c"),
    ]
    alerts = [
        alert(M, 1),  # more than 24 h before the first breakdown: outside the look-back
        alert(M, 20),
        alert(M, 25),
        alert(M, 31),  # during the first breakdown: not a warning of the second
        alert(M, 37),
        alert(M, 45),  # after
    ]
    got = warnings_before(alerts, downs, lookback=timedelta(hours=24))
    by = {(w.machine, w.reason_code): w for w in got}
    assert by[(M, "a")].lead == timedelta(hours=10)
    assert by[(M, "b")].lead == timedelta(hours=3)
    assert by[(OTHER, "c")].first_alert is None and by[(OTHER, "c")].lead is None
