"""`factory-commons region sample|report|maturity|survey import`: the regional view on the command line.

The contract our checks use (stable, docs/region.md):

    factory-commons region sample --store S      fill the commons beside S with the sample region
    factory-commons region report --store S --format json
        a JSON list of every published cell: table, population, row_dim, row, column_dim,
        column, measure, value, n_firms, suppressed, ci_low, ci_high, dp_epsilon

Exit status 2 on bad input (the message names the file, line and column), 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..i18n import Catalog

REGION = Catalog("region")
console = Console()
err = Console(stderr=True)


def rt(key: str, **values) -> str:
    """A `region` catalog text, Korean / English, `{fields}` filled."""
    text = REGION.both(key, " / ")
    return text.format(**values) if values else text


def _t(key: str, lang: str, **values) -> str:
    text = REGION.get(key, lang) if lang in ("ko", "en") else REGION.both(key, " / ")
    return text.format(**values) if values else text


region_app = typer.Typer(help=rt("region_help"), no_args_is_help=True)
survey_app = typer.Typer(help=rt("survey_help"), no_args_is_help=True)
region_app.add_typer(survey_app, name="survey")

StoreOpt = Annotated[str, typer.Option("--store", "-s", help=rt("opt_store"))]
CommonsOpt = Annotated[str | None, typer.Option("--commons", help=rt("opt_commons"))]
LangOpt = Annotated[str, typer.Option("--lang", help=rt("opt_lang"))]


def _lang(lang: str) -> str:
    if lang not in ("ko", "en", "both"):
        err.print(f"[red]--lang: {rt('bad_lang', got=lang)}[/]")
        raise typer.Exit(2)
    return lang


@region_app.command("sample", help=rt("cmd_sample"))
def sample_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    firms: Annotated[int, typer.Option(help=rt("opt_firms"))] = 2000,
    experts: Annotated[int, typer.Option(help=rt("opt_experts"))] = 60,
    seed: Annotated[int, typer.Option(help=rt("opt_seed"))] = 7,
    today: Annotated[str | None, typer.Option(help=rt("opt_today"))] = None,
) -> None:
    from ..cooperate.experts import save_experts
    from .db import open_region_db, save
    from .sample import generate_region_sample

    if firms < 1 or experts < 0:
        err.print(f"[red]{rt('bad_counts')}[/]")
        raise typer.Exit(2)
    day = None
    if today:
        try:
            day = date.fromisoformat(today)
        except ValueError:
            err.print(f"[red]--today: {rt('bad_date', got=today)}[/]")
            raise typer.Exit(2) from None
    s = generate_region_sample(seed=seed, firms=firms, today=day, experts=experts)
    db = open_region_db(store, commons)
    try:
        db.put_many("profile", [(p.firm_id, p.firm_id, p) for p in s.commons.profiles])
        db.put_many("cooperative", [(c.id, c.id, c) for c in s.commons.cooperatives])
        save_experts(db, s.commons.experts)
        save(db, s.documents())
        target = db.target
    finally:
        db.close()
    console.print(
        rt(
            "sample_done",
            firms=len(s.firms),
            opted=sum(f.opted_in for f in s.firms),
            maturity=len(s.maturity),
            survey=len(s.survey),
            programmes=len(s.programmes),
            links=len(s.links),
        )
        + f" → {target}"
    )


@region_app.command("report", help=rt("cmd_report"))
def report_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    format: Annotated[str, typer.Option("--format", help=rt("opt_format"))] = "table",
    k: Annotated[int, typer.Option("--k", help=rt("opt_k"))] = 5,
    epsilon: Annotated[float | None, typer.Option("--epsilon", help=rt("opt_epsilon"))] = None,
    lang: LangOpt = "both",
) -> None:
    from .db import open_region_db
    from .report import published_cells

    lang = _lang(lang)
    if format not in ("json", "table"):
        err.print(f"[red]--format: {rt('bad_format', got=format)}[/]")
        raise typer.Exit(2)
    if k < 2:
        err.print(f"[red]--k: {rt('bad_k', got=k)}[/]")
        raise typer.Exit(2)
    if epsilon is not None and not epsilon > 0:
        err.print(f"[red]--epsilon: {rt('bad_epsilon', got=epsilon)}[/]")
        raise typer.Exit(2)
    db = open_region_db(store, commons)
    try:
        cells = published_cells(db, k=k, dp_epsilon=epsilon)
    finally:
        db.close()
    if format == "json":
        sys.stdout.write(json.dumps([c.as_dict() for c in cells], ensure_ascii=False, indent=1) + "\n")
        return
    if not cells:
        console.print(rt("report_empty"))
        return
    tables: dict[str, list] = {}
    for c in cells:
        tables.setdefault(c.table, []).append(c)
    for name, rows in tables.items():
        t = Table(title=name, title_justify="left")
        for col in ("row", "column", "measure", "value", "ci", "n_firms"):
            t.add_column(_t(f"col_{col}", lang))
        for c in rows:
            value = "—" if c.suppressed else ("" if c.value is None else f"{c.value:.3f}")
            ci = "" if c.ci_low is None or c.ci_high is None else f"{c.ci_low:.3f}–{c.ci_high:.3f}"
            n = _t("suppressed", lang) if c.suppressed else str(c.n_firms)
            t.add_row(c.row, c.column, c.measure, value, ci, n)
        console.print(t)
    from .questionnaire import SEOUL_STUDY_SOURCE
    from .report import cooperation_comparison

    t = Table(title=_t("comparison_title", lang), title_justify="left")
    for col in ("indicator", "survey", "platform", "published"):
        t.add_column(_t(f"col_{col}", lang))
    for row in cooperation_comparison(cells):
        s, p = row.survey, row.platform
        t.add_row(
            _t(row.question, lang),
            _share(s, lang),
            _share(p, lang),
            "" if row.published is None else f"{row.published:.1%}",
        )
    console.print(t)
    console.print(f"{_t('published_source', lang)}: {SEOUL_STUDY_SOURCE}")
    console.print(rt("report_note", k=k))


def _share(c, lang: str) -> str:
    """'13.4 % (10.3-17.2 %, 371)' for a published share; the reason when there is none."""
    if c is None:
        return "—"
    if c.suppressed:
        return _t("suppressed", lang)
    if c.value is None:
        return ""
    ci = f"{c.ci_low:.1%}–{c.ci_high:.1%}, " if c.ci_low is not None and c.ci_high is not None else ""
    return f"{c.value:.1%} ({ci}n={c.n_firms})"


@region_app.command("maturity", help=rt("cmd_maturity"))
def maturity_cmd(
    firm: Annotated[str, typer.Option("--firm", help=rt("opt_firm"))],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    answers: Annotated[Path | None, typer.Option("--answers", help=rt("opt_answers"))] = None,
    measure: Annotated[bool, typer.Option("--measure", help=rt("opt_measure"))] = False,
    scope: Annotated[list[str] | None, typer.Option("--scope", help=rt("opt_scope"))] = None,
    now: Annotated[str | None, typer.Option("--now", help=rt("opt_now"))] = None,
    format: Annotated[str, typer.Option("--format", help=rt("opt_format"))] = "table",
    lang: LangOpt = "both",
) -> None:
    from .db import open_region_db, save
    from .maturity import MaturityModelError, score
    from .models import MaturityAnswers
    from .roadmap import roadmap

    lang = _lang(lang)
    db = open_region_db(store, commons)
    try:
        current = db.get("region_maturity", firm, MaturityAnswers) or MaturityAnswers(
            firm_id=firm, assessed_on=date.today()
        )
        given = dict(current.answers)
        if answers is not None:
            given |= _read_answers(answers)
        evidence = dict(current.evidence)
        if measure:
            evidence |= _measure(store, scope, now)
        updated = current.model_copy(
            update={"answers": given, "evidence": evidence, "assessed_on": date.today()}
        )
        try:
            result = score(updated)
        except MaturityModelError as e:
            err.print(f"[red]{answers or firm}: {e}[/]")
            raise typer.Exit(2) from None
        if answers is not None or measure:
            save(db, [updated])
        steps = roadmap(result, db)
    finally:
        db.close()
    if format == "json":
        doc = {
            "firm_id": result.firm_id,
            "score": result.score,
            "level": result.level,
            "points": result.points,
            "completeness": result.completeness,
            "measured_share": result.measured_share,
            "domains": [
                {
                    "domain": d.domain,
                    "area": d.area,
                    "score": d.score,
                    "level": d.level,
                    "items": [
                        {
                            "item": i.item,
                            "level": i.level,
                            "source": i.source,
                            "evidence": i.evidence.model_dump() if i.evidence else None,
                        }
                        for i in d.items
                    ],
                }
                for d in result.domains
            ],
            "roadmap": [s.__dict__ for s in steps],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n")
        return
    t = Table(title=_t("maturity_title", lang, firm=firm), title_justify="left")
    for col in ("domain", "score", "level", "items"):
        t.add_column(_t(f"col_{col}", lang))
    for d in result.domains:
        parts = []
        for i in d.items:
            lv = "·" if i.level is None else str(i.level)
            mark = f" ({i.evidence.metric} = {i.evidence.value:.2f})" if i.evidence else ""
            parts.append(f"{_t('item_' + i.item, lang)} {lv}{mark}")
        score_txt = "" if d.score is None else f"{d.score:.2f}"
        t.add_row(_t("domain_" + d.domain, lang), score_txt, str(d.level or ""), "\n".join(parts))
    console.print(t)
    if result.level is not None:
        console.print(
            _t(
                "overall",
                lang,
                score=result.score,
                level=result.level,
                name=_t(f"level_{result.level}", lang),
            )
            + f"  ({_t('completeness', lang, share=result.completeness)})"
        )
    for s in steps:
        items = ", ".join(_t("item_" + i, lang) for i, _ in s.raise_items)
        console.print(
            _t("roadmap_step", lang, domain=_t("domain_" + s.domain, lang), level=s.level, items=items)
            + (f"  {_t('roadmap_experts', lang)}: {', '.join(s.experts)}" if s.experts else "")
            + (f"  {_t('roadmap_programmes', lang)}: {', '.join(s.programmes)}" if s.programmes else "")
        )


def _read_answers(path: Path) -> dict[str, int]:
    import tomllib

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        err.print(f"[red]{path}: {e}[/]")
        raise typer.Exit(2) from None
    table = doc.get("answers", doc)
    out = {}
    for k, v in table.items():
        if not isinstance(v, int) or isinstance(v, bool):
            err.print(f"[red]{path}: {k}: {rt('bad_answer_level', got=v)}[/]")
            raise typer.Exit(2)
        out[str(k)] = v
    return out


def _measure(store: str, scope: list[str] | None, now: str | None) -> dict:
    from ..cli_common import open_store_or_exit
    from .evidence import evidence_values, measure

    when = None
    if now:
        try:
            when = datetime.fromisoformat(now)
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
        except ValueError:
            err.print(f"[red]--now: {rt('bad_date', got=now)}[/]")
            raise typer.Exit(2) from None
    with open_store_or_exit(store) as s:
        return evidence_values(measure(s, now=when, scope=scope, store_target=store))


@survey_app.command("import", help=rt("cmd_survey_import"))
def survey_import_cmd(
    file: Annotated[Path, typer.Argument(help=rt("arg_survey_file"))],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    survey: Annotated[str, typer.Option("--survey", help=rt("opt_survey"))] = "cooperation",
) -> None:
    from .db import open_region_db, save
    from .survey import SurveyImportError, read_survey

    try:
        responses = read_survey(file, survey=survey)
    except SurveyImportError as e:
        err.print(f"[red]{rt('survey_rejected', n=len(e.problems))}[/]\n{e}")
        raise typer.Exit(2) from None
    db = open_region_db(store, commons)
    try:
        save(db, responses)
    finally:
        db.close()
    weighted = any(r.weight != 1.0 for r in responses)
    console.print(rt("survey_imported", n=len(responses), survey=survey, weighted="✓" if weighted else "–"))


def register(app: typer.Typer) -> None:
    """Add the `region` command group to the main app."""
    from .commands import register as add_commands  # programmes, print, consent (region/commands.py)

    add_commands(region_app)
    app.add_typer(region_app, name="region")
