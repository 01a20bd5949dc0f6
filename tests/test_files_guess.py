"""The import guesser (collect/files_guess.py) and the guided `import` command.

Every export shape in tests/data/exports/ (written by tests/exports_data.py) must import right
with the guessed mapping as it is, checked against the truth the file was written from: machine
names and paths, state times and states, reasons, counts, signals. Then: the TOML is the mapping
with its notes as comments, corrections (`with_roles`), the preview, master files, errors, and
the command line, including the issue's CP949 interval log + product master end to end.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections import defaultdict
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from exports_data import (
    COUNTS,
    EN_MACHINE,
    EN_STATE,
    EVENT_STATE,
    EVENTS,
    EXPORTS,
    INTERVALS,
    NIGHT,
    PRODUCTS,
    SIGNALS,
    STATE_OF,
    write_all,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.collect.files import import_file
from factory_commons.collect.files_guess import (
    DEFAULT_PREFIX,
    ROLES,
    guess_mapping,
    preview,
    with_roles,
)
from factory_commons.collect.files_mapping import load_mapping, parse_mapping
from factory_commons.collect.files_read import FileReadError
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
HANGUL = range(0xAC00, 0xD7A4)


def utc(t: datetime) -> datetime:
    return t.replace(tzinfo=SEOUL).astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """The committed export files, copied (an import writes progress files beside its file)."""
    d = tmp_path / "exports"
    shutil.copytree(EXPORTS, d)
    return d


def test_the_committed_exports_are_what_the_generator_writes(tmp_path):
    fresh = write_all(tmp_path)
    for p in fresh:
        assert (EXPORTS / p.name).exists(), f"run python tests/exports_data.py ({p.name} missing)"
        if p.suffix == ".csv" or p.suffix == ".tsv":
            assert (EXPORTS / p.name).read_bytes() == p.read_bytes(), p.name


def _import(path: Path) -> tuple[DuckDBStore, dict, object]:
    proposal = guess_mapping(path)
    assert proposal.kind == "log", proposal.notes
    store = DuckDBStore()
    summary = import_file(path, parse_mapping(proposal.mapping), store, resume=False)
    assert summary.rows_rejected == 0, [str(r) for r in summary.first_rejections]
    return store, proposal.mapping, summary


def _names(store: DuckDBStore) -> dict[str, str]:
    """path -> the name the file used (the path itself where the file named no machine)."""
    return {m.path: m.display_name or m.path for m in store.machines()}


def _states(store: DuckDBStore) -> dict[tuple[str, datetime], tuple[str, str | None]]:
    names = _names(store)
    return {
        (names[r["machine"]], r["ts"]): (r["state"], r["reason_code"])
        for r in store.read("state").to_pylist()
    }


def _counts(store: DuckDBStore) -> dict[tuple[str, datetime], tuple[int, int]]:
    names = _names(store)
    return {(names[r["machine"]], r["ts"]): (r["good"], r["scrap"]) for r in store.read("count").to_pylist()}


def _expected_intervals(rows, name_of, state_of, after: str, reasons: bool = True):
    states: dict = {}
    counts: dict = {}
    by_machine = defaultdict(list)
    for r in rows:
        by_machine[r.machine].append(r)
    for machine, mine in by_machine.items():
        name = name_of(machine)
        starts = {r.start for r in mine}
        for r in mine:
            states[(name, utc(r.start))] = (state_of(r.state), (r.reason or None) if reasons else None)
        for r in mine:
            if r.end not in starts:
                states[(name, utc(r.end))] = (after, None)
            if r.good is not None:
                counts[(name, utc(r.end))] = (r.good, r.scrap or 0)
    return states, counts


def _check_paths(store: DuckDBStore, line: str = "line-1", area: str = "area-1") -> None:
    for m in store.machines():
        parts = m.path.split("/")
        assert "/".join(parts[:2]) == DEFAULT_PREFIX
        assert parts[2:4] == [area, line], m.path


# -- every shape imports right, unedited -------------------------------------------------------
INTERVAL_SHAPES = {
    # file: (rows, machine name as stored, state word -> state, line level)
    "kr_intervals_cp949.csv": (INTERVALS, lambda m: m, STATE_OF.get, "line-1"),
    "kr_duration_semicolon.csv": (INTERVALS, lambda m: m, STATE_OF.get, "line-1"),
    "en_intervals_bom.csv": (INTERVALS, EN_MACHINE.get, lambda w: STATE_OF[EN_STATE[w]], "line-1"),
    "en_duration_tab.tsv": (INTERVALS, EN_MACHINE.get, lambda w: STATE_OF[EN_STATE[w]], "line-a"),
    "excel_serial_title.xlsx": (INTERVALS, lambda m: f"가공 {m}", STATE_OF.get, "line-1"),
    "excel_night_shift.xlsx": (NIGHT, lambda m: m, STATE_OF.get, "line-1"),
    "mes_export.csv": (
        INTERVALS,
        lambda m: EN_MACHINE[m].replace("CNC-0", "WC-"),
        lambda w: STATE_OF[EN_STATE[w]],
        "line-1",
    ),
}


@pytest.mark.parametrize("name", sorted(INTERVAL_SHAPES))
def test_interval_shapes_import_right(exports, name):
    rows, name_of, state_of, line = INTERVAL_SHAPES[name]
    store, mapping, _ = _import(exports / name)
    assert mapping["shape"] == "intervals"
    reasons = name != "excel_night_shift.xlsx"  # that one has no reason column
    want_states, want_counts = _expected_intervals(rows, name_of, state_of, "planned_stop", reasons)
    if name.startswith("en_"):  # English files carry the same reasons
        pass
    assert _states(store) == want_states
    assert _counts(store) == want_counts
    _check_paths(store, line=line)


def test_day_first_dates_and_one_machine(exports):
    path = exports / "press7_dayfirst.csv"
    store, mapping, _ = _import(path)
    assert mapping["time_format"] == "%d/%m/%Y %H:%M"
    assert mapping["machine"] == f"{DEFAULT_PREFIX}/area-1/line-1/press7_dayfirst"
    rows = [i for i in INTERVALS if i.machine == "1호기"]
    want_states, want_counts = _expected_intervals(
        rows, lambda m: mapping["machine"], lambda w: STATE_OF[EN_STATE[w]], "planned_stop", reasons=False
    )
    assert _states(store) == want_states
    assert _counts(store) == {k: (g, 0) for k, (g, _s) in want_counts.items()}


def test_a_downtime_log_runs_between_its_stops(exports):
    store, mapping, _ = _import(exports / "downtime_log.csv")
    assert mapping["state"] == "unplanned_down" and mapping["state_after"] == "running"
    stops = [i for i in INTERVALS if i.state in ("비가동", "고장")]
    want = {}
    for i in stops:
        want[(EN_MACHINE[i.machine], utc(i.start))] = ("unplanned_down", i.reason)
        want[(EN_MACHINE[i.machine], utc(i.end))] = ("running", None)
    assert _states(store) == want


def test_a_state_event_log_with_a_line_column(exports):
    store, mapping, _ = _import(exports / "state_events.csv")
    assert mapping["shape"] == "events"
    want = {(m, utc(t)): (EVENT_STATE[s], r or None) for t, m, s, r in EVENTS}
    assert _states(store) == want
    _check_paths(store, line="프레스-2라인")


def test_a_count_log(exports):
    store, mapping, _ = _import(exports / "count_log.csv")
    assert _counts(store) == {(m, utc(t)): (g, s) for t, m, g, s in COUNTS}
    assert {m.display_name for m in store.machines()} == {"WLD-01", "WLD-02"}


def test_a_counter_of_running_totals(exports):
    store, mapping, _ = _import(exports / "counter_totals.csv")
    assert mapping["columns"]["누적수량"]["counter"] == "total"
    want = {}
    seen: set[str] = set()
    for t, m, g, s in COUNTS:
        if m in seen:  # the first reading of a counter is its starting point
            want[(m, utc(t))] = g + s
        seen.add(m)
    assert {k: g for k, (g, _s) in _counts(store).items()} == want


def test_a_wide_signal_table(exports):
    store, mapping, _ = _import(exports / "signals_wide.csv")
    assert mapping["shape"] == "wide"
    got = {(r["name"], r["ts"]): (r["value"], r["unit"]) for r in store.read("signal").to_pylist()}
    assert len(got) == 3 * len(SIGNALS)
    for t, temp, bar, load in SIGNALS:
        assert got[("temperature", utc(t))] == (pytest.approx(temp), "°C")
        assert got[("pressure", utc(t))] == (pytest.approx(bar), "bar")
        assert got[("spindle-load", utc(t))] == (pytest.approx(load), None)


def test_a_long_signal_log(exports):
    store, mapping, _ = _import(exports / "signals_long.csv")
    got = {(r["name"], r["ts"]): (r["value"], r["unit"]) for r in store.read("signal").to_pylist()}
    want = {}
    for t, temp, bar, _load in SIGNALS[:6]:
        want[("온도", utc(t))] = (pytest.approx(temp), "℃")
        want[("압력", utc(t))] = (pytest.approx(bar), "bar")
    assert got == want
    assert [m.display_name for m in store.machines()] == ["사출기 1"]


# -- what the proposal says ----------------------------------------------------------------------
def _log_files() -> list[str]:
    return sorted(p.name for p in EXPORTS.iterdir() if not p.name.startswith("products"))


@pytest.mark.parametrize("name", _log_files())
def test_the_toml_is_the_mapping_with_notes_as_comments(exports, name):
    p = guess_mapping(exports / name)
    assert tomllib.loads(p.toml) == p.mapping
    out = exports / f"{name}.mapping.toml"
    out.write_text(p.toml, encoding="utf-8")
    fm, _ = load_mapping(out)
    assert fm == parse_mapping(p.mapping)
    assert p.toml.startswith("# ")
    for note in p.notes:  # Korean and English
        assert (
            " / " in note
            and any(ord(c) in HANGUL for c in note)
            and any(c.isascii() and c.isalpha() for c in note)
        )
    assert {c.role for c in p.columns} <= set(ROLES)
    assert [c.name for c in p.columns] == [h for h in p.table.header if h]


def test_ambiguity_is_said_in_the_notes_and_the_toml(exports):
    p = guess_mapping(exports / "kr_intervals_cp949.csv")
    # 비가동 only says "not running": taken as unplanned, said so, with the kpi.toml lines for the
    # reasons that look planned
    plain = next(n for n in p.notes if "비가동" in n and "unplanned_down" in n)
    assert plain.split(" / ")[0] in p.toml
    assert p.mapping["columns"]["구분"]["state_codes"]["비가동"] == "unplanned_down"
    assert any('"unplanned_down:' in n for n in p.notes) or "점심" not in p.toml
    # the time after the last row
    assert p.mapping["state_after"] == "planned_stop"
    lines = p.toml.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("state_after ="))
    assert lines[at - 1].startswith("# ") and "planned_stop" in lines[at - 1]
    # the date and time columns put together
    assert p.mapping["date"] == "일자"
    assert any("'일자'" in n for n in p.notes)


def test_duration_units_come_from_the_name_or_the_gaps(exports, tmp_path):
    p = guess_mapping(exports / "kr_duration_semicolon.csv")
    assert p.mapping["duration"] == "소요시간(분)" and p.mapping["duration_unit"] == "min"
    assert p.mapping["header_row"] == 3 and p.mapping["delimiter"] == ";"
    # no unit in the name: told apart by the gaps between starts (seconds here)
    rows = ["Start,Machine,Length,State"]
    for i in INTERVALS:
        if i.machine == "1호기":
            secs = int((i.end - i.start).total_seconds())
            rows.append(f"{i.start:%Y-%m-%d %H:%M},M1,{secs},{EN_STATE[i.state]}")
    f = tmp_path / "secs.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    p = guess_mapping(f)
    assert p.mapping["duration"] == "Length" and p.mapping["duration_unit"] == "s"
    assert any("Length" in n and " s " in n for n in p.notes)


def test_excel_sheets_and_title_rows(exports):
    p = guess_mapping(exports / "excel_serial_title.xlsx")
    assert p.mapping["sheet"] == "가동기록" and p.mapping["header_row"] == 3
    assert p.mapping["time_format"] == "excel"
    assert any("설명" in n for n in p.notes)  # the other sheet is named
    assert any("2026" in n and "11" in n for n in p.notes)  # the title row that was skipped


def test_machines_already_in_the_store_keep_their_paths(exports):
    store = DuckDBStore()
    from factory_commons.model.hierarchy import Machine

    store.register_machines([Machine(path="acme/changwon/cnc/line-3/cnc-01", display_name="1호기")])
    p = guess_mapping(exports / "kr_intervals_cp949.csv", store=store)
    assert p.mapping["machines"]["1호기"] == "acme/changwon/cnc/line-3/cnc-01"
    assert p.mapping["machines"]["2호기"] == "acme/changwon/area-1/line-1/2호기"  # the store's prefix
    p = guess_mapping(exports / "kr_intervals_cp949.csv", prefix="busan-metal/plant-2")
    assert p.mapping["machines"]["2호기"] == "busan-metal/plant-2/area-1/line-1/2호기"
    with pytest.raises(ValueError, match="enterprise/site"):
        guess_mapping(exports / "kr_intervals_cp949.csv", prefix="only-one-level")


def test_master_files_are_recognised(exports, tmp_path):
    p = guess_mapping(exports / "products_cp949.csv")
    assert p.kind == "products" and p.mapping == {}
    assert any("products import" in n for n in p.notes)
    m = tmp_path / "machines.csv"
    m.write_text(
        "설비코드,설비명,라인,공정\nCNC-01,1호기,가공1라인,가공\nCNC-02,2호기,가공1라인,가공\n",
        encoding="utf-8",
    )
    p = guess_mapping(m)
    assert p.kind == "machines" and any("machines import" in n for n in p.notes)


# -- corrections -------------------------------------------------------------------------------
def test_with_roles_applies_a_correction_and_guesses_around_it(exports):
    p = guess_mapping(exports / "kr_intervals_cp949.csv")
    assert "사유" in p.mapping["columns"]
    q = with_roles(p, {"사유": "ignore"})
    assert "사유" not in q.mapping["columns"] and q.roles == {"사유": "ignore"}
    assert next(c for c in q.columns if c.name == "사유").role == "ignore"
    # a second correction keeps the first
    r = with_roles(q, {"불량": "ignore"})
    assert "사유" not in r.mapping["columns"] and "불량" not in r.mapping["columns"]
    assert tomllib.loads(r.toml) == r.mapping
    # the time column taken as the end: intervals without it become events of their starts
    s = with_roles(p, {"종료": "ignore"})
    assert s.mapping["shape"] == "events" and s.mapping["time"] == "시작"
    with pytest.raises(ValueError, match="'없는열'"):
        with_roles(p, {"없는열": "good"})
    with pytest.raises(ValueError, match="'speed'"):
        with_roles(p, {"양품": "speed"})


# -- preview -----------------------------------------------------------------------------------
def test_preview_gives_the_first_records_and_their_kpis(exports):
    path = exports / "kr_intervals_cp949.csv"
    p = guess_mapping(path)
    pv = preview(path, p.mapping, rows=7)  # the first machine's shift
    assert pv.rows == 7 and not pv.rejections
    assert [r["state"] for r in pv.records["state"]][:3] == ["running", "unplanned_down", "running"]
    assert len(pv.records["count"]) == 4
    (k,) = pv.kpis
    assert k["name"] == "1호기"
    # 420 min running of 480 min planned busy (60 min down, the lunch is a planned stop)
    assert k["availability"] == pytest.approx(420 / 480)
    assert k["produced_quantity"] == 810
    assert not list(path.parent.glob("*.rejects.csv")) and not list(path.parent.glob("*.import-state.json"))


def test_preview_of_an_excel_file(exports):
    path = exports / "excel_serial_title.xlsx"
    p = guess_mapping(path)
    pv = preview(path, p.mapping, rows=3)
    assert pv.rows == 3 and len(pv.records["state"]) >= 3


# -- errors ------------------------------------------------------------------------------------
def test_files_that_cannot_be_guessed_say_why(tmp_path):
    with pytest.raises(FileReadError, match="no such file"):
        guess_mapping(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(FileReadError, match="empty.csv.*데이터가 없습니다 / the file holds no data"):
        guess_mapping(empty)
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("1,2,3\n4,5,6\n", encoding="utf-8")
    with pytest.raises(FileReadError, match="numbers.csv.*no header row"):
        guess_mapping(numbers)
    header_only = tmp_path / "header.csv"
    header_only.write_text("시각,설비,상태\n", encoding="utf-8")
    with pytest.raises(FileReadError, match="header.csv.*no data rows below the header on line 1"):
        guess_mapping(header_only)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(FileReadError, match=r"old.xls.*\.xlsx"):
        guess_mapping(old)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(FileReadError, match="broken.xlsx.*Excel"):
        guess_mapping(broken)
    notes = tmp_path / "notes.csv"
    notes.write_text("이름,메모\n홍길동,안녕\n", encoding="utf-8")
    p = guess_mapping(notes)
    assert p.kind == "unknown" and p.mapping == {} and any("no time" in n for n in p.notes)


def test_a_sheet_that_does_not_exist(exports):
    with pytest.raises(FileReadError, match="'없음'.*가동기록"):
        guess_mapping(exports / "excel_serial_title.xlsx", sheet="없음")


# -- the command line --------------------------------------------------------------------------
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_import_without_a_yes_and_without_a_terminal_imports_nothing(exports, tmp_path):
    f = exports / "state_events.csv"
    store = tmp_path / "s.duckdb"
    r = _run("import", str(f), "--store", str(store))
    assert r.exit_code == 0, r.output
    mapping = f.with_name(f.name + ".mapping.toml")
    assert mapping.exists() and tomllib.loads(mapping.read_text(encoding="utf-8"))["shape"] == "events"
    assert "--mapping" in r.output and "--yes" in r.output
    assert not store.exists()  # nothing written
    # the preview was shown
    assert "프레스 1호기" in r.output and "running" in r.output


def test_import_guess_only_writes_the_mapping(exports, tmp_path):
    f = exports / "count_log.csv"
    out = tmp_path / "my.toml"
    r = _run("import", str(f), "--guess", "--mapping-out", str(out), "--store", str(tmp_path / "s.duckdb"))
    assert r.exit_code == 0, r.output
    assert tomllib.loads(out.read_text(encoding="utf-8"))["machine_column"] == "machine_id"
    assert not (tmp_path / "s.duckdb").exists()


def test_an_edited_mapping_beside_the_file_is_used(exports, tmp_path):
    f = exports / "count_log.csv"
    store = tmp_path / "s.duckdb"
    assert _run("import", str(f), "--guess", "--store", str(store)).exit_code == 0
    mapping = f.with_name(f.name + ".mapping.toml")
    edited = mapping.read_text(encoding="utf-8").replace("/wld-01", "/welder-1")
    mapping.write_text(edited, encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text('shape = "events"\n', encoding="utf-8")
    r = _run("import", str(f), "--store", str(store), "--mapping-out", str(broken), "--yes")
    assert r.exit_code == 2 and "broken.toml" in r.output and "'columns'" in r.output
    r = _run("import", str(f), "--store", str(store))  # shown and asked: no terminal, no import
    assert r.exit_code == 0 and "welder-1" in r.output and not store.exists(), r.output
    r = _run("import", str(f), "--store", str(store), "--yes")
    assert r.exit_code == 0, r.output
    with DuckDBStore(store) as st:
        assert {m.path.rsplit("/", 1)[1] for m in st.machines()} == {"welder-1", "wld-02"}


def test_import_of_a_master_file_points_to_its_command(exports, tmp_path):
    r = _run("import", str(exports / "products_cp949.csv"), "--store", str(tmp_path / "s.duckdb"), "--yes")
    assert r.exit_code == 2
    assert "products import" in r.output


def test_import_of_an_unreadable_file_exits_2(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("1,2\n3,4\n", encoding="utf-8")
    r = _run("import", str(f), "--store", str(tmp_path / "s.duckdb"), "--yes")
    assert r.exit_code == 2 and "no header row" in r.output


def test_the_issue_cp949_log_and_product_master_end_to_end(exports, tmp_path):
    """`import FILE --store S --yes`, `products import`, `kpi --by machine --format json`: the OEE
    computed here by hand from the file's numbers."""
    store = str(tmp_path / "factory.duckdb")
    r = _run("import", str(exports / "kr_intervals_cp949.csv"), "--store", store, "--yes")
    assert r.exit_code == 0, r.output
    r = _run("products", "import", str(exports / "products_cp949.csv"), "--store", store)
    assert r.exit_code == 0, r.output
    r = _run("kpi", "--store", store, "--by", "machine", "--format", "json")
    assert r.exit_code == 0, r.output
    got = {row["machine"].rsplit("/", 1)[1]: row for row in json.loads(r.stdout[r.stdout.index("[") :])}
    for machine in ("1호기", "2호기"):
        rows = [i for i in INTERVALS if i.machine == machine]
        minutes = defaultdict(float)
        for i in rows:
            minutes[STATE_OF[i.state]] += (i.end - i.start).total_seconds()
        apt = minutes["running"]
        pbt = apt + minutes["unplanned_down"] + minutes["setup"] + minutes["idle"]
        produced = sum((i.good or 0) + (i.scrap or 0) for i in rows)
        good = sum(i.good or 0 for i in rows)
        ideal = sum(((i.good or 0) + (i.scrap or 0)) * PRODUCTS[i.product] for i in rows)
        a, e, q = apt / pbt, ideal / apt, good / produced
        k = got[machine]
        assert k["availability"] == pytest.approx(a, abs=1e-9)
        assert k["effectiveness"] == pytest.approx(e, abs=1e-9)
        assert k["quality_ratio"] == pytest.approx(q, abs=1e-9)
        assert k["oee"] == pytest.approx(a * e * q, abs=1e-9)


