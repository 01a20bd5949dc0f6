"""The dashboard's downtime Pareto names each bar so that bars can be told apart
(server/web/dashboard_data.py): stops without a reason in idle, setup and down are three bars,
and each says its state, as the command line's table does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from factory_commons.model import StateChange
from factory_commons.server.web.dashboard_data import downtime_view, pareto_labels
from factory_commons.server.web.dashboard_range import Period
from factory_commons.store import DuckDBStore

M = "hanbit/plant-1/area-1/line-1/1호기"


def test_labels_shared_by_several_bars_get_their_state():
    rows = [
        {"reason": "사유 없음", "state": "대기"},
        {"reason": "스핀들 알람", "state": "비계획 정지"},
        {"reason": "사유 없음", "state": "작업준비"},
    ]
    assert pareto_labels(rows) == ["사유 없음 (대기)", "스핀들 알람", "사유 없음 (작업준비)"]


def test_the_chart_of_three_stops_without_reason_names_their_states():
    t0 = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    steps = [("running", 0), ("idle", 60), ("running", 120), ("setup", 150), ("running", 180)]
    steps += [("unplanned_down", 240), ("running", 260), ("planned_stop", 300)]
    store = DuckDBStore()
    store.write([StateChange(ts=t0 + timedelta(minutes=m), machine=M, state=s) for s, m in steps])
    seoul = ZoneInfo("Asia/Seoul")
    period = Period(t0, t0 + timedelta(hours=6), seoul, date(2026, 11, 3), date(2026, 11, 3))
    view = downtime_view(store, [M], period, {M: "1호기"}, lambda key: key)
    chart = str(view["pareto"])
    for state in ("idle", "setup", "unplanned_down"):
        assert f"(none) ({state})" in chart, chart[:400]
