"""Command-line commands of the commons: `factory-commons commons region|catalog|match|team`.

`register(app)` adds the `commons` group to the main app. `demo_commons(...)` is the commons
half of `factory-commons demo`: the simulated factory's profile (evidence computed from its own
store, published) joins a generated region and a sample request is matched, with explanations.
Heavy imports stay inside the functions so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..i18n import Catalog

if TYPE_CHECKING:
    from ..store.base import Store
    from .db import CommonsDB
    from .model import Match, Profile, Request

console = Console()
err = Console(stderr=True)
commons_app = typer.Typer(
    help="공유 공간: 지역 생성, 카탈로그, 매칭, 팀 구성 / the commons: region, catalog, matching, teams.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    str, typer.Option("--store", "-s", help="store file; the commons sits beside it / 저장소 파일")
]
CommonsOpt = Annotated[
    str | None,
    typer.Option(
        "--commons",
        help="commons database (SQLite file or postgresql:// URL); default: <store>.commons.sqlite "
        "/ 공유 공간 데이터베이스",
    ),
]
LangOpt = Annotated[str, typer.Option("--lang", help="ko or en / 언어")]

#: names of the match factors (cooperate/match.py WEIGHTS), project roles, expert kinds and topics
TERMS = Catalog("commons_terms")


def factor_label(name: str, lang: str) -> str:
    """A match factor's short name: 'ko', 'en', or both (Korean over English)."""
    return TERMS.get(name, lang) if lang in ("ko", "en") else TERMS.both(name, "\n")


def _lang(lang: str) -> str:
    if lang not in ("ko", "en"):
        err.print(f"[red]--lang: ko 또는 en / must be ko or en, not {lang!r}[/]")
        raise typer.Exit(2)
    return lang


def _half(note: str, lang: str) -> str:
    """The Korean or English half of a "한국어 / English" note."""
    if " / " not in note:
        return note
    ko, en = note.split(" / ", 1)
    return ko if lang == "ko" else en


def _open(store: str, commons: str | None) -> CommonsDB:
    from .db import CommonsDB, default_commons_path

    return CommonsDB(commons or default_commons_path(store))


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option}: 날짜가 아닙니다 (YYYY-MM-DD) / not a date: {value!r}[/]")
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

    def label(ko: str, en: str) -> str:
        return {"ko": ko, "en": en}.get(lang, f"{ko}\n{en}")

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column(label("기업", "Firm"), min_width=10, max_width=18, no_wrap=True, overflow="ellipsis")
    table.add_column(label("점수", "Score"), justify="right", no_wrap=True, min_width=5)
    if matches:
        factors = [f.name for f in matches[0].factors]
    else:
        from .match import WEIGHTS

        factors = list(WEIGHTS)
    for f in factors:
        table.add_column(factor_label(f, lang), justify="right", no_wrap=True, min_width=4)
    table.add_column(label("신뢰", "Conf"), justify="right", no_wrap=True, min_width=4)
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
@commons_app.command("region")
def region_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    firms: Annotated[int, typer.Option(help="firms to generate / 기업 수")] = 2000,
    requests: Annotated[int, typer.Option(help="requests to generate / 의뢰 수")] = 300,
    experts: Annotated[int, typer.Option(help="experts to generate / 전문가 수")] = 120,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    today: Annotated[str | None, typer.Option(help="the region's today YYYY-MM-DD; default: today")] = None,
) -> None:
    """가상 지역(서울·인천 기업, 조합, 의뢰, 전문가) 생성 / generate a region into the commons."""
    from .experts import generate_experts, save_experts
    from .sample import generate_region

    if firms < 1 or requests < 0 or experts < 0:
        err.print("[red]--firms는 1 이상, --requests·--experts는 0 이상 / --firms >= 1, others >= 0[/]")
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
        f"지역 생성 / region: {len(region.profiles):,} firms ({published:,} publish evidence), "
        f"{len(region.cooperatives)} cooperatives, {len(region.requests):,} requests, {experts} experts "
        f"→ {db.target}"
    )