def test_rows_after_midnight_with_the_shift_date_are_noted(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["작업일", "설비", "시작", "종료", "구분", "양품"])
    day = datetime(2026, 11, 23)
    ws.append([day, "3호기", time(22, 0), time(2, 0), "가동", 400])
    ws.append([day, "3호기", time(2, 0), time(3, 0), "고장", None])  # the shift's date, not the calendar's
    path = tmp_path / "night.xlsx"
    wb.save(path)
    p = guess_mapping(path)
    note = next(n for n in p.notes if "6" in n and "'작업일'" in n)
    assert "calendar date" in note and note.split(" / ")[0] in p.toml
    # written with calendar dates, no such note (the committed night shift file)
    q = guess_mapping(EXPORTS / "excel_night_shift.xlsx")
    assert not [n for n in q.notes if "go back in time" in n]


def test_a_running_flag_column(tmp_path):
    f = tmp_path / "flags.csv"
    f.write_text(
        "시각,설비,가동여부\n2026-11-23 08:00,A1,1\n2026-11-23 09:00,A1,0\n2026-11-23 09:30,A1,1\n",
        encoding="utf-8",
    )
    store, mapping, _ = _import(f)
    assert mapping["columns"]["가동여부"]["state_codes"] == {"1": "running", "0": "unplanned_down"}
    assert [s for (_m, _t), (s, _r) in sorted(_states(store).items(), key=lambda kv: kv[0][1])] == [
        "running",
        "unplanned_down",
        "running",
    ]


