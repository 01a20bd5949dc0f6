"""The upload page over HTTP: who may upload, what is refused (too big, not CSV/Excel, not
text, no CSRF token, another firm's upload id) and the whole way from a file to the store.

The browser test (real Chromium) is tests/test_upload_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

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


@pytest.fixture()
def plant(tmp_path) -> Iterator[dict]:
    store = DuckDBStore(tmp_path / "plant.duckdb")
    store.register_machines([Machine(path="beta/s1/a1/l1/m1", display_name="beta m1")])
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name in ("acme", "beta"):
        firm = accounts.create_firm(name, [name])
        for role in ("owner", "engineer", "operator"):
            accounts.create_user(firm.id, f"{role}@{name}.example", f"{name} {role}", role, PASSWORD)
    app = create_app(store, accounts, clock=lambda: NOW)
    yield {"store": store, "accounts": accounts, "app": app, "uploads": app.state.uploads}
    store.close()


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
    assert "/upload" not in str(anon.get("/openapi.json").json()["paths"])
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
