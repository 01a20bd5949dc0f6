"""Command-line commands of the commons: `factory-commons commons region|catalog|match|team|
allocate|okw-export|okw-import`.

`register(app)` adds the `commons` group to the main app. `demo_commons(...)` is the commons
half of `factory-commons demo`: the simulated factory's profile (`sample.demo_firm_profile`,
evidence computed from its own store, published) joins the generated sample region, both are
saved in the commons database beside the demo's store (so `serve` on that store shows a living
commons), and a sample request is matched, with explanations.
Heavy imports stay inside the functions so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..cli_common import CLI, cli_text
from ..i18n import Catalog

if TYPE_CHECKING:
    from ..store.base import Store
    from .db import CommonsDB
    from .model import Match, Profile, Request

console = Console()
err = Console(stderr=True)
commons_app = typer.Typer(
    help=cli_text("commons_help"),
    no_args_is_help=True,
)

StoreOpt = Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_commons_store"))]
CommonsOpt = Annotated[str | None, typer.Option("--commons", help=cli_text("opt_commons_db"))]
LangOpt = Annotated[str, typer.Option("--lang", help=cli_text("opt_lang"))]

#: names of the match factors (cooperate/match.py WEIGHTS), project roles, expert kinds and topics
TERMS = Catalog("commons_terms")
#: the OKW commands', the vocabulary's and the demo's evidence texts
OKW_TEXT = Catalog("commons_okw")


def factor_label(name: str, lang: str) -> str:
    """A match factor's short name: 'ko', 'en', or both (Korean over English)."""
    return TERMS.get(name, lang) if lang in ("ko", "en") else TERMS.both(name, "\n")


def _t(key: str, lang: str) -> str:
    """A `cli` catalog text in `lang` ('ko' or 'en'), or Korean over English ('both')."""
    return CLI.get(key, lang) if lang in ("ko", "en") else CLI.both(key, "\n")


def _process(code: str, lang: str) -> str:
    from .vocab import PROCESSES

    p = PROCESSES.get(code)
    return code if p is None else (p.en if lang == "en" else p.ko)


def _material(code: str, lang: str) -> str:
    from .vocab import MATERIALS

    m = MATERIALS.get(code)
    return code if m is None else (m.en if lang == "en" else m.ko)


def _lang(lang: str) -> str:
    if lang not in ("ko", "en"):
        err.print(f"[red]--lang: {cli_text('lang_must_be', got=lang)}[/]")
        raise typer.Exit(2)
    return lang


def _half(note: str, lang: str) -> str:
    """The Korean or English half of a "Korean / English" note."""
    if " / " not in note:
        return note
    ko, en = note.split(" / ", 1)
    return ko if lang == "ko" else en


def _vocab_option(option: str, kind: str, value: str | None) -> None:
    """Exit 2 when an option's code is not in the vocabulary, naming the option and the closest
    known codes in Korean and English."""
    from .vocab import TABLES, VocabularyError, closest

    if value is not None and value not in TABLES[kind]:
        e = VocabularyError(option, kind, value, closest(kind, value))
        err.print(f"[red]{option}: {e.why_ko} / {e.why_en}[/]")
        raise typer.Exit(2)


def _open(store: str, commons: str | None) -> CommonsDB:
    from .db import CommonsDB, default_commons_path

    return CommonsDB(commons or default_commons_path(store))


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option}: {cli_text('not_a_date')}: {value!r}[/]")
        raise typer.Exit(2) from None


