"""One store file, many processes: the owner serves it over Arrow Flight, the others go through it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from factory_commons.model.calendar import PlannedBreak, Shift, ShiftCalendar
from factory_commons.model.hierarchy import Machine
from factory_commons.model.records import StateChange
from factory_commons.store import (
    BatchError,
    DuckDBStore,
    RetentionPolicy,
    StoreLockedError,
    open_store,
)
from factory_commons.store.remote import (
    FlightStoreServer,
    RemoteStore,
    ServedDuckDBStore,
    StoreOwnerGoneError,
    owner_file,
    read_owner_file,
)

T0 = datetime(2026, 3, 2, 6, 0)
LINE = "acme/changwon/machining/line1"

# -- child processes -------------------------------------------------------------------------
# Each child is a fresh interpreter (as a collector, a server and a CLI would be).

WRITER = """
import json, os, sys, time
from datetime import datetime, timedelta
from factory_commons.store import open_store
from factory_commons.store.remote import ServedDuckDBStore

path, out, stop, enough = sys.argv[1:5]
st = open_store(path)
assert isinstance(st, ServedDuckDBStore), type(st)
T0 = datetime(2026, 3, 2, 6, 0)
machines = [f"acme/changwon/machining/line1/m{i}" for i in range(3)]
N = 200
signals = states = batches = replays = 0
give_up = time.monotonic() + 20
# write until the reader has read a few times while writes go on
while (batches < 10 or not os.path.exists(enough)) and time.monotonic() < give_up:
    base = batches * N
    ts = [T0 + timedelta(seconds=base + i) for i in range(N)]
    sig = {
        "machine": [m for m in machines for _ in range(N)],
        "name": ["spindle_load"] * (3 * N),
        "ts": ts * 3,
        "value": [float(i % 97) for i in range(3 * N)],
        "unit": ["%"] * (3 * N),
    }
    r = st.write_table("signal", sig)
    assert r.written == 3 * N, r
    signals += r.written
    state = {"machine": machines, "ts": [ts[0]] * 3, "state": ["running", "idle", "running"]}
    states += st.write_table("state", state).written
    if batches % 4 == 3:  # a replay after a crash double-counts nothing
        assert st.write_table("signal", sig).written == 0
        replays += 1
    batches += 1
    time.sleep(0.01)
with open(out, "w") as f:
    json.dump({"signals": signals, "states": states, "batches": batches, "replays": replays}, f)
while not os.path.exists(stop):  # keep serving until the test is done
    time.sleep(0.02)
st.close()
assert not os.path.exists(path + ".owner.json")
"""

READER = """
import json, os, sys, time
from factory_commons.store import open_store
from factory_commons.store.remote import RemoteStore

path, finish, out, enough = sys.argv[1:5]
st = open_store(path)
assert isinstance(st, RemoteStore), type(st)
counts, reads, last = [], [], 0
while True:
    done = os.path.exists(finish)  # set once every other writer is done
    n = st.query("SELECT count(*) AS n FROM signals").column("n")[0].as_py()
    t = st.read("signal", machines=["acme/changwon/machining/line1/m0"])
    s = st.read("state")
    assert n >= last, (n, last)
    last = n
    counts.append(n)
    reads.append([t.num_rows, s.num_rows])
    if len(counts) == 20:
        open(enough, "w").close()
    if done:
        break
    time.sleep(0.02)
st.close()
with open(out, "w") as f:
    json.dump({"counts": counts, "reads": reads, "machines": [m.path for m in open_store(path).machines()]}, f)
"""

CLI_WRITE = """
import json, sys
from datetime import datetime, timedelta
from factory_commons.store import BatchError, open_store
from factory_commons.store.remote import RemoteStore

path = sys.argv[1]
with open_store(path) as st:
    assert isinstance(st, RemoteStore), type(st)
    T0 = datetime(2026, 3, 2, 6, 0)
    m = "acme/changwon/machining/line1/cli"
    batch = [{"machine": m, "name": "temp", "ts": T0 + timedelta(seconds=i), "value": 20.0 + i} for i in range(500)]
    first = st.write_table("signal", batch).written
    again = st.write_table("signal", batch).written
    try:
        st.write_table("signal", [{"machine": m, "name": "temp", "ts": T0, "value": float("nan")}])
        rejected = None
    except BatchError as e:
        rejected = str(e)
    print(json.dumps({"first": first, "again": again, "rejected": rejected, "dialect": st.dialect}))
