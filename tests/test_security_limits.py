"""Issue 20, limits and one input policy: request bodies limited before parsing, NUL/control
characters and over-long strings refused (422 naming the field) on every write path, one time
policy for API, store and importer, query windows that answer 422 instead of 500, per-firm
quotas (commons writes, machines, batch rows). Over both store backends where a store is used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from commons_plant import commons_plant, post_request
from fastapi.testclient import TestClient
from test_server_plant import A1, PASSWORD, T0, accounts_db_for, make_plant

from factory_commons.accounts import Accounts
from factory_commons.cooperate.quotas import CommonsQuota
from factory_commons.model import Machine, RecordError, parse_record
from factory_commons.model.policy import EARLIEST, check_event_time, latest
from factory_commons.server.limits import Limits
from factory_commons.store import DuckDBStore
from factory_commons.store.validate import BatchError

MiB = 1024 * 1024


@pytest.fixture
def plant(request, store_factory, backend):
    """The test plant (acme, beta) on the test's backend, accounts on the same backend."""
    return make_plant(store_factory(), accounts_db=accounts_db_for(request, backend))


def _loc(r) -> list:
    return [e["loc"] for e in r.json()["detail"]]


# -- 1. body size, before anything parses the body -----------------------------------------------
def test_a_body_over_the_limit_is_refused_before_auth_or_parsing():
    app = make_plant(DuckDBStore(":memory:")).app
    c = TestClient(app)
    big = b"[" + b'{"a": 1},' * (2 * MiB // 9) + b"{}]"
    r = c.post("/api/records/signal", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text  # not 401: the caller is unknown and nothing was parsed
    assert "FC_MAX_BODY_BYTES" in r.json()["detail"] and "1048576" in r.json()["detail"]

    def chunks():  # no Content-Length: the bytes are counted as they come
        for _ in range(40):
            yield b" " * 64 * 1024

    r = c.post("/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    small = c.post(
        "/api/records/signal", json=[{"machine": A1, "ts": T0.isoformat(), "name": "x", "value": 1}]
    )
    assert small.status_code == 401  # within the limit: the usual answer


def test_the_upload_page_keeps_its_own_larger_limit():
    from factory_commons.server.web.upload import MAX_BYTES

    lim = Limits()
    assert lim.body_limit("/upload") > MAX_BYTES and lim.body_limit("/api/records/signal") == MiB
    app = make_plant(DuckDBStore(":memory:")).app
    body = b"--b\r\nContent-Disposition: form-data; name=file; filename=a.csv\r\n\r\n" + b"x" * 2 * MiB
    r = TestClient(app).post(
        "/upload",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        follow_redirects=False,
    )
    assert r.status_code != 413  # 2 MB is far under the upload page's 50 MB: its own answer (login)


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 - a tiny read
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _raw_post(port: int, headers: str, body_chunks, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send a request by hand (the server may answer and close before the body is sent);
    (the status line, seconds until it came)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(headers.encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except OSError:  # closed by the server after its 413: expected
            pass
        data = b""
        try:
            while b"\r\n" not in data:
                got = s.recv(4096)
                if not got:
                    break
                data += got
        except OSError:
            pass
    return data.split(b"\r\n", 1)[0], time.monotonic() - t0


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc (Linux)")
def test_a_20mb_body_to_a_real_server_answers_413_fast_and_memory_stays(tmp_path):
    acc_file = tmp_path / "accounts.sqlite"
    Accounts(str(acc_file), hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)).close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "factory_commons.cli", "serve", "--store", str(tmp_path / "p.duckdb")]
    cmd += ["--accounts", str(acc_file), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        size = 20 * MiB
        _raw_post(port, "GET /api/auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", [])  # warm up
        before = _rss_kib(proc.pid)
        block = b"[" * (1024 * 1024)
        head = "POST /api/records/signal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        status, took = _raw_post(port, head + f"Content-Length: {size}\r\n\r\n", [block] * 20)
        assert status.startswith(b"HTTP/1.1 413"), status
        assert took < 5
        chunked = [b"100000\r\n" + block + b"\r\n"] * 20 + [b"0\r\n\r\n"]
        status, took = _raw_post(port, head + "Transfer-Encoding: chunked\r\n\r\n", chunked)
        assert status.startswith(b"HTTP/1.1 413"), status
        assert took < 5
        grown_mib = (_rss_kib(proc.pid) - before) / 1024
        assert grown_mib < 100, f"the server grew by {grown_mib:.0f} MiB for bodies it refused"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- 2. strings: NUL, control characters, lengths ------------------------------------------------
def test_nul_is_refused_on_every_write_path_of_the_api_naming_the_field(plant):
    c = plant.client("acme:owner")
    doc = c.get("/openapi.json").json()
    writes = [  # a file upload (multipart) names its file: tested in test_commons_orders.py
        (method, path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("post", "put", "patch")
        and "multipart/form-data" not in ops[method].get("requestBody", {}).get("content", {})
    ]
    assert len(writes) > 20
    for method, path in writes:
        url = path.replace("{kind}", "alarm").replace("{", "").replace("}", "")
        body = [{"machine": A1, "message": "a\u0000b"}] if "records" in path else {"name": "a\u0000b"}
        r = c.request(method.upper(), url, json=body)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        loc = _loc(r)[0]
        assert loc[0] == "body" and loc[-1] in ("message", "name"), (path, loc)
        assert "U+0000" in r.json()["detail"][0]["msg"]


def test_login_email_with_nul_is_422_never_500(plant):
    c = TestClient(plant.app)
    r = c.post("/api/auth/login", json={"email": "owner@acme.example\u0000", "password": PASSWORD})
    assert r.status_code == 422 and _loc(r) == [["body", "email"]]
    assert c.post("/api/auth/login", data={"email": "a\u0000", "password": "x"}).status_code == 422  # a form


def test_records_with_control_characters_or_long_texts_name_the_field(plant, store_factory):
    c = plant.bearer("acme:engineer")
    ts = (T0 + timedelta(hours=1)).isoformat()
    ok = [{"machine": A1, "ts": ts, "code": "E9", "message": "line 1\n\tline 2"}]
    assert c.post("/api/records/alarm", json=ok).status_code == 200  # tab and line break in a free text
    for row, field in (
        ({"machine": A1, "ts": ts, "code": "E\n1"}, "code"),  # a line break in a code
        ({"machine": A1, "ts": ts, "code": "E1", "message": "x" * 5000}, "message"),
        ({"machine": A1, "ts": ts, "code": "c" * 201}, "code"),
    ):
        r = c.post("/api/records/alarm", json=[row])
        assert r.status_code == 422, r.text
        assert [p["field"] for p in r.json()["detail"]["problems"]] == [field]
    r = c.post(
        "/api/records/signal", json=[{"machine": A1, "ts": ts, "name": "load", "value": 1, "unit": "k\tg"}]
    )
    assert r.status_code == 422 and r.json()["detail"]["problems"][0]["field"] == "unit"
    surrogate = b'[{"machine": "%s", "ts": "%s", "code": "\\ud800"}]' % (A1.encode(), ts.encode())
    r = c.post("/api/records/alarm", content=surrogate, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and _loc(r) == [["body", 0, "code"]]
    deep = "[" * 200 + "]" * 200
    r = c.post("/api/records/alarm", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "too_deep"
    r = c.get("/api/records/state", params={"machine": "a\u0000"})
    assert r.status_code == 422 and _loc(r) == [["query", "machine"]]
    # the store itself (collectors and the importer write through it), on the test's backend
    store = store_factory()
    with pytest.raises(BatchError, match="code"):
        store.write_table("alarm", [{"machine": A1, "ts": ts, "code": "E\u00001"}])
    with pytest.raises(RecordError, match="reason_code"):
        parse_record({"kind": "state", "ts": ts, "machine": A1, "state": "idle", "reason_code": "a\x00"})


def test_long_machine_paths_and_names_are_422_never_500(plant, store_factory):
    c = plant.bearer("acme:engineer")
    ts = (T0 + timedelta(hours=1)).isoformat()
    for path in (
        "acme/s1/a1/l1/" + "m" * 5_000,
        "acme/s1/a1/l1/" + "기" * 65,
        "/".join(["acme"] + ["x" * 63] * 4),  # 260 characters
    ):
        r = c.post("/api/records/state", json=[{"machine": path, "ts": ts, "state": "running"}])
        assert r.status_code == 422, r.text
        assert r.json()["detail"]["problems"][0]["field"] == "machine"
        with pytest.raises(ValueError, match="at most"):
            Machine(path=path)
        with pytest.raises(BatchError, match="machine"):
            store_factory().write_table("state", [{"machine": path, "ts": ts, "state": "running"}])
    r = c.post("/api/records/state", json=[{"machine": "acme/s/a/l/" + "m" * 10_000, "ts": ts, "state": "x"}])
    assert r.status_code == 422 and _loc(r) == [["body", 0, "machine"]]  # any string over 10,000
    r = c.post(
        "/api/records/state", json=[{"machine": "acme/s/a/l/" + "m" * 10 * MiB, "ts": ts, "state": "x"}]
    )
    assert r.status_code == 413  # the 10 MB path of the audit: refused by the body limit
    assert all(len(m["path"]) <= 255 for m in c.get("/api/machines").json())
    r = c.post("/api/records/signal", json=[{"machine": A1, "ts": ts, "name": "s" * 70, "value": 1}])
    assert r.status_code == 422 and r.json()["detail"]["problems"][0]["field"] == "name"
    with pytest.raises(ValueError, match="at most 200"):
        Machine(path=A1, display_name="이" * 201)


# -- 3. one time policy ----------------------------------------------------------------------------
@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "1969-12-31T23:59:59Z"])
def test_states_far_from_now_are_refused_at_the_door(plant, ts):
    c = plant.bearer("acme:engineer")
    r = c.post("/api/records/state", json=[{"machine": A1, "ts": ts, "state": "unplanned_down"}])
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["problems"][0]["field"] == "ts"
    assert c.get("/api/kpi", params={"start": T0.isoformat()}).status_code == 200
    assert c.get("/api/overview").json()[0]["since"] < "2100"
    with pytest.raises(RecordError, match="'ts'"):
        parse_record({"kind": "state", "ts": ts, "machine": A1, "state": "idle"})  # collectors


def test_query_times_out_of_range_answer_422_naming_the_parameter(plant):
    c = plant.bearer("acme:owner")
    for route in ("/api/kpi", "/api/downtime", "/api/alarms", "/api/records/state"):
        r = c.get(route, params={"end": "0001-01-01T00:00:00"})
        assert r.status_code == 422 and _loc(r) == [["query", "end"]], (route, r.text)
        r = c.get(route, params={"start": "9999-12-31T00:00:00"})
        assert r.status_code == 422 and _loc(r) == [["query", "start"]], (route, r.text)
        r = c.get(route, params={"start": "2024-03-05T00:00:00Z", "end": "2024-03-04T00:00:00Z"})
        assert r.status_code == 422 and _loc(r) == [["query", "start"]], (route, r.text)


def test_one_time_policy_for_api_store_and_importer(plant, store_factory, monkeypatch):
    from factory_commons.collect import files_convert

    now = datetime.now(UTC)
    assert files_convert.EARLIEST.astype(datetime) == EARLIEST.replace(tzinfo=None)
    assert abs(latest() - (now + timedelta(days=1))) < timedelta(minutes=1)
    monkeypatch.setenv("FC_MAX_FUTURE_HOURS", "0.5")
    assert abs(latest() - (now + timedelta(hours=0.5))) < timedelta(minutes=1)
    ahead = (now + timedelta(hours=2)).isoformat()
    r = plant.bearer("acme:engineer").post(
        "/api/records/count", json=[{"machine": A1, "ts": ahead, "good": 1}]
    )
    assert r.status_code == 422 and "FC_MAX_FUTURE_HOURS" in r.text
    with pytest.raises(BatchError, match="FC_MAX_FUTURE_HOURS"):
        store_factory().write_table("count", [{"machine": A1, "ts": ahead, "good": 1}])
    with pytest.raises(ValueError, match="FC_MAX_FUTURE_HOURS"):
        check_event_time(datetime.fromisoformat(ahead))
    monkeypatch.setenv("FC_MAX_FUTURE_HOURS", "soon")
    with pytest.raises(ValueError, match="FC_MAX_FUTURE_HOURS"):
        latest()
    monkeypatch.delenv("FC_MAX_FUTURE_HOURS")
    # an order's due date is planned, not an event: months ahead is fine, year 9999 is not
    due = (now + timedelta(days=90)).isoformat()
    assert parse_record({"kind": "order", "order_id": "o1", "product": "p", "due": due})
    with pytest.raises(RecordError, match="due"):
        parse_record({"kind": "order", "order_id": "o1", "product": "p", "due": "9999-01-01T00:00:00"})


# -- 4. quotas --------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def commons_on(request):
    """The commons plant with its commons database in SQLite (memory) or PostgreSQL."""
    url = None
    if request.param == "postgresql":
        url = f"{request.getfixturevalue('pg_url')}?schema=q{uuid.uuid4().hex[:12]}"
    return commons_plant(DuckDBStore(":memory:"), firms=5, commons=url)


def test_commons_writes_have_per_firm_size_and_rate_quotas(commons_on):
    plant = commons_on
    plant.app.state.limits = Limits(commons=CommonsQuota(writes_per_minute=3, bytes_per_day=50_000))
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    big = {"title": {"ko": "가"}, "steps": [{"process": "x" * 1000}] * 250}  # the 250 KB request of the audit
    r = acme.post("/api/commons/requests", json=big)
    assert r.status_code == 413 and "FC_COMMONS_MAX_BODY_BYTES" in r.json()["detail"]
    for _ in range(3):
        post_request(acme)
    r = acme.post("/api/commons/requests", json={})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "FC_COMMONS_WRITES_PER_MINUTE" in r.json()["detail"]
    post_request(beta)  # another firm has its own quota
    assert acme.get("/api/commons/requests/open").status_code == 200  # reads are not counted
    plant.clock.now += timedelta(minutes=1)
    post_request(acme)  # a new minute
    plant.app.state.limits = Limits(commons=CommonsQuota(bytes_per_day=100))
    r = acme.post("/api/commons/requests", json={"title": {"ko": "가" * 60}})
    assert r.status_code == 429 and "FC_COMMONS_BYTES_PER_DAY" in r.json()["detail"]


def test_record_batches_and_machines_per_firm_have_quotas(plant):
    c = plant.bearer("acme:engineer")
    ts = (T0 + timedelta(hours=1)).isoformat()
    plant.app.state.limits = Limits(max_batch_rows=3, max_machines_per_firm=4)  # acme has 3 machines
    rows = [{"machine": A1, "ts": ts, "name": f"s{i}", "value": i} for i in range(4)]
    r = c.post("/api/records/signal", json=rows)
    assert r.status_code == 413 and "FC_MAX_BATCH_ROWS" in r.json()["detail"]
    new = [{"machine": f"acme/s1/a1/l9/n{i}", "ts": ts, "state": "running"} for i in range(2)]
    r = c.post("/api/records/state", json=new)
    assert r.status_code == 403 and "FC_MAX_MACHINES_PER_FIRM" in r.json()["detail"]
    assert c.post("/api/records/state", json=new[:1]).status_code == 200  # the 4th machine fits
    assert len(c.get("/api/machines").json()) == 4


def test_limits_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FC_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("FC_COMMONS_WRITES_PER_MINUTE", "7")
    lim = Limits.from_env()
    assert (lim.max_body_bytes, lim.commons.writes_per_minute) == (2048, 7)
    app = make_plant(DuckDBStore(":memory:")).app
    r = TestClient(app).post("/api/auth/login", json={"email": "x" * 3000, "password": "y"})
    assert r.status_code == 413
    monkeypatch.setenv("FC_MAX_BATCH_ROWS", "many")
    with pytest.raises(ValueError, match="FC_MAX_BATCH_ROWS"):
        Limits.from_env()


def test_dashboard_periods_far_from_now_are_refused_not_500():
    plant = make_plant(DuckDBStore(":memory:"))
    c = TestClient(plant.app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"email": plant.emails["acme:owner"], "password": PASSWORD, "csrf_token": token, "next": "/"}
    assert c.post("/login", data=form, follow_redirects=False).status_code == 303
    for page in ("/", "/oee", "/downtime", f"/machines/{A1}"):
        for period in (
            {"from": "0001-01-01", "to": "0001-01-02"},
            {"from": "9999-12-30", "to": "9999-12-31"},
        ):
            r = c.get(page, params=period)
            assert r.status_code < 500, (page, period, r.status_code)