# -- files not seen before: never a crash, always a mapping the importer takes or a note why not
WORDS = [
    "일자",
    "시작",
    "종료",
    "설비",
    "상태",
    "사유",
    "양품",
    "불량",
    "time",
    "machine",
    "qty",
    "메모",
    "값",
    "x",
]
CELLS = [
    "2026-11-23 08:00",
    "08:30",
    "2026.11.23",
    "가동",
    "비가동",
    "12",
    "0",
    "",
    "CNC-01",
    "1:30",
    "46349.5",
    "a;b",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6, unique=True),
    rows=st.lists(st.lists(st.sampled_from(CELLS), min_size=6, max_size=6), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp949"]),
)
def test_any_file_gives_a_proposal_or_a_clear_error(tmp_path, header, rows, delimiter, encoding):
    f = tmp_path / "any.csv"
    lines = [delimiter.join(header)] + [delimiter.join(r[: len(header)]) for r in rows]
    f.write_bytes("\n".join(lines).encode(encoding))
    try:
        p = guess_mapping(f)
    except FileReadError as e:
        assert "any.csv" in str(e) and " / " in str(e)
        return
    if p.mapping:
        assert tomllib.loads(p.toml) == p.mapping
        try:
            fm = parse_mapping(p.mapping)
        except ValueError:
            assert any("not complete" in n for n in p.notes)
            return
        summary = import_file(f, fm, DuckDBStore(), resume=False)
        assert summary.rows_read == sum(1 for r in rows if any(c for c in r[: len(header)]))
    else:
        assert p.kind in ("unknown", "products", "machines") and p.notes


