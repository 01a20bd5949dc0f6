"""The hub's permissions, names, wire format, configs and metrics (hub/).

A firm's NATS credentials may publish only to its own subjects: publishing to another firm's
subject, reading the stream or calling the JetStream API is refused by nats-server itself
(checked against a real server on a free loopback port).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import nats.errors
import pytest
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.hub.local import LocalHub
from factory_commons.hub.metrics import HubMetrics
from factory_commons.hub.natsconf import Credentials
from factory_commons.hub.stream import connect, ensure_stream
from factory_commons.hub.subjects import (
    BUNDLE_KIND,
    PIECE_ROWS,
    STREAM,
    Bundle,
    Piece,
    check_firm,
    parse_subject,
    read_message,
    subject,
)

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
needs_nats = pytest.mark.skipif(not Path(NATS).exists(), reason="nats-server is not installed")


@needs_nats
def test_a_firm_cannot_publish_to_another_firms_subjects(tmp_path):
    async def scenario(hub: LocalHub) -> dict:
        admin = await connect(hub.admin, hub.servers)
        js = admin.jetstream(timeout=3)
        await ensure_stream(js)
        acme = await connect(hub.firm("acme"), hub.servers)
        errors: list[str] = []

        async def on_error(e: Exception) -> None:
            errors.append(str(e))

        acme._error_cb = on_error  # noqa: SLF001 - collect the server's permission violations
        ajs = acme.jetstream(timeout=0.5)
        own = await ajs.publish(subject("acme", "count"), Piece("t", 0, False, []).encode(), stream=STREAM)
        refused = {}
        for name in (subject("beta", "count"), "fc.beta.state", "fc.>", "$JS.API.STREAM.DELETE.FC"):
            try:
                await ajs.publish(name, b"{}")
                refused[name] = False
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.Error):
                refused[name] = True
        try:  # nor read the stream of every firm
            await acme.subscribe("fc.>")
            await acme.flush(timeout=2)
        except Exception:  # noqa: BLE001 - refused is what we expect
            pass
        await asyncio.sleep(0.3)
        first = (await js.get_msg(STREAM, 1)).subject
        total = (await js.stream_info(STREAM)).state.messages
        await acme.close()
        await admin.close()
        return {
            "own_seq": own.seq,
            "refused": refused,
            "first": first,
            "total": total,
            "errors": errors,
        }

    with LocalHub(tmp_path, ["acme", "beta"]) as hub:
        r = asyncio.run(scenario(hub))
    assert r["own_seq"] == 1  # its own subject: stored
    assert all(r["refused"].values()), r
    assert r["total"] == 1 and r["first"] == "fc.acme.count", r  # nothing else reached the stream
    violations = " ".join(r["errors"]).lower()
    assert "permissions violation" in violations and "fc.beta.count" in violations, r["errors"]
    assert 'subscription to "fc.>"' in violations or 'subscription to "fc.>"' in violations, r["errors"]


@needs_nats
def test_wrong_password_is_refused(tmp_path):
    with LocalHub(tmp_path, ["acme"]) as hub:
        wrong = Credentials("firm_acme", "not-the-password", "acme", hub.servers)

        async def attempt() -> None:
            nc = await __import__("nats").connect(
                servers=list(hub.servers), user=wrong.user, password=wrong.password, allow_reconnect=False
            )
            await nc.close()

        with pytest.raises(Exception, match="(?i)authorization"):
            asyncio.run(attempt())


def test_firm_ids_and_subjects():
    assert subject("acme_2", "state") == "fc.acme_2.state"
    assert parse_subject("fc.acme.count") == ("acme", "count")
    assert parse_subject("fc.acme._events") == ("acme", "_events")
    for bad in ("Acme", "a.b", "a*", "", "1abc", "a" * 41, "acme-x"):
        with pytest.raises(ValueError, match="firm id"):
            check_firm(bad)
    for bad in ("fc.acme", "fc.acme.count.x", "xx.acme.count", "fc.ACME.count", "fc.acme.>"):
        with pytest.raises(ValueError, match="fc.<firm>.<kind>"):
            parse_subject(bad)
    with pytest.raises(ValueError, match="record kind"):
        subject("acme", "a.b")


def test_piece_round_trip_and_bad_messages():
    p = Piece("opc", 1.5, True, [{"machine": "acme/s/a/l/m", "ts": 1, "good": 2}])
    assert Piece.decode(p.encode()) == p
    with pytest.raises(ValueError, match="cannot be read"):
        Piece.decode(b"\xff not json")
    with pytest.raises(ValueError, match="rows"):
        Piece.decode(b'{"rows": 3}')
    with pytest.raises(ValueError, match="rows"):
        Piece.decode(b'{"rows": [1, 2]}')


def test_bundle_round_trip_and_bad_bundles():
    rows = {
        "state": [{"machine": "acme/s/a/l/m", "ts": 1, "state": "running"}],
        "count": [{"machine": "acme/s/a/l/m", "ts": 2, "good": 2}, {"machine": "acme/s/a/l/m", "ts": 3}],
    }
    b = Bundle.of_rows("opc", 1.5, True, rows)
    assert b.kinds["count"] == {"machine": ["acme/s/a/l/m"] * 2, "ts": [2, 3], "good": [2, None]}
    assert Bundle.decode(b.encode()) == b and b.rows("count") == 2 and b.rows("signal") == 0
    assert read_message(BUNDLE_KIND, b.encode()) == b
    # a one-kind piece (an older forwarder) reads as a bundle of its kind
    one = read_message("count", Piece("opc", 1.5, True, rows["count"]).encode())
    assert one.kinds == {"count": b.kinds["count"]} and one.late
    for bad in (
        b"\xff not json",
        b'{"v": 2, "kinds": []}',
        b'{"v": 2, "kinds": {"count": {"ts": [1, 2], "good": [1]}}}',  # columns of unequal length
        b'{"v": 2, "kinds": {"count": {"ts": 3}}}',
        b'{"v": 2, "kinds": {"_events": {"ts": [1]}}}',  # the hub's own kinds travel alone
        b'{"v": 2, "kinds": {"Count": {"ts": [1]}}}',
    ):
        with pytest.raises(ValueError, match="cannot be read"):
            Bundle.decode(bad)


@needs_nats
def test_forwarder_sends_a_sources_kinds_as_bundles(tmp_path):
    """One source's puts of several kinds go as bundles of at most PIECE_ROWS rows on
    `fc.<firm>._rows`, each with its own message id; every row arrives once."""
    from factory_commons.collect.buffer import Buffer
    from factory_commons.hub.edge import EdgeForwarder

    ts = 1_793_577_600_000_000
    m = "acme/s/a/l/m1"
    with LocalHub(tmp_path / "hub", ["acme"]) as hub, Buffer(tmp_path / "b.sqlite") as buf:
        buf.put("opc", "state", [{"machine": m, "ts": ts, "state": "running"}])
        buf.put("opc", "count", [{"machine": m, "ts": ts + i, "good": 1} for i in range(PIECE_ROWS + 5)])
        buf.put("opc", "state", [{"machine": m, "ts": ts + 9, "state": "idle"}])

        async def scenario() -> list:
            admin = await connect(hub.admin, hub.servers)
            js = admin.jetstream(timeout=3)
            await ensure_stream(js)
            firm = await connect(hub.firm("acme"), hub.servers)
            sent = await EdgeForwarder(buf, "acme", hub.firm("acme")).forward_once(firm.jetstream(timeout=3))
            n = (await js.stream_info(STREAM)).state.messages
            msgs = [await js.get_msg(STREAM, s) for s in range(1, n + 1)]
            await firm.close()
            await admin.close()
            return [sent, msgs]

        sent, msgs = asyncio.run(scenario())
        assert buf.pending_rows() == 0
    assert sent == PIECE_ROWS + 7
    assert [x.subject for x in msgs] == ["fc.acme._rows"] * 2
    assert len({x.headers["Nats-Msg-Id"] for x in msgs}) == 2
    bundles = [Bundle.decode(x.data) for x in msgs]
    assert [b.rows("count") for b in bundles] == [PIECE_ROWS - 1, 6]
    assert sum(b.rows("state") for b in bundles) == 2 and bundles[0].kinds["state"]["ts"] == [ts]


def test_nats_config_writes_hashed_passwords_and_permissions(tmp_path):
    firms = tmp_path / "firms.txt"
    firms.write_text("acme\nbeta  # a comment\n\n")
    r = CliRunner().invoke(
        app, ["hub", "nats-config", "--out", str(tmp_path / "out"), "--firms-file", str(firms)]
    )
    assert r.exit_code == 0, r.output
    conf = (tmp_path / "out" / "accounts.conf").read_text()
    acme = Credentials.load(tmp_path / "out" / "creds" / "firm_acme.json")
    assert acme.firm == "acme" and acme.password not in conf  # only the bcrypt hash is in the server's file
    assert 'publish: { allow: ["fc.acme.>"] }' in conf and 'subscribe: { allow: ["_INBOX.acme.>"] }' in conf
    assert (tmp_path / "out" / "creds" / "ingest.json").stat().st_mode & 0o077 == 0


def test_nats_config_names_the_bad_line(tmp_path):
    firms = tmp_path / "firms.txt"
    firms.write_text("acme\nBad-Firm\n")
    r = CliRunner().invoke(
        app, ["hub", "nats-config", "--out", str(tmp_path / "o"), "--firms-file", str(firms)]
    )
    assert r.exit_code == 2
    assert f"{firms}:2" in r.output.replace("\n", "") and "firm id" in r.output


def test_cluster_config_three_nodes_route_to_each_other(tmp_path):
    r = CliRunner().invoke(app, ["hub", "cluster-config", "--out", str(tmp_path), "--nodes", "3"])
    assert r.exit_code == 0, r.output
    confs = [(tmp_path / f"n{i}.conf").read_text() for i in (1, 2, 3)]
    assert "listen: 127.0.0.1:4222" in confs[0] and "listen: 127.0.0.1:4224" in confs[2]
    assert "nats-route://127.0.0.1:6223" in confs[0] and "nats-route://127.0.0.1:6222" not in confs[0]
    assert all('include "accounts.conf"' in c and "jetstream" in c for c in confs)


def test_bad_credentials_file_is_named(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"user": "x"}))
    r = CliRunner().invoke(app, ["hub", "status", "--creds", str(bad)])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "'password' missing" in out and "c.json" in out


def test_metrics_text_and_health():
    m = HubMetrics()
    assert m.health()[0] == 503  # neither NATS nor PostgreSQL yet
    m.set_nats(True)
    m.set_pg(True)
    m.batch_done({"acme": 10, "beta": 0}, lags=[0.1, 0.2], edge_lags=[1.0], pending=7, seconds=0.05)
    code, body = m.health()
    assert code == 200 and body["consumer_pending"] == 7
    text = m.prometheus()
    assert "fc_hub_points_total 10" in text
    assert 'fc_hub_firm_last_data_timestamp_seconds{firm="acme"}' in text and 'firm="beta"' not in text
    assert 'fc_hub_ingest_lag_seconds{quantile="0.95"} 0.2' in text
    assert "fc_hub_consumer_pending 7" in text
    # the lag quantiles are kept between polls, and follow the next batch
    m.batch_done({"acme": 1}, lags=[9.0] * 40, edge_lags=[], pending=0, seconds=0.05)
    assert m.health()[1]["lag_p95_s"] == 9.0 and "acme" not in str(m.health()[1])


def _msg(subject_name: str, body: bytes, mid: str):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    meta = SimpleNamespace(timestamp=datetime.now(UTC), num_pending=0, stream=STREAM, sequence=None)
    return SimpleNamespace(subject=subject_name, data=body, headers={"Nats-Msg-Id": mid}, metadata=meta)


def test_ingest_batch_refuses_foreign_and_bad_rows_and_records_late_data(pg_url):
    """One batch as a worker writes it (no NATS needed): in a shared schema a firm's rows of
    another firm's machines are refused, a bad row is refused with its reason and the rest
    written, an unreadable message is refused, late data leaves a `late` collection event, and
    the same batch again writes nothing."""
    import psycopg

    from factory_commons.hub.ingest import IngestWorker

    ts = 1_793_577_600_000_000  # 2026-11-02 in epoch microseconds
    good = [{"machine": "acme/s/a/l/m1", "ts": ts + i, "good": 1} for i in range(3)]
    foreign = [{"machine": "beta/s/a/l/m1", "ts": ts, "good": 5}]
    bad = [{"machine": "acme/s/a/l/m1", "ts": ts + 9, "good": -4}]
    msgs = [
        _msg("fc.acme.count", Piece("opc", 1.0, True, good + foreign + bad).encode(), "e:1:0"),
        _msg("fc.acme.count", b"not json", "e:2:0"),
        _msg("fc.acme", b"{}", "e:3:0"),
    ]
    worker = IngestWorker(Credentials("ingest", "x"), pg_url, schema_template="hub_shared_t")
    try:
        ok, refused = worker.write(msgs)
        assert len(ok) == 1 and len(refused) == 2
        assert worker.metrics.rejected_rows == 2  # the foreign row and the negative count
        assert "good" in worker.metrics.last_refusal or "beta" in worker.metrics.last_refusal
        worker.write(msgs[:1])  # again: nothing twice
        with psycopg.connect(pg_url) as con:
            rows = con.execute("SELECT count(*), sum(good) FROM hub_shared_t.v_counts").fetchone()
            # the KPI rollup is kept as on any write: the machine's version was raised
            versions = con.execute("SELECT count(*) FROM hub_shared_t.kpi_versions WHERE ver > 0").fetchone()[
                0
            ]
            late = con.execute(
                "SELECT source, rows FROM hub_shared_t.collect_events WHERE event = 'late'"
            ).fetchall()
        assert rows == (3, 3)
        assert late == [("acme/opc", 5)]
        assert worker.metrics.duplicate_rows == 3
        assert versions == 1
    finally:
        worker._drop_pg()  # noqa: SLF001
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute("DROP SCHEMA IF EXISTS hub_shared_t CASCADE")


def test_ingest_reads_bundles_beside_one_kind_pieces(pg_url):
    """A bundle's kinds land in their tables, beside a one-kind piece of an older forwarder in
    the same batch; a foreign machine in a bundle is refused, its other rows written; a late
    bundle leaves one `late` event per kind; the same batch again writes nothing."""
    import psycopg

    from factory_commons.hub.ingest import IngestWorker

    ts = 1_793_577_600_000_000
    m = "acme/s/a/l/m1"
    bundle = Bundle.of_rows(
        "opc",
        1.0,
        True,
        {
            "state": [
                {"machine": m, "ts": ts, "state": "running"},
                {"machine": "beta/s/a/l/m1", "ts": ts, "state": "idle"},
            ],
            "signal": [{"machine": m, "name": "load", "ts": ts + i, "value": i / 2} for i in range(4)],
        },
    )
    piece = Piece("plc", 1.0, False, [{"machine": m, "ts": ts + 5, "good": 3}])
    msgs = [
        _msg("fc.acme._rows", bundle.encode(), "e:1-3:b0"),
        _msg("fc.acme.count", piece.encode(), "o:4:0"),
    ]
    worker = IngestWorker(Credentials("ingest", "x"), pg_url, schema_template="hub_bundle_t")
    try:
        ok, refused = worker.write(msgs)
        assert len(ok) == 2 and not refused and worker.metrics.rejected_rows == 1
        worker.write(msgs)
        with psycopg.connect(pg_url) as con:
            got = [
                con.execute(f"SELECT count(*) FROM hub_bundle_t.{t}").fetchone()[0]
                for t in ("states", "signals", "counts")
            ]
            late = con.execute(
                "SELECT rows FROM hub_bundle_t.collect_events WHERE event = 'late' ORDER BY rows"
            ).fetchall()
        assert got == [1, 4, 1]
        assert late == [(2,), (4,)]  # the rows each kind of the message carried, as for a piece
        assert worker.metrics.duplicate_rows == 6
    finally:
        worker._drop_pg()  # noqa: SLF001
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute("DROP SCHEMA IF EXISTS hub_bundle_t CASCADE")


def _delivered(subject_name: str, body: bytes, mid: str, seq: int, times: int = 1):
    """A message as the pull consumer hands it over: its reply subject says how many times it
    was delivered (the worker COPYs a batch delivered for the first time)."""
    from types import SimpleNamespace

    reply = f"$JS.ACK.{STREAM}.ingest.{times}.{seq}.{seq}.1793577600000000000.0"
    return SimpleNamespace(subject=subject_name, data=body, headers={"Nats-Msg-Id": mid}, reply=reply)


def test_first_delivery_is_copied_and_a_stored_key_falls_back_to_on_conflict(pg_url):
    """A batch no worker saw before goes in by plain COPY (binary where the columns allow),
    the KPI rollup invalidated once per machine and batch; rows already stored (an edge that
    sent them again after the duplicate window, under a new message id) or a key twice in one
    batch make the key index refuse the COPY, and the rows then go in by ON CONFLICT DO NOTHING:
    each row once, the first row of a repeated key kept. A redelivered batch is not COPY'd."""
    import psycopg

    from factory_commons.hub.ingest import IngestWorker, _delivery

    ts = 1_793_577_600_000_000
    m = "acme/s/a/l/m1"

    def bundle(states, counts, signals) -> bytes:
        return Bundle.of_rows(
            "opc", 1.0, False, {"state": states, "count": counts, "signal": signals}
        ).encode()

    first = bundle(
        [{"machine": m, "ts": ts, "state": "running"}],
        [{"machine": m, "ts": ts + i, "good": 1} for i in range(3)],
        [{"machine": m, "name": "load", "ts": ts + i, "value": i / 2} for i in range(4)],
    )
    again = bundle(  # the same rows, one new of each kind
        [{"machine": m, "ts": ts, "state": "running"}, {"machine": m, "ts": ts + 9, "state": "idle"}],
        [{"machine": m, "ts": ts + i, "good": 1} for i in range(4)],
        [{"machine": m, "name": "load", "ts": ts + i, "value": i / 2} for i in range(5)],
    )
    twice = bundle(  # one key twice in the batch: the first row wins
        [],
        [{"machine": m, "ts": ts + 20, "good": 7}, {"machine": m, "ts": ts + 20, "good": 8}],
        [],
    )
    redelivered = bundle([], [{"machine": m, "ts": ts + 30, "good": 2}], [])
    assert _delivery(_delivered("fc.acme._rows", first, "x", 5, times=3))[::3] == (5, 3)
    worker = IngestWorker(Credentials("ingest", "x"), pg_url, schema_template="hub_copy_t")
    try:
        worker.write([_delivered("fc.acme._rows", first, "e:1:b0", 1)])
        store = worker.store_of("acme")
        assert (store.copied_rows, store.copy_fallbacks) == (8, 0)
        with psycopg.connect(pg_url) as con:  # states and counts of one machine: raised once
            assert con.execute("SELECT ver FROM hub_copy_t.kpi_versions").fetchall() == [(1,)]
        worker.write([_delivered("fc.acme._rows", again, "e2:1:b0", 2)])
        assert store.copied_rows == 8 and store.copy_fallbacks == 3  # every kind refused
        assert worker.metrics.duplicate_rows == 8
        worker.write([_delivered("fc.acme._rows", twice, "e:2:b0", 3)])
        assert store.copy_fallbacks == 4
        worker.write([_delivered("fc.acme._rows", redelivered, "e:3:b0", 4, times=2)])
        assert store.copied_rows == 8 and store.copy_fallbacks == 4
        with psycopg.connect(pg_url) as con:
            got = [
                con.execute(f"SELECT count(*) FROM hub_copy_t.{t}").fetchone()[0]
                for t in ("states", "counts", "signals")
            ]
            kept = con.execute("SELECT good FROM hub_copy_t.v_counts WHERE good > 1 ORDER BY ts").fetchall()
            latest = con.execute("SELECT state FROM hub_copy_t.latest_states").fetchall()
        assert got == [2, 6, 5]
        assert kept == [(7,), (2,)]
        assert latest == [("idle",)]
    finally:
        worker._drop_pg()  # noqa: SLF001
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute("DROP SCHEMA IF EXISTS hub_copy_t CASCADE")