def matches_table(
    matches: list[Match],
    names: dict[str, Profile],
    lang: str,
    title: str,
    highlight: str | None = None,
    ranks: list[int] | None = None,
) -> Table:
    """Ranked matches with every factor's contribution (they add up to the score).

    `lang` "ko" or "en" labels the columns in one language, "both" in Korean over English."""
    from rich import box

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column(_t("col_firm", lang), min_width=10, max_width=18, no_wrap=True, overflow="ellipsis")
    table.add_column(_t("col_score", lang), justify="right", no_wrap=True, min_width=5)
    if matches:
        factors = [f.name for f in matches[0].factors]
    else:
        from .match import WEIGHTS

        factors = list(WEIGHTS)
    for f in factors:
        table.add_column(factor_label(f, lang), justify="right", no_wrap=True, min_width=4)
    table.add_column(_t("col_conf", lang), justify="right", no_wrap=True, min_width=4)
    for i, m in zip(ranks or range(1, len(matches) + 1), matches, strict=True):
        p = names.get(m.firm_id)
        if p is None:
            name = m.firm_id
        elif lang in ("ko", "en"):
            name = f"{p.facility.name.get(lang)} ({p.facility.location.district})"
        else:
            name = (
                f"{p.facility.name.get('ko')}\n{p.facility.location.district} · {p.facility.name.get('en')}"
            )
        name = f"{i}. {name}"
        if m.firm_id == highlight:
            name = f"[bold green]{name} ★[/]"
        by = {f.name: f.contribution for f in m.factors}
        table.add_row(
            name,
            f"{m.score:.3f}",
            *[f"{by.get(f, 0.0):.2f}" for f in factors],
            f"{m.confidence:.0%}",
        )
    return table


def explain(m: Match, lang: str) -> list[str]:
    """One line per factor: value × weight = contribution, and why."""
    return [
        f"  {factor_label(f.name, lang)}: "
        f"{f.value:.2f} × {f.weight:.2f} = {f.contribution:.3f}  {_half(f.note, lang)}"
        for f in m.factors
    ]


# -- commands --------------------------------------------------------------------------------
@commons_app.command("region", help=cli_text("cmd_commons_region"))
def region_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    firms: Annotated[int, typer.Option(help=cli_text("opt_gen_firms"))] = 2000,
    requests: Annotated[int, typer.Option(help=cli_text("opt_gen_requests"))] = 300,
    experts: Annotated[int, typer.Option(help=cli_text("opt_gen_experts"))] = 120,
    seed: Annotated[int, typer.Option(help=cli_text("opt_seed"))] = 7,
    today: Annotated[str | None, typer.Option(help=cli_text("opt_region_today"))] = None,
) -> None:
    """Generate a region (Seoul and Incheon firms, cooperatives, requests, experts) into the commons."""
    from .experts import generate_experts, save_experts
    from .sample import generate_region

    if firms < 1 or requests < 0 or experts < 0:
        err.print(f"[red]{cli_text('region_counts')}[/]")
        raise typer.Exit(2)
    day = _day(today, "--today") or date.today()
    region = generate_region(seed=seed, firms=firms, requests=requests, today=day)
    db = _open(store, commons)
    try:
        db.put_many("profile", [(p.firm_id, p.firm_id, p) for p in region.profiles])
        db.put_many("cooperative", [(c.id, c.id, c) for c in region.cooperatives])
        db.put_many("request", [(r.id, r.requester, r) for r in region.requests])
        save_experts(db, generate_experts(seed=seed, n=experts, today=day))
    finally:
        db.close()
    published = sum(1 for p in region.profiles if p.published)
    console.print(
        f"{cli_text('region')}: {len(region.profiles):,} firms ({published:,} publish evidence), "
        f"{len(region.cooperatives)} cooperatives, {len(region.requests):,} requests, {experts} experts "
        f"→ {db.target}"
    )


@commons_app.command("catalog", help=cli_text("cmd_commons_catalog"))
def catalog_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    process: Annotated[str | None, typer.Option(help=cli_text("opt_process_code"))] = None,
    material: Annotated[str | None, typer.Option(help=cli_text("opt_material_code"))] = None,
    district: Annotated[str | None, typer.Option(help=cli_text("opt_district"))] = None,
    q: Annotated[str | None, typer.Option(help=cli_text("opt_name_contains"))] = None,
    limit: Annotated[int, typer.Option(help=cli_text("opt_rows"))] = 20,
    lang: LangOpt = "ko",
) -> None:
    """Search the public catalog (published data only)."""
    from .catalog import public_profiles, search_catalog
    from .vocab import PROCESSES

    lang = _lang(lang)
    _vocab_option("--process", "process", process)
    _vocab_option("--material", "material", material)
    db = _open(store, commons)
    try:
        found = search_catalog(public_profiles(db), process, material, district, q)
    finally:
        db.close()
    ko = lang == "ko"
    table = Table(title=f"{_t('firm_catalog', lang)}: {len(found):,}", title_justify="left")
    for col in ("col_firm", "col_district", "col_processes", "col_published"):
        table.add_column(_t(col, lang))
    for p in found[:limit]:
        procs = sorted(p.facility.processes())
        table.add_row(
            p.facility.name.get(lang),
            p.facility.location.district,
            ", ".join((PROCESSES[x].ko if ko else PROCESSES[x].en) for x in procs),
            ", ".join(sorted(p.published)) or "-",
        )
    console.print(table)