def test_the_newcomer_doc_shows_the_figures_the_sample_gives(exports, tmp_path):
    """docs/own-data.md's OEE table is what the sample log and product master give, and the
    README's "Use it on your own data" points to it."""
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "own-data.md").read_text(encoding="utf-8")
    store = str(tmp_path / "factory.duckdb")
    assert _run("import", str(exports / "kr_intervals_cp949.csv"), "--store", store, "--yes").exit_code == 0
    assert _run("products", "import", str(exports / "products_cp949.csv"), "--store", store).exit_code == 0
    r = _run("kpi", "--store", store, "--by", "machine", "--format", "json")
    rows = json.loads(r.stdout[r.stdout.index("[") :])
    for row in rows:
        name = row["machine"].rsplit("/", 1)[1]
        line = next(ln for ln in doc.splitlines() if ln.startswith(f"│ {name} "))
        cells = [c.strip() for c in line.strip("│").split("│")]
        shown = [f"{row[k]:.1%}" for k in ("oee", "availability", "effectiveness", "quality_ratio")]
        assert cells[1:5] == shown and cells[5] == str(row["produced_quantity"]), line
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it on your own data", 1)[1].split("\n## ", 1)[0]
    assert "docs/own-data.md" in section and "factory-commons import my-log.csv" in section


