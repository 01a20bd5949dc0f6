"""Every published cell of the regional report, built from the region's documents and protected.

Tables (rows × columns, each with its totals `_all`):

* population `maturity` (opted-in firms with a self-assessment): `maturity_district_industry`,
  `maturity_district_size`, `maturity_industry_size` (measures `score`: mean overall score
  1-5, `level_3_plus`: share at level 3 or more) and `maturity_domains_size` (one measure per
  domain: its mean score);
* population `platform` (opted-in firms): `platform_district`, `platform_industry_size`
  (measures: the share of firms with each cooperation indicator from behaviour, platform.py);
* population `survey:<survey>:<question>` (respondents who answered): `survey_<question>_<dim>`
  for dim industry, size and district (measure: the weighted share of yes with its
  design-based interval, estimates.py). A respondent answered the survey for its statistics,
  so every response counts (dropping some would break the design's weights); the opt-in of
  the platform's firms governs their maturity and platform data. The questions of one survey share their
  suppressed cells (disclosure.population_group).

All tables go through `disclosure.protect` together, so no cell of fewer than k firms is
published or recoverable by differencing the tables. With `dp_epsilon`, the maturity and
platform cells that are published carry Laplace noise (privacy.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..cooperate.db import CommonsDB
from .db import load
from .disclosure import DEFAULT_K, Cell, protect, table_cells
from .estimates import estimate_shares
from .maturity import Assessment, load_model, score
from .models import SIZE_CLASSES, MaturityAnswers, PlatformActivity, RegionFirm, SurveyResponse
from .platform import INDICATORS, indicator, platform_activity
from .questionnaire import QUESTION_IDS

MATURITY_TABLES = (
    ("maturity_district_industry", "district", "industry"),
    ("maturity_district_size", "district", "size"),
    ("maturity_industry_size", "industry", "size"),
)
PLATFORM_TABLES = (("platform_district", "district", None), ("platform_industry_size", "industry", "size"))
SURVEY_DIMS = ("industry", "size", "district")


@dataclass
class RegionData:
    """What the report is built from."""

    firms: list[RegionFirm]
    maturity: list[MaturityAnswers]
    survey: list[SurveyResponse]
    activity: dict[str, PlatformActivity]


def gather(db: CommonsDB) -> RegionData:
    return RegionData(
        firms=load(db, RegionFirm),
        maturity=load(db, MaturityAnswers),
        survey=load(db, SurveyResponse),
        activity=platform_activity(db),
    )


def _levels(firms: Sequence[RegionFirm], survey: Sequence[SurveyResponse]) -> dict[str, list[str]]:
    return {
        "district": sorted({f.district for f in firms} | {r.district for r in survey}),
        "industry": sorted({f.industry for f in firms} | {r.industry for r in survey}),
        "size": [s for s in SIZE_CLASSES if s in {f.size for f in firms} | {r.size for r in survey}],
    }


def _dim(unit, name: str) -> str:
    return unit[0].dim(name)


def maturity_cells(data: RegionData, levels: dict[str, list[str]]) -> list[Cell]:
    opted = {f.firm_id: f for f in data.firms if f.opted_in}
    units: list[tuple[RegionFirm, Assessment]] = []
    for a in data.maturity:
        if a.firm_id in opted:
            s = score(a)
            if s.score is not None:
                units.append((opted[a.firm_id], s))
    cells: list[Cell] = []
    measures = {
        "score": lambda u: u[1].score,
        "level_3_plus": lambda u: float(u[1].level >= 3),
    }
    for name, r, c in MATURITY_TABLES:
        cells += table_cells(
            units,
            table=name,
            population="maturity",
            row_dim=r,
            column_dim=c,
            levels=levels,
            dim=_dim,
            measures=measures,
        )
    domains = {d.id: (lambda u, d=d.id: u[1].domain(d).score) for d in load_model().domains}
    cells += table_cells(
        units,
        table="maturity_domains_size",
        population="maturity",
        row_dim="size",
        column_dim=None,
        levels=levels,
        dim=_dim,
        measures=domains,
    )
    return cells


def platform_cells(data: RegionData, levels: dict[str, list[str]]) -> list[Cell]:
    units = [(f, data.activity.get(f.firm_id)) for f in data.firms if f.opted_in]
    measures = {name: (lambda u, n=name: indicator(u[1], n)) for name in INDICATORS}
    cells: list[Cell] = []
    for name, r, c in PLATFORM_TABLES:
        cells += table_cells(
            units,
            table=name,
            population="platform",
            row_dim=r,
            column_dim=c,
            levels=levels,
            dim=_dim,
            measures=measures,
        )
    return cells


def survey_cells(data: RegionData, levels: dict[str, list[str]]) -> list[Cell]:
    by_survey: dict[str, list[SurveyResponse]] = {}
    for r in data.survey:
        by_survey.setdefault(r.survey, []).append(r)
    cells: list[Cell] = []
    for survey, responses in sorted(by_survey.items()):
        questions = [q for q in QUESTION_IDS if any(q in r.answers for r in responses)]
        questions += sorted({q for r in responses for q in r.answers} - set(questions))
        overall = {e.question: e for e in estimate_shares(responses, questions)}
        for dim in SURVEY_DIMS:
            per = {(e.question, e.domain): e for e in estimate_shares(responses, questions, by=dim)}
            for q in questions:
                for lv in [*levels[dim], None]:
                    e = overall.get(q) if lv is None else per.get((q, lv))
                    cells.append(
                        Cell(
                            table=f"survey_{q}_{dim}",
                            population=f"survey:{survey}:{q}",
                            row_dim=dim,
                            row=lv if lv is not None else "_all",
                            column_dim=None,
                            column="_all",
                            measure=q,
                            value=e.value if e else None,
                            n_firms=e.n_firms if e else 0,
                            ci_low=e.ci_low if e else None,
                            ci_high=e.ci_high if e else None,
                        )
                    )
    return cells


def report_cells(data: RegionData) -> list[Cell]:
    """Every cell of the report before protection (the truth: never publish these)."""
    levels = _levels(data.firms, data.survey)
    return maturity_cells(data, levels) + platform_cells(data, levels) + survey_cells(data, levels)


def published_cells(
    source: CommonsDB | RegionData, k: int = DEFAULT_K, dp_epsilon: float | None = None
) -> list[Cell]:
    """The cells that may leave the platform: protected, optionally with DP noise."""
    data = gather(source) if isinstance(source, CommonsDB) else source
    cells = protect(report_cells(data), k)
    if dp_epsilon is not None:
        from .privacy import add_noise

        cells = add_noise(cells, dp_epsilon)
    return cells


@dataclass(frozen=True)
class Comparison:
    """One cooperation indicator three ways: the survey's estimate, the platform's behaviour, the study."""

    question: str
    survey: Cell | None
    platform: Cell | None
    published: float | None


def cooperation_comparison(cells: Sequence[Cell], survey: str = "cooperation") -> list[Comparison]:
    """The questionnaire's indicators beside the platform's, from published cells only."""
    from .questionnaire import COOPERATION_SURVEY

    def total(table: str, measure: str) -> Cell | None:
        return next(
            (
                c
                for c in cells
                if c.table == table and c.measure == measure and c.row == "_all" and c.column == "_all"
            ),
            None,
        )

    out = []
    for q in COOPERATION_SURVEY:
        s = next(
            (
                c
                for c in cells
                if c.population == f"survey:{survey}:{q.id}" and c.row == "_all" and c.table.endswith("_size")
            ),
            None,
        )
        p = total("platform_district", q.platform) if q.platform else None
        out.append(Comparison(q.id, s, p, q.published))
    return out