@needs_nats
def test_a_shop_leaf_node_forwards_its_firms_subjects_only(tmp_path):
    """A shop PC's leaf node (hub leaf-config) logs in as the firm's user: the collector talks to
    the leaf without a password, its own subjects reach the hub stream, another firm's do not."""
    import subprocess

    from factory_commons.hub.local import free_ports, wait_port
    from factory_commons.hub.natsconf import leaf_conf

    with LocalHub(tmp_path / "hub", ["acme", "beta"], leaf=True) as hub:
        port = free_ports(1)[0]
        conf = tmp_path / "leaf.conf"
        hub_leaf = f"nats-leaf://127.0.0.1:{hub.nodes[0].leaf_port}"
        conf.write_text(leaf_conf("acme", [hub_leaf], hub.firm("acme"), f"127.0.0.1:{port}"))
        leaf = subprocess.Popen([NATS, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port("127.0.0.1", port)

            async def scenario() -> tuple[int, list[str]]:
                admin = await connect(hub.admin, hub.servers)
                js = admin.jetstream(timeout=3)
                await ensure_stream(js)
                # the forwarder's connection: the firm's inbox prefix (its replies pass the leaf)
                local = await connect(hub.firm("acme"), [f"nats://127.0.0.1:{port}"])
                ljs = local.jetstream(timeout=1)
                seq = 0
                for _ in range(30):  # until the leaf connection is up
                    try:
                        seq = (await ljs.publish("fc.acme.count", b'{"rows": []}', stream=STREAM)).seq
                        break
                    except Exception:  # noqa: BLE001 - not linked yet
                        await asyncio.sleep(0.25)
                try:
                    await ljs.publish("fc.beta.count", b'{"rows": []}')
                except Exception:  # noqa: BLE001 - refused at the hub: no acknowledgement
                    pass
                await asyncio.sleep(0.3)
                info = await js.stream_info(STREAM)
                subjects = [(await js.get_msg(STREAM, s)).subject for s in range(1, info.state.messages + 1)]
                await local.close()
                await admin.close()
                return seq, subjects

            seq, subjects = asyncio.run(scenario())
        finally:
            leaf.terminate()
            leaf.wait(5)
    assert seq == 1
    assert subjects == ["fc.acme.count"]