@commons_app.command("catalog")
def catalog_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    process: Annotated[str | None, typer.Option(help="process code, e.g. milling / 공정")] = None,
    material: Annotated[str | None, typer.Option(help="material code, e.g. aluminium / 소재")] = None,
    district: Annotated[str | None, typer.Option(help="district, e.g. 금천구 / 지역")] = None,
    q: Annotated[str | None, typer.Option(help="name contains / 이름 검색")] = None,
    limit: Annotated[int, typer.Option(help="rows to show")] = 20,
    lang: LangOpt = "ko",
) -> None:
    """공개 카탈로그 검색 (공개한 정보만) / search the public catalog (published data only)."""
    from .catalog import public_profiles, search_catalog
    from .vocab import MATERIALS, PROCESSES

    lang = _lang(lang)
    for name, value, known in (("--process", process, PROCESSES), ("--material", material, MATERIALS)):
        if value is not None and value not in known:
            err.print(
                f"[red]{name}: 알 수 없는 코드 / unknown code {value!r}; known: {', '.join(sorted(known))}[/]"
            )
            raise typer.Exit(2)
    db = _open(store, commons)
    try:
        found = search_catalog(public_profiles(db), process, material, district, q)
    finally:
        db.close()
    ko = lang == "ko"
    table = Table(title=f"{'기업 카탈로그' if ko else 'Firm catalog'}: {len(found):,}", title_justify="left")
    for col in (("기업", "Firm"), ("지역", "District"), ("공정", "Processes"), ("공개", "Published")):
        table.add_column(col[0] if ko else col[1])
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
            err.print(f"[red]--request: 없는 의뢰 / no request {request!r}[/]")
            raise typer.Exit(2)
        return r
    if not (process and material):
        err.print(
            "[red]--request 또는 --process와 --material이 필요합니다 / give --request, or --process and --material[/]"
        )
        raise typer.Exit(2)
    from .vocab import VocabularyError

    try:
        step = Step(process=process, material=material, quantity=quantity)
    except (VocabularyError, ValueError) as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    location = None
    if district:
        from .sample import DISTRICTS

        d = next((d for d in DISTRICTS if district in (d.ko, d.en)), None)
        if d is None:
            err.print(f"[red]--district: 모르는 구 / unknown district {district!r}[/]")
            raise typer.Exit(2)
        from .model import Location

        location = Location(city=d.city, district=d.ko, lat=d.lat, lon=d.lon)
    return Request(
        id="cli",
        requester="person:cli",
        title=Text(ko=f"{process} {quantity}", en=f"{process} {quantity}"),
        steps=(step,),
        due=due or today + timedelta(days=21),
        posted=today,
        location=location,
    )


@commons_app.command("match")
def match_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    request: Annotated[str | None, typer.Option(help="a stored request id / 의뢰 id")] = None,
    process: Annotated[str | None, typer.Option(help="or: process code / 공정")] = None,
    material: Annotated[str | None, typer.Option(help="material code / 소재")] = None,
    quantity: Annotated[int, typer.Option(help="quantity / 수량", min=1)] = 100,
    district: Annotated[str | None, typer.Option(help="where the parts go, e.g. 금천구 / 납품 지역")] = None,
    due: Annotated[str | None, typer.Option(help="due date YYYY-MM-DD; default: in 3 weeks")] = None,
    step: Annotated[int, typer.Option(help="step of the request (0 = first)", min=0)] = 0,
    limit: Annotated[int, typer.Option(help="matches to show", min=1)] = 5,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: today")] = None,
    lang: LangOpt = "ko",
) -> None:
    """의뢰에 맞는 기업 순위와 근거 / rank firms for a request, with every factor explained."""
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
        err.print(f"[red]--step: 의뢰의 단계는 {len(r.steps)}개 / the request has {len(r.steps)} steps[/]")
        raise typer.Exit(2)
    ms = rank(r, profiles, day, step=step, limit=limit, ratings=book)
    names = {p.firm_id: p for p in profiles}
    s = r.steps[step]
    title = f"{r.title.get(lang)} — {s.process} / {s.material} × {s.quantity:,}"
    if not ms:
        console.print(f"{title}: 조건을 모두 만족하는 기업이 없습니다 / no firm meets every hard constraint")
        return
    console.print(matches_table(ms, names, lang, title))
    console.print("1위의 근거 / why #1:" if lang == "ko" else "Why #1:")
    for line in explain(ms[0], lang):
        console.print(line)


