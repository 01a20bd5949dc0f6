"""`factory-commons retrofit learn|infer|show|correct` and `infer --csv` on small generated traces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.model import Machine
from factory_commons.retrofit import records
from factory_commons.retrofit.traces import trace, write_csv
from factory_commons.store import DuckDBStore

runner = CliRunner()
PRESS = "acme/changwon/legacy/legacy-1/press-09"
LATHE = "acme/changwon/legacy/legacy-1/lathe-09"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HANGUL = ("\uac00", "\ud7a3")


def _korean(text: str) -> bool:
    return any(HANGUL[0] <= ch <= HANGUL[1] for ch in text)


def _signal(machine: str, ts: np.ndarray, amps: np.ndarray) -> list[dict]:
    keep = np.isfinite(amps)
    return [
        {"machine": machine, "name": "current", "ts": t, "value": float(a), "unit": "A"}
        for t, a in zip(ts[keep].astype(datetime).tolist(), amps[keep].tolist(), strict=True)
    ]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> tuple[Path, dict]:
    """Four hours of a mechanical press and a lathe at 1 Hz, with their truth."""
    path = tmp_path_factory.mktemp("retrofit") / "r.duckdb"
    truth = {}
    with DuckDBStore(path) as st:
        st.register_machines([Machine(path=PRESS, default_ideal_cycle_time_s=4.0), Machine(path=LATHE)])
        for k, (m, kind) in enumerate(((PRESS, "mechanical_press"), (LATHE, "lathe"))):
            ts, amps, state, cycle = trace(kind, START, 4 * 3600, np.random.default_rng(k + 1), hz=1.0)
            st.write_table("signal", _signal(m, ts, amps))
            truth[m] = (ts, state, cycle)
    return path, truth


def _run(*args: str):
    return runner.invoke(app, ["retrofit", *args])


def test_learn_infer_show_and_infer_again_changes_nothing(store_path):
    path, truth = store_path
    r = _run("learn", "--store", str(path))
    assert r.exit_code == 0, r.output
    assert PRESS in r.output and "idle" in r.output and "learned from" in r.output
    with DuckDBStore(path) as st:
        model = records.load_model(st, PRESS)
    assert model is not None and "running" in model.level_states

    r = _run("infer", "--store", str(path))
    assert r.exit_code == 0, r.output
    assert "state changes" in r.output
    with DuckDBStore(path) as st:
        rows = st.query("SELECT source, confidence, state FROM states").to_pylist()
        counts = st.query("SELECT sum(good) AS g, min(source) AS s FROM counts").to_pylist()[0]
        ts, state, cycle = truth[LATHE]
        pred = records.read_current(st, LATHE)  # stored samples
        stored = st.query(
            "SELECT x.ts, x.state FROM states x JOIN machines m USING (machine_id) WHERE m.path = ? ORDER BY ts",
            [LATHE],
        ).to_pylist()
        from factory_commons.kpi import compute_kpis

        k = compute_kpis(st, START, START + timedelta(hours=4)).set_index("machine")
    assert rows and {r["source"] for r in rows} == {"inferred"}
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)
    assert {r["state"] for r in rows} <= {"running", "idle", "planned_stop"}
    assert counts["s"] == "inferred" and counts["g"] > 0
    # the stored states follow the truth on most samples (off is stored as planned_stop)
    st_ts = np.array([r["ts"] for r in stored], dtype="datetime64[us]")
    names = np.array([{"planned_stop": "off"}.get(r["state"], r["state"]) for r in stored])
    at = names[np.maximum(np.searchsorted(st_ts, pred[0], side="right") - 1, 0)]
    want = state[np.isin(ts, pred[0])]
    assert np.mean(at == want) > 0.9
    assert 0.0 < k.loc[PRESS, "availability"] <= 1.0  # the OEE reads the inferred states

    r = _run("infer", "--store", str(path), "--machine", PRESS)
    assert r.exit_code == 0, r.output
    assert "nothing written" in r.output and _korean(r.output)

    r = _run("show", "--store", str(path), "-m", LATHE)
    assert r.exit_code == 0, r.output
    assert "A" in r.output and "cycle period" in r.output and LATHE[:20] in r.output


def _cycles(path: Path, machine: str) -> int:
    with DuckDBStore(path) as st:
        got = st.query(
            "SELECT coalesce(sum(good), 0) AS g FROM counts x JOIN machines m USING (machine_id) WHERE m.path = ?",
            [machine],
        ).to_pylist()
    return int(got[0]["g"])


def test_press_cycles_are_counted(store_path):
    path, truth = store_path
    assert _run("infer", "--store", str(path), "-m", PRESS).exit_code == 0
    with DuckDBStore(path) as st:
        ts, amps = records.read_current(st, PRESS)
        inf = records.load_model(st, PRESS).infer(ts, amps)
    found, true = _cycles(path, PRESS), int(truth[PRESS][2][-1])
    assert found == len(inf.cycles)  # every cycle start is one part, none lost or doubled
    assert abs(found - true) / true < 0.25, (found, true)  # the inference's own accuracy: bench/retrofit.py


def test_a_correction_is_kept_and_the_states_are_rewritten(store_path):
    path, truth = store_path
    ts, state, _ = truth[LATHE]
    idle = np.flatnonzero(state == "idle")
    a = ts[idle[len(idle) // 2]].astype(datetime).replace(tzinfo=UTC)
    start, end = a.isoformat(), (a + timedelta(minutes=2)).isoformat()
    assert _run("infer", "--store", str(path), "-m", LATHE).exit_code == 0
    r = _run("correct", "--store", str(path), "-m", LATHE, "--from", start, "--to", end, "--state", "running")
    assert r.exit_code == 0, r.output
    with DuckDBStore(path) as st:
        model = records.load_model(st, LATHE)
        at = st.query(
            "SELECT x.state FROM states x JOIN machines m USING (machine_id) WHERE m.path = ? AND x.ts <= ? "
            "ORDER BY x.ts DESC LIMIT 1",
            [LATHE, (a + timedelta(minutes=1)).replace(tzinfo=None)],
        ).to_pylist()
    assert len(model.corrections) == 1
    assert at == [{"state": "running"}]  # the person's word holds for that stretch


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (
            ("correct", "-m", LATHE, "--from", "2026-03-02", "--to", "2026-03-03", "--state", "walking"),
            "walking",
        ),
        (("correct", "-m", LATHE, "--from", "2026-03-03", "--to", "2026-03-02", "--state", "idle"), "--to"),
        (("infer", "-m", "acme/changwon/legacy/legacy-1/none"), "no current signal"),
        (("show", "--from", "yesterday"), "not a date"),
    ],
)
def test_bad_options_are_refused_in_korean_and_english(store_path, args, why):
    path, _ = store_path
    r = _run(*args, "--store", str(path))
    assert r.exit_code == 2, r.output
    assert why in r.output and _korean(r.output)


def test_infer_needs_a_store_or_a_file(store_path):
    r = _run("infer")
    assert r.exit_code == 2 and "--csv" in r.output


def test_infer_csv_scores_a_benchmark_file_and_reads_a_bare_sensor_file(tmp_path):
    ts, amps, state, cycle = trace("hydraulic_press", START, 3 * 3600, np.random.default_rng(5), hz=2.0)
    f = tmp_path / "inj.csv"
    write_csv(f, ts, amps, state, cycle)
    r = _run("infer", "--csv", str(f))
    assert r.exit_code == 0, r.output
    assert "balanced accuracy" in r.output and "inj.csv" in r.output
    acc = float(r.output.split("accuracy ")[1].split(",")[0])  # the Korean text comes first
    assert acc > 0.9
    bare = tmp_path / "new_sensor.csv"
    bare.write_text(
        "ts,current_a\n"
        + "".join(f"2026-03-02T08:00:{s:02d}+09:00,{1.0 + 9 * (s % 20 > 9)}\n" for s in range(60)),
        encoding="utf-8",
    )
    r = _run("infer", "--csv", str(bare))
    assert r.exit_code == 0, r.output
    assert "balanced" not in r.output
    # saved from Korean Excel: CP949, with a Korean column beside the two that are read
    kr = tmp_path / "센서_kr.csv"
    kr.write_bytes(
        (
            "ts,current_a,비고\n"
            + "".join(f"2026-03-02T08:00:{s:02d}+09:00,{1.0 + 9 * (s % 20 > 9)},가동\n" for s in range(60))
        ).encode("cp949")
    )
    r = _run("infer", "--csv", str(kr))
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("time,amps\n1,2\n", "'ts'"),
        ("ts,current_a\n2026-03-02T08:00:00+09:00,abc\n", "line 2"),
        ("ts,current_a\nnot-a-time,1.0\n", "line 2"),
    ],
)
def test_a_bad_csv_names_the_file_line_and_field(tmp_path, text, why):
    f = tmp_path / "bad.csv"
    f.write_text(text, encoding="utf-8")
    r = _run("infer", "--csv", str(f))
    assert r.exit_code == 2, r.output
    assert "bad.csv" in r.output and why in r.output and _korean(r.output)


# -- the page: the current trace with the inferred states ------------------------------------
def test_the_page_draws_the_trace_and_states_for_the_firms_own_machines(tmp_path):
    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient

    from factory_commons.accounts import Accounts
    from factory_commons.server import create_app

    own, other = "acme/s1/old/l1/press-01", "beta/s1/old/l1/lathe-01"
    store = DuckDBStore(tmp_path / "p.duckdb")
    store.register_machines([Machine(path=own), Machine(path=other)])
    for k, m in enumerate((own, other)):
        ts, amps, _, _ = trace("mechanical_press", START, 2 * 3600, np.random.default_rng(k + 7), hz=1.0)
        store.write_table("signal", _signal(m, ts, amps))
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    firm = accounts.create_firm("acme", ["acme"])
    accounts.create_user(firm.id, "owner@acme.example", "acme owner", "owner", "correct horse 1")
    app = create_app(store, accounts, clock=lambda: START + timedelta(hours=3))
    c = TestClient(app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post(
        "/login",
        data={"email": "owner@acme.example", "password": "correct horse 1", "csrf_token": token, "next": "/"},
    )
    assert r.status_code == 200
    page = c.get("/retrofit")
    assert page.status_code == 200 and own in page.text and other not in page.text
    page = c.get(f"/retrofit/{own}")
    assert page.status_code == 200, page.text[:500]
    assert 'id="retrofit-chart"' in page.text and "band-running" in page.text and "band-off" in page.text
    assert "retrofit-learned-here" in page.text  # no stored model yet: learned on the data shown
    assert "<script" not in page.text.split('id="retrofit-chart"')[1].split("</svg>")[0]
    c.cookies.set("lang", "en")
    page = c.get(
        f"/retrofit/{own}", params={"from": "2026-03-02T06:00+00:00", "to": "2026-03-02T07:00+00:00"}
    )
    assert page.status_code == 200 and "Levels learned" in page.text
    assert c.get(f"/retrofit/{other}").status_code == 404  # another firm's machine
    bad = c.get(f"/retrofit/{own}", params={"from": "yesterday"})
    assert bad.status_code == 400 and "bad period" in bad.text
    bad = c.get(f"/retrofit/{own}", params={"from": "2026-03-02T07:00", "to": "2026-03-02T06:00"})
    assert bad.status_code == 400
    store.close()


def test_levels_name_each_state_once_with_the_range_of_its_levels():
    from types import SimpleNamespace

    from factory_commons.retrofit.cli import _levels_text

    model = SimpleNamespace(
        means=np.log([4.0, 0.001, 15.0, 0.02, 16.0]),
        level_states=["idle", "off", "running", "off", "running"],
    )
    assert _levels_text(model) == "off 0.00-0.02 A (2), idle 4.00 A, running 15.00-16.00 A (2)"
