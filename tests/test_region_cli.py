"""The region commands: the stable contract (`region sample`, `region report --format json`),
`region maturity` and `region survey import`, with their bad-input answers."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from factory_commons.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("region") / "r.duckdb")
    res = runner.invoke(
        app, ["region", "sample", "--store", store, "--firms", "150", "--experts", "20", "--seed", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "150 firms" in res.output
    return store


def test_report_json_lists_every_published_cell_and_none_under_k(sampled):
    res = runner.invoke(app, ["region", "report", "--store", sampled, "--format", "json"])
    assert res.exit_code == 0, res.output
    cells = json.loads(res.stdout)
    assert cells and {"table", "row", "column", "value", "n_firms", "suppressed", "ci_low", "ci_high"} <= set(
        cells[0]
    )
    tables = {c["table"] for c in cells}
    assert {"maturity_district_industry", "platform_district", "survey_co_rnd_industry"} <= tables
    for c in cells:
        if c["suppressed"]:
            assert c["value"] is None and c["n_firms"] is None
        else:
            assert c["n_firms"] == 0 or c["n_firms"] >= 5, c
    assert any(c["suppressed"] for c in cells)
    survey = [c for c in cells if c["table"] == "survey_co_rnd_size" and c["row"] == "_all"]
    assert survey[0]["ci_low"] <= survey[0]["value"] <= survey[0]["ci_high"]


def test_report_with_a_privacy_budget_and_with_k(sampled):
    res = runner.invoke(
        app, ["region", "report", "--store", sampled, "--format", "json", "--epsilon", "1", "--k", "10"]
    )
    assert res.exit_code == 0, res.output
    cells = json.loads(res.stdout)
    noisy = [c for c in cells if c["dp_epsilon"] == 1.0]
    assert noisy and all(c["population"] in ("maturity", "platform") for c in noisy)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--format", "xml"], "must be table or json"),
        (["--k", "1"], "must be 2 or more"),
        (["--epsilon", "0"], "must be positive"),
    ],
)
def test_report_refuses_bad_options(sampled, args, needle):
    res = runner.invoke(app, ["region", "report", "--store", sampled, *args])
    assert res.exit_code == 2 and needle in res.output


def test_maturity_of_a_firm_with_answers_and_roadmap(sampled, tmp_path):
    answers = tmp_path / "a.toml"
    answers.write_text("[answers]\nmgmt_strategy = 5\nqual_spc = 1\nqual_trace = 1\n", encoding="utf-8")
    res = runner.invoke(
        app,
        [
            "region",
            "maturity",
            "--store",
            sampled,
            "--firm",
            "firm-00000",
            "--answers",
            str(answers),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    items = {i["item"]: i for d in doc["domains"] for i in d["items"]}
    assert items["mgmt_strategy"]["level"] == 5 and items["mgmt_strategy"]["source"] == "answer"
    assert doc["roadmap"] and doc["level"] in (1, 2, 3, 4, 5)
    table = runner.invoke(
        app, ["region", "maturity", "--store", sampled, "--firm", "firm-00000", "--lang", "en"]
    )
    assert table.exit_code == 0 and "next:" in table.output


def test_maturity_refuses_a_level_out_of_range(sampled, tmp_path):
    answers = tmp_path / "bad.toml"
    answers.write_text("[answers]\nqual_spc = 7\n", encoding="utf-8")
    res = runner.invoke(
        app, ["region", "maturity", "--store", sampled, "--firm", "f", "--answers", str(answers)]
    )
    assert res.exit_code == 2 and "qual_spc: level must be 1-5" in res.output


def test_survey_import_and_its_errors(sampled, tmp_path):
    good = tmp_path / "s.csv"
    good.write_bytes("응답번호,자치구,업종,규모,공동구매\n1,금천구,판금,소기업,예\n".encode("cp949"))
    res = runner.invoke(
        app, ["region", "survey", "import", str(good), "--store", sampled, "--survey", "extra"]
    )
    assert res.exit_code == 0, res.output
    bad = tmp_path / "b.csv"
    bad.write_bytes("응답번호,자치구,업종,규모,공동구매\n1,금천구,판금,거대기업,예\n".encode("cp949"))
    res = runner.invoke(app, ["region", "survey", "import", str(bad), "--store", sampled])
    assert res.exit_code == 2
    assert "b.csv:2: column '규모': unknown size: 거대기업" in res.output


def test_report_table_sets_the_survey_beside_platform_behaviour_and_the_study(sampled):
    res = runner.invoke(app, ["region", "report", "--store", sampled, "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert "Cooperation indicators: survey, platform behaviour, the Seoul study" in res.output
    assert "11.5%" in res.output and "14.3%" in res.output  # the study's co-R&D and linkage figures
    assert "cooperation_anchors.md" in res.output  # with their source