def _request_from_options(
    db: CommonsDB,
    request: str | None,
    process: str | None,
    material: str | None,
    quantity: int,
    district: str | None,
    due: date | None,
    today: date,
) -> Request:
    from .model import Request, Step, Text

    if request:
        r = db.get("request", request, Request)
        if r is None:
            err.print(f"[red]--request: {cli_text('no_request', request=request)}[/]")
            raise typer.Exit(2)
        return r
    if not (process and material):
        err.print(f"[red]{cli_text('request_or_process')}[/]")
        raise typer.Exit(2)
    _vocab_option("--process", "process", process)
    _vocab_option("--material", "material", material)
    try:
        step = Step(process=process, material=material, quantity=quantity)
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    location = None
    if district:
        from .sample import DISTRICTS

        d = next((d for d in DISTRICTS if district in (d.ko, d.en)), None)
        if d is None:
            err.print(f"[red]--district: {cli_text('unknown_district', district=district)}[/]")
            raise typer.Exit(2)
        from .model import Location

        location = Location(city=d.city, district=d.ko, lat=d.lat, lon=d.lon)
    return Request(
        id="cli",
        requester="person:cli",
        title=Text(
            ko=f"{_process(process, 'ko')} {quantity:,}", en=f"{_process(process, 'en')} {quantity:,}"
        ),
        steps=(step,),
        due=due or today + timedelta(days=21),
        posted=today,
        location=location,
    )


@commons_app.command("match", help=cli_text("cmd_commons_match"))
def match_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    request: Annotated[str | None, typer.Option(help=cli_text("opt_request_id"))] = None,
    process: Annotated[str | None, typer.Option(help=cli_text("opt_or_process"))] = None,
    material: Annotated[str | None, typer.Option(help=cli_text("opt_material"))] = None,
    quantity: Annotated[int, typer.Option(help=cli_text("opt_quantity"), min=1)] = 100,
    district: Annotated[str | None, typer.Option(help=cli_text("opt_delivery_district"))] = None,
    due: Annotated[str | None, typer.Option(help=cli_text("opt_due"))] = None,
    step: Annotated[int, typer.Option(help=cli_text("opt_step"), min=0)] = 0,
    limit: Annotated[int, typer.Option(help=cli_text("opt_match_limit"), min=1)] = 5,
    today: Annotated[str | None, typer.Option(help=cli_text("opt_today"))] = None,
    lang: LangOpt = "ko",
) -> None:
    """Rank firms for a request, with every factor explained."""
    from .match import rank
    from .ratings import load_book

    lang = _lang(lang)
    day = _day(today, "--today") or date.today()
    db = _open(store, commons)
    try:
        from .catalog import public_profiles

        profiles = public_profiles(db)
        book = load_book(db)
        r = _request_from_options(db, request, process, material, quantity, district, _day(due, "--due"), day)
    finally:
        db.close()
    if step >= len(r.steps):
        err.print(f"[red]--step: {cli_text('step_out_of_range', n=len(r.steps))}[/]")
        raise typer.Exit(2)
    ms = rank(r, profiles, day, step=step, limit=limit, ratings=book)
    names = {p.firm_id: p for p in profiles}
    s = r.steps[step]
    title = (
        f"{r.title.get(lang)} — {_process(s.process, lang)} / {_material(s.material, lang)} × {s.quantity:,}"
    )
    if not ms:
        console.print(f"{title}: {cli_text('no_firm_meets')}")
        return
    console.print(matches_table(ms, names, lang, title))
    console.print(
        f"{cli_text('why_first')}:" if lang == "ko" else f"{CLI.get('why_first', 'en').capitalize()}:"
    )
    for line in explain(ms[0], lang):
        console.print(line)


