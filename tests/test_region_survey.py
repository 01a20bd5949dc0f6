"""Region surveys: import (Korean headers, CP949, Excel, every problem named by file, line and
column), design-based shares whose 95 % intervals cover the truth 93-97 % of the time, and the
sample region's survey finding the rates it was drawn with."""

from __future__ import annotations

import random
import warnings

import polars as pl
import pytest

from factory_commons.region.estimates import estimate_frame, estimate_shares
from factory_commons.region.models import SurveyResponse
from factory_commons.region.survey import SurveyImportError, read_survey

HEADER = "응답번호,업체ID,자치구,업종,종사자수,가중치,층,공동구매,공동 R&D,공동광고\n"


def test_a_cp949_file_with_korean_headers_and_weights(tmp_path):
    p = tmp_path / "설문.csv"
    text = (
        HEADER
        + "1,firm-1,금천구,판금,12,3.5,서울:small,예,아니오,\n2,,남동구,machining,4,10,인천:micro,0,1,X\n"
    )
    p.write_bytes(text.encode("cp949"))
    got = read_survey(p)
    assert [r.respondent for r in got] == ["1", "2"]
    a, b = got
    assert (
        a.firm_id == "firm-1" and a.district == "금천구" and a.industry == "sheet_metal" and a.size == "small"
    )
    assert a.weight == 3.5 and a.stratum == "서울:small"
    assert a.answers == {"co_purchasing": 1.0, "co_rnd": 0.0, "co_marketing": None}
    assert (
        b.firm_id is None
        and b.size == "micro"
        and b.answers == {"co_purchasing": 0.0, "co_rnd": 1.0, "co_marketing": 0.0}
    )


def test_an_excel_file_with_a_size_class_and_no_weight(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["respondent", "district", "industry", "size", "co_sales", "공동시장조사"])
    ws.append(["r1", "구로구", "press", "소기업", "yes", "no"])
    ws.append([2, "구로구", "press", "medium", 1, 0])
    p = tmp_path / "s.xlsx"
    wb.save(p)
    got = read_survey(p, survey="s2")
    assert [(r.respondent, r.size, r.weight, r.survey) for r in got] == [
        ("r1", "small", 1.0, "s2"),
        ("2", "medium", 1.0, "s2"),
    ]
    assert got[0].answers == {"co_sales": 1.0, "co_market_research": 0.0}


def test_every_problem_is_named_by_file_line_and_column(tmp_path):
    p = tmp_path / "bad.csv"
    text = (
        HEADER
        + "1,,금천구,판금,12,3.5,a,예,아니오,\n"
        + "1,,금천구,판금,0,-2,a,글쎄,1,1\n"  # line 3: repeated respondent, employees 0, weight -2, answer
        + "3,,,판금,5,1,a,1,1,1\n"  # line 4: no district
    )
    p.write_bytes(text.encode("cp949"))
    with pytest.raises(SurveyImportError) as e:
        read_survey(p)
    msg = str(e.value)
    assert "bad.csv:3: column '응답번호': the same respondent is on line 2" in msg
    assert "bad.csv:3: column '종사자수': employees must be a whole number of 1 or more: 0" in msg
    assert "bad.csv:3: column '가중치': the weight must be a positive number: -2" in msg
    assert "bad.csv:3: column '공동구매': not a yes/no answer: 글쎄" in msg
    assert "bad.csv:4: column '자치구': the value is empty" in msg
    assert len(e.value.problems) == 5


@pytest.mark.parametrize(
    "header, needle",
    [
        ("응답번호,자치구,업종,규모,날씨\n", "column '날씨': unknown column"),
        ("응답번호,업종,규모,공동구매\n", "a required column is missing: district"),
        ("응답번호,자치구,업종,규모\n", "no question column"),
        ("응답번호,자치구,업종,공동구매\n", "a required column is missing: size"),
    ],
)
def test_bad_headers_are_named(tmp_path, header, needle):
    p = tmp_path / "h.csv"
    p.write_text(header + "1,금천구,판금,소기업\n", encoding="utf-8")
    with pytest.raises(SurveyImportError, match=needle) as e:
        read_survey(p)
    assert str(e.value).startswith("h.csv:1:")