@commons_app.command("team")
def team_cmd(
    request: Annotated[str, typer.Option(help="a stored multi-step request id / 의뢰 id")],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: today")] = None,
    lang: LangOpt = "ko",
) -> None:
    """여러 공정 의뢰의 기업 팀 구성 (비용·리드타임 최소) / a team of firms for a multi-step request."""
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
        console.print(f"팀을 구성할 수 없습니다 / no feasible team: {plan.reason}")
        raise typer.Exit(1)
    names = {p.firm_id: p for p in profiles}
    ko = lang == "ko"
    table = Table(title=r.title.get(lang), title_justify="left")
    for col in (
        ("단계", "Step"),
        ("공정", "Process"),
        ("기업", "Firm"),
        ("가공비(원)", "Processing (KRW)"),
        ("운송 km", "Move km"),
        ("운송비(원)", "Move (KRW)"),
    ):
        table.add_column(col[0] if ko else col[1])
    for st in plan.steps:
        p = names.get(st.firm_id)
        table.add_row(
            str(st.step + 1),
            st.process,
            p.facility.name.get(lang) if p else st.firm_id,
            f"{st.processing_krw:,.0f}",
            f"{st.move_km:.1f}",
            f"{st.move_krw:,.0f}",
        )
    console.print(table)
    console.print(
        f"{'총 비용' if ko else 'Total'} {plan.processing_krw + plan.transport_krw:,.0f} 원 · "
        f"{'리드타임' if ko else 'lead time'} {plan.lead_time_days:.1f} d · gap {plan.gap:.2%}"
        + (" (proven optimal)" if plan.proven_optimal else "")
    )


@commons_app.command("allocate")
def allocate_cmd(
    request: Annotated[
        list[str], typer.Option(help="stored request ids, the option repeated / 의뢰 id (여러 번)")
    ],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: today")] = None,
    time_limit: Annotated[
        float, typer.Option(help="solver time limit, seconds / 제한 시간(초)", min=0.1)
    ] = 5.0,
    lang: LangOpt = "ko",
) -> None:
    """여러 의뢰를 공유 용량 안에서 함께 배정 / allocate several requests together under shared capacity."""
    from .catalog import allocate_requests
    from .pools import CommonsError

    lang = _lang(lang)
    ko = lang == "ko"
    day = _day(today, "--today") or date.today()
    if len(set(request)) != len(request):
        raise typer.BadParameter(
            "같은 의뢰가 두 번 있습니다 / a request id appears twice", param_hint="--request"
        )
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
    table = Table(title=f"{'배정' if ko else 'Allocation'}: {out.served}/{len(rs)}", title_justify="left")
    for col in (
        ("의뢰", "Request"),
        ("팀", "Team"),
        ("비용(원)", "Cost (KRW)"),
        ("하한", "Bound"),
        ("격차", "Gap"),
    ):
        table.add_column(col[0] if ko else col[1])
    for r, t in zip(rs, out.teams, strict=True):
        team = " → ".join(f"{st.process}@{st.firm_id}" for st in t.steps) if t.feasible else t.reason
        cost = f"{t.objective:,.0f}" if t.objective is not None else "—"
        bound = f"{t.lower_bound:,.0f}" if t.lower_bound is not None else "—"
        gap = f"{t.gap:.2%}" if t.gap is not None else "—"
        table.add_row(f"{r.id} {r.title.get(lang)}", team, cost, bound, gap)
    console.print(table)
    console.print(
        f"{'배정 최적 증명' if ko else 'allocation proven optimal'}: {'예' if ko else 'yes'}"
        if out.proven_optimal
        else f"{'시간 제한 안의 최선' if ko else 'best within the time limit'} (gap {out.gap or 0:.2%})"
    )
    if out.served < len(rs):
        raise typer.Exit(1)


# -- the demo ----------------------------------------------------------------------------------
def demo_facility(store: Store, firm_id: str) -> Profile:
    """The simulated plant as a commons profile: one equipment entry per process its machines do."""
    from .evidence import machine_processes
    from .model import Certification, Equipment, Facility, Location, Profile, Text
    from .vocab import PROCESSES

    materials = {
        "milling": ("aluminium", "steel", "stainless_steel"),
        "turning": ("aluminium", "steel", "brass"),
        "stamping": ("steel", "stainless_steel"),
        "welding": ("steel", "stainless_steel"),
    }
    envelope = {
        "milling": (800.0, 500.0, 450.0),
        "turning": (300.0, 300.0, 600.0),
        "stamping": (1200.0, 800.0, 300.0),
        "welding": (1500.0, 1000.0, 800.0),
    }
    rate = {"milling": 65_000, "turning": 55_000, "stamping": 50_000, "welding": 45_000}
    count: dict[str, int] = {}
    for procs in machine_processes(store.machines()).values():
        for p in procs:
            count[p] = count.get(p, 0) + 1
    equipment = tuple(
        Equipment(
            id=f"{firm_id}-{p}",
            process=p,
            count=n,
            materials=materials.get(p, ("steel",)),
            envelope_mm=envelope.get(p, (500.0, 500.0, 500.0)),
            tolerance_mm=max(PROCESSES[p].best_tolerance_mm * 2, 0.01),
            hourly_rate_krw=rate.get(p, 50_000),
        )
        for p, n in sorted(count.items())
    )
    today = date.today()
    return Profile(
        facility=Facility(
            firm_id=firm_id,
            name=Text(ko="데모정밀(주)", en="Demo Precision Co."),
            location=Location(city="Seoul", district="금천구", lat=37.4772, lon=126.8956),
            equipment=equipment,
            certifications=(Certification(code="ISO 9001", last_checked=today - timedelta(days=60)),),
        )
    )


