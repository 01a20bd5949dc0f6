"""The Modbus connector against two server stacks: pymodbus' own and modbus-serial from npm.

Both peers (tests/npm_peers_modbus.py) serve the same machine program on units 1 and 2 of one
gateway (state codes, a uint32 part counter that rolls over on unit 2, a float32 signal, an
alarm coil; high word first on unit 1, low word first on unit 2) while a point on unit 3
never gets a value (modbus-serial leaves it silent, pymodbus answers exception 4). Mid-run
the peer is killed and started again on the same port. From the peer's own log the test
counts produced state changes against stored ones (stored once, duplicated, lost inside a
recorded gap, lost unrecorded) and checks every part, value and gap.

The npm peer is installed once into ~/.cache/factory-commons/npm (npm ci); without node and
npm those tests are skipped with the reason, unless FC_REQUIRE_NPM=1 (then they fail).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from npm_peers_modbus import (
    NpmModbusPeer,
    PeerSettings,
    PymodbusPeer,
    free_port,
    install_npm_peer,
    interop_counts,
    program,
    read_log,
)

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.modbus import ModbusConnector, ModbusPoint
from factory_commons.store import DuckDBStore

MACHINES = {u: f"acme/창원/프레스/line-1/press-{u}" for u in (1, 2, 3)}
CODES = {1: "running", 2: "idle", 3: "setup"}


def wait_until(cond, timeout: float = 20.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


@pytest.fixture(scope="session")
def npm_modbus_modules():
    """modbus-serial installed into the npm cache folder, or a skip (a failure under
    FC_REQUIRE_NPM=1) that says why (npm_peers.install)."""
    return install_npm_peer()


@pytest.fixture(params=["pymodbus", "modbus-serial"])
def modbus_peer(request, tmp_path):
    """A factory: settings -> a started peer of this stack; every peer is stopped at the end."""
    peers = []

    def make(settings: PeerSettings):
        if request.param == "modbus-serial":
            peer = NpmModbusPeer(settings, request.getfixturevalue("npm_modbus_modules"))
        else:
            peer = PymodbusPeer(settings)
        peer.start()
        peers.append(peer)
        return peer

    make.stack = request.param
    yield make
    for peer in peers:
        peer.stop()


def _points() -> list[ModbusPoint]:
    points = []
    for unit in (1, 2):
        order = "little" if unit % 2 == 0 else "big"
        machine, uid = MACHINES[unit], (None if unit == 1 else unit)  # unit 1 is the device's unit

        def point(address, mapping, table="holding", dtype="uint16", uid=uid, **kw):
            return ModbusPoint(table=table, address=address, dtype=dtype, unit_id=uid, mapping=mapping, **kw)

        points += [
            point(0, PointMapping(machine=machine, kind="state", state_codes=CODES)),
            point(
                1,
                PointMapping(machine=machine, kind="count", counter="total"),
                dtype="uint32",
                word_order=order,
            ),
            point(
                3,
                PointMapping(machine=machine, kind="signal", name="온도"),
                dtype="float32",
                word_order=order,
            ),
            point(0, PointMapping(machine=machine, kind="alarm", name="E-STOP"), table="coil", dtype="bool"),
        ]
    silent = PointMapping(machine=MACHINES[3], kind="state", state_codes=CODES)
    return [*points, ModbusPoint(address=0, unit_id=3, mapping=silent)]


def _epoch(ts: datetime) -> float:
    return ts.timestamp()


def test_both_stacks_every_change_once_every_part_and_gap_with_a_silent_unit(modbus_peer, tmp_path):
    # 600 ms a step: a silent unit's retry holds the gateway's one connection for its 0.3 s timeout,
    # and a loaded runner adds as much again; a state shorter than the polls' gap cannot be seen
    settings = PeerSettings(port=free_port(), log=tmp_path / "peer.jsonl", step_ms=600, steps=20)
    peer = modbus_peer(settings)
    buf = Buffer(tmp_path / "buffer.sqlite")
    conn = ModbusConnector(
        "gateway", buf, "127.0.0.1", _points(), port=settings.port, interval_s=0.05, timeout_s=0.3
    )
    conn.unit_retry_s = 2.0
    stop, fstop = threading.Event(), threading.Event()
    fwd = Forwarder(buf, lambda: DuckDBStore(tmp_path / "store.duckdb"))
    threads = [
        threading.Thread(target=conn.run, args=(stop,)),
        threading.Thread(target=fwd.run, args=(fstop,)),
    ]
    for t in threads:
        t.start()
    final = {u: program(u, settings.steps)["total"] for u in (1, 2)}
    keys = {1: "holding:1", 2: "holding:1@2"}
    try:
        # units 1 and 2 are collected although unit 3 never answers (the whole device stopped before)
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED and conn.polls >= 3, 10)
        assert wait_until(lambda: settings.step_now() >= 7)
        peer.kill()
        killed = time.time()
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, 10)
        time.sleep(1.2)
        polls = conn.polls
        peer.start()
        restarted = time.time()
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED and conn.polls > polls)
        recovery = time.time() - restarted
        connected_reason = conn.health.reason
        assert wait_until(
            lambda: all((conn.converters[keys[u]].last or 0) % 2**32 == final[u] for u in (1, 2)), 30
        )
    finally:
        stop.set()
        threads[0].join(10)
        assert wait_until(lambda: buf.pending_rows() == 0 and not buf.unforwarded_events(), 10)
        fstop.set()
        threads[1].join(10)

    store = DuckDBStore(tmp_path / "store.duckdb")
    log = read_log(settings.log)
    unit_of = {m: u for u, m in MACHINES.items()}
    stored: dict[int, list[tuple[float, str]]] = {1: [], 2: []}
    for r in store.read("state").to_pylist():
        stored[unit_of[r["machine"]]].append((_epoch(r["ts"]), r["state"]))
    gap_rows = store.query(
        "SELECT machine, start_ts, end_ts FROM collect_events WHERE event = 'gap'"
    ).to_pylist()
    gaps: dict[int, list[tuple[float, float]]] = {}
    for g in gap_rows:
        gaps.setdefault(unit_of[g["machine"]], []).append((_epoch(g["start_ts"]), _epoch(g["end_ts"])))
    counts = interop_counts(log, stored, gaps, tol=0.3)  # same-state changes are 1.2 s apart
    counts["gaps"] = len(gap_rows)
    print(f"\n{modbus_peer.stack}: {counts}; reconnected {recovery:.2f} s after the peer listened again")

    assert counts["lost_unrecorded"] == 0 and counts["duplicated"] == 0 and counts["extra"] == 0
    assert counts["stored_once"] + counts["lost_in_gap"] == counts["produced"] > 10
    # per machine one gap spans the outage; none for unit 3's machine (it never had a value).
    # On a loaded machine a read can also time out before or after the outage (the in-thread
    # peer waits for the GIL): such a gap is real and recorded, but it must be short and must
    # not overlap the outage's gap.
    assert sorted(gaps) == [1, 2]
    for unit, spans in gaps.items():
        outage = [(s, e) for s, e in spans if s <= killed + 0.05 and e >= restarted - 0.05]
        assert len(outage) == 1, (unit, spans, killed, restarted)
        others = [(s, e) for s, e in spans if (s, e) not in outage]
        assert all(e - s < 5.0 and (e <= outage[0][0] or s >= outage[0][1]) for s, e in others), (
            unit,
            spans,
        )
    # every part, across the outage and unit 2's rollover at 2^32
    for u in (1, 2):
        good = sum(r["good"] for r in store.read("count", machines=[MACHINES[u]]).to_pylist())
        assert good == program(u, settings.steps)["made"], u
    # every value decoded right, whatever the word order
    served = {(e["unit"], e["signal"]) for e in log if e["ev"] == "step"}
    signals = store.read("signal").to_pylist()
    wrong = [r for r in signals if (unit_of[r["machine"]], r["value"]) not in served]
    assert signals and not wrong
    alarms = {(unit_of[a["machine"]], a["active"]) for a in store.read("alarm").to_pylist()}
    assert alarms == {(1, True), (1, False), (2, True), (2, False)}
    assert not store.read("state", machines=[MACHINES[3]]).to_pylist()
    unit3 = [r["reason"] for r in buf.rejects(1000) if "(unit 3)" in r["reason"] or "unit 3 " in r["reason"]]
    assert unit3
    if modbus_peer.stack == "modbus-serial":  # silent: marked so, named, its machine in an open gap
        assert conn.unit_health[3].state == "silent" and "unit id 3" in unit3[0]
        assert "silent unit(s) 3" in connected_reason
        assert MACHINES[3] in conn.gaps.open_gaps
        assert any(e["ev"] == "ignored" and e["unit"] == 3 for e in log)
    store.close()
    buf.close()


def test_npm_peer_a_wrong_device_unit_is_named_and_its_outage_recorded(npm_modbus_modules, tmp_path):
    settings = PeerSettings(port=free_port(), log=tmp_path / "peer.jsonl", units=(1,), silent=())
    peer = NpmModbusPeer(settings, npm_modbus_modules)
    peer.start()
    buf = Buffer(":memory:")
    point = ModbusPoint(address=0, mapping=PointMapping(machine=MACHINES[1], kind="state", state_codes=CODES))
    conn = ModbusConnector("plc", buf, "127.0.0.1", [point], port=settings.port, unit=9, timeout_s=0.2)
    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, 10)
        assert "check that unit id 9" in conn.health.reason and "유닛" in conn.health.reason
        assert set(conn.gaps.open_gaps) == {MACHINES[1]}  # recorded from the start, though never connected
    finally:
        stop.set()
        t.join(10)
        peer.stop()
    assert any(e["ev"] == "ignored" and e["unit"] == 9 for e in read_log(settings.log))