def test_korean_dates_am_pm_times_and_the_machine_from_the_title(exports):
    store, mapping, _ = _import(exports / "kr_ampm_dates.csv")
    assert mapping["date"] == "작업일" and mapping["header_row"] == 2 and mapping["encoding"] == "cp949"
    assert mapping["machine"] == f"{DEFAULT_PREFIX}/area-1/line-1/1호기"
    rows = [i for i in INTERVALS if i.machine == "1호기"]
    want_states, want_counts = _expected_intervals(
        rows, lambda m: mapping["machine"], STATE_OF.get, "planned_stop", reasons=False
    )
    assert _states(store) == want_states
    assert _counts(store) == {k: (g, 0) for k, (g, _s) in want_counts.items()}


def test_numeric_state_codes_are_not_guessed(tmp_path):
    f = tmp_path / "codes.csv"
    f.write_text(
        "시각,설비,상태,온도\n2026-11-23 08:00,A1,1,40.5\n2026-11-23 08:05,A1,2,41.5\n", encoding="utf-8"
    )
    p = guess_mapping(f)
    assert p.mapping["columns"]["상태"] == {"kind": "signal", "name": "상태"}
    note = next(n for n in p.notes if "'상태'" in n and "state_codes" in n)
    assert "1, 2" in note


def test_utc_names_unix_times_and_time_ranges(tmp_path):
    utc_file = tmp_path / "utc.csv"
    utc_file.write_text("Timestamp (UTC),machine,state\n2026-11-23 00:00:00,M1,running\n", encoding="utf-8")
    store, mapping, _ = _import(utc_file)
    assert mapping["timezone"] == "UTC"
    assert list(_states(store)) == [("M1", datetime(2026, 11, 23, 0, 0))]
    unix = tmp_path / "unix.csv"
    unix.write_text("ts,machine,good\n1763856000,M1,5\n1763859600,M1,7\n", encoding="utf-8")
    store, mapping, _ = _import(unix)
    assert _counts(store) == {
        ("M1", datetime(2025, 11, 23, 0, 0)): (5, 0),
        ("M1", datetime(2025, 11, 23, 1, 0)): (7, 0),
    }
    ranges = tmp_path / "range.csv"
    ranges.write_text("일자,설비,작업시간,구분\n2026-11-23,A1,08:00~10:00,가동\n", encoding="utf-8")
    p = guess_mapping(ranges)
    assert next(c for c in p.columns if c.name == "작업시간").role == "ignore"
    assert any("'작업시간'" in n and "08:00~10:00" in n and "split" in n for n in p.notes)


