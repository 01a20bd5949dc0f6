"""The `factory-commons knowhow` command contract other tools rely on: import a CSV or JSONL
file, search with --format json (a JSON list, best first, each with ref and score), list, show,
export and verify; a bad file is refused with file, line and field and keeps nothing."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from factory_commons.cli import app

runner = CliRunner()
CSV = (
    "ref,machine_type,machine,title,symptom,cause,action,lang,shift\n"
    "C-1,press,l1/press-01,유압 실린더 누유,메인 실린더 로드 주변 작동유 누유,로드 패킹 마모,패킹 교체,ko,A\n"
    "C-2,cnc,l2/mc-01,Spindle bearing noise,Grinding noise from the spindle at high speed,Worn bearing,"
    "Replaced spindle bearings,en,B\n"
    "C-3,injection,l3/im-01,미성형,제품 끝이 덜 채워짐,노즐 히터 단선,히터 교체,ko,C\n"
)


def test_import_search_json_list_show_export_verify(tmp_path):
    store = str(tmp_path / "plant.duckdb")  # the store itself need not exist
    f = tmp_path / "cases.csv"
    f.write_text(CSV, encoding="utf-8")
    r = runner.invoke(app, ["knowhow", "import", str(f), "--store", store])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["knowhow", "search", "기름 새요", "--store", store, "--limit", "10", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert isinstance(hits, list) and hits[0]["ref"] == "C-1"
    assert all({"ref", "score"} <= set(h) for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    r = runner.invoke(
        app,
        ["knowhow", "search", "주축에서 갈리는 소리", "--store", store, "--format", "json", "--limit", "1"],
    )
    assert [h["ref"] for h in json.loads(r.stdout)] == ["C-2"]
    r = runner.invoke(app, ["knowhow", "show", "C-1", "--store", store])
    assert r.exit_code == 0 and json.loads(r.stdout)["extra"] == {"shift": "A"}
    r = runner.invoke(app, ["knowhow", "verify", "C-1", "--store", store, "--by", "kim"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["knowhow", "list", "--store", store, "--format", "json"])
    assert {c["ref"]: c["verified"] for c in json.loads(r.stdout)} == {
        "C-1": True,
        "C-2": False,
        "C-3": False,
    }
    out = tmp_path / "all.jsonl"
    r = runner.invoke(app, ["knowhow", "export", "--store", store, "--out", str(out)])
    assert r.exit_code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 3
    # the export imports into another store as it was (JSONL keeps ref and the other columns)
    other = str(tmp_path / "other.duckdb")
    assert runner.invoke(app, ["knowhow", "import", str(out), "--store", other]).exit_code == 0
    r = runner.invoke(app, ["knowhow", "show", "C-3", "--store", other])
    assert json.loads(r.stdout)["extra"] == {"shift": "C"} and json.loads(r.stdout)["verified"] is False


def test_bad_file_is_refused_naming_line_and_field(tmp_path):
    store = str(tmp_path / "plant.duckdb")
    f = tmp_path / "bad.jsonl"
    f.write_text(
        '{"ref": "J-1", "symptom": "누유"}\n{"ref": "J-2", "photos": 5, "symptom": "소음"}\n',
        encoding="utf-8",
    )
    r = runner.invoke(app, ["knowhow", "import", str(f), "--store", store])
    assert r.exit_code == 1
    assert "bad.jsonl:2: photos" in r.output
    r = runner.invoke(app, ["knowhow", "list", "--store", store, "--format", "json"])
    assert json.loads(r.stdout) == []
    r = runner.invoke(app, ["knowhow", "show", "J-1", "--store", store])
    assert r.exit_code == 2
