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
    said = " ".join(bad.output.split())  # the option, the code and the closest known ones, ko / en
    assert "--process: 알 수 없는 공정 코드 'knitting'" in said and "closest known: painting" in said


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


def test_demo_fills_the_commons_beside_its_store(tmp_path: Path):
    """The demo's commons half (issue 27): the simulated plant's firm, as docs/commons/profiles.md
    describes it (acme, Changwon, evidence from its own store, published), joins the sample
    region, and both are saved where `serve --store` finds them; a request is matched."""
    from factory_commons.cli import SEOUL, _simulate_into
    from factory_commons.cooperate.cli import demo_commons
    from factory_commons.cooperate.db import default_commons_path
    from factory_commons.cooperate.model import Cooperative, Text
    from factory_commons.cooperate.profiles import public_profiles
    from factory_commons.store import DuckDBStore

    start = datetime(2026, 11, 2, tzinfo=SEOUL)  # a Monday: one whole ISO week of data
    path = str(tmp_path / "d.duckdb")
    store = DuckDBStore(path)
    commons = default_commons_path(path)
    stale = CommonsDB(commons)  # what an earlier demo run left
    stale.put("cooperative", "stale", "stale", Cooperative(id="stale", name=Text(en="old run")))
    stale.close()
    try:
        _simulate_into(store, 7, start, 7, 600)
        out = Console(record=True, width=400)
        demo_commons(store, start, start + timedelta(days=7), out, commons=commons)
    finally:
        store.close()
    text = out.export_text()
    assert "2,000 firms" in text and "에이크미 정밀" in text and "ACME Precision" in text
    assert "1위의 근거 / why #1" in text and "Fit:" in text
    assert (
        "(2026-11-02–2026-11-08, 1주 측정)" in text
        and "(2026-11-02 to 2026-11-08, measured weeks: 1)" in text
    )
    assert "직행률" in text and "초도" not in text
    assert f"factory-commons serve --store {path}" in text
    rank = text.split("the demo factory ranks: ")[1].split()[0]
    assert rank.isdigit(), text[-500:]  # the demo factory meets every hard constraint
    db = CommonsDB(commons)
    try:
        assert len(db.ids("profile")) == 2001 and len(db.ids("request")) == 300 and db.ids("expert")
        assert len(db.all("cooperative", Cooperative)) >= 15
        acme = next(p for p in public_profiles(db) if p.firm_id == "acme")
    finally:
        db.close()
    assert acme.facility.location.district == "성산구" and acme.facility.location.city == "Changwon"
    assert acme.published == {"capacity", "quality", "delivery"} and acme.evidence.capacity.source == "kpi"
    assert {e.process for e in acme.facility.equipment} == {"milling", "turning", "stamping", "welding"}
    # the evidence covers the week the store has data for, not weeks of zeros before it
    assert {w.week_start for w in acme.evidence.capacity.weeks} == {start.date()}
    assert "stale" not in db_ids(commons, "cooperative")  # a rerun of the demo starts a fresh commons


def db_ids(target: str, kind: str) -> list[str]:
    db = CommonsDB(target)
    try:
        return db.ids(kind)
    finally:
        db.close()


def test_okw_export_writes_one_valid_document_per_firm(commons, tmp_path: Path):
    import json

    from test_okw import SCHEMA_PATH, conformance_problems

    out = tmp_path / "okw"
    for lang in ("en", "ko"):
        r = runner.invoke(
            app, ["commons", "okw-export", "--commons", commons, "--out", str(out / lang), "--lang", lang]
        )
        assert r.exit_code == 0, r.output
        assert "150" in r.output
    files = sorted((out / "en").glob("*.json"))
    assert len(files) == 150 and len(list((out / "ko").glob("*.json"))) == 150
    doc = json.loads(files[0].read_text(encoding="utf-8"))
    assert doc["x-fc-firm-id"] == files[0].stem and doc["facility_status"] == "Active"
    named = [a for f in files for a in json.loads(f.read_text(encoding="utf-8")).get("affiliations", [])]
    assert named and all(not a["name"].startswith("coop-") for a in named)  # cooperatives by name
    if SCHEMA_PATH.exists():
        import jsonschema

        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        bad = []
        for lang in ("en", "ko"):
            for f in sorted((out / lang).glob("*.json")):
                bad += [
                    f"{f.name}: {x}"
                    for x in conformance_problems(json.loads(f.read_text("utf-8")), lang, validator)
                ]
        assert bad == [], "\n".join(bad[:10])
    bad = runner.invoke(
        app, ["commons", "okw-export", "--commons", commons, "--out", str(out), "--lang", "fr"]
    )
    assert bad.exit_code == 2 and "fr" in bad.output
    empty = runner.invoke(
        app, ["commons", "okw-export", "--commons", str(tmp_path / "none.sqlite"), "--out", str(out / "x")]
    )
    assert empty.exit_code == 1 and "region" in empty.output


def test_okw_import_makes_a_profile_from_a_plain_document(tmp_path: Path):
    import json

    from test_okw import PLAIN

    commons = str(tmp_path / "c.sqlite")
    doc = tmp_path / "mullae.json"
    doc.write_text(json.dumps(PLAIN, ensure_ascii=False), encoding="utf-8")
    r = runner.invoke(app, ["commons", "okw-import", str(doc), "--firm-id", "mullae", "--commons", commons])
    assert r.exit_code == 0, r.output
    assert "mullae" in r.output and "x-fc-envelope-mm" in r.output and "GOSSIP-1" in r.output
    db = CommonsDB(commons)
    try:
        p = db.get("profile", "mullae", Profile)
    finally:
        db.close()
    assert p is not None and {e.process for e in p.facility.equipment} >= {"turning", "laser_cutting"}
    no_id = runner.invoke(app, ["commons", "okw-import", str(doc), "--commons", commons])
    assert no_id.exit_code == 2 and "x-fc-firm-id: missing" in no_id.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": ', encoding="utf-8")
    r = runner.invoke(app, ["commons", "okw-import", str(broken), "--firm-id", "x", "--commons", commons])
    said = " ".join(r.output.split())
    assert r.exit_code == 2 and "broken.json: JSON이 아닙니다" in said and "/ not JSON" in said
    r = runner.invoke(app, ["commons", "okw-import", str(tmp_path / "nope.json"), "--commons", commons])
    assert r.exit_code == 2 and "nope.json" in r.output