def test_day_first_dates_in_a_date_column_are_read_and_the_ambiguity_said(tmp_path):
    f = tmp_path / "dm.csv"
    f.write_text("Date,Machine,Start,End,State\n05/11/2026,M1,08:00,10:00,Running\n", encoding="utf-8")
    store, mapping, _ = _import(f)
    assert mapping["date_format"] == "%d/%m/%Y"
    assert any(
        "date_format" in n and "%d/%m/%Y" in n for n in guess_mapping(f).notes
    )  # 05/11 reads both ways
    assert ("M1", utc(datetime(2026, 11, 5, 8, 0))) in _states(store)


# -- files written by someone else: the repository's examples, with their hand-written mappings
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("data", "mapping"),
    [
        ("state_log_cp949.csv", "state_log.toml"),
        ("shift_intervals.csv", "intervals.toml"),
        ("signals_wide.csv", "signals_wide.toml"),
        ("count_log.xlsx", "count_log_excel.toml"),
    ],
)
def test_the_guess_gives_the_records_of_the_hand_written_example_mappings(tmp_path, data, mapping):
    path = tmp_path / data
    shutil.copy(EXAMPLES / "data" / data, path)
    hand = DuckDBStore()
    assert import_file(path, EXAMPLES / "mappings" / mapping, hand, resume=False).rows_rejected == 0
    guessed, fm, _ = _import(path)

    def by_name(store, kind, fields):
        names = {m.path: m.display_name or "the machine" for m in store.machines()}
        return sorted(
            (names[r["machine"]], r["ts"], *(r[f] for f in fields)) for r in store.read(kind).to_pylist()
        )

    want = by_name(hand, "state", ("state", "reason_code", "order_id"))
    got = by_name(guessed, "state", ("state", "reason_code", "order_id"))
    if fm.get("state_after"):  # the example counts the time after an interval as idle; the guess,
        # outside planned time (said in its notes): the same records otherwise
        assert fm["state_after"] == "planned_stop"
        want = [(m, t, "planned_stop" if s == "idle" and r is None else s, r, o) for m, t, s, r, o in want]
        got = [(m, t, s, r, None) for m, t, s, r, _o in got]
        want = [(m, t, s, r, None) for m, t, s, r, _o in want]
    assert got == want
    assert by_name(guessed, "count", ("good", "scrap")) == by_name(hand, "count", ("good", "scrap"))
    values = [(r["ts"], round(r["value"], 6)) for r in hand.read("signal").to_pylist()]
    assert sorted((r["ts"], round(r["value"], 6)) for r in guessed.read("signal").to_pylist()) == sorted(
        values
    )


