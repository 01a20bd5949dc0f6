"""Master data from files: products, machines and shift calendars read from CSV (UTF-8, BOM,
CP949), Excel and TOML with Korean and English headers, refused whole with line, column and
why, and the commands `products`, `machines`, `calendars` and `plant` on both store backends."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.collect.master_files import (
    MasterFileError,
    read_calendars,
    read_machines,
    read_products,
)
from factory_commons.model import Machine, Product

runner = CliRunner()


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _store_arg(store) -> str:
    """The --store value that opens `store` (a DuckDB file path or a PostgreSQL URL)."""
    if getattr(store, "dialect", "") == "postgresql":
        return f"{store.url}?schema={store.schema}"
    return store.path


@pytest.fixture
def store_file(store_factory, backend, tmp_path):
    """A store of the test's backend, closed, given as a --store value for the command line."""
    if backend == "duckdb":
        from factory_commons.store import DuckDBStore

        DuckDBStore(tmp_path / "s.duckdb").close()
        return str(tmp_path / "s.duckdb")
    st = store_factory()
    return _store_arg(st)


def _out(result) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _open(arg: str):
    from factory_commons.store import open_store

    return open_store(arg)


# -- products -------------------------------------------------------------------------------------
def test_korean_cp949_products_with_seconds_in_the_header(tmp_path):
    f = _write(
        tmp_path / "품목.csv",
        "품번,품명,사이클타임(초),단위\nP-100,브래킷,12.5,EA\nP-200,샤프트,30,EA\n",
        "cp949",
    )
    got = read_products(f)
    assert got == [
        Product(product="P-100", ideal_cycle_time_s=12.5, display_name="브래킷", unit="EA"),
        Product(product="P-200", ideal_cycle_time_s=30, display_name="샤프트", unit="EA"),
    ]


def test_euc_kr_tab_separated(tmp_path):
    f = _write(tmp_path / "p.tsv", "제품코드\t제품명\t표준시간(초)\nK-1\t너트\t4\n", "euc-kr")
    assert read_products(f) == [Product(product="K-1", ideal_cycle_time_s=4, display_name="너트")]


def test_english_bom_rates_per_hour_and_per_minute(tmp_path):
    f = _write(tmp_path / "p.csv", "\ufeffPart No;Description;UPH\nA-1;Bracket;120\nA-2;Shaft;1,200\n")
    assert [(p.product, p.ideal_cycle_time_s, p.display_name) for p in read_products(f)] == [
        ("A-1", 30.0, "Bracket"),
        ("A-2", 3.0, "Shaft"),
    ]
    f2 = _write(tmp_path / "m.csv", "item,parts per minute\nB-1,4\n")
    assert read_products(f2)[0].ideal_cycle_time_s == 15.0


@pytest.mark.parametrize(
    ("header", "cells", "seconds"),
    [
        ("품번,표준 C/T (min)", ["P,1.5"], 90.0),
        ("product,cycle_time_s", ["P,7"], 7.0),
        ("품번,CT,단위", ["P,2,분"], 120.0),
        ("품번,CT,단위", ["P,0.5,h"], 1800.0),
        ("품번,사이클타임", ["P,45초"], 45.0),
        ("품번,시간당 생산량,단위", ["P,60,개/분"], 1.0),
        ("product,ideal cycle time", ["P,12"], 12.0),  # no unit anywhere: seconds
        ("품번,시간당 생산량(개)", ["P,120"], 30.0),  # the header's unit is the counting unit
    ],
)
def test_cycle_time_units(tmp_path, header, cells, seconds):
    f = _write(tmp_path / "p.csv", header + "\n" + "\n".join(cells) + "\n")
    assert read_products(f)[0].ideal_cycle_time_s == pytest.approx(seconds)


def test_a_counting_unit_column_is_the_products_unit(tmp_path):
    f = _write(tmp_path / "p.csv", "품번,CT(s),단위\nP,3,EA\n")
    assert read_products(f)[0].unit == "EA"
    f = _write(tmp_path / "q.csv", "품번,CT,단위\nP,3,EA\nQ,4,kg\n")  # no time unit in it: counting unit
    assert [p.unit for p in read_products(f)] == ["EA", "kg"]


