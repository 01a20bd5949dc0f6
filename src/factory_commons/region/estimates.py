"""Survey indicators with design-based confidence intervals (svy: Taylor linearisation).

The design is what the responses carry: a sampling weight (1 when none was given) and, when
given, a stratum. With strata, each stratum is taken as a simple random sample without
replacement from a population of Σ weights firms (stratified sampling with weights N_h / n_h),
which gives the finite population correction. A yes/no indicator (answers 0/1) is a
proportion with a logit interval; a breakdown (industry, size, district) is a domain of the
full design (`by=`), never a filtered sample. Missing answers leave the estimate but stay in
the design. A stratum with a single respondent uses svy's "center" rule (R's lonely.psu =
"adjust"), and says so in `Estimate.note`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from .models import SurveyResponse

ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """One indicator in one domain: the weighted share, its interval and how many answered."""

    question: str
    domain_dim: str | None
    domain: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    n_firms: int
    note: str = ""


def responses_frame(responses: Sequence[SurveyResponse], questions: Sequence[str]) -> pl.DataFrame:
    """One row per response: design columns, breakdowns and one column per question (0/1/null)."""
    have_strata = any(r.stratum for r in responses)
    rows = []
    for r in responses:
        row = {
            "respondent": r.respondent,
            "weight": float(r.weight),
            "stratum": (r.stratum or "_") if have_strata else "_",
            "district": r.district,
            "industry": r.industry,
            "size": r.size,
        }
        for q in questions:
            v = r.answers.get(q)
            row[q] = None if v is None else float(v)
        rows.append(row)
    schema = {"respondent": pl.Utf8, "weight": pl.Float64, "stratum": pl.Utf8, "district": pl.Utf8}
    schema |= {"industry": pl.Utf8, "size": pl.Utf8} | {q: pl.Float64 for q in questions}
    df = pl.DataFrame(rows, schema=schema)
    # stratum population size for the finite population correction: Σ weights in the stratum
    return df.with_columns(pl.col("weight").sum().over("stratum").alias("stratum_pop"))


def _sample(df: pl.DataFrame):
    import svy

    stratified = df["stratum"].n_unique() > 1
    if stratified:
        design = svy.Design(stratum="stratum", wgt="weight", pop_size="stratum_pop", singleton="center")
    else:
        design = svy.Design(wgt="weight")
    return svy.Sample(df, design)


def estimate_shares(
    responses: Sequence[SurveyResponse],
    questions: Sequence[str],
    by: str | None = None,
    alpha: float = ALPHA,
) -> list[Estimate]:
    """Weighted share of 'yes' (1) per question, overall (`by` None) or per level of `by`."""
    if not responses:
        return []
    return estimate_frame(responses_frame(responses, questions), questions, by, alpha)


def estimate_frame(
    df: pl.DataFrame, questions: Sequence[str], by: str | None = None, alpha: float = ALPHA
) -> list[Estimate]:
    """`estimate_shares` on a frame of `responses_frame`'s columns (for simulations)."""
    sample = _sample(df)
    note = ""
    counts = df.group_by("stratum").len()
    if counts.height > 1 and (counts["len"] == 1).any():
        note = "singleton strata: center rule"
    out: list[Estimate] = []
    for q in questions:
        answered = df.filter(pl.col(q).is_not_null())
        if by:
            levels = sorted(set(answered[by].to_list()))
            n_of = {lv: int((answered[by] == lv).sum()) for lv in levels}
        else:
            levels, n_of = [None], {None: answered.height}
        if answered.height == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sample.estimation.prop(q, by=by, drop_nulls=True, alpha=alpha).to_polars()
        found: dict[str | None, dict] = {}
        for row in res.iter_rows(named=True):
            if row[q] == 1.0:
                found[row[by] if by else None] = row
        for lv in levels:
            row = found.get(lv)
            if row is None:  # nobody in the domain said yes
                out.append(Estimate(q, by, lv, 0.0, 0.0, None, 0.0, n_of[lv], note or "no yes answer"))
                continue
            out.append(
                Estimate(
                    q,
                    by,
                    lv,
                    float(row["est"]),
                    _f(row["lci"]),
                    _f(row["uci"]),
                    _f(row["se"]),
                    n_of[lv],
                    note,
                )
            )
    return out


def _f(x) -> float | None:
    return None if x is None or x != x else float(x)