def demo_commons(store: Store, start: datetime, end: datetime, out_console: Console, seed: int = 7) -> None:
    """The commons half of the demo: publish the demo plant's profile into a generated region and
    match a sample request, printing the top matches with their explanations."""
    from .evidence import compute_evidence
    from .match import rank
    from .model import Location, Request, Step, Text
    from .sample import generate_region

    today = end.date()
    firm = "demo-factory"
    profile = demo_facility(store, firm)
    evidence = compute_evidence(store, start, end)
    kinds = frozenset(k for k in ("capacity", "quality", "delivery") if getattr(evidence, k) is not None)
    profile = profile.model_copy(update={"evidence": evidence, "published": kinds, "published_at": end})
    region = generate_region(seed=seed, firms=2000, requests=0, today=today)
    profiles = [p.public() for p in [*region.profiles, profile]]
    request = Request(
        id="demo-request",
        requester="person:designer",
        title=Text(ko="SS400 브래킷 프레스 가공", en="SS400 bracket stamping"),
        steps=(Step(process="stamping", material="steel", quantity=2_000, tolerance_mm=0.2),),
        due=today + timedelta(days=21),
        posted=today,
        location=Location(city="Seoul", district="구로구", lat=37.4954, lon=126.8874),
        max_distance_km=30,
    )
    full = rank(request, profiles, today, limit=len(profiles))
    ms, ranks = full[:5], list(range(1, min(5, len(full)) + 1))
    mine = next((i for i, m in enumerate(full, 1) if m.firm_id == firm), None)
    if mine is not None and mine > 5:
        ms, ranks = [*ms, full[mine - 1]], [*ranks, mine]
    names = {p.firm_id: p for p in profiles}
    out_console.print(
        f"\n[bold]공유 공간 / The commons[/]: 데모 공장이 프로필을 공개했습니다 / the demo factory published "
        f"its profile ({', '.join(sorted(kinds)) or 'nothing'}) into a region of {len(region.profiles):,} firms."
    )
    cap = evidence.capacity
    if cap is not None:
        weeks = len({w.week_start for w in cap.weeks}) or 1
        per: dict[str, float] = {}
        for w in cap.weeks:
            per[w.process] = per.get(w.process, 0.0) + w.free_hours / weeks
        out_console.print(
            "  여유 가동 시간 / free capacity (KPI): "
            + ", ".join(f"{p} {h:.0f} h/week" for p, h in sorted(per.items()))
        )
    if evidence.quality is not None:
        q = evidence.quality
        out_console.print(
            f"  품질 / quality: scrap {q.scrap_ratio:.1%}, first pass yield {q.first_pass_yield:.1%}"
        )
    title = (
        "의뢰 / request: SS400 브래킷 2,000개 프레스 가공, 3주, 구로구 30 km 이내 / "
        "2,000 SS400 brackets, stamping, 3 weeks, within 30 km of Guro-gu"
    )
    if ms:
        out_console.print(matches_table(ms, names, "both", title, highlight=firm, ranks=ranks))
    if not ms:
        out_console.print("조건을 모두 만족하는 기업이 없습니다 / no firm meets every hard constraint")
        return
    top = ms[0]
    out_console.print(f"1위의 근거 / why #1 ({names[top.firm_id].facility.name.get('ko')}):")
    for ko, en in zip(explain(top, "ko"), explain(top, "en"), strict=True):
        out_console.print(f"{ko}\n    [dim]{en.strip()}[/]")
    out_console.print(
        f"데모 공장 순위 / the demo factory ranks: {mine if mine else '-'}"
        + ("" if mine else " (필수 조건 미충족 / a hard constraint failed)")
    )


def register(app: typer.Typer) -> None:
    """Add `factory-commons commons ...` to the main app."""
    app.add_typer(commons_app, name="commons")