@commons_app.command("team", help=cli_text("cmd_commons_team"))
def team_cmd(
    request: Annotated[str, typer.Option(help=cli_text("opt_team_request"))],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    today: Annotated[str | None, typer.Option(help=cli_text("opt_today"))] = None,
    lang: LangOpt = "ko",
) -> None:
    """A team of firms for a multi-step request (least cost and lead time)."""
    from .teams import plan_team

    lang = _lang(lang)
    day = _day(today, "--today") or date.today()
    db = _open(store, commons)
    try:
        from .catalog import public_profiles

        profiles = public_profiles(db)
        r = _request_from_options(db, request, None, None, 1, None, None, day)
    finally:
        db.close()
    plan = plan_team(r, profiles, day)
    if not plan.feasible:
        console.print(f"{cli_text('no_feasible_team')}: {plan.reason}")
        raise typer.Exit(1)
    names = {p.firm_id: p for p in profiles}
    table = Table(title=r.title.get(lang), title_justify="left")
    for col in ("col_step", "col_process", "col_firm", "col_processing_krw", "col_move_km", "col_move_krw"):
        table.add_column(_t(col, lang))
    for st in plan.steps:
        p = names.get(st.firm_id)
        table.add_row(
            str(st.step + 1),
            _process(st.process, lang),
            p.facility.name.get(lang) if p else st.firm_id,
            f"{st.processing_krw:,.0f}",
            f"{st.move_km:.1f}",
            f"{st.move_krw:,.0f}",
        )
    console.print(table)
    console.print(
        f"{_t('total_cost', lang)} {plan.processing_krw + plan.transport_krw:,.0f} {_t('krw', lang)} · "
        f"{_t('lead_time', lang)} {plan.lead_time_days:.1f} d · gap {plan.gap:.2%}"
        + (f" ({_t('proven_optimal', lang)})" if plan.proven_optimal else "")
    )


@commons_app.command("allocate", help=cli_text("cmd_commons_allocate"))
def allocate_cmd(
    request: Annotated[list[str], typer.Option(help=cli_text("opt_allocate_requests"))],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    today: Annotated[str | None, typer.Option(help=cli_text("opt_today"))] = None,
    time_limit: Annotated[float, typer.Option(help=cli_text("opt_time_limit"), min=0.1)] = 5.0,
    lang: LangOpt = "ko",
) -> None:
    """Allocate several requests together under shared capacity."""
    from .catalog import allocate_requests
    from .pools import CommonsError

    lang = _lang(lang)
    day = _day(today, "--today") or date.today()
    if len(set(request)) != len(request):
        raise typer.BadParameter(cli_text("request_twice"), param_hint="--request")
    db = _open(store, commons)
    try:
        rs = [_request_from_options(db, r, None, None, 1, None, None, day) for r in request]
        try:
            out = allocate_requests(db, rs, day, time_limit)
        except CommonsError as e:
            console.print(e.message(lang))
            raise typer.Exit(1) from None
    finally:
        db.close()
    table = Table(title=f"{_t('allocation', lang)}: {out.served}/{len(rs)}", title_justify="left")
    for col in ("col_request", "col_team", "col_cost_krw", "col_bound", "col_gap"):
        table.add_column(_t(col, lang))
    for r, t in zip(rs, out.teams, strict=True):
        team = (
            " → ".join(f"{_process(st.process, lang)}@{st.firm_id}" for st in t.steps)
            if t.feasible
            else t.reason
        )
        cost = f"{t.objective:,.0f}" if t.objective is not None else "—"
        bound = f"{t.lower_bound:,.0f}" if t.lower_bound is not None else "—"
        gap = f"{t.gap:.2%}" if t.gap is not None else "—"
        table.add_row(f"{r.id} {r.title.get(lang)}", team, cost, bound, gap)
    console.print(table)
    console.print(
        f"{_t('allocation_optimal', lang)}: {_t('yes', lang)}"
        if out.proven_optimal
        else f"{_t('best_within_limit', lang)} (gap {out.gap or 0:.2%})"
    )
    if out.served < len(rs):
        raise typer.Exit(1)


