"""`factory-commons serve --workers N`: several server processes on one store (a DuckDB file,
owned by one worker and reached through it by the others, or PostgreSQL), each answering
with the same data and accounts; refused with a clear message on an in-memory store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from factory_commons.accounts import Accounts
from factory_commons.cli import app
from factory_commons.model import Machine
from factory_commons.store import DuckDBStore
from factory_commons.store.postgres import PostgresStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_workers_need_a_shared_store():
    result = CliRunner().invoke(app, ["serve", "--store", ":memory:", "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers" in result.output


@pytest.fixture(params=["duckdb", "postgresql"])
def store_target(request, tmp_path):
    """(serve arguments, a function that opens the same store here, cleanup)."""
    if request.param == "duckdb":
        path = tmp_path / "plant.duckdb"
        yield ["--store", str(path)], lambda: DuckDBStore(path)
        return
    pg_url = request.getfixturevalue("pg_url")
    schema = f"w_{uuid.uuid4().hex[:12]}"
    url = f"{pg_url}?schema={schema}"
    yield ["--database", url], lambda: PostgresStore(url)
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:  # the test database goes at the end
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_serve_one_store(store_target, tmp_path, workers):
    serve_args, open_here = store_target
    store = open_here()
    paths = ["acme/s/a/l1/m1", "acme/s/a/l1/m2"]
    now = datetime.now(UTC).replace(microsecond=0)
    store.register_machines(Machine(path=p) for p in paths)
    store.write_table(
        "state",
        [
            {"machine": p, "ts": now - timedelta(minutes=5 + i), "state": "running"}
            for i, p in enumerate(paths)
        ],
    )
    store.close()
    acc_file = tmp_path / "accounts.sqlite"
    acc = Accounts(str(acc_file), hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    firm = acc.create_firm("acme", ["acme"])
    user = acc.create_user(firm.id, "owner@acme.example", "김사장", "owner", "a long password 1")
    token = acc.create_token(user.id, "test", now)
    acc.close()

    port = _free_port()
    cmd = [sys.executable, "-m", "factory_commons.cli", "serve", *serve_args]
    cmd += ["--accounts", str(acc_file), "--workers", str(workers), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{base}/api/overview", headers={"Authorization": f"Bearer {token}"}, timeout=5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                    pytest.fail(f"serve --workers {workers} did not answer: {out[-2000:]}")
                time.sleep(0.2)
        assert r.status_code == 200, r.text
        seen = set()
        kpis = set()
        window = {"start": (now - timedelta(hours=2)).isoformat(), "end": now.isoformat()}
        for _ in range(20):  # every answer, from whichever worker, is the same store
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
                got = c.get("/api/overview").json()
                kpi = c.get("/api/kpi", params=window)
            seen.add(tuple(sorted((m["path"], m["state"]) for m in got)))
            assert kpi.status_code == 200, kpi.text
            kpis.add(tuple(sorted((r["machine"], r["actual_production_time_s"]) for r in kpi.json())))
        assert seen == {tuple((p, "running") for p in paths)}
        assert kpis == {((paths[0], 300.0), (paths[1], 360.0))}
        assert httpx.get(f"{base}/api/overview", timeout=5).status_code == 401
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")
    assert ("2 workers" in out) == (workers == 2)
