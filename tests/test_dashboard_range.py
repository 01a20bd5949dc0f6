"""The dashboard's periods, names and explained states, without a browser.

Periods are plant-local days (`?from=&to=`, `to` inclusive, presets, `?days=`); a bad one is
named on the page (HTTP 400), never a server error. Machines show their display names (two
firms' `cnc-01` told apart), a machine without recent data says since when, and a month-old
imported history is seen by picking its month. The HTML report shows plant-local times,
display names and labels that are not cut. `imported_plant` builds the store the browser test
(test_dashboard_browser.py) uses too: a month of a shop's interval log, imported from CSV files
through the real importer, with the machines' names from a machine master file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from factory_commons.accounts import Accounts
from factory_commons.collect.files import import_file
from factory_commons.collect.files_mapping import parse_mapping
from factory_commons.collect.master_files import read_machines
from factory_commons.kpi import compute_kpis
from factory_commons.model import Machine, PartCount, StateChange
from factory_commons.report import svg
from factory_commons.report.data import gather
from factory_commons.report.html import write_html
from factory_commons.report.loss_tree import loss_tree
from factory_commons.server import create_app
from factory_commons.server.web.dashboard_range import (
    RangeError,
    machine_names,
    parse_period,
    plant_zone,
)
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 12, 7, 16, 0, tzinfo=SEOUL)  # a Monday afternoon
PASSWORD = "correct horse 1"
CNC = "acme/changwon/cnc/line-1/cnc-03"
PRESS = "acme/changwon/press/line-2/press-01"
NAMES = {CNC: "CNC 3호기 (두산 PUMA 280)", PRESS: "프레스 1호기 (200톤)"}
LAST_DAY = date(2026, 11, 27)  # the log's last day (a Friday)
#: one shift of the log: start, end, 구분 (state word), 사유 (reason), 양품 (good), 불량 (scrap)
SHIFT = (
    ("08:00", "10:00", "가동", "", 270, 3),
    ("10:00", "10:30", "고장", "스핀들 알람", "", ""),
    ("10:30", "12:00", "가동", "", 200, 1),
    ("12:00", "13:00", "계획정지", "점심", "", ""),
    ("13:00", "13:40", "셋업", "공구 교환", "", ""),
    ("13:40", "17:00", "가동", "", 450, 5),
)
MAPPING = {
    "shape": "intervals",
    "start": "시작",
    "end": "종료",
    "state_after": "planned_stop",
    "time_format": "%Y/%m/%d %H:%M",
    "columns": {
        "구분": {
            "kind": "state",
            "state_codes": {
                "가동": "running",
                "고장": "unplanned_down",
                "셋업": "setup",
                "계획정지": "planned_stop",
            },
        },
        "사유": {"kind": "state", "field": "reason_code"},
        "양품": {"kind": "count"},
        "불량": {"kind": "count", "field": "scrap"},
    },
}


def write_log(path: Path, days: list[date]) -> Path:
    """A team leader's interval log (UTF-8 with BOM), one shift per working day."""
    rows = ["시작,종료,구분,사유,양품,불량"]
    for d in days:
        for start, end, word, reason, good, scrap in SHIFT:
            rows.append(f"{d:%Y/%m/%d} {start},{d:%Y/%m/%d} {end},{word},{reason},{good},{scrap}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    return path


@dataclass
class Imported:
    store: DuckDBStore
    accounts: Accounts
    app: object

    def client(self, email: str = "owner@acme.example", lang: str = "ko") -> TestClient:
        c = TestClient(self.app)
        token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
        assert r.status_code == 200, r.text[:300]
        c.cookies.set("lang", lang)
        return c


def imported_plant(folder: Path) -> Imported:
    """Firm acme's store with November's log of two machines, imported from CSV files as a shop
    would (the importer, a machine master file for the names); the clock stands at NOW."""
    store = DuckDBStore(folder / "plant.duckdb")
    days = [LAST_DAY - timedelta(days=i) for i in range(26)]
    days = sorted(d for d in days if d.weekday() < 5)
    for path, name in ((CNC, "cnc"), (PRESS, "press")):
        mapping = parse_mapping({**MAPPING, "machine": path})
        summary = import_file(write_log(folder / f"{name}.csv", days), mapping, store)
        assert summary.rows_rejected == 0 and summary.written["state"] > 0
    master = folder / "machines.csv"
    master.write_text(
        "설비,설비명,기준 사이클타임(초)\n" + "".join(f"{p},{n},20\n" for p, n in NAMES.items()),
        encoding="utf-8",
    )
    store.register_machines(read_machines(master, known=store.machines()))
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    firm = accounts.create_firm("acme", ["acme"])
    accounts.create_user(firm.id, "owner@acme.example", "acme owner", "owner", PASSWORD)
    beta = accounts.create_firm("beta", ["beta"])
    accounts.create_user(beta.id, "owner@beta.example", "beta owner", "owner", PASSWORD)
    return Imported(store, accounts, create_app(store, accounts, clock=lambda: NOW))


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Imported:
    p = imported_plant(tmp_path_factory.mktemp("imported"))
    yield p
    p.store.close()


# -- periods ---------------------------------------------------------------------------------
def test_from_to_are_plant_local_days_with_to_inclusive():
    p = parse_period({"from": "2026-11-01", "to": "2026-11-30"}, NOW, SEOUL)
    assert p.start == datetime(2026, 10, 31, 15, tzinfo=UTC)  # 11-01 00:00 in Seoul
    assert p.end == datetime(2026, 11, 30, 15, tzinfo=UTC)  # 12-01 00:00: the 30th is in
    assert p.label() == "2026-11-01 00:00 – 2026-12-01 00:00" and p.custom
    assert p.query() == "from=2026-11-01&to=2026-11-30"
    today = parse_period({"from": "2026-12-07", "to": "2026-12-07"}, NOW, SEOUL)
    assert today.end == NOW and today.label() == "2026-12-07 00:00 – 16:00"  # never past now
    only_from = parse_period({"from": "2026-12-01"}, NOW, SEOUL)
    assert (only_from.first, only_from.last, only_from.end) == (date(2026, 12, 1), date(2026, 12, 7), NOW)


@pytest.mark.parametrize(
    ("preset", "first", "last"),
    [
        ("today", date(2026, 12, 7), date(2026, 12, 7)),
        ("yesterday", date(2026, 12, 6), date(2026, 12, 6)),
        ("7d", date(2026, 12, 1), date(2026, 12, 7)),
        ("30d", date(2026, 11, 8), date(2026, 12, 7)),
        ("this_month", date(2026, 12, 1), date(2026, 12, 7)),
        ("last_month", date(2026, 11, 1), date(2026, 11, 30)),
    ],
)
def test_presets(preset, first, last):
    p = parse_period({"range": preset}, NOW, SEOUL)
    assert (p.first, p.last, p.preset) == (first, last, preset)
    assert p.start == datetime.combine(first, datetime.min.time(), SEOUL)
    assert p.end == min(datetime.combine(last + timedelta(days=1), datetime.min.time(), SEOUL), NOW)


def test_last_month_in_january_and_a_day_cut_in_another_zone():
    p = parse_period({"range": "last_month"}, datetime(2027, 1, 3, 9, tzinfo=SEOUL), SEOUL)
    assert (p.first, p.last) == (date(2026, 12, 1), date(2026, 12, 31))
    berlin = ZoneInfo("Europe/Berlin")
    y = parse_period({"range": "yesterday"}, NOW, berlin)  # 08:00 in Berlin on 12-07
    assert y.start == datetime(2026, 12, 6, tzinfo=berlin) and y.end == datetime(2026, 12, 7, tzinfo=berlin)


def test_today_at_the_stroke_of_midnight_is_the_last_24_hours():
    midnight = datetime(2026, 12, 7, tzinfo=SEOUL)
    p = parse_period({"range": "today"}, midnight, SEOUL)
    assert (p.start, p.end, p.days) == (midnight - timedelta(days=1), midnight, 1)


def test_rolling_days_and_defaults():
    p = parse_period({"days": "1"}, NOW, SEOUL)
    assert (p.start, p.end, p.days) == (NOW - timedelta(days=1), NOW, 1)
    assert parse_period({"days": "9999"}, NOW, SEOUL).days == 92
    assert parse_period({}, NOW, SEOUL, default=1).days == 1
    assert parse_period({}, NOW, SEOUL).preset == "7d"


@pytest.mark.parametrize(
    ("query", "field", "key"),
    [
        ({"from": "2026-13-01"}, "from", "dash_err_bad_date"),
        ({"from": "2026-11-31"}, "from", "dash_err_bad_date"),
        ({"to": "20261130"}, "to", "dash_err_bad_date"),
        ({"from": "yesterday"}, "from", "dash_err_bad_date"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "to", "dash_err_reversed"),
        ({"from": "2020-01-01", "to": "2026-11-30"}, "to", "dash_err_too_long"),
        ({"from": "2026-12-08"}, "from", "dash_err_future"),
        ({"range": "fortnight"}, "range", "dash_err_bad_preset"),
        ({"days": "seven"}, "days", "dash_err_bad_days"),
    ],
)
def test_bad_periods_are_named(query, field, key):
    with pytest.raises(RangeError) as e:
        parse_period(query, NOW, SEOUL)
    assert (e.value.field, e.value.key) == (field, key)


def test_the_plant_zone_comes_from_the_store(tmp_path):
    store = DuckDBStore(tmp_path / "z.duckdb")
    assert plant_zone(store).key == "Asia/Seoul"
    store.set_plant_timezone("Europe/Berlin")
    assert plant_zone(store).key == "Europe/Berlin"
    store.close()


# -- names -----------------------------------------------------------------------------------
def test_display_names_and_two_firms_cnc_01_told_apart():
    ms = [
        Machine(path="acme/s1/a1/l1/cnc-01"),
        Machine(path="beta/s1/a1/l1/cnc-01"),
        Machine(path="acme/s1/a1/l2/press-01", display_name="프레스 1호기"),
        Machine(path="acme/s1/a1/l3/m1", display_name="  "),
    ]
    names = machine_names(ms)
    assert (
        names["acme/s1/a1/l1/cnc-01"] == "cnc-01 (acme)" and names["beta/s1/a1/l1/cnc-01"] == "cnc-01 (beta)"
    )
    assert names["acme/s1/a1/l2/press-01"] == "프레스 1호기" and names["acme/s1/a1/l3/m1"] == "m1"
    only_acme = machine_names(ms, ["acme/s1/a1/l1/cnc-01", "acme/s1/a1/l2/press-01"])
    assert only_acme == {"acme/s1/a1/l1/cnc-01": "cnc-01", "acme/s1/a1/l2/press-01": "프레스 1호기"}
    same_firm = machine_names([Machine(path="acme/s1/a1/l1/m1"), Machine(path="acme/s1/a1/l2/m1")])
    assert set(same_firm.values()) == {"m1 (acme/s1/a1/l1)", "m1 (acme/s1/a1/l2)"}


# -- the loss tree and wrapped labels ----------------------------------------------------------
def test_loss_tree_adds_up_to_oee_times_planned_busy_time(plant):
    start = datetime(2026, 11, 1, tzinfo=SEOUL)
    row = compute_kpis(plant.store, start, start + timedelta(days=30), ()).iloc[0]
    nodes = {n.key: n for n in loss_tree(row)}
    pbt = row["planned_busy_time_s"]
    assert nodes["planned_busy_time_s"].seconds == pbt and nodes["planned_busy_time_s"].share == 1.0
    assert nodes["fully_productive"].seconds == pytest.approx(row["oee"] * pbt)
    assert nodes["dash_availability_losses"].seconds == pytest.approx(
        row["loss_breakdowns_s"] + row["loss_setup_s"] + row["loss_idling_s"]
    )
    assert nodes["dash_actual_production_time"].seconds == pytest.approx(row["actual_production_time_s"])
    # 2 machines x 20 days x (30 min breakdown + 40 min setup); lunch and the night are planned
    assert (
        nodes["loss_breakdowns_s"].seconds == 2 * 20 * 1800 and nodes["loss_setup_s"].seconds == 2 * 20 * 2400
    )
    unknown = {n.key: n for n in loss_tree({**row.to_dict(), "loss_reduced_speed_s": math.nan})}
    assert unknown["dash_performance_losses"].seconds is None and unknown["fully_productive"].share is None
    assert unknown["loss_breakdowns_s"].seconds == 2 * 20 * 1800  # what is known stays


def test_long_labels_wrap_and_are_never_cut():
    long = "냉각수 펌프 고장 및 스핀들 베어링 마모 (비계획 정지)"
    lines = svg.wrap(long, 60)
    assert len(lines) > 1 and "".join(lines).replace(" ", "") == long.replace(" ", "")
    assert all(svg.text_width(x) <= 60 for x in lines)
    assert svg.fit("Changeover", 62) == (["Changeover"], pytest.approx(62 / svg.text_width("Changeover")))
    lines, scale = svg.fit("Supercalifragilisticexpialidocious", 62)  # too long even shrunk: broken
    assert (
        scale == svg.MIN_SCALE and len(lines) > 1 and "".join(lines) == "Supercalifragilisticexpialidocious"
    )
    chart = svg.pareto([long, "Waiting for material from the upstream press line"], [3.0, 1.0], "p")
    texts = "".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", chart))
    assert long.replace(" ", "") in texts.replace(" ", "") and "…" not in chart
    assert f"<title>{long}: 3.0h</title>" in chart


# -- pages -----------------------------------------------------------------------------------
def test_a_month_old_import_is_seen_by_picking_its_month(plant):
    c = plant.client()
    week = c.get("/oee").text  # the default: the last 7 plant days, with nothing in them
    assert 'id="no-data"' in week and "이 기간에는 데이터가 없습니다" in week
    november = c.get("/oee", params={"range": "last_month"})
    assert november.status_code == 200 and 'id="no-data"' not in november.text
    assert "2026-11-01 00:00 – 2026-12-01 00:00" in november.text and "Asia/Seoul" in november.text
    for path, name in NAMES.items():
        assert f'title="{path}" data-path="{path}">{name}</span>' in november.text
    assert ">cnc-03<" not in november.text  # the path's last segment is not the name
    same = c.get("/oee", params={"from": "2026-11-01", "to": "2026-11-30"}).text
    cards = re.findall(r'<div class="card"><span>[^<]+</span><b>([^<]+)</b>', same)
    assert cards == re.findall(r'<div class="card"><span>[^<]+</span><b>([^<]+)</b>', november.text)
    assert cards[0] != "–" and 'id="loss-tree"' in same


def test_downtime_pareto_and_stops_by_machine_for_any_range(plant):
    c = plant.client(lang="en")
    page = c.get("/downtime", params={"from": "2026-11-02", "to": "2026-11-06"}).text  # Mon-Fri
    row = re.search(r'<tr data-reason="스핀들 알람" data-state="unplanned_down">(.*?)</tr>', page).group(1)
    assert "<td>2</td>" not in row and "<td>10</td>" in row and "<td>5.0</td>" in row  # 2 x 5 x 30 min
    machines = re.findall(
        r'<tr data-key="([^"]+)"><td><a href="/machines/[^"]+\?from=2026-11-02&amp;to=2026-11-06">', page
    )
    assert sorted(machines) == sorted(NAMES)
    assert f'title="{CNC}" data-path="{CNC}">{NAMES[CNC]}</span>' in page
    assert 'id="machine-pareto"' in page and NAMES[PRESS] in page.split('id="machine-pareto"', 1)[1]
    assert 'href="/oee?from=2026-11-02&amp;to=2026-11-06"' in page  # the nav keeps the period
    empty = c.get("/downtime", params={"range": "today"}).text
    assert "No stops recorded in this range" in empty


def test_machines_without_recent_data_say_since_when(plant):
    c = plant.client()
    page = c.get("/").text
    tile = re.search(
        rf'<a class="machine state-no_data" href="/machines/{CNC}"[^>]*title="{CNC}">(.*?)</a>', page, re.S
    )
    assert tile, page[:2000]
    assert NAMES[CNC] in tile.group(1) and "2026-11-27 17:00 이후 데이터 없음" in tile.group(1)
    assert "마지막 상태: 계획 정지" in tile.group(1) and "이 기간에는 데이터가 없습니다" in tile.group(1)
    assert ">알 수 없음<" not in page and "unknown" not in page
    assert "2026-12-07 00:00 – 16:00 (공장 시간 Asia/Seoul)" in page  # a real range, not "00:00 – ·"
    live = c.get("/live.json").json()[CNC]
    assert live == {
        "state": "no_data",
        "label": "2026-11-27 17:00 이후 데이터 없음",
        "since": "마지막 상태: 계획 정지",
    }
    en = plant.client(lang="en").get(f"/machines/{CNC}").text
    assert "No data since 2026-11-27 17:00" in en and NAMES[CNC] in en


def test_a_new_machine_says_no_data_yet_and_a_live_one_its_state(tmp_path):
    plant = imported_plant(tmp_path)
    plant.store.register_machines([Machine(path="acme/changwon/cnc/line-1/cnc-09")])
    plant.store.write([StateChange(ts=NOW - timedelta(hours=3), machine=PRESS, state="running")])
    c = plant.client(lang="en")
    page = c.get("/").text
    assert "No data yet (nothing received)" in page
    live = c.get("/live.json").json()
    assert live["acme/changwon/cnc/line-1/cnc-09"] == {
        "state": "no_data",
        "label": "No data yet (nothing received)",
        "since": "",
    }
    assert live[PRESS] == {"state": "running", "label": "Running", "since": "12-07 13:00"}
    # parts without an ideal cycle time: the OEE page says so, naming the machine and what to do
    new = "acme/changwon/cnc/line-1/cnc-09"
    t0 = datetime(2026, 11, 10, 8, tzinfo=SEOUL)
    plant.store.write(
        [
            StateChange(ts=t0, machine=new, state="running"),
            StateChange(ts=t0 + timedelta(hours=2), machine=new, state="planned_stop"),
            PartCount(ts=t0 + timedelta(hours=1), machine=new, good=40),
        ]
    )
    page = c.get("/oee", params={"range": "last_month"}).text
    warning = re.search(rf'<li data-key="no_ideal_cycle_time" data-group="{new}">([^<]+)</li>', page)
    assert warning and warning.group(1).startswith("cnc-09: ")  # the machine by its name
    assert "ideal cycle time" in warning.group(1) and "40" in warning.group(1)
    assert "products import" in warning.group(1)  # what to change
    row = re.search(rf'<tr data-key="{new}">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[:3] == ["–", "100.0%", "–"]  # OEE, availability, performance
    ko = plant.client().get("/oee", params={"range": "last_month"}).text
    assert 'id="warnings"' in ko and "확인이 필요한 데이터" in ko
    report = gather(plant.store, datetime(2026, 11, 1, tzinfo=SEOUL), datetime(2026, 12, 1, tzinfo=SEOUL))
    html = write_html(report, tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="warnings"' in html and "cnc-09: " in html and "products import" in html  # the report too
    plant.store.close()


@pytest.mark.parametrize(
    ("query", "ko", "en"),
    [
        (
            {"from": "2026-11-31"},
            "시작일(from): '2026-11-31'은(는) 날짜가 아닙니다",
            "Start day (from): '2026-11-31' is not",
        ),
        (
            {"from": "2026-11-30", "to": "2026-11-01"},
            "종료일(to): 시작일 2026-11-30이(가)",
            "End day (to): the start day",
        ),
        (
            {"range": "fortnight"},
            "기간(range): 'fortnight'은(는) 알 수 없는",
            "Period (range): 'fortnight' is not a known",
        ),
        (
            {"from": "2027-01-01"},
            "시작일(from): 2027-01-01은(는) 아직",
            "Start day (from): 2027-01-01 has not come",
        ),
    ],
)
def test_bad_dates_get_a_clear_message_not_a_500(plant, query, ko, en):
    for lang, text in (("ko", ko), ("en", en)):
        c = plant.client(lang=lang)
        for path in ("/", "/oee", "/downtime", f"/machines/{CNC}"):
            r = c.get(path, params=query)
            assert r.status_code == 400, (path, r.status_code)
            error = re.search(r'<p class="error" id="range-error">([^<]+)</p>', r.text)
            assert error and error.group(1).replace("&#39;", "'").startswith(text), (path, lang, error)
            assert 'id="range-form"' in r.text  # the picker, to put it right


# -- the HTML report ---------------------------------------------------------------------------
def test_report_shows_plant_time_display_names_and_whole_labels(plant, tmp_path):
    start = datetime(2026, 11, 1, tzinfo=SEOUL)
    data = gather(plant.store, start, start + timedelta(days=30))
    html = write_html(data, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "2026-11-01 00:00 – 2026-12-01 00:00" in html and "Asia/Seoul" in html
    assert "(UTC)" not in html and "2026-10-31 15:00" not in html
    for path, name in NAMES.items():
        assert f'<span title="{path}">{name}</span>' in html
    assert "스핀들 알람" in html and "…" not in html
    assert 'id="loss-tree"' in html and html.count("<svg") == 3
