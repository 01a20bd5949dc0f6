"""`factory-commons commons region|catalog|match|team|allocate` and the demo's commons half."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.model import Profile, Request

runner = CliRunner()
TODAY = "2026-11-23"


@pytest.fixture(scope="module")
def commons(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("commons") / "c.sqlite")
    r = runner.invoke(
        app,
        [
            "commons",
            "region",
            "--commons",
            path,
            "--firms",
            "150",
            "--requests",
            "20",
            "--experts",
            "10",
            "--today",
            TODAY,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "150 firms" in r.output
    return path


def test_region_is_stored(commons):
    db = CommonsDB(commons)
    try:
        assert len(db.ids("profile")) == 150 and len(db.ids("request")) == 20 and len(db.ids("expert")) == 10
        assert db.ids("cooperative")
    finally:
        db.close()


def test_catalog_lists_only_firms_that_fit(commons):
    r = runner.invoke(
        app, ["commons", "catalog", "--commons", commons, "--process", "milling", "--lang", "en"]
    )
    assert r.exit_code == 0, r.output
    assert "Firm catalog" in r.output and "Milling" in r.output
    bad = runner.invoke(app, ["commons", "catalog", "--commons", commons, "--process", "knitting"])
    assert bad.exit_code == 2 and "knitting" in bad.output


def test_match_by_stored_request_and_by_options(commons):
    db = CommonsDB(commons)
    try:
        req = db.all("request", Request)[0]
        names = {p.firm_id: p.facility.name.ko for p in db.all("profile", Profile)}
    finally:
        db.close()
    r = runner.invoke(app, ["commons", "match", "--commons", commons, "--request", req.id, "--today", TODAY])
    assert r.exit_code == 0, r.output
    assert "1위의 근거" in r.output and "역량" in r.output
    assert any(n[:4] in r.output for n in names.values())
    r = runner.invoke(
        app,
        [
            "commons",
            "match",
            "--commons",
            commons,
            "--process",
            "milling",
            "--material",
            "aluminium",
            "--district",
            "금천구",
            "--today",
            TODAY,
            "--lang",
            "en",
        ],
    )
    assert r.exit_code == 0 and "Why #1" in r.output and "Fit" in r.output, r.output
    for args, word in (
        (["--request", "nope"], "nope"),
        (["--process", "milling", "--material", "aluminium", "--district", "강남역"], "강남역"),
        (["--process", "milling", "--material", "aluminium", "--lang", "fr"], "fr"),
        (["--process", "milling", "--material", "aluminium", "--due", "2026-02-30"], "2026-02-30"),
    ):
        bad = runner.invoke(app, ["commons", "match", "--commons", commons, "--today", TODAY, *args])
        assert bad.exit_code == 2 and word in bad.output, (args, bad.output)


def test_team_for_a_multi_step_request(commons):
    db = CommonsDB(commons)
    try:
        multi = [r for r in db.all("request", Request) if len(r.steps) > 1]
    finally:
        db.close()
    assert multi, "the region has multi-step requests"
    r = runner.invoke(
        app, ["commons", "team", "--commons", commons, "--request", multi[0].id, "--today", TODAY]
    )
    assert r.exit_code in (0, 1), r.output
    assert ("총 비용" in r.output) if r.exit_code == 0 else ("no feasible team" in r.output)


def test_allocate_several_requests_together(commons):
    db = CommonsDB(commons)
    try:
        rs = db.all("request", Request)[:4]
    finally:
        db.close()
    args = ["commons", "allocate", "--commons", commons, "--today", TODAY, "--lang", "en"]
    for r in rs:
        args += ["--request", r.id]
    out = runner.invoke(app, args)
    assert out.exit_code in (0, 1), out.output
    served = int(out.output.split("Allocation: ")[1].split("/")[0])
    assert out.output.split("Allocation: ")[1].startswith(f"{served}/{len(rs)}")
    assert (out.exit_code == 0) == (served == len(rs)) and all(r.id in out.output for r in rs)
    dup = runner.invoke(
        app, ["commons", "allocate", "--commons", commons, "--request", rs[0].id, "--request", rs[0].id]
    )
    assert dup.exit_code == 2 and "--request" in dup.output
    unknown = runner.invoke(app, ["commons", "allocate", "--commons", commons, "--request", "no-such"])
    assert unknown.exit_code == 2 and "no-such" in unknown.output


def test_demo_commons_half_publishes_and_matches(tmp_path: Path):
    from factory_commons.cli import SEOUL, _simulate_into
    from factory_commons.cooperate.cli import demo_commons
    from factory_commons.store import DuckDBStore

    start = datetime(2026, 11, 2, tzinfo=SEOUL)
    store = DuckDBStore(str(tmp_path / "d.duckdb"))
    try:
        _simulate_into(store, 7, start, 7, 600)
        out = Console(record=True, width=100)
        demo_commons(store, start, start + timedelta(days=7), out)
    finally:
        store.close()
    text = out.export_text()
    assert "2,000 firms" in text and "데모정밀" in text
    assert "1위의 근거 / why #1" in text and "Fit:" in text
    assert "the demo factory ranks: " in text
    rank = text.split("the demo factory ranks: ")[1].split()[0]
    assert rank.isdigit(), text[-500:]  # the demo factory meets every hard constraint
