"""Collection alerts on the dashboard: stale sources and gaps the collector stored, per firm.

A DuckDB store holds two acme machines and one beta machine, some states, and `collect_events`
as the collector's forwarder writes them (collect/stale.py, collect/gaps.py). The overview and
the machine page list them in Korean and English; another firm's never appear.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from factory_commons.accounts import Accounts
from factory_commons.model import Machine, StateChange
from factory_commons.server import create_app
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 10, 7, 16, 0, tzinfo=SEOUL)
PASSWORD = "correct horse 1"
M1, M2, B1 = "acme/s1/a1/l1/m1", "acme/s1/a1/l1/m2", "beta/s1/a1/l1/m1"


def event(kind: str, machine: str | None, source: str, logged: datetime, start, end=None, detail="") -> dict:
    naive = lambda t: t and t.astimezone(UTC).replace(tzinfo=None)  # noqa: E731 - the store's UTC
    return {
        "event_id": uuid.uuid4().hex,
        "logged_at": naive(logged),
        "source": source,
        "event": kind,
        "machine": machine,
        "start_ts": naive(start),
        "end_ts": naive(end),
        "rows": None,
        "detail": detail,
    }


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator:
    store = DuckDBStore(tmp_path_factory.mktemp("alerts") / "plant.duckdb")
    store.register_machines([Machine(path=p) for p in (M1, M2, B1)])
    h = timedelta(hours=1)
    store.write(
        [
            StateChange(ts=NOW - 8 * h, machine=M1, state="running"),
            StateChange(ts=NOW - 8 * h, machine=M2, state="running"),
            StateChange(ts=NOW - 1 * h, machine=M2, state="idle"),  # m2's source came back
            StateChange(ts=NOW - 8 * h, machine=B1, state="running"),
        ]
    )
    store.query_write(
        "collect_events",
        [
            event(
                "stale", M1, "plc-m1", NOW - 2.9 * h, NOW - 3 * h, detail="plc-m1: stale: no value for 60 s"
            ),
            event(
                "stale", M2, "plc-m2", NOW - 4.9 * h, NOW - 5 * h, detail="plc-m2: stale: no value for 60 s"
            ),
            event("gap", M2, "plc-m2", NOW - 1.5 * h, NOW - 4 * h, NOW - 3.5 * h, detail="gap: not running"),
            event("stale", M2, "old-plc", NOW - 10 * 24 * h, NOW - 10 * 24 * h, detail="old silence"),
            event("stale", None, "no-machine", NOW - 2 * h, NOW - 2 * h, detail="nobody's"),
            event("stale", B1, "beta-plc", NOW - 2 * h, NOW - 3 * h, detail="BETA-STALE"),
            event("gap", B1, "beta-plc", NOW - 2 * h, NOW - 4 * h, NOW - 3 * h, detail="BETA-GAP"),
        ],
    )
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name in ("acme", "beta"):
        firm = accounts.create_firm(name, [name])
        accounts.create_user(firm.id, f"owner@{name}.example", f"{name} owner", "owner", PASSWORD)
    yield create_app(store, accounts, clock=lambda: NOW)
    store.close()


def login(app, email: str) -> TestClient:
    client = TestClient(app)
    token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return client


def alert_rows(html: str) -> list[str]:
    """The rows of the collection-alerts table, each as its HTML."""
    if 'id="table-collect-alerts"' not in html:
        return []
    table = html.split('id="table-collect-alerts"', 1)[1].split("</table>", 1)[0]
    return [r.split("</tr>", 1)[0] for r in table.split("<tr ")[1:]]


def test_overview_lists_the_current_stale_source_first_and_the_days_gap(app):
    acme = login(app, "owner@acme.example")
    page = acme.get("/").text
    rows = alert_rows(page)
    assert len(rows) == 3, rows  # m1 stale (current), m2 gap, m2 stale (came back); not the old one
    assert 'data-machine="acme/s1/a1/l1/m1" data-event="stale"' in rows[0] and "alert-current" in rows[0]
    assert "지금도 값 없음" in rows[0] and "plc-m1" in rows[0] and "10-07 13:00" in rows[0]
    gap = next(r for r in rows if 'data-event="gap"' in r)
    assert "10-07 12:00 – 10-07 12:30" in gap and "gap: not running" in gap and "데이터 공백" in gap
    resumed = next(r for r in rows if 'data-event="stale"' in r and "plc-m2" in r)
    assert "alert-current" not in resumed and "지금도 값 없음" not in resumed
    assert "old-plc" not in page and "no-machine" not in page and "수집 경고" in page
    for other in ("BETA-STALE", "BETA-GAP", "beta-plc", B1):
        assert other not in page


def test_english_and_the_machine_page(app):
    acme = login(app, "owner@acme.example")
    acme.get("/lang/en")
    page = acme.get("/").text
    assert "Collection alerts" in page and "Stale source" in page and "still silent" in page and "Gap" in page
    rows = alert_rows(acme.get(f"/machines/{M1}").text)
    assert len(rows) == 1 and "plc-m1" in rows[0] and "still silent" in rows[0]
    m2 = acme.get(f"/machines/{M2}").text
    assert {('data-event="gap"' in r) for r in alert_rows(m2)} == {True, False} and "plc-m1" not in m2


def test_another_firm_sees_only_its_own_alerts(app):
    beta = login(app, "owner@beta.example")
    page = beta.get("/").text
    rows = alert_rows(page)
    assert len(rows) == 2 and all(B1 in r for r in rows), rows
    assert "BETA-STALE" in page and "BETA-GAP" in page
    for other in ("plc-m1", "plc-m2", "acme/"):
        assert other not in page
    assert beta.get(f"/machines/{M1}").status_code == 404


def test_a_machine_without_alerts_shows_no_panel(app):
    beta = login(app, "owner@beta.example")
    beta_store_view = beta.get(f"/machines/{B1}?from=2026-10-01&to=2026-10-01").text
    # beta's stale source is still silent, so it is listed even for an earlier period
    assert len(alert_rows(beta_store_view)) == 1 and "BETA-STALE" in beta_store_view
    acme = login(app, "owner@acme.example")
    m2_earlier = acme.get(f"/machines/{M2}?from=2026-10-01&to=2026-10-01").text
    assert 'id="collect-alerts"' not in m2_earlier  # m2's source came back: nothing current


def test_the_store_reads_events_of_some_machines_newest_first(store_factory):
    """Store.collect_events on DuckDB and PostgreSQL: window, machines, kinds, order, limit."""
    store = store_factory()
    h = timedelta(hours=1)
    store.query_write(
        "collect_events",
        [
            event("stale", M1, "a", NOW - 3 * h, NOW - 3 * h),
            event("gap", M1, "a", NOW - 2 * h, NOW - 4 * h, NOW - 3 * h),
            event("late", M1, "a", NOW - 2 * h, NOW - 2 * h),
            event("gap", B1, "b", NOW - 2 * h, NOW - 4 * h, NOW - 3 * h),
            event("stale", M1, "a", NOW - 30 * h, NOW - 30 * h),
            event("stale", None, "c", NOW - 2 * h, NOW - 2 * h),
        ],
    )
    rows = store.collect_events(NOW - 24 * h, NOW, [M1, M2]).to_pylist()
    assert [(r["event"], r["machine"]) for r in rows] == [("gap", M1), ("stale", M1)]
    assert rows[0]["start_ts"] == (NOW - 4 * h).astimezone(UTC).replace(tzinfo=None)
    assert store.collect_events(NOW - 24 * h, NOW, [M1], limit=1).num_rows == 1
    assert store.collect_events(NOW - 24 * h, NOW, [M1], ("late",)).num_rows == 1
    assert store.collect_events(NOW - 24 * h, NOW, []).num_rows == 0
