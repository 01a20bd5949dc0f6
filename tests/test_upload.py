"""The upload page over HTTP: who may upload, what is refused (too big, not CSV/Excel, not
text, no CSRF token, another firm's upload id) and the whole way from a file to the store.

The browser test (real Chromium) is tests/test_upload_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from factory_commons.accounts import Accounts
from factory_commons.model import Machine
from factory_commons.server import create_app
from factory_commons.server.web.upload import (
    UploadError,
    check_text,
    firm_mapping,
    in_firm,
    safe_name,
)
from factory_commons.store import DuckDBStore

PASSWORD = "correct horse 1"
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def make_plant(store, uploads: Path) -> dict:
    """The app over `store`, with firms acme and beta (owner, engineer, operator each) and one
    machine of beta."""
    store.register_machines([Machine(path="beta/s1/a1/l1/m1", display_name="beta m1")])
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name in ("acme", "beta"):
        firm = accounts.create_firm(name, [name])
        for role in ("owner", "engineer", "operator"):
            accounts.create_user(firm.id, f"{role}@{name}.example", f"{name} {role}", role, PASSWORD)
    app = create_app(store, accounts, clock=lambda: NOW, uploads=uploads)
    return {"store": store, "accounts": accounts, "app": app, "uploads": app.state.uploads}


@pytest.fixture()
def plant(tmp_path) -> Iterator[dict]:
    store = DuckDBStore(tmp_path / "plant.duckdb")
    yield make_plant(store, tmp_path / "uploads")
    store.close()


@pytest.fixture()
def plant_any(store_factory, tmp_path) -> dict:
    """The same over each store backend (DuckDB, PostgreSQL)."""
    return make_plant(store_factory(), tmp_path / "uploads")


def login(app, email: str, lang: str = "en") -> TestClient:
    c = TestClient(app)
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    c.cookies.set("lang", lang)
    return c


def send(c: TestClient, name: str, data: bytes, csrf: str | None = None):
    token = c.cookies.get("fc_csrf") if csrf is None else csrf
    return c.post(
        "/upload",
        data={"csrf_token": token},
        files={"file": (name, data, "application/octet-stream")},
        follow_redirects=False,
    )


def error_of(r) -> str:
    m = re.search(r'id="upload-error">([^<]*)<', r.text)
    assert m, r.text[:500]
    return m.group(1)


LOG = (
    "일자,시작시간,종료시간,설비,상태,사유,양품,불량,품번\r\n"
    "2026-11-02,08:00,10:00,1호기,가동,,100,2,P-100\r\n"
    "2026-11-02,10:00,10:30,1호기,비가동,공구교환,0,0,P-100\r\n"
).encode("cp949")


# -- helpers ----------------------------------------------------------------------------------
def test_safe_name_keeps_no_path_and_no_odd_characters():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\kim\\가동 기록 (11월).CSV") == "가동_기록_11월.csv"
    assert safe_name("..") == "upload"
    assert safe_name(None) == "upload"
    assert safe_name("a" * 300 + ".xlsx") == "a" * 70 + ".xlsx"


def test_check_text_names_the_line_of_bytes_that_are_no_text(tmp_path):
    ok = tmp_path / "ok.csv"
    ok.write_bytes(LOG)
    check_text(ok)  # CP949
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\r\n1,2\r\n\xff\xfe\xff,3\r\n")
    with pytest.raises(UploadError) as e:
        check_text(bad)
    assert e.value.key == "not_text" and e.value.params["line"] == 3
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"a,b\n\x00\x01")
    with pytest.raises(UploadError) as e:
        check_text(nul)
    assert e.value.key == "not_text_nul" and e.value.params["line"] == 2


def test_machine_paths_go_under_the_firms_enterprise():
    assert in_firm("plant/s1/a1/l1/m1", ("acme",)) == "acme/s1/a1/l1/m1"
    assert in_firm("acme/s1/a1/l1/m1", ("acme", "acme2")) == "acme/s1/a1/l1/m1"
    m = firm_mapping(
        {
            "machine": "x/s/a/l/m",
            "machines": {"1호기": "x/s/a/l/m1"},
            "columns": {"v": {"kind": "signal", "machine": "x/s/a/l/m2"}},
        },
        ("acme",),
    )
    assert m["machine"] == "acme/s/a/l/m" and m["machines"] == {"1호기": "acme/s/a/l/m1"}
    assert m["columns"]["v"]["machine"] == "acme/s/a/l/m2"


# -- who may upload ---------------------------------------------------------------------------
def test_the_page_needs_login_and_the_right_role(plant):
    anon = TestClient(plant["app"])
    r = anon.get("/upload", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    paths = anon.get("/openapi.json").json()["paths"]  # the page is no API operation
    assert not [p for p in paths if p == "/upload" or p.startswith("/upload/")]
    owner = login(plant["app"], "owner@acme.example")
    page = owner.get("/upload")
    assert page.status_code == 200 and 'type="file"' in page.text and 'id="drop"' in page.text
    assert login(plant["app"], "engineer@acme.example").get("/upload").status_code == 200
    operator = login(plant["app"], "operator@acme.example")
    assert operator.get("/upload").status_code == 403
    r = send(operator, "log.csv", LOG)
    assert r.status_code == 403
    assert not list(plant["uploads"].root.glob("*/*"))  # nothing kept


def test_a_post_without_the_sessions_csrf_token_is_refused(plant):
    owner = login(plant["app"], "owner@acme.example")
    assert send(owner, "log.csv", LOG, csrf="forged").status_code == 403
    assert send(owner, "log.csv", LOG, csrf="").status_code == 403
    assert not list(plant["uploads"].root.glob("*/*"))


# -- what is refused --------------------------------------------------------------------------
def test_a_file_above_the_limit_is_refused_with_a_clear_message(plant, tmp_path):
    owner = login(plant["app"], "owner@acme.example")
    plant["uploads"].max_bytes = 2 * 1024 * 1024  # the same check as at 50 MB, with less to send
    r = send(owner, "big.csv", LOG * (3 * 1024 * 1024 // len(LOG)))
    assert r.status_code == 413
    assert "larger than 2 MB" in error_of(r)
    assert not list(plant["uploads"].root.glob("*/*"))  # the part received is removed
    ko = login(plant["app"], "owner@acme.example", lang="ko")
    r = send(ko, "big.csv", LOG * (3 * 1024 * 1024 // len(LOG)))
    assert "2 MB보다 큽니다" in error_of(r)


def test_a_file_above_the_limit_in_the_body_read(plant):
    """A body smaller than the limit plus a block passes the Content-Length check and is cut
    while it is copied."""
    owner = login(plant["app"], "owner@acme.example")
    plant["uploads"].max_bytes = 3 * 1024 * 1024
    r = send(owner, "big.csv", b"a,b\n" + b"1,2\n" * (3 * 1024 * 1024 // 4 + 10))
    assert r.status_code == 413 and "larger than 3 MB" in error_of(r)


def test_a_body_without_content_length_is_cut_at_the_limit(plant):
    """A chunked body says nothing of its size: the server counts what it reads."""
    owner = login(plant["app"], "owner@acme.example")
    plant["uploads"].max_bytes = 1024 * 1024
    boundary = "fc-test-boundary"
    token = owner.cookies.get("fc_csrf")

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        for _ in range(16):  # 4 MB
            yield b"1,2\n" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    r = owner.post(
        "/upload",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        follow_redirects=False,
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413 and "larger than 1 MB" in error_of(r)
    assert not list(plant["uploads"].root.glob("*/*"))


def test_an_upload_without_a_session_is_not_read(plant):
    r = TestClient(plant["app"]).post(
        "/upload", files={"file": ("log.csv", LOG, "text/csv")}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert not list(plant["uploads"].root.glob("*/*"))


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("report.pdf", b"%PDF-1.4", "Not a CSV or Excel file"),
        ("log", LOG, "Not a CSV or Excel file"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "save it as .xlsx"),
        ("fake.xlsx", LOG, "Not an Excel (.xlsx) file"),
        ("empty.csv", b"", "The file is empty"),
        ("binary.csv", b"a,b\n\x00\x00\x00", "binary file"),
        ("latin.csv", b"a,b\n1,2\n\xff\xff\xff\xff,3\n", "line 3"),
    ],
)
def test_files_that_are_not_csv_or_excel_text_are_refused(plant, name, data, says):
    owner = login(plant["app"], "owner@acme.example")
    r = send(owner, name, data)
    assert r.status_code == 422, r.text[:300]
    assert says in error_of(r)
    assert not list(plant["uploads"].root.glob("*/*"))


def test_no_file_chosen(plant):
    owner = login(plant["app"], "owner@acme.example")
    r = owner.post("/upload", data={"csrf_token": owner.cookies.get("fc_csrf")}, follow_redirects=False)
    assert r.status_code == 422 and "No file was chosen" in error_of(r)


def test_the_file_is_kept_in_the_firms_own_folder_under_a_safe_name(plant):
    owner = login(plant["app"], "owner@acme.example")
    r = send(owner, "../../가동기록.csv", LOG)
    assert r.status_code == 303
    upload_id = r.headers["location"].rsplit("/", 1)[1]
    firm = plant["accounts"].user_by_email("owner@acme.example").firm_id
    folder = plant["uploads"].root / str(firm) / upload_id
    assert (folder / "가동기록.csv").read_bytes() == LOG
    assert plant["uploads"].load(firm, upload_id).name == "가동기록.csv"


def test_another_firms_upload_id_is_not_found(plant):
    acme = login(plant["app"], "owner@acme.example")
    upload_id = send(acme, "log.csv", LOG).headers["location"].rsplit("/", 1)[1]
    beta = login(plant["app"], "owner@beta.example")
    token = beta.cookies.get("fc_csrf")
    for path in ("", "/rejects.csv"):
        assert beta.get(f"/upload/{upload_id}{path}").status_code == 404, path
    for path in ("/roles", "/accept"):
        r = beta.post(f"/upload/{upload_id}{path}", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 404, path
    assert beta.get("/upload/..%2F..%2Fx").status_code == 404
    assert beta.get("/upload/not-an-id").status_code == 404


# -- the whole way: a product master and a CP949 interval log into the firm's store ---------
PRODUCTS = "품번,사이클타임(초)\r\nP-100,60\r\nP-200,50\r\n".encode("cp949")
DAY_LOG = [  # date, start, end, machine, state, reason, good, scrap, product
    ("2026-11-02", "08:00", "10:00", "CNC 1호기", "가동", "", 100, 2, "P-100"),
    ("2026-11-02", "10:00", "10:30", "CNC 1호기", "비가동", "공구교환", 0, 0, "P-100"),
    ("2026-11-02", "10:30", "12:00", "CNC 1호기", "가동", "", 80, 1, "P-100"),
    ("2026-11-02", "12:00", "13:00", "CNC 1호기", "계획정지", "점심", 0, 0, ""),
    ("2026-11-02", "13:00", "17:00", "CNC 1호기", "가동", "", 200, 5, "P-200"),
]
CYCLE_S = {"P-100": 60, "P-200": 50}
HEADER = "일자,시작시간,종료시간,설비,상태,사유,양품,불량,품번"


def day_log_bytes(bad_row: bool = True) -> bytes:
    lines = [HEADER] + [",".join(str(x) for x in row) for row in DAY_LOG]
    if bad_row:  # line 7: an end time that is no time
        lines.append("2026-11-02,17:00,25:99,CNC 1호기,가동,,0,0,P-200")
    return ("\r\n".join(lines) + "\r\n").encode("cp949")


def hand_oee() -> dict[str, float]:
    """The day's OEE from the rows above, as a person computes it: planned busy time is the
    logged time less the planned stop; run time the 가동 rows; performance the ideal time of
    every part made over the run time; quality good over made."""
    minutes = {
        row: (int(row[2][:2]) * 60 + int(row[2][3:])) - (int(row[1][:2]) * 60 + int(row[1][3:]))
        for row in DAY_LOG
    }
    busy = sum(m for row, m in minutes.items() if row[4] != "계획정지") * 60
    run = sum(m for row, m in minutes.items() if row[4] == "가동") * 60
    made = sum(row[6] + row[7] for row in DAY_LOG)
    good = sum(row[6] for row in DAY_LOG)
    ideal = sum((row[6] + row[7]) * CYCLE_S[row[8]] for row in DAY_LOG if row[8])
    a, p, q = run / busy, ideal / run, good / made
    return {"availability": a, "effectiveness": p, "quality_ratio": q, "oee": a * p * q}


def upload_id(r) -> str:
    assert r.status_code == 303, r.text[:500]
    return r.headers["location"].rsplit("/", 1)[1]


def test_upload_products_then_a_cp949_log_correct_a_column_and_import(plant_any):
    plant = plant_any
    c = login(plant["app"], "owner@acme.example")
    token = c.cookies.get("fc_csrf")
    # the product master is recognised as such and saved as products
    pid = upload_id(send(c, "품목.csv", PRODUCTS))
    page = c.get(f"/upload/{pid}").text
    assert 'data-kind="products"' in page and "P-200" in page
    r = c.post(f"/upload/{pid}/accept", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"] == f"/upload/{pid}/result"
    assert 'data-n="2"' in c.get(r.headers["location"]).text
    assert {p.product: p.ideal_cycle_time_s for p in plant["store"].products()} == CYCLE_S

    # the log: the proposed mapping, the preview and its KPIs
    lid = upload_id(send(c, "가동기록.csv", day_log_bytes()))
    page = c.get(f"/upload/{lid}").text
    assert 'data-kind="log"' in page
    roles = dict(
        re.findall(
            r'<select name="role_\d+" class="role" data-column="([^"]+)">.*?value="(\w+)" selected',
            page,
            re.S,
        )
    )
    assert roles == {
        "일자": "date",
        "시작시간": "start",
        "종료시간": "end",
        "설비": "machine",
        "상태": "state",
        "사유": "reason",
        "양품": "good",
        "불량": "scrap",
        "품번": "product",
    }
    want = hand_oee()
    assert kpi_cell(page, "quality_ratio") == f"{want['quality_ratio']:.1%}"
    assert re.search(r'id="preview-rejections">.*?<tr><td>7</td><td>종료시간</td><td>[^<]*25:99', page, re.S)
    assert "<td>CNC 1호기</td>" in page  # records name the machine as the file does
    # a person says the scrap column is not to be used: the preview is computed again
    fields = {f"role_{i}": role for i, role in enumerate(roles.values())}
    fields["role_7"] = "ignore"
    r = c.post(f"/upload/{lid}/roles", data={"csrf_token": token, **fields}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/upload/{lid}").text
    assert kpi_cell(page, "quality_ratio") == "100.0%"
    fields["role_7"] = "scrap"  # and back
    c.post(f"/upload/{lid}/roles", data={"csrf_token": token, **fields})
    page = c.get(f"/upload/{lid}").text
    assert kpi_cell(page, "quality_ratio") == f"{want['quality_ratio']:.1%}"
    assert kpi_cell(page, "oee") == f"{want['oee']:.1%}"

    # accept: the rows go to the firm's store, the bad row is reported and can be downloaded
    r = c.post(f"/upload/{lid}/accept", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"] == f"/upload/{lid}/result"
    done = c.get(r.headers["location"]).text
    assert re.search(r'id="rows-read">6<', done) and re.search(r'id="rows-rejected">1<', done)
    assert re.search(r"<tr><td>7</td><td>종료시간</td><td>[^<]+</td></tr>", done), done
    assert 'href="/oee?from=2026-11-02&amp;to=2026-11-02"' in done
    rejects = c.get(f"/upload/{lid}/rejects.csv")
    assert rejects.status_code == 200 and "25:99" in rejects.content.decode("cp949")
    machines = {m.path: m.display_name for m in plant["store"].machines()}
    mine = [p for p in machines if p.startswith("acme/")]
    assert len(mine) == 1 and machines[mine[0]] == "CNC 1호기"

    # importing again adds nothing; the start page lists the firm's uploads
    c.post(f"/upload/{lid}/accept", data={"csrf_token": token})
    again = c.get(f"/upload/{lid}/result").text
    assert re.search(r'id="records-written">0<', again) and not re.search(r'id="records-duplicate">0<', again)
    start = c.get("/upload").text
    assert (
        f'href="/upload/{lid}/result">가동기록.csv<' in start
        and f'href="/upload/{pid}/result">품목.csv<' in start
    )

    # the dashboard shows the same OEE for that day, to this firm only
    oee = c.get("/oee?from=2026-11-02&to=2026-11-02").text
    assert f"{want['oee']:.1%}" in oee
    beta = login(plant["app"], "owner@beta.example")
    assert "CNC 1호기" not in beta.get("/oee?from=2026-11-02&to=2026-11-02").text
    assert 'id="recent"' not in beta.get("/upload").text


def kpi_cell(page: str, key: str) -> str:
    m = re.search(rf'<td class="kpi-{key}">([^<]*)<', page)
    assert m, page[-3000:]
    return m.group(1)


def test_an_import_never_writes_to_another_firms_machine(plant):
    """A machine column naming another firm's path is refused, and nothing of it is written."""
    c = login(plant["app"], "owner@acme.example")
    log = b"time,machine,state\r\n2026-11-02 08:00,beta/s1/a1/l1/m1,running\r\n"
    lid = upload_id(send(c, "log.csv", log))
    r = c.post(f"/upload/{lid}/accept", data={"csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/upload/{lid}?err=")
    assert "another firm (beta/s1/a1/l1/m1)" in re.search(
        r'id="mapping-problem">([^<]*)<', c.get(r.headers["location"]).text
    ).group(1)
    assert plant["store"].read("state", None, None, machines=["beta/s1/a1/l1/m1"]).num_rows == 0


def test_the_firms_store_view_refuses_another_firms_machines_before_writing(tmp_path):
    from factory_commons.server.web.upload import FirmStore

    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        view = FirmStore(store, lambda path: path.startswith("acme/"))
        rows = [{"machine": "acme/s/a/l/m", "ts": datetime(2026, 11, 2, 1), "state": "running"}]
        view.register_machines([Machine(path="acme/s/a/l/m")])
        view.write_table("state", rows)
        assert view.first == view.last == datetime(2026, 11, 2, 1, tzinfo=UTC)
        foreign = [*rows, {"machine": "beta/s/a/l/m", "ts": datetime(2026, 11, 2, 2), "state": "running"}]
        with pytest.raises(PermissionError, match="beta/s/a/l/m"):
            view.write_table("state", foreign)
        with pytest.raises(PermissionError):
            view.register_machines([Machine(path="beta/s/a/l/m")])
        assert [m.path for m in store.machines()] == ["acme/s/a/l/m"]
        assert store.read("state", None, None).num_rows == 1  # nothing of the refused batch
        assert [m.path for m in view.machines()] == ["acme/s/a/l/m"]
    finally:
        store.close()


def test_an_excel_log_in_english_and_a_correction_the_importer_refuses(plant, tmp_path):
    """An .xlsx export with English headers: the page speaks English (the guesser's notes
    too); corrections that leave no mapping are named and the import is not offered."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Machine", "Start", "End", "Status", "Good", "Scrap"])
    ws.append(["Lathe 2", datetime(2026, 11, 3, 8), datetime(2026, 11, 3, 12), "Run", 50, 1])
    ws.append(["Lathe 2", datetime(2026, 11, 3, 12), datetime(2026, 11, 3, 13), "Down", 0, 0])
    ws.append(["Lathe 2", datetime(2026, 11, 3, 13), datetime(2026, 11, 3, 17), "Run", 60, 0])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    c = login(plant["app"], "owner@acme.example", lang="en")
    token = c.cookies.get("fc_csrf")
    lid = upload_id(send(c, "export.xlsx", path.read_bytes()))
    page = c.get(f"/upload/{lid}").text
    assert 'data-kind="log"' in page
    notes = re.search(r'<section class="panel" id="notes">(.*?)</section>', page, re.S).group(1)
    assert not re.search("[\uac00-\ud7a3]", notes), notes  # English only
    assert kpi_cell(page, "availability") == f"{8 / 9:.1%}"  # 8 h running of 9 h logged
    roles = dict(
        re.findall(
            r'name="(role_\d+)" class="role" data-column="[^"]+">.*?value="(\w+)" selected', page, re.S
        )
    )
    assert list(roles.values())[:4] == ["machine", "start", "end", "state"]
    roles["role_1"] = roles["role_2"] = "ignore"  # no time left: a list of machines, no log
    c.post(f"/upload/{lid}/roles", data={"csrf_token": token, **roles})
    page = c.get(f"/upload/{lid}").text
    assert 'data-kind="machines"' in page and 'id="reset"' in page
    r = c.post(f"/upload/{lid}/roles", data={"csrf_token": token, "reset": "1"}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/upload/{lid}").text
    assert 'data-kind="log"' in page and 'id="reset"' not in page
    assert kpi_cell(page, "availability") == f"{8 / 9:.1%}"


def test_a_machine_master_file_registers_the_firms_machines(plant):
    c = login(plant["app"], "owner@acme.example")
    master = (
        "설비코드,설비명,라인\r\nm-01,프레스 1호기,프레스라인\r\nm-02,프레스 2호기,프레스라인\r\n".encode(
            "cp949"
        )
    )
    mid = upload_id(send(c, "설비.csv", master))
    page = c.get(f"/upload/{mid}").text
    assert 'data-kind="machines"' in page and "프레스 2호기" in page
    r = c.post(f"/upload/{mid}/accept", data={"csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False)
    assert 'data-n="2"' in c.get(r.headers["location"]).text
    mine = {m.display_name: m.path for m in plant["store"].machines() if m.path.startswith("acme/")}
    assert set(mine) == {"프레스 1호기", "프레스 2호기"}


def test_an_excel_workbook_with_several_sheets_reads_the_one_chosen(plant, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "표지"
    wb.active.append(["11월 가동 기록"])
    for sheet, machine in (("1라인", "프레스 1호기"), ("2라인", "프레스 2호기")):
        ws = wb.create_sheet(sheet)
        ws.append(["설비", "시작", "종료", "상태", "양품"])
        ws.append([machine, datetime(2026, 11, 3, 8), datetime(2026, 11, 3, 12), "가동", 40])
        ws.append([machine, datetime(2026, 11, 3, 12), datetime(2026, 11, 3, 13), "비가동", 0])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    c = login(plant["app"], "owner@acme.example")
    token = c.cookies.get("fc_csrf")
    lid = upload_id(send(c, "book.xlsx", path.read_bytes()))
    page = c.get(f"/upload/{lid}").text
    chosen = re.search(r'<option value="([^"]+)" selected>', page[page.index('id="sheet"') :]).group(1)
    other = {"1라인": "2라인", "2라인": "1라인"}[chosen]
    assert f"프레스 {chosen[0]}호기" in page
    r = c.post(f"/upload/{lid}/sheet", data={"csrf_token": token, "sheet": other}, follow_redirects=False)
    assert r.headers["location"] == f"/upload/{lid}"
    page = c.get(f"/upload/{lid}").text
    assert f"<td>프레스 {other[0]}호기</td>" in page and f"프레스 {chosen[0]}호기" not in page
    r = c.post(
        f"/upload/{lid}/sheet", data={"csrf_token": token, "sheet": "없는 시트"}, follow_redirects=False
    )
    assert "err=" in r.headers["location"]
    assert "has no sheet" in c.get(r.headers["location"]).text


def test_a_product_master_with_a_bad_row_names_its_line_and_saves_nothing(plant):
    c = login(plant["app"], "owner@acme.example")
    bad = "품번,사이클타임(초)\r\nP-100,60\r\nP-200,빠름\r\n".encode("cp949")
    r = c.get(f"/upload/{upload_id(send(c, '품목.csv', bad))}")
    assert r.status_code == 422
    assert "품목.csv, 3행 / line 3" in error_of(r) and "/tmp" not in error_of(r)
    assert plant["store"].products() == []


def test_a_firm_without_enterprises_is_told_why_it_cannot_upload(plant):
    accounts = plant["accounts"]
    hub = accounts.create_firm("university", [])
    accounts.create_user(hub.id, "owner@uni.example", "uni owner", "owner", PASSWORD)
    c = login(plant["app"], "owner@uni.example")
    r = c.get("/upload")
    assert r.status_code == 403 and "no enterprise" in r.text


def test_a_table_without_times_asks_which_column_holds_them(plant):
    c = login(plant["app"], "owner@acme.example")
    lid = upload_id(send(c, "ab.csv", b"a,b\n1,2\n3,4\n"))
    page = c.get(f"/upload/{lid}").text
    problem = re.search(r'id="mapping-problem">([^<]*)<', page).group(1)
    assert problem.startswith("No column of times") and re.search(r'id="accept"\s+disabled', page)
    assert 'data-kind="unknown"' in page and 'name="role_0"' in page


def test_a_server_keeps_uploads_beside_its_store_for_all_its_workers(tmp_path):
    from factory_commons.server.web.upload import default_uploads_path

    assert default_uploads_path(str(tmp_path / "plant.duckdb")) == tmp_path / "plant.duckdb.uploads"
    assert default_uploads_path(":memory:") is None
    from factory_commons.server.cli import _open_app

    app, store, accounts = _open_app(str(tmp_path / "plant.duckdb"), str(tmp_path / "acc.sqlite"), False)
    try:
        assert app.state.uploads.root == tmp_path / "plant.duckdb.uploads"  # what serve's workers share
        assert (tmp_path / "plant.duckdb.uploads").stat().st_mode & 0o777 == 0o700
    finally:
        accounts.close()
        store.close()
    a = default_uploads_path("postgresql://u@h/db1")
    assert a == default_uploads_path("postgresql://u@h/db1") != default_uploads_path("postgresql://u@h/db2")