def test_bare_machine_numbers_get_readable_paths(tmp_path):
    f = tmp_path / "hogi.csv"
    f.write_text("시각,호기,상태\n2026-11-23 08:00,1,가동\n2026-11-23 09:00,2,고장\n", encoding="utf-8")
    store, mapping, _ = _import(f)
    assert mapping["machines"] == {
        "1": f"{DEFAULT_PREFIX}/area-1/line-1/1호기",
        "2": f"{DEFAULT_PREFIX}/area-1/line-1/2호기",
    }
    g = tmp_path / "num.csv"
    g.write_text("time,machine,state\n2026-11-23 08:00,7,running\n", encoding="utf-8")
    assert guess_mapping(g).mapping["machines"] == {"7": f"{DEFAULT_PREFIX}/area-1/line-1/machine-7"}


def test_start_and_end_words_of_a_state_event_log(tmp_path):
    f = tmp_path / "startstop.csv"
    f.write_text(
        "일시,설비,구분\n2026-11-23 08:00,A1,가동시작\n2026-11-23 10:00,A1,정지시작\n"
        "2026-11-23 10:30,A1,정지종료\n2026-11-23 17:00,A1,가동종료\n",
        encoding="utf-8",
    )
    store, mapping, _ = _import(f)
    assert mapping["columns"]["구분"]["state_codes"] == {
        "가동시작": "running",
        "정지시작": "unplanned_down",
        "정지종료": "running",
        "가동종료": "planned_stop",
    }
    assert any("가동종료" in n and "planned" in n for n in guess_mapping(f).notes)
    states = [s for (_m, _t), (s, _r) in sorted(_states(store).items(), key=lambda kv: kv[0][1])]
    assert states == ["running", "unplanned_down", "running", "planned_stop"]