@commons_app.command("okw-export", help=OKW_TEXT.both("cmd_okw_export", " / "))
def okw_export_cmd(
    out: Annotated[Path, typer.Option("--out", help=OKW_TEXT.both("opt_okw_out", " / "))],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    lang: LangOpt = "en",
) -> None:
    """One OKW JSON document per firm of the commons (its public view) into `out`."""
    import json
    import re

    from .model import Cooperative
    from .okw import to_okw
    from .profiles import public_profiles

    lang = _lang(lang)
    db = _open(store, commons)
    try:
        profiles = public_profiles(db)
        names = {c.id: c.name for c in db.all("cooperative", Cooperative)}
    finally:
        db.close()
    if not profiles:
        err.print(f"[red]{OKW_TEXT.both('no_firms', ' / ')}[/]")
        raise typer.Exit(1)
    out.mkdir(parents=True, exist_ok=True)
    for p in profiles:
        doc = to_okw(p, lang, cooperatives=names)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", p.firm_id)
        (out / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(
        OKW_TEXT.both("export_written", " / ").format(n=len(profiles), lang=lang, out=out.resolve())
    )


@commons_app.command("okw-import", help=OKW_TEXT.both("cmd_okw_import", " / "))
def okw_import_cmd(
    file: Annotated[Path, typer.Argument(help=OKW_TEXT.both("opt_okw_file", " / "))],
    firm_id: Annotated[
        str | None, typer.Option("--firm-id", help=OKW_TEXT.both("opt_okw_firm", " / "))
    ] = None,
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
) -> None:
    """Read a facility from an OKW document into the commons (warnings say what was defaulted)."""
    from .okw import OkwError, read_okw
    from .profiles import get_profile, save_profile

    try:
        raw = file.read_bytes()
    except OSError as e:
        err.print(f"[red]{file}: {OKW_TEXT.both('not_readable', ' / ')} ({e.strerror})[/]")
        raise typer.Exit(2) from None
    try:
        profile, warnings = read_okw(raw, firm_id)
    except OkwError as e:
        err.print(f"[red]{file}: {e}[/]")
        raise typer.Exit(2) from None
    db = _open(store, commons)
    try:
        with db.transaction():
            old = get_profile(db, profile.firm_id)
            if old is not None:  # a new description; the evidence and what is published stay
                profile = old.model_copy(update={"facility": profile.facility})
            save_profile(db, profile)
    finally:
        db.close()
    for w in warnings:
        console.print(f"[yellow]{OKW_TEXT.both('warning', ' / ')}:[/] {w}")
    console.print(
        OKW_TEXT.both("imported", " / ").format(
            firm=profile.firm_id, equipment=len(profile.facility.equipment)
        )
    )


# -- the demo ----------------------------------------------------------------------------------
def _evidence_lines(profile: Profile) -> list[str]:
    """The demo firm's evidence in Korean and English: free hours a week per process over the
    measured weeks (with the period), scrap and first pass yield (직행률)."""
    from .evidence import weekly_free_hours

    ev, lines = profile.evidence, []
    cap = ev.capacity
    if cap is not None:
        per = weekly_free_hours(cap)
        weeks = len({w.week_start for w in cap.weeks})
        for lang in ("ko", "en"):
            hours = ", ".join(
                OKW_TEXT.get("free_per_week", lang).format(process=_process(p, lang), hours=h)
                for p, h in per.items()
            )
            period = OKW_TEXT.get("evidence_period", lang).format(
                first=cap.period_start, last=cap.period_end, weeks=weeks
            )
            lines.append(f"  {CLI.get('free_capacity', lang)}: {hours} ({period})")
    if ev.quality is not None:
        q = ev.quality
        lines += [
            f"  {CLI.get('quality', lang)}: "
            + OKW_TEXT.get("quality_line", lang).format(scrap=q.scrap_ratio, fpy=q.first_pass_yield)
            for lang in ("ko", "en")
        ]
    return lines


def save_demo_commons(target: str, region, profile: Profile) -> None:
    """A fresh commons database at `target` with the region and the demo firm's profile."""
    from pathlib import Path

    from .db import CommonsDB
    from .experts import save_experts

    if not target.startswith(("postgresql://", "postgres://")):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(target + suffix).unlink(missing_ok=True)
    db = CommonsDB(target)
    try:
        db.put_many("profile", [(p.firm_id, p.firm_id, p) for p in [*region.profiles, profile]])
        db.put_many("cooperative", [(c.id, c.id, c) for c in region.cooperatives])
        db.put_many("request", [(r.id, r.requester, r) for r in region.requests])
        save_experts(db, region.experts)
    finally:
        db.close()


def demo_commons(
    store: Store,
    start: datetime,
    end: datetime,
    out_console: Console,
    seed: int = 7,
    commons: str | None = None,
) -> None:
    """The commons half of the demo: the simulated plant's profile (the one
    docs/commons/profiles.md describes) with its evidence over [start, end), published, joins
    the sample region; with `commons` both are saved there (beside the demo's store); a sample
    request is matched and the top matches printed with their explanations."""
    from .match import rank
    from .model import EVIDENCE_KINDS, Location, Request, Step, Text
    from .sample import demo_firm_profile, generate_region

    today = end.date()
    firm = "acme"
    profile = demo_firm_profile(store, firm, start, end, today=today, published=EVIDENCE_KINDS)
    kinds = sorted(profile.published)
    region = generate_region(seed=seed, firms=2000, requests=300, today=today, experts=120)
    if commons is not None:
        save_demo_commons(commons, region, profile)
    profiles = [p.public() for p in [*region.profiles, profile]]
    request = Request(
        id="demo-request",
        requester="person:designer",
        title=Text(ko=CLI.get("demo_request_title", "ko"), en=CLI.get("demo_request_title", "en")),
        steps=(Step(process="stamping", material="steel", quantity=2_000, tolerance_mm=0.2),),
        due=today + timedelta(days=21),
        posted=today,
        location=Location(city="Seoul", district="구로구", lat=37.4954, lon=126.8874),
    )
    full = rank(request, profiles, today, limit=len(profiles))
    ms, ranks = full[:5], list(range(1, min(5, len(full)) + 1))
    mine = next((i for i, m in enumerate(full, 1) if m.firm_id == firm), None)
    if mine is not None and mine > 5:
        ms, ranks = [*ms, full[mine - 1]], [*ranks, mine]
    names = {p.firm_id: p for p in profiles}
    out_console.print(
        f"\n[bold]{cli_text('the_commons')}[/]: "
        + cli_text("demo_published", kinds=", ".join(kinds) or "-", firms=len(region.profiles))
    )
    out_console.print(f"  {profile.facility.name.ko} / {profile.facility.name.en}")
    for line in _evidence_lines(profile):
        out_console.print(line)
    if commons is not None:
        out_console.print(
            OKW_TEXT.both("commons_saved", " / ").format(
                firms=len(region.profiles) + 1,
                coops=len(region.cooperatives),
                requests=len(region.requests),
                target=commons,
            )
        )
        if commons.endswith(".commons.sqlite"):
            hint = f"factory-commons serve --store {commons.removesuffix('.commons.sqlite')}"
            out_console.print(f"  {OKW_TEXT.both('serve_hint', ' / ')}: {hint}")
    title = f"{cli_text('request')}: {OKW_TEXT.both('demo_request', ' / ')}"
    if not ms:
        out_console.print(cli_text("no_firm_meets"))
        return
    out_console.print(matches_table(ms, names, "both", title, highlight=firm, ranks=ranks))
    top = ms[0]
    out_console.print(f"{cli_text('why_first')} ({names[top.firm_id].facility.name.get('ko')}):")
    for ko, en in zip(explain(top, "ko"), explain(top, "en"), strict=True):
        out_console.print(f"{ko}\n    [dim]{en.strip()}[/]")
    out_console.print(
        f"{cli_text('demo_rank')}: {mine if mine else '-'}"
        + ("" if mine else f" ({cli_text('hard_constraint_failed')})")
    )


def register(app: typer.Typer) -> None:
    """Add `factory-commons commons ...` to the main app."""
    app.add_typer(commons_app, name="commons")