"""

HOLD = """
import sys
from factory_commons.store import open_store
st = open_store(sys.argv[1], serve=False)
print("ready", flush=True)
sys.stdin.readline()
st.close()
"""


def _spawn(code: str, *args, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _finish(p: subprocess.Popen, timeout: float = 30) -> str:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"child failed ({p.returncode}):\n{out}\n{err}"
    return out


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 20) -> None:
    end = clock.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            _finish(proc)
            raise AssertionError(f"child exited before {path} appeared")
        assert clock.monotonic() < end, f"{path} did not appear"
        clock.sleep(0.02)


# -- many processes, one file ----------------------------------------------------------------
def test_writer_reader_and_cli_share_one_file(tmp_path: Path):
    db = tmp_path / "plant.duckdb"
    writer_out, stop, reader_out = tmp_path / "writer.json", tmp_path / "stop", tmp_path / "reader.json"
    enough = tmp_path / "enough"
    writer = _spawn(WRITER, db, writer_out, stop, enough, cwd=tmp_path)
    try:
        _wait_for(owner_file(db), writer)
        finish = tmp_path / "finish"
        reader = _spawn(READER, db, finish, reader_out, enough, cwd=tmp_path)
        cli = _spawn(CLI_WRITE, db, cwd=tmp_path)
        cli_result = json.loads(_finish(cli))
        _wait_for(writer_out, writer)
        finish.touch()
        _finish(reader)
        # the real command line, too, goes through the owner while it collects
        tree = _finish(
            _spawn(
                "import sys; from factory_commons.cli import app; sys.argv[0] = 'factory-commons'; app()",
                "machines",
                "--store",
                db,
                cwd=tmp_path,
            )
        )
        assert owner_file(db).exists()  # still served: the writer is waiting for `stop`
    finally:
        stop.touch()
        _finish(writer)
    assert not owner_file(db).exists()

    wrote = json.loads(writer_out.read_text())
    seen = json.loads(reader_out.read_text())
    assert cli_result["first"] == 500 and cli_result["again"] == 0
    assert cli_result["rejected"].startswith("signal batch rejected, nothing written")
    assert cli_result["dialect"] == "duckdb"
    assert "m0" in tree and "cli" in tree
    counts = seen["counts"]
    assert counts == sorted(counts) and len(counts) >= 21
    assert len(set(counts)) >= 3  # the reader saw the store grow
    assert counts[-1] == wrote["signals"] + 500  # the last read came after every write
    for a, b in zip(seen["reads"], seen["reads"][1:], strict=False):
        assert b[0] >= a[0] and b[1] >= a[1]
    assert "acme/changwon/machining/line1/cli" in seen["machines"]
    assert wrote["replays"] >= 1

    # the owner is gone: this process opens the file itself, and every point is there once
    with open_store(db) as st:
        assert isinstance(st, ServedDuckDBStore)
        n, distinct = (
            st.query("SELECT count(*), count(DISTINCT (series_id, ts)) FROM signals").to_pylist()[0].values()
        )
        assert n == distinct == wrote["signals"] + 500
        n_states, distinct_states = (
            st.query("SELECT count(*), count(DISTINCT (machine_id, ts)) FROM states").to_pylist()[0].values()
        )
        assert n_states == distinct_states == wrote["states"] == 3 * wrote["batches"]


# -- the owner file ------------------------------------------------------------------------------
def test_owner_file_written_0600_and_removed_on_close(tmp_path: Path):
    db = tmp_path / "own.duckdb"
    st = open_store(db)
    try:
        assert isinstance(st, ServedDuckDBStore)
        f = owner_file(db)
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        info = read_owner_file(db)
        assert info["pid"] == os.getpid() and info["host"] == "127.0.0.1"
        assert len(info["token"]) >= 32
        with RemoteStore(f"grpc+tcp://{info['host']}:{info['port']}", info["token"]) as r:
            assert r.machines() == []
        assert not list(tmp_path.glob("*.tmp"))
    finally:
        st.close()
    assert not owner_file(db).exists()
    st.close()  # twice is fine


def test_memory_store_is_private_and_unserved(tmp_path: Path):
    st = open_store(":memory:")
    assert type(st) is DuckDBStore
    st.close()
    with open_store(tmp_path / "plain.duckdb", serve=False) as st:
        assert type(st) is DuckDBStore
        assert not owner_file(tmp_path / "plain.duckdb").exists()


def test_locked_without_a_server_is_a_clear_error(tmp_path: Path):
    db = tmp_path / "held.duckdb"
    holder = _spawn(HOLD, db, cwd=tmp_path, stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "ready"
        # no owner file at all
        with pytest.raises(StoreLockedError, match=rf"locked by process {holder.pid}.*no owner file"):
            open_store(db, wait=0.3)
        # a stale owner file left by a process that died
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        dead_pid = int(dead.stdout)
        owner_file(db).write_text(json.dumps({"host": "127.0.0.1", "port": 9, "token": "x", "pid": dead_pid}))
        with pytest.raises(StoreLockedError) as e:
            open_store(db, wait=0.3)
        msg = str(e.value)
        assert f"locked by process {holder.pid}" in msg
        assert f"stale: it names process {dead_pid}, which is not running" in msg
        assert "serve=True" in msg
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        _finish(holder)
    # once the holder is gone the file opens again and the stale owner file is replaced
    with open_store(db) as st:
        assert isinstance(st, ServedDuckDBStore)
        assert read_owner_file(db)["pid"] == os.getpid()
    assert not owner_file(db).exists()


# -- the remote path in one process ------------------------------------------------------------
@pytest.fixture
def served():
    store = DuckDBStore()
    server = FlightStoreServer(store)
    remote = RemoteStore(server.location, server.token)
    yield store, server, remote
    remote.close()
    server.shutdown()
    store.close()


def _signals(n: int, machine: str = f"{LINE}/m1") -> dict:
    return {
        "machine": [machine] * n,
        "name": ["temp"] * n,
        "ts": [T0 + timedelta(seconds=i) for i in range(n)],
        "value": [float(i) for i in range(n)],
    }


def test_wrong_or_missing_token_is_rejected(served):
    _, server, _ = served
    with pytest.raises(PermissionError, match="rejected the token"):
        RemoteStore(server.location, "not-the-token")
    client = flight.FlightClient(server.location)
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.do_action(flight.Action("machines", b"{}")))
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(flight.Ticket(b'{"sql": "SELECT 1"}')).read_all()
    client.close()


def test_only_localhost():
    with pytest.raises(ValueError, match="127.0.0.1"):
        FlightStoreServer(DuckDBStore(), host="0.0.0.0")


def test_errors_come_back_as_the_same_class(served):
    local, _, remote = served
    bad = _signals(3)
    bad["value"][1] = float("nan")
    bad["machine"][2] = "not/a/path"
    with pytest.raises(BatchError) as here:
        local.write_table("signal", bad)
    with pytest.raises(BatchError) as there:
        remote.write_table("signal", bad)
    assert str(there.value) == str(here.value)
    assert there.value.problems == here.value.problems and there.value.kind == "signal"
    assert remote.read("signal").num_rows == 0  # nothing written

    many = _signals(20_000)
    many["value"] = [float("inf")] * 20_000
    with pytest.raises(BatchError) as there:
        remote.write_table("signal", many)
    assert len(there.value.problems) == 20_000

    with pytest.raises(ValueError, match="unknown record kind 'nope'"):
        remote.write_table("nope", _signals(2))
    with pytest.raises(ValueError, match="supports only calendars"):
        remote.query_write("machines", [])
    with pytest.raises(type(_catch(lambda: local.query("SELECT * FROM nowhere")))):
        remote.query("SELECT * FROM nowhere")
    with pytest.raises(FileNotFoundError, match="no machines.parquet"):
        remote.import_parquet("/nonexistent-dir")


def _catch(fn) -> Exception:
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("no error")


def test_remote_answers_like_the_store(served, tmp_path: Path):
    local, _, remote = served
    remote.register_machines([Machine(path=f"{LINE}/m1", display_name="선반 1", kind="cnc")])
    assert remote.write_table("signal", _signals(1000)).written == 1000
    assert remote.write_table("signal", pa.table(_signals(1000))).written == 0
    states = [
        StateChange(machine=f"{LINE}/m1", ts=T0 + timedelta(minutes=i), state="running") for i in range(3)
    ]
    assert remote.write(states)["state"].written == 3
    assert remote.read("state").num_rows == 3
    assert remote.machines() == local.machines()
    assert remote.machines()[0].display_name == "선반 1"
    assert remote.hierarchy() == local.hierarchy()
    assert remote.dialect == "duckdb"

    start = datetime(2026, 3, 2, 15, 5, tzinfo=UTC).astimezone()  # aware datetimes work too
    assert remote.read("signal", start=start).equals(local.read("signal", start=start))
    sql = (
        "SELECT machine, count(*) AS n, avg(value) AS v FROM v_signals WHERE ts >= ? AND value > ? GROUP BY 1"
    )
    params = [T0 + timedelta(seconds=100), 10.5]
    assert remote.query(sql, params).equals(local.query(sql, params))
    extra = {"want": pa.table({"machine": [f"{LINE}/m1", f"{LINE}/zz"], "w": [1, 2]})}
    sql = "SELECT w, count(*) AS n FROM want LEFT JOIN v_signals USING (machine) GROUP BY 1 ORDER BY 1"
    assert remote.query(sql, tables=extra).to_pylist() == [{"w": 1, "n": 1000}, {"w": 2, "n": 1}]

    cal = ShiftCalendar(
        name="two-shift",
        shifts=[
            Shift(
                name="day",
                start=time(8),
                end=time(17),
                breaks=[PlannedBreak(name="lunch", start=time(12), end=time(13))],
            )
        ],
    )
    remote.save_calendar(cal)
    assert remote.calendars() == local.calendars() == {cal.name: cal}

    counts = remote.export_parquet(tmp_path / "export")
    assert counts["signals"] == 1000 and (tmp_path / "export" / "signals.parquet").exists()
    with DuckDBStore() as other:
        assert other.import_parquet(tmp_path / "export")["signals"] == 1000
    assert remote.import_parquet(tmp_path / "export")["signals"] == 0

    report = remote.apply_retention(RetentionPolicy(raw_signal_days=1), now=T0 + timedelta(days=3))
    assert report.downsampled_rows == 1000 and report.deleted["signals"] == 1000
    assert local.query("SELECT count(*) AS n FROM signals_1m").column("n")[0].as_py() == 17


def test_owner_gone_is_a_connection_error():
    store = DuckDBStore()
    server = FlightStoreServer(store)
    remote = RemoteStore(server.location, server.token)
    server.shutdown()
    with pytest.raises(StoreOwnerGoneError, match="cannot be reached"):
        remote.machines()
    remote.close()
    store.close()


OWNER = """
import sys
from factory_commons.store import open_store
st = open_store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
st.close()
"""


@pytest.mark.parametrize("how", ["closes", "is killed"])
def test_when_the_owner_leaves_the_next_call_takes_over(tmp_path: Path, how: str):
    db = tmp_path / "handover.duckdb"
    owner = _spawn(OWNER, db, cwd=tmp_path, stdin=subprocess.PIPE)
    try:
        assert owner.stdout.readline().strip() == "ready"
        st = open_store(db)
        assert isinstance(st, RemoteStore) and st.owner_pid == owner.pid
        assert st.write_table("signal", _signals(100)).written == 100
    finally:
        if how == "closes":
            owner.stdin.write("\n")
            owner.stdin.flush()
            _finish(owner)
        else:
            owner.kill()
            owner.communicate()
    try:
        # the owner has gone: this process becomes the owner and serves the file now
        assert st.write_table("signal", _signals(200)).written == 100
        assert read_owner_file(db)["pid"] == os.getpid()
        assert st.read("signal").num_rows == 200
        assert "owned here" in repr(st)
    finally:
        st.close()
    assert not owner_file(db).exists()


def test_two_opens_in_one_process_keep_the_file_announced(tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    a, b = open_store(db), open_store(db)  # DuckDB shares the database inside a process
    assert read_owner_file(db)["port"] == b.server.port
    b.close()
    assert read_owner_file(db)["port"] == a.server.port
    a.close()
    assert not owner_file(db).exists()


def test_remote_keeps_the_kpi_rollup_through_the_owner(served):
    """A process that reaches the store through its owner answers KPIs from the hourly rollup
    too: the hours it computes are saved by the owner, and its numbers equal the full query."""
    from test_kpi_rollup import T0 as K0
    from test_kpi_rollup import _check, _fill, _n_hours

    local, _, remote = served
    assert remote.kpi_rollup and local.kpi_rollup
    _fill(remote, np.random.default_rng(12))
    s, e = K0 + timedelta(hours=3, minutes=20), K0 + timedelta(days=2, hours=5)
    _check(remote, s, e)  # cold through the owner, then from the hours the owner stored
    n = _n_hours(local)
    assert n > 0
    # a save whose versions a write has moved stores nothing, through the owner as well
    versions = {
        int(r["machine_id"]): int(r["ver"]) for r in local.query("SELECT * FROM kpi_versions").to_pylist()
    }
    assert versions
    row = local.query("SELECT * FROM kpi_hours LIMIT 1")
    assert remote.kpi_rollup_save(row, {m: v - 1 for m, v in versions.items()}) == 0
    assert _n_hours(local) == n