def test_machines_and_state_words_after_the_sampled_rows_are_mapped(tmp_path):
    f = tmp_path / "long.csv"
    lines = ["시각,설비,상태"]
    for i in range(2500):
        late = i >= 2400  # beyond the rows the guess samples
        t = datetime(2026, 11, 23) + (datetime(2026, 11, 23, 0, 1) - datetime(2026, 11, 23)) * i
        lines.append(f"{t:%Y-%m-%d %H:%M},{'M9' if late else 'M1'},{'셋업' if late else '가동'}")
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store, mapping, summary = _import(f)
    assert set(mapping["machines"]) == {"M1", "M9"}
    assert mapping["columns"]["상태"]["state_codes"] == {"가동": "running", "셋업": "setup"}
    assert summary.rows_read == 2500


def test_import_refuses_a_bad_prefix_and_a_missing_sheet(exports, tmp_path):
    f = exports / "excel_serial_title.xlsx"
    store = str(tmp_path / "s.duckdb")
    r = _run("import", str(f), "--store", store, "--prefix", "bad", "--yes")
    assert r.exit_code == 2 and "'bad'" in r.output and "enterprise/site" in r.output
    r = _run("import", str(f), "--store", store, "--sheet", "없음", "--yes")
    assert r.exit_code == 2 and "'없음'" in r.output and "가동기록" in r.output
    assert not f.with_name(f.name + ".mapping.toml").exists()
    r = _run("import", str(f), "--store", store, "--sheet", "가동기록", "--prefix", "busan/plant-2", "--yes")
    assert r.exit_code == 0, r.output
    with DuckDBStore(store) as st:
        assert all(m.path.startswith("busan/plant-2/") for m in st.machines())


def test_gaps_between_intervals_are_said(tmp_path):
    f = tmp_path / "gaps.csv"
    f.write_text(
        "시작,종료,구분,양품\n2026-11-23 08:00,2026-11-23 10:00,가동,10\n"
        "2026-11-23 10:30,2026-11-23 12:00,가동,10\n2026-11-23 13:00,2026-11-23 17:00,가동,5\n",
        encoding="utf-8",
    )
    p = guess_mapping(f)
    note = next(n for n in p.notes if "2 gaps, 90 min" in n)
    lines = p.toml.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("state_after ="))
    assert any(note.split(" / ")[0] in ln for ln in lines[at - 3 : at])
    # contiguous rows: no such note
    assert not [n for n in guess_mapping(EXPORTS / "kr_intervals_cp949.csv").notes if "gaps," in n]


def test_one_sheet_per_machine_each_imported_with_its_own_mapping(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for machine in ("1호기", "2호기"):
        ws = wb.create_sheet(machine)
        ws.append(["시작", "종료", "구분", "양품"])
        for i in INTERVALS:
            if i.machine == machine:
                ws.append([i.start, i.end, i.state, i.good])
    path = tmp_path / "by_machine.xlsx"
    wb.save(path)
    p = guess_mapping(path)
    assert any("--sheet" in n for n in p.notes)
    store = str(tmp_path / "s.duckdb")
    plain = openpyxl.Workbook()
    plain.active.title = "Sheet1"
    plain.active.append(["시작", "종료", "구분"])
    plain.active.append([INTERVALS[0].start, INTERVALS[0].end, INTERVALS[0].state])
    plain.save(tmp_path / "plain.xlsx")
    assert guess_mapping(tmp_path / "plain.xlsx").mapping["machine"].endswith("/plain")  # not "Sheet1"
    for machine in ("1호기", "2호기"):
        r = _run("import", str(path), "--sheet", machine, "--store", store, "--yes")
        assert r.exit_code == 0, r.output
        assert path.with_name(f"{path.name}.{machine}.mapping.toml").exists()
    with DuckDBStore(store) as st:
        got = {(r["machine"].rsplit("/", 1)[1], r["ts"]): r["state"] for r in st.read("state").to_pylist()}
    for i in INTERVALS:
        assert got[(i.machine, utc(i.start))] == STATE_OF[i.state]