def test_an_empty_file(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(SurveyImportError, match="e.csv: the file is empty"):
        read_survey(tmp_path / "e.csv")


def test_weighted_shares_and_breakdowns():
    # two strata: A (90 firms, 9 asked, 3 say yes) and B (10 firms, 10 asked, 8 say yes)
    rs = [
        SurveyResponse(
            survey="s",
            respondent=f"a{i}",
            district="d",
            industry="x",
            size="small",
            weight=10.0,
            stratum="A",
            answers={"q": float(i < 3)},
        )
        for i in range(9)
    ] + [
        SurveyResponse(
            survey="s",
            respondent=f"b{i}",
            district="d",
            industry="y",
            size="medium",
            weight=1.0,
            stratum="B",
            answers={"q": float(i < 8)},
        )
        for i in range(10)
    ]
    overall = estimate_shares(rs, ["q"])[0]
    assert overall.value == pytest.approx((90 * 3 / 9 + 8) / 100)  # 0.38, not the unweighted 11/19
    assert overall.n_firms == 19 and overall.ci_low < overall.value < overall.ci_high
    by = {e.domain: e for e in estimate_shares(rs, ["q"], by="industry")}
    assert by["x"].value == pytest.approx(1 / 3) and by["y"].value == pytest.approx(0.8)
    assert by["x"].n_firms == 9 and by["y"].n_firms == 10


def test_a_survey_of_one_response_has_a_share_and_no_interval():
    r = SurveyResponse(
        survey="s", respondent="1", district="d", industry="x", size="small", answers={"q": 1.0}
    )
    (e,) = estimate_shares([r], ["q"])
    assert e.value == 1.0 and e.n_firms == 1 and e.ci_low is None and e.ci_high is None


def test_95_percent_intervals_cover_the_truth_93_to_97_percent_of_the_time():
    """400 stratified samples (with very different sampling fractions and weights) from one
    finite population of 2,000 firms; the share of intervals that hold the population's true
    share must be nominal."""
    warnings.simplefilter("ignore")
    rng = random.Random(2201)
    strata = {"A": (1200, 0.05, 0.10), "B": (600, 0.15, 0.2), "C": (200, 0.40, 0.5)}  # N_h, p_h, fraction
    pop = {h: [float(rng.random() < p) for _ in range(N)] for h, (N, p, _f) in strata.items()}
    truth = sum(sum(v) for v in pop.values()) / sum(len(v) for v in pop.values())
    reps, covered = 400, 0
    for _ in range(reps):
        cols: dict[str, list] = {"weight": [], "stratum": [], "q": []}
        for h, (N, _p, f) in strata.items():
            n = round(N * f)
            cols["weight"] += [N / n] * n
            cols["stratum"] += [h] * n
            cols["q"] += rng.sample(pop[h], n)
        df = pl.DataFrame(cols).with_columns(pl.col("weight").sum().over("stratum").alias("stratum_pop"))
        e = estimate_frame(df, ["q"])[0]
        covered += e.ci_low <= truth <= e.ci_high
    assert 0.93 <= covered / reps <= 0.97, covered / reps


def test_the_sample_survey_finds_the_rates_it_was_drawn_with():
    from factory_commons.region.questionnaire import QUESTION_IDS, TRUE_RATES
    from factory_commons.region.sample import generate_region_sample

    s = generate_region_sample(seed=5, firms=1500, experts=0)
    # the population's expected share of each answer, from each firm's own chance
    firms = {f.firm_id: f for f in s.firms}
    for e in estimate_shares(s.survey, QUESTION_IDS):
        expected = sum(TRUE_RATES[e.question](f, s.latent[f.firm_id]) for f in firms.values()) / len(firms)
        assert e.ci_low - 0.02 <= expected <= e.ci_high + 0.02, (e, expected)