def test_products_from_excel_with_a_title_row(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "제품마스터"
    ws.append(["제품 마스터 2026"])
    ws.append([])
    ws.append(["제품코드", "제품명", "사이클타임(분)"])
    ws.append([1001, "커버", 0.5])
    ws.append(["P-2", "바디", 2])
    wb.save(tmp_path / "p.xlsx")
    got = read_products(tmp_path / "p.xlsx")
    assert [(p.product, p.ideal_cycle_time_s, p.display_name) for p in got] == [
        ("1001", 30.0, "커버"),
        ("P-2", 120.0, "바디"),
    ]


def _refused(path: Path, reader=read_products, **kw) -> MasterFileError:
    with pytest.raises(MasterFileError) as e:
        reader(path, **kw)
    text = str(e.value)
    assert str(path) in text
    assert "nothing was stored" in text and "아무것도 저장하지 않았습니다" in text
    return e.value


def test_unknown_unit_is_refused_naming_line_and_column(tmp_path):
    f = _write(tmp_path / "p.csv", "품번,CT,단위\nP-1,3,s\nP-2,4,furlongs\n")
    e = _refused(f)
    assert [(p.line, p.column) for p in e.problems] == [(3, "CT, 단위")]
    assert "unknown unit 'furlongs'" in str(e) and "모르는 단위" in str(e)


def test_negative_and_zero_cycle_times_are_refused(tmp_path):
    f = _write(tmp_path / "p.csv", "product,cycle time (s)\nA,-3\nB,0\nC,x\nD,5\n")
    e = _refused(f)
    assert [p.line for p in e.problems] == [2, 3, 4]
    assert "must be greater than 0: '-3'" in str(e)
    assert "0보다 큰 값" in str(e)
    assert "not a number: 'x'" in str(e)


def test_duplicate_product_with_two_cycle_times_is_refused(tmp_path):
    f = _write(tmp_path / "p.csv", "품번,CT(초)\nP-1,10\nP-1,10\nP-1,12\n")
    e = _refused(f)
    assert [p.line for p in e.problems] == [4]
    assert "10 s on line 2, 12 s here" in str(e)
    # the same product twice with the same cycle time is fine
    assert len(read_products(_write(tmp_path / "q.csv", "품번,CT(초)\nP-1,10\nP-1,10\n"))) == 1


def test_missing_column_lists_what_was_found(tmp_path):
    f = _write(tmp_path / "p.csv", "품번,품명,수량\nP-1,브래킷,100\n")
    e = _refused(f)
    assert "Columns found: 품번, 품명, 수량" in str(e)
    assert "Names accepted" in str(e) and "사이클타임" in str(e) and "uph" in str(e)


def test_product_without_any_cycle_time_is_refused(tmp_path):
    f = _write(tmp_path / "p.csv", "품번,CT(초),UPH\nP-1,,\nP-2,,60\n")
    e = _refused(f)
    assert [p.line for p in e.problems] == [2]
    assert "neither a cycle time nor a rate" in str(e)


def test_unreadable_files_are_refused(tmp_path):
    _refused(tmp_path / "none.csv")
    _refused(_write(tmp_path / "old.xls", "x"))
    _refused(_write(tmp_path / "broken.xlsx", "not a zip"))
    _refused(_write(tmp_path / "empty.csv", ""))
    _refused(_write(tmp_path / "header_only.csv", "품번,CT(초)\n"))


# -- products on the command line, both backends ----------------------------------------------------
def test_products_import_and_list(tmp_path, store_file):
    f = _write(
        tmp_path / "품목.csv", "품번,품명,사이클타임(분)\nP-100,브래킷,0.25\nP-200,샤프트,1\n", "cp949"
    )
    r = runner.invoke(app, ["products", "import", str(f), "--store", store_file])
    assert r.exit_code == 0, r.output
    assert "read 2 products" in _out(r) and "제품 2개" in _out(r)
    assert "15" in _out(r) and "60" in _out(r)  # shown in seconds
    with _open(store_file) as st:
        assert [(p.product, p.ideal_cycle_time_s) for p in st.products()] == [
            ("P-100", 15.0),
            ("P-200", 60.0),
        ]
    r = runner.invoke(app, ["products", "list", "--store", store_file, "--format", "json"])
    assert r.exit_code == 0
    assert '"ideal_cycle_time_s": 15.0' in _out(r)
    # a bad file: exit 2, the line and why, nothing stored
    bad = _write(tmp_path / "bad.csv", "품번,CT(초)\nP-100,20\nP-300,-1\n")
    r = runner.invoke(app, ["products", "import", str(bad), "--store", store_file])
    assert r.exit_code == 2
    assert "line 3" in _out(r) and "must be greater than 0" in _out(r)
    with _open(store_file) as st:
        assert [p.ideal_cycle_time_s for p in st.products()] == [15.0, 60.0]  # P-100 not changed
    assert runner.invoke(app, ["products", "list", "--store", store_file, "--format", "xml"]).exit_code == 2


# -- machines ---------------------------------------------------------------------------------------
def test_machines_get_paths_from_line_and_area(tmp_path):
    f = _write(
        tmp_path / "m.csv",
        "설비,설비명,라인,공정,종류,시간대,기준 사이클타임(초)\n"
        "CNC-01,CNC 1호기,1라인,가공,cnc,,12\n"
        "PRESS 01,프레스,2라인,프레스,press,Asia/Tokyo,\n",
        "cp949",
    )
    got = read_machines(f, prefix="acme/changwon")
    assert got == [
        Machine(
            path="acme/changwon/가공/1라인/cnc-01",
            display_name="CNC 1호기",
            kind="cnc",
            default_ideal_cycle_time_s=12,
        ),
        Machine(
            path="acme/changwon/프레스/2라인/press-01",
            display_name="프레스",
            kind="press",
            timezone="Asia/Tokyo",
        ),
    ]


def test_machines_default_prefix_known_machines_and_full_paths(tmp_path):
    f = _write(
        tmp_path / "m.csv",
        "machine,name,calendar\nCNC-01,CNC one,main\nNEW,New one,\nacme/x/a/l/m9,Given path,\n",
    )
    known = [Machine(path="acme/plant-2/machining/line-1/cnc-01"), Machine(path="acme/plant-2/p/l/other")]
    got = {m.display_name: m for m in read_machines(f, known=known)}
    assert got["CNC one"].path == "acme/plant-2/machining/line-1/cnc-01"  # kept
    assert got["CNC one"].calendar == "main"
    assert got["New one"].path == "acme/plant-2/area-1/line-1/new"  # the store's prefix
    assert got["Given path"].path == "acme/x/a/l/m9"
    assert read_machines(f)[1].path == "my-company/plant-1/area-1/line-1/new"  # nothing known


def test_machines_refused_for_unknown_time_zone_and_bad_path(tmp_path):
    f = _write(tmp_path / "m.csv", "설비,시간대\nA,Asia/Seoul\nB,Seoul\nx/y,\n")
    e = _refused(f, read_machines)
    assert [(p.line, p.column) for p in e.problems] == [(3, "시간대"), (4, "설비")]
    assert "unknown time zone 'Seoul'" in str(e) and "모르는 시간대" in str(e)
    assert "not a machine path" in str(e)
    with pytest.raises(ValueError, match="enterprise/site"):
        read_machines(f, prefix="only-one-level")


def test_machines_import_and_listing(tmp_path, store_file):
    f = _write(
        tmp_path / "m.csv",
        "설비,설비명,라인,시간대\nCNC-01,CNC 1호기,1라인,Europe/Berlin\nL-2,레이저,1라인,\n",
    )
    r = runner.invoke(app, ["machines", "import", str(f), "--store", store_file, "--prefix", "my-co/plant-9"])
    assert r.exit_code == 0, r.output
    assert "registered 2 machines" in _out(r)
    with _open(store_file) as st:
        zones = st.machine_timezones()
    assert zones == {
        "my-co/plant-9/area-1/1라인/cnc-01": "Europe/Berlin",
        "my-co/plant-9/area-1/1라인/l-2": "Asia/Seoul",
    }
    r = runner.invoke(app, ["machines", "--store", store_file])
    assert r.exit_code == 0, r.output
    assert "CNC 1호기" in _out(r) and "Europe/Berlin" in _out(r) and "Asia/Seoul" in _out(r)
    bad = _write(tmp_path / "bad.csv", "설비,시간대\nZ,Mars/Base\n")
    r = runner.invoke(app, ["machines", "import", str(bad), "--store", store_file])
    assert r.exit_code == 2 and "line 2" in _out(r)
    with _open(store_file) as st:
        assert len(st.machines()) == 2
    r = runner.invoke(app, ["machines", "import", str(f), "--store", store_file, "--prefix", "a/b/c"])
    assert r.exit_code == 2


# -- calendars --------------------------------------------------------------------------------------
def test_calendars_from_csv(tmp_path):
    f = _write(
        tmp_path / "c.csv",
        "캘린더,근무조,시작,종료,요일,휴식,시간대,휴일\n"
        "본사,주간,08:00,17:00,월-금,점심 12:00-13:00; 15:00-15:10,Asia/Seoul,2026-01-01\n"
        "본사,야간,20:00,05:00,월화수목금,,,2026-02-17;2026-02-18\n"
        "토요,주간,8:30,12:30,토,,,\n",
        "cp949",
    )
    cals = {c.name: c for c in read_calendars(f, timezone="Asia/Tokyo")}
    main = cals["본사"]
    assert main.timezone == "Asia/Seoul"
    assert [s.name for s in main.shifts] == ["주간", "야간"]
    assert main.shifts[0].breaks[0].name == "점심" and main.shifts[0].breaks[1].start == time(15)
    assert main.shifts[1].days == ("mon", "tue", "wed", "thu", "fri")
    assert main.holidays == (date(2026, 1, 1), date(2026, 2, 17), date(2026, 2, 18))
    assert cals["토요"].timezone == "Asia/Tokyo"  # the default given
    assert cals["토요"].shifts[0].start == time(8, 30) and cals["토요"].shifts[0].days == ("sat",)


def test_calendars_from_toml(tmp_path):
    f = _write(
        tmp_path / "c.toml",
        '[[calendars]]\nname = "main"\ntimezone = "Asia/Seoul"\nholidays = [2026-01-01]\n'
        '[[calendars.shifts]]\nname = "day"\nstart = "08:00"\nend = "17:00"\n'
        'days = ["mon", "tue", "wed", "thu", "fri"]\n'
        'breaks = [{ name = "lunch", start = "12:00", end = "13:00" }]\n',
    )
    (cal,) = read_calendars(f)
    assert cal.name == "main" and cal.shifts[0].breaks[0].end == time(13)
    bad = _write(tmp_path / "b.toml", '[[calendars]]\nname = "x"\ntimezone = "Nowhere/City"\n')
    e = _refused(bad, read_calendars)
    assert "unknown time zone" in str(e)


def test_calendars_refused_with_line_and_why(tmp_path):
    f = _write(
        tmp_path / "c.csv",
        "calendar,shift,start,end,days,breaks\n"
        "a,day,08:00,17:00,mon-fri,\n"
        "a,late,25:00,03:00,mon-fri,\n"
        "a,x,08:00,09:00,someday,\n"
        "a,y,10:00,11:00,sat,lunch at noon\n",
    )
    e = _refused(f, read_calendars)
    assert [(p.line, p.column) for p in e.problems] == [(3, "start"), (4, "days"), (5, "breaks")]
    overlap = _write(tmp_path / "o.csv", "shift,start,end\nday,08:00,17:00\nlate,16:00,20:00\n")
    assert "overlap" in str(_refused(overlap, read_calendars))


def test_calendars_import_and_plant_zone(tmp_path, store_file):
    f = _write(tmp_path / "c.csv", "calendar,shift,start,end\nmain,day,08:00,17:00\n")
    r = runner.invoke(app, ["plant", "--store", store_file, "--timezone", "Europe/Berlin"])
    assert r.exit_code == 0 and "Europe/Berlin" in _out(r)
    r = runner.invoke(app, ["calendars", "import", str(f), "--store", store_file])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["calendars", "--store", store_file])
    assert r.exit_code == 0 and "main" in _out(r)
    with _open(store_file) as st:
        assert st.calendars()["main"].timezone == "Europe/Berlin"  # the plant's zone
    r = runner.invoke(app, ["plant", "--store", store_file, "--timezone", "Asia/Seol"])
    assert r.exit_code == 2 and "unknown time zone" in _out(r)
    r = runner.invoke(app, ["plant", "--store", store_file])
    assert r.exit_code == 0 and "Europe/Berlin" in _out(r)
    bad = _write(tmp_path / "bad.csv", "shift,start,end\nday,8h,17:00\n")
    assert runner.invoke(app, ["calendars", "import", str(bad), "--store", store_file]).exit_code == 2


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path):
    f = _write(tmp_path / "p.csv", 'product,name,CT (s)\n\nA,"two\nlines",3\nB,x,-1\n')
    e = _refused(f)
    assert [p.line for p in e.problems] == [5]


def test_machines_and_calendars_from_excel(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["설비코드", "설비명", "라인", "캘린더", "기준 사이클타임", "단위"])
    ws.append(["M-1", "밀링 1", "A라인", "본사", 1.5, "min"])
    wb.save(tmp_path / "m.xlsx")
    (m,) = read_machines(tmp_path / "m.xlsx", prefix="acme/p1")
    assert (m.path, m.calendar, m.default_ideal_cycle_time_s) == ("acme/p1/area-1/A라인/m-1", "본사", 90.0)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "근무"
    ws.append(["근무조", "시작", "종료", "요일", "휴일"])
    ws.append(["주간", time(8, 0), time(17, 0), "평일", date(2026, 1, 1)])
    ws.append(["야간", "20:00", "04:00", "매일", None])
    wb.save(tmp_path / "c.xlsx")
    (cal,) = read_calendars(tmp_path / "c.xlsx")
    assert [(s.name, s.start, s.end, len(s.days)) for s in cal.shifts] == [
        ("주간", time(8), time(17), 5),
        ("야간", time(20), time(4), 7),
    ]
    assert cal.holidays == (date(2026, 1, 1),) and cal.name == "default"
