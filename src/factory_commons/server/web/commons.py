"""Web pages of the commons (server-rendered, Korean/English) and the public catalog.

Pages: /catalog (no login, phone-friendly: firms with only what they published, search by
process, material, district or name), /catalog/{firm} (one public profile), /commons/profile
(my profile, publish/withdraw toggles), /commons/requests (post a request, my requests),
/commons/requests/{id} (ranked, explained matches: a bar per factor; a team of firms for a
multi-step request), /commons/pools (join a purchasing pool, settlement), /commons/booking
(visit slots and idle machine hours: offer, book, what is left), /commons/projects (co-R&D
posts and recommended partners per role) and /commons/missions (post a problem whose KPI
evidence the server computes; experts; accept). Logged-in pages use the API's session cookie and CSRF check, like the
dashboard (server/web/dashboard.py), and read the commons through the same functions as the API
(server/api/commons.py, cooperate/catalog.py), so they see exactly what the API would show the caller.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from ...accounts import Accounts
from ...cooperate import booking as bk
from ...cooperate import missions as ms
from ...cooperate import pools as pl
from ...cooperate import profiles as pf
from ...cooperate import projects as pj
from ...cooperate.catalog import (
    PROFILE,
    REQUEST,
    plan_request_team,
    public_profiles,
    rank_request,
    save_evidence,
    search_catalog,
)
from ...cooperate.db import CommonsDB
from ...cooperate.evidence import firm_evidence
from ...cooperate.experts import load_experts
from ...cooperate.model import EVIDENCE_KINDS, Match, Profile, Step, Text
from ...cooperate.model import Request as CommonsRequest
from ...cooperate.vocab import MATERIALS, PROCESSES
from ...store.base import Store
from ..api.commons import (
    ACTORS,
    SEOUL,
    ProblemIn,
    catalog_entry,
    create_problem,
    firm_key,
    offer_out,
    pool_out,
    runs,
    today_of,
)
from ..auth import CSRF_COOKIE, Caller, authenticate
from .i18n import LANG_COOKIE, pick_lang, translator

HERE = Path(__file__).parent.parent  # server/: templates/ and static/
PAGE_SIZE = 30

#: labels of the commons pages: key -> (Korean, English)
COMMONS_LABELS: dict[str, tuple[str, str]] = {
    "commons": ("공유 공간", "Commons"),
    "catalog": ("기업 카탈로그", "Firm catalog"),
    "catalog_intro": (
        "서울·인천 제조기업이 직접 공개한 설비와 실적입니다.",
        "Seoul and Incheon manufacturers, showing only what each firm chose to publish.",
    ),
    "search": ("검색", "Search"),
    "Seoul": ("서울", "Seoul"),
    "Incheon": ("인천", "Incheon"),
    "any": ("전체", "Any"),
    "process": ("공정", "Process"),
    "material": ("소재", "Material"),
    "district": ("지역(구)", "District"),
    "name": ("이름", "Name"),
    "firms_found": ("개 기업", "firms"),
    "certifications": ("인증", "Certifications"),
    "equipment": ("설비", "Equipment"),
    "envelope": ("최대 크기 (mm)", "Envelope (mm)"),
    "tolerance": ("공차 (± mm)", "Tolerance (± mm)"),
    "rate": ("시간당 (원)", "Per hour (KRW)"),
    "count": ("대수", "Count"),
    "free_capacity": ("여유 가동 시간", "Free capacity"),
    "hours_per_week": ("시간/주", "h/week"),
    "quality_record": ("품질 실적", "Quality record"),
    "scrap": ("불량률", "Scrap"),
    "fpy": ("직행률", "First pass yield"),
    "delivery_record": ("납기 실적", "Delivery record"),
    "on_time": ("납기 준수율", "On time"),
    "period": ("기간", "Period"),
    "not_published": ("공개하지 않음", "Not published"),
    "published": ("공개", "Published"),
    "publish": ("공개하기", "Publish"),
    "withdraw": ("공개 철회", "Withdraw"),
    "capacity": ("여유 가동 시간", "Free capacity"),
    "quality": ("품질 실적", "Quality record"),
    "delivery": ("납기 실적", "Delivery record"),
    "no_evidence": ("근거 자료 없음", "No evidence yet"),
    "refresh_evidence": ("우리 공장 데이터로 다시 계산", "Recompute from our shop-floor data"),
    "evidence_refreshed": (
        "근거 자료를 다시 계산했습니다 (공개 여부는 그대로)",
        "Evidence recomputed (what is published is unchanged)",
    ),
    "my_profile": ("내 프로필", "My profile"),
    "no_profile": (
        "아직 프로필이 없습니다. API(PUT /api/commons/profile) 또는 CLI로 만드세요.",
        "No profile yet. Create one with the API (PUT /api/commons/profile) or the CLI.",
    ),
    "evidence_note": (
        "근거 자료는 공개하기 전까지 우리 회사만 봅니다. 철회하면 어디에도 보이지 않습니다.",
        "Evidence stays with your firm until you publish it; once withdrawn it shows nowhere.",
    ),
    "requests": ("의뢰", "Requests"),
    "new_request": ("새 의뢰", "New request"),
    "my_requests": ("내 의뢰", "My requests"),
    "title": ("제목", "Title"),
    "quantity": ("수량", "Quantity"),
    "due": ("납기", "Due"),
    "budget": ("예산 (원)", "Budget (KRW)"),
    "confidentiality": ("공개 범위", "Confidentiality"),
    "public": ("공개", "Public"),
    "nda": ("비밀 유지(NDA)", "NDA"),
    "step": ("단계", "Step"),
    "steps": ("단계", "Steps"),
    "add_step_note": (
        "여러 단계(예: 선반 → 도금)는 2·3단계 칸을 채우세요.",
        "For several steps (e.g. turning then plating) fill in steps 2 and 3.",
    ),
    "post": ("등록", "Post"),
    "matches": ("추천 기업", "Matches"),
    "no_matches": ("조건을 모두 만족하는 기업이 없습니다", "No firm meets every hard constraint"),
    "rank": ("순위", "Rank"),
    "firm": ("기업", "Firm"),
    "score": ("점수", "Score"),
    "confidence": ("신뢰도", "Confidence"),
    "factors": ("요인별 기여", "Contribution of each factor"),
    "hard_checks": ("필수 조건 통과", "Hard constraints met"),
    "team": ("기업 팀 구성", "Team of firms"),
    "team_cost": ("총 비용", "Total cost"),
    "lead_time": ("리드타임", "Lead time"),
    "transport": ("운송", "Transport"),
    "days_unit": ("일", "days"),
    "no_team": ("팀을 구성할 수 없습니다", "No feasible team"),
    "not_wired": ("이 기능은 아직 준비 중입니다", "This part is not available yet"),
    "pools": ("공동 구매", "Purchasing pools"),
    "campaigns": ("공동 마케팅", "Co-marketing"),
    "missions": ("전문가 미션", "Expert missions"),
    "bad_input": ("입력이 올바르지 않습니다", "Invalid input"),
    "gap": ("하한 대비 격차", "gap to the proven bound"),
    "optimal": ("최적 증명", "proven optimal"),
    "saved": ("저장했습니다", "Saved"),
    "no_pools": ("참여할 수 있는 공동 구매가 없습니다", "No pool of your cooperatives"),
    "state_open": ("모집 중", "Open"),
    "state_settled": ("정산 완료", "Settled"),
    "state_refunded": ("환불", "Refunded"),
    "closes": ("마감", "Closes"),
    "tier_from": ("구간(총량 기준)", "Tier (total from)"),
    "unit_price": ("단가", "Unit price"),
    "pool_total": ("현재 총량", "Total so far"),
    "members_in": ("개사 참여", "members in"),
    "minimum": ("최소", "minimum"),
    "next_tier": ("다음 구간까지", "to the next tier"),
    "your_commitment": ("우리 회사 약정", "Your commitment"),
    "deposit": ("예치금", "deposit"),
    "commit": ("참여(수량 약정)", "Commit"),
    "settlement": ("정산", "Settlement"),
    "outcome_settled": ("성사", "settled"),
    "outcome_refunded": ("최소 미달 — 전액 환불", "minimum missed — refunded"),
    "total_cost": ("총 비용", "Total cost"),
    "your_cost": ("우리 회사 부담", "Your share"),
    "refund": ("환급", "Refund"),
    "min_participants": ("최소 참여", "min."),
    "join": ("참여", "Join"),
    "joined": ("참여 중", "Joined"),
    "no_campaigns": ("공동 마케팅이 없습니다", "No campaigns"),
    "no_missions": ("미션이 없습니다", "No missions"),
    "mission_scheduled": ("예정", "Scheduled"),
    "mission_running": ("진행 중", "Running"),
    "mission_ended": ("기간 종료", "Ended"),
    "mission_closed": ("완료(보고서 보관)", "Closed (report kept)"),
    "scope": ("데이터 범위", "Data scope"),
    "problems": ("우리 회사 문제", "Our problems"),
    "problem_open": ("전문가 모집", "Open"),
    "problem_matched": ("미션 진행", "Matched"),
    "problem_closed": ("종료", "Closed"),
    "weeks": ("주", "weeks"),
    "experts_for": ("추천 전문가 (관련성 × 역량 × 신뢰)", "Experts (relevance × quality × trust)"),
    "accept": ("수락 (기간 한정 데이터 권한 부여)", "Accept (opens time-limited data access)"),
    "relevance": ("관련성", "Relevance"),
    "trust": ("신뢰", "Trust"),
    "no_experts": ("조건에 맞는 전문가가 없습니다", "No available expert with these skills"),
    "week": ("주", "week"),
    "missions_note": (
        "미션을 수락하면 그 기간 동안만 지정한 설비 데이터에 접근 권한이 열리고, 기간이 끝나면 저절로 닫힙니다.",
        "Accepting a mission opens access to the named machines for its weeks only; it closes by itself.",
    ),
    "booking": ("방문·설비 예약", "Visits and machine hours"),
    "machine_hours": ("유휴 설비 시간", "Idle machine hours"),
    "offers_note": (
        "각 기업이 실제 측정한 여유 가동 시간 안에서만 내놓은 시간입니다. 남은 시간만큼 예약할 수 있습니다.",
        "Hours offered within each firm's measured free capacity; book up to what is left.",
    ),
    "no_offers": ("예약할 수 있는 설비 시간이 없습니다", "No machine hours to book"),
    "week_of": ("주 (월요일)", "Week of (Monday)"),
    "hours_left": ("남은 시간", "Hours left"),
    "hours": ("시간", "Hours"),
    "measured_free": ("측정된 여유", "measured free"),
    "book": ("예약", "Book"),
    "yours": ("우리 회사", "yours"),
    "offer_hours": ("우리 설비 시간 내놓기", "Offer hours of our machine"),
    "rate_default": ("비우면 설비 단가", "empty: the equipment's rate"),
    "offer": ("내놓기", "Offer"),
    "visits": ("공장 방문", "Factory visits"),
    "no_slots": ("예약할 수 있는 방문 시간이 없습니다", "No visit slots to book"),
    "when": ("일시", "When"),
    "seats_left": ("남은 자리", "Places left"),
    "party": ("인원", "Party"),
    "offer_slot": ("방문 시간 열기", "Open a visit slot"),
    "day": ("날짜", "Day"),
    "from": ("시작", "From"),
    "to": ("끝", "To"),
    "seats": ("정원", "Places"),
    "bookings": ("예약 내역", "Bookings"),
    "kind_visit": ("방문", "Visit"),
    "kind_machine_hours": ("설비 시간", "Machine hours"),
    "booked_by": ("예약한 곳", "booked by"),
    "booking_active": ("예약됨", "booked"),
    "booking_cancelled": ("취소됨", "cancelled"),
    "projects": ("공동 R&D", "Co-R&D projects"),
    "new_project": ("새 공동 R&D 과제", "New co-R&D project"),
    "description": ("설명", "Description"),
    "roles_note": (
        "찾는 역할(디자이너, 엔지니어, 제조 파트너, 연구실 ...)과 필요한 공정·기술을 쉼표로 적으세요.",
        "Name the roles you seek and the processes or skills each needs, separated by commas.",
    ),
    "role": ("역할", "Role"),
    "skills": ("기술", "Skills"),
    "my_projects": ("우리 회사 과제", "Our projects"),
    "partners_for": ("추천 파트너", "Recommended partners"),
    "no_partners": ("추천할 파트너가 없습니다", "No partner to recommend"),
    "brings": ("보완", "brings"),
    "no_projects": ("과제가 없습니다", "No projects yet"),
    "open_projects": ("파트너를 찾는 다른 과제", "Other projects seeking partners"),
    "new_problem": ("전문가에게 문제 올리기", "Post a problem for an expert"),
    "problem_note": (
        "근거 수치는 고른 설비의 데이터로 서버가 계산합니다 (직접 입력하지 않습니다).",
        "The evidence is computed on the server from the machines you choose (not typed in).",
    ),
    "metric": ("지표", "Metric"),
    "last_days": ("최근 일수", "Last days"),
    "no_machines": ("우리 회사 설비가 없습니다", "Your firm has no machines here"),
    # factor names of cooperate/match.py (unknown names are shown as they are)
    "capability_fit": ("역량 적합도", "Capability fit"),
    "capability": ("역량 적합도", "Capability fit"),
    "distance": ("거리", "Distance"),
    "rating": ("평가", "Rating"),
    "ratings": ("평가", "Ratings"),
    "price": ("가격", "Price"),
    "cost": ("비용", "Cost"),
}


def commons_translator(lang: str) -> Callable[[str], str]:
    """Commons labels, vocabulary names (processes, materials), then the dashboard's labels."""
    i = 0 if lang == "ko" else 1
    base = translator(lang)
    vocab = {c: (p.ko, p.en) for c, p in PROCESSES.items()} | {c: (m.ko, m.en) for c, m in MATERIALS.items()}

    def t(key: str) -> str:
        pair = COMMONS_LABELS.get(key) or vocab.get(key)
        return pair[i] if pair else base(key)

    return t


def _int(value: str, field: str, lo: int = 0) -> int | None:
    value = value.strip().replace(",", "")
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{field}: 숫자가 아닙니다 / not a whole number: {value!r}") from None
    if n < lo:
        raise ValueError(f"{field}: {lo} 이상이어야 합니다 / must be at least {lo}")
    return n


def _float(value: str, field: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{field}: 숫자가 아닙니다 / not a number: {value!r}") from None
    if not x > 0:
        raise ValueError(f"{field}: 0보다 커야 합니다 / must be above 0")
    return x


def per_week(capacity: Any) -> dict[str, float]:
    """Mean free hours per week of each process over the weeks of a capacity evidence."""
    weeks = {w.week_start for w in capacity.weeks} or {None}
    total: dict[str, float] = {}
    for w in capacity.weeks:
        total[w.process] = total.get(w.process, 0.0) + w.free_hours
    return {p: h / len(weeks) for p, h in sorted(total.items())}


def _num(x: Any) -> str:
    """A quantity or amount as people write it: 1,234.5 (no exponent, no trailing zeros)."""
    d = Decimal(str(x))
    text = f"{d:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def note_in(note: str, lang: str) -> str:
    """The Korean or English half of a "한국어 / English" note."""
    if " / " not in note:
        return note
    ko, en = note.split(" / ", 1)
    return ko if lang == "ko" else en


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{field}: 날짜가 아닙니다 (YYYY-MM-DD) / not a date: {value!r}") from None


def _hhmm(value: str, field: str) -> time:
    try:
        return datetime.strptime(value.strip(), "%H:%M").time()
    except ValueError:
        raise ValueError(f"{field}: 시각이 아닙니다 (HH:MM) / not a time: {value!r}") from None


def bars(m: Match) -> list[dict[str, Any]]:
    """The factors of a match for the template: label data and bar widths (share of the best)."""
    top = max((f.contribution for f in m.factors), default=0.0) or 1.0
    return [
        {
            "name": f.name,
            "value": f.value,
            "weight": f.weight,
            "contribution": f.contribution,
            "note": f.note,
            "width": max(0.0, min(100.0, 100.0 * f.contribution / top)),
        }
        for f in m.factors
    ]


def add_commons_pages(
    app: FastAPI, commons: CommonsDB, accounts: Accounts, now: Callable[[], datetime], store: Store
) -> None:
    """Mount the commons pages and the public catalog on `app` (kept out of the OpenAPI document)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    router = APIRouter(include_in_schema=False)

    def page_caller(request: Request) -> Caller | None:
        try:
            return authenticate(request, accounts, now())
        except HTTPException:
            return None

    def form_caller(request: Request, csrf_token: str) -> Caller:
        scope = dict(request.scope)
        headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"x-csrf-token"]
        scope["headers"] = [*headers, (b"x-csrf-token", csrf_token.encode())]
        return authenticate(Request(scope), accounts, now())

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    def render(request: Request, name: str, c: Caller | None, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return templates.TemplateResponse(
            request,
            name,
            {
                "t": commons_translator(lang),
                "lang": lang,
                "user": c.user if c else None,
                "firm": c.firm if c else None,
                "csrf": request.cookies.get(CSRF_COOKIE, ""),
                "here": quote(here),
                "processes": PROCESSES,
                "materials": MATERIALS,
                "evidence_kinds": EVIDENCE_KINDS,
                "per_week": per_week,
                "note_in": note_in,
                "local": lambda dt, fmt="%Y-%m-%d %H:%M": dt.astimezone(SEOUL).strftime(fmt),
                **ctx,
            },
            status_code=status,
        )

    def message(request: Request, c: Caller | None, text: str, status: int) -> HTMLResponse:
        return render(request, "message.html", c, status=status, message=text)

    # -- public catalog ----------------------------------------------------------------------
    @router.get("/catalog", response_class=HTMLResponse)
    def catalog(
        request: Request,
        process: str = "",
        material: str = "",
        district: str = "",
        q: str = "",
        page: int = 1,
    ) -> Response:
        profiles = public_profiles(commons)
        districts = sorted({p.facility.location.district for p in profiles})
        process = process if process in PROCESSES else ""
        material = material if material in MATERIALS else ""
        district = district if district in districts else ""
        found = search_catalog(profiles, process or None, material or None, district or None, q[:100])
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(page, 1), pages)
        shown = [catalog_entry(p) for p in found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
        query = {"process": process, "material": material, "district": district, "q": q}
        return render(
            request,
            "commons_catalog.html",
            page_caller(request),
            page="catalog",
            entries=shown,
            total=len(found),
            districts=districts,
            query=query,
            pageno=page,
            pages=pages,
            qs=lambda n: urlencode({**{k: v for k, v in query.items() if v}, "page": n}),
        )

    @router.get("/catalog/{firm_id}", response_class=HTMLResponse)
    def catalog_firm(request: Request, firm_id: str) -> Response:
        c = page_caller(request)
        p = commons.get(PROFILE, firm_id, Profile)
        if p is None:
            return message(request, c, "찾을 수 없습니다 / not found", 404)
        return render(request, "commons_firm.html", c, page="catalog", p=p.public(), own=False)

    # -- my profile --------------------------------------------------------------------------
    @router.get("/commons/profile", response_class=HTMLResponse)
    def my_profile(request: Request, err: str = "", ok: str = "") -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        p = commons.get(PROFILE, firm_key(c), Profile)
        return render(
            request,
            "commons_firm.html",
            c,
            page="profile",
            p=p,
            own=True,
            may_act=c.user.role in ACTORS,
            err=err[:300],
            ok=bool(ok),
        )

    @router.post("/commons/profile/publish")
    def publish_post(
        request: Request, kind: str = Form(...), action: str = Form(...), csrf_token: str = Form("")
    ) -> Response:
        c = form_caller(request, csrf_token)
        if c.user.role not in ACTORS or kind not in EVIDENCE_KINDS or action not in ("publish", "withdraw"):
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        me = firm_key(c)
        p = commons.get(PROFILE, me, Profile)
        if p is None or (action == "publish" and getattr(p.evidence, kind) is None):
            return RedirectResponse("/commons/profile?err=no_evidence", status_code=303)
        (pf.publish if action == "publish" else pf.withdraw)(commons, me, [kind], now())
        return RedirectResponse("/commons/profile", status_code=303)

    @router.post("/commons/profile/evidence")
    def evidence_post(request: Request, csrf_token: str = Form("")) -> Response:
        """Recompute the evidence from the firm's own store (what is published does not change)."""
        c = form_caller(request, csrf_token)
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        me = firm_key(c)
        if commons.get(PROFILE, me, Profile) is None:
            return RedirectResponse("/commons/profile", status_code=303)
        try:
            save_evidence(commons, me, firm_evidence(store, c.firm.enterprises, today_of(now())))
        except ValueError as e:
            return RedirectResponse(f"/commons/profile?{urlencode({'err': str(e)[:300]})}", status_code=303)
        return RedirectResponse("/commons/profile?ok=1", status_code=303)

    # -- requests and matches ----------------------------------------------------------------
    @router.get("/commons/requests", response_class=HTMLResponse)
    def requests_page(request: Request) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        mine = commons.all(REQUEST, CommonsRequest, owner=firm_key(c))
        return render(
            request,
            "commons_requests.html",
            c,
            page="requests",
            mine=sorted(mine, key=lambda r: (r.posted, r.id), reverse=True),
            may_act=c.user.role in ACTORS,
            today=today_of(now()),
            error=None,
            form={},
        )

    @router.post("/commons/requests")
    async def requests_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        c = form_caller(request, form.get("csrf_token", ""))
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        today = today_of(now())
        try:
            steps = []
            for i in (1, 2, 3):
                proc = form.get(f"process{i}", "").strip()
                if not proc:
                    continue
                steps.append(
                    Step(
                        process=proc,
                        material=form.get(f"material{i}", "").strip(),
                        quantity=_int(form.get(f"quantity{i}", ""), f"quantity{i}", 1) or 1,
                        tolerance_mm=_float(form.get(f"tolerance{i}", ""), f"tolerance{i}"),
                    )
                )
            if not steps:
                raise ValueError("process1: 공정을 고르세요 / choose a process for step 1")
            due_text = form.get("due", "").strip()
            try:
                due = date.fromisoformat(due_text)
            except ValueError:
                raise ValueError(f"due: 날짜가 아닙니다 (YYYY-MM-DD) / not a date: {due_text!r}") from None
            if due < today:
                raise ValueError(f"due: 납기가 지났습니다 / the due date {due} is before today {today}")
            title = form.get("title", "").strip()[:200] or f"{steps[0].process} × {steps[0].quantity}"
            lang = pick_lang(request.cookies.get(LANG_COOKIE))
            me = firm_key(c)
            own = commons.get(PROFILE, me, Profile)
            r = CommonsRequest(
                id=f"r-{secrets.token_hex(5)}",
                requester=me,
                title=Text(ko=title) if lang == "ko" else Text(en=title),
                steps=tuple(steps),
                due=due,
                posted=today,
                location=own.facility.location if own else None,
                budget_krw=_int(form.get("budget", ""), "budget"),
                confidentiality="nda" if form.get("confidentiality") == "nda" else "public",
            )
        except (ValueError, ValidationError) as e:
            why = (
                "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in e.errors())
                if isinstance(e, ValidationError)
                else str(e)
            )
            mine = commons.all(REQUEST, CommonsRequest, owner=firm_key(c))
            return render(
                request,
                "commons_requests.html",
                c,
                status=422,
                page="requests",
                mine=mine,
                may_act=True,
                today=today,
                error=why,
                form=form,
            )
        commons.put(REQUEST, r.id, me, r)
        return RedirectResponse(f"/commons/requests/{quote(r.id)}", status_code=303)

    @router.get("/commons/requests/{request_id}", response_class=HTMLResponse)
    def request_page(request: Request, request_id: str) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        r = commons.get(REQUEST, request_id, CommonsRequest)
        if r is None or r.requester != firm_key(c):
            return message(request, c, "찾을 수 없습니다 / not found", 404)
        today = today_of(now())
        names = {p.firm_id: p.facility.name for p in commons.all(PROFILE, Profile)}
        steps = []
        for i, _ in enumerate(r.steps):
            ms = rank_request(commons, r, today, i, 10)
            steps.append([{"m": m, "bars": bars(m), "name": names.get(m.firm_id)} for m in ms])
        team = team_of(r, today) if len(r.steps) > 1 else None
        return render(
            request, "commons_request.html", c, page="requests", r=r, steps=steps, team=team, names=names
        )

    def team_of(r: CommonsRequest, today: date) -> Any:
        return plan_request_team(commons, r, today)

    # -- pools and campaigns -----------------------------------------------------------------
    @router.get("/commons/pools", response_class=HTMLResponse)
    def pools_page(request: Request, ok: str = "", err: str = "") -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        me = firm_key(c)
        mine = [p for p in pl.list_pools(commons) if me in p.members or me == p.cooperative]
        camps = [x for x in pl.list_campaigns(commons) if me in x.members or me == x.cooperative]
        rows = []
        for p in mine:
            out = pool_out(p, c)
            s = p.settlement
            own_line = next((x for x in s.lines if x.firm_id == me), None) if s else None
            reach = float(p.tiers[-1].min_quantity) or 1.0
            rows.append(
                {
                    "p": out,
                    "settlement": s,
                    "own_line": own_line,
                    "all_lines": list(s.lines) if s and runs(c, p.cooperative) else [],
                    "fill": min(100.0, 100.0 * float(out.progress.total_quantity) / reach),
                    "open": p.state == "open" and p.opens <= now() < p.closes,
                }
            )
        return render(
            request,
            "commons_pools.html",
            c,
            page="pools",
            rows=rows,
            camps=camps,
            me=me,
            may_act=c.user.role in ACTORS,
            ok=ok[:200],
            err=err[:500],
            num=_num,
        )

    @router.post("/commons/pools/{pool_id}/commit")
    def pool_commit(
        request: Request,
        pool_id: str,
        quantity: str = Form(""),
        action: str = Form("commit"),
        csrf_token: str = Form(""),
    ) -> Response:
        c = form_caller(request, csrf_token)
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        me = firm_key(c)
        pool = commons.get("pool", pool_id, pl.PurchasePool)
        if pool is None or me not in pool.members:
            return message(request, c, "찾을 수 없습니다 / not found", 404)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        try:
            if action == "withdraw":
                pl.withdraw(commons, pool_id, me, now())
            else:
                pl.commit(commons, pool_id, me, quantity.strip().replace(",", "") or "0", now())
        except pl.CommonsError as e:
            return RedirectResponse(f"/commons/pools?{urlencode({'err': e.message(lang)})}", status_code=303)
        return RedirectResponse(
            f"/commons/pools?{urlencode({'ok': pool_id})}#pool-{pool_id}", status_code=303
        )

    @router.post("/commons/campaigns/{campaign_id}/join")
    def campaign_join(
        request: Request, campaign_id: str, shares: str = Form("1"), csrf_token: str = Form("")
    ) -> Response:
        c = form_caller(request, csrf_token)
        me = firm_key(c)
        camp = commons.get("campaign", campaign_id, pl.Campaign)
        if c.user.role not in ACTORS or camp is None or me not in camp.members:
            return message(request, c, "찾을 수 없습니다 / not found", 404)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        try:
            pl.join_campaign(commons, campaign_id, me, shares.strip() or "1", now())
        except pl.CommonsError as e:
            return RedirectResponse(f"/commons/pools?{urlencode({'err': e.message(lang)})}", status_code=303)
        return RedirectResponse(f"/commons/pools?{urlencode({'ok': campaign_id})}", status_code=303)

    # -- missions ----------------------------------------------------------------------------
    @router.get("/commons/missions", response_class=HTMLResponse)
    def missions_page(request: Request, err: str = "", ok: str = "") -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        me = firm_key(c)
        problems = ms.problems_of(commons, me) if c.user.role in ms.FIRM_READ_ROLES else []
        missions = ms.missions_for(commons, accounts, c.user.id)
        experts = load_experts(commons)
        names = {e.id: e.name for e in experts}
        today = today_of(now())
        candidates = {
            p.id: ms.match_experts(p, experts, today, limit=3) for p in problems if p.status == "open"
        }
        return render(
            request,
            "commons_missions.html",
            c,
            page="missions",
            problems=problems,
            missions=missions,
            candidates=candidates,
            expert_names=names,
            may_accept=c.user.role in ms.GRANTING_ROLES,
            may_post=c.user.role in ACTORS,
            metrics=ms.METRICS,
            own_machines=sorted(m.path for m in store.machines() if c.owns(m.path)),
            at=now(),
            err=err[:500],
            ok=ok[:200],
        )

    @router.post("/commons/problems/{problem_id}/accept")
    def accept_post(
        request: Request, problem_id: str, expert_id: str = Form(...), csrf_token: str = Form("")
    ) -> Response:
        """The owner accepts an expert: a mission and a data grant for exactly its weeks."""
        c = form_caller(request, csrf_token)
        problem = commons.get(ms.PROBLEM_KIND, problem_id, ms.Problem)
        if problem is None or problem.firm_id != firm_key(c) or c.user.role not in ms.GRANTING_ROLES:
            return message(request, c, "찾을 수 없습니다 / not found", 404)
        try:
            ms.accept(commons, accounts, problem_id, expert_id, c.user.id, now())
        except ValueError as e:
            return RedirectResponse(f"/commons/missions?{urlencode({'err': str(e)[:300]})}", status_code=303)
        return RedirectResponse("/commons/missions", status_code=303)

    def back(path: str, lang: str, e: Exception | None = None, ok: str = "") -> RedirectResponse:
        """Back to a page with the error of a cooperate module (field and why) or an ok mark."""
        if e is None:
            return RedirectResponse(f"{path}?{urlencode({'ok': ok})}", status_code=303)
        text = e.message(lang) if isinstance(e, pl.CommonsError) else str(e)
        return RedirectResponse(f"{path}?{urlencode({'err': text[:300]})}", status_code=303)

    # -- visits and shared machine hours -----------------------------------------------------
    @router.get("/commons/booking", response_class=HTMLResponse)
    def booking_page(request: Request, ok: str = "", err: str = "") -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        me = firm_key(c)
        own = commons.get(PROFILE, me, Profile)
        names = {p.firm_id: p.facility.name for p in public_profiles(commons)}
        seen = {b.id: b for b in bk.bookings_of(commons, me)}
        seen.update({b.id: b for b in bk.bookings_for(commons, host=me)})
        today = today_of(now())
        return render(
            request,
            "commons_booking.html",
            c,
            page="booking",
            me=me,
            slots=bk.list_slots(commons, bookable_only=True, now=now()),
            offers=[offer_out(o, c) for o in bk.list_offers(commons, bookable_only=True, now=now())],
            bookings=sorted(seen.values(), key=lambda b: (b.starts, b.id)),
            equipment=list(own.facility.equipment) if own else [],
            names=names,
            may_act=c.user.role in ACTORS,
            next_monday=today + timedelta(days=7 - today.weekday()),
            today=today,
            ok=ok[:200],
            err=err[:500],
            num=_num,
        )

    @router.post("/commons/slots")
    async def slot_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        c = form_caller(request, form.get("csrf_token", ""))
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        try:
            day = _date(form.get("day", ""), "day")
            start, end = (_hhmm(form.get(k, ""), k) for k in ("start", "end"))
            title = form.get("title", "").strip()[:200]
            slot = bk.offer_slot(
                commons,
                firm_id=firm_key(c),
                day=day,
                start=start,
                end=end,
                capacity=_int(form.get("capacity", ""), "capacity", 1) or 1,
                languages=[x.strip() for x in form.get("languages", "ko").split(",") if x.strip()] or ["ko"],
                title=(Text(ko=title) if lang == "ko" else Text(en=title)) if title else None,
                now=now(),
            )
        except (ValueError, ValidationError) as e:
            return back("/commons/booking", lang, e)
        return back("/commons/booking", lang, ok=slot.id)

    @router.post("/commons/slots/{slot_id}/book")
    def slot_book(
        request: Request, slot_id: str, party: str = Form("1"), csrf_token: str = Form("")
    ) -> Response:
        c = form_caller(request, csrf_token)
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        try:
            b = bk.book_visit(commons, slot_id, firm_key(c), _int(party, "party", 1) or 1, now=now())
        except ValueError as e:
            return back("/commons/booking", lang, e)
        return back("/commons/booking", lang, ok=b.id)

    @router.post("/commons/offers")
    async def offer_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        c = form_caller(request, form.get("csrf_token", ""))
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        try:
            o = bk.offer_machine_hours(
                commons,
                firm_key(c),
                form.get("equipment_id", "").strip(),
                _date(form.get("week_start", ""), "week_start"),
                form.get("hours", "").strip().replace(",", "") or "0",
                hourly_rate_krw=_int(form.get("rate", ""), "rate"),
                now=now(),
            )
        except (ValueError, ValidationError) as e:
            return back("/commons/booking", lang, e)
        return back("/commons/booking", lang, ok=o.id)

    @router.post("/commons/offers/{offer_id}/book")
    def offer_book(
        request: Request, offer_id: str, hours: str = Form(""), csrf_token: str = Form("")
    ) -> Response:
        c = form_caller(request, csrf_token)
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        try:
            b = bk.book_machine_hours(
                commons, offer_id, firm_key(c), hours.strip().replace(",", "") or "0", now=now()
            )
        except ValueError as e:
            return back("/commons/booking", lang, e)
        return back("/commons/booking", lang, ok=b.id)

    # -- co-R&D projects ---------------------------------------------------------------------
    @router.get("/commons/projects", response_class=HTMLResponse)
    def projects_page(request: Request, ok: str = "", err: str = "") -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        me = firm_key(c)
        mine = [p for p in commons.all(pj.KIND, pj.Project) if p.firm_id == me]
        others = [p for p in pj.open_projects(commons) if p.firm_id != me]
        profiles, experts = public_profiles(commons), load_experts(commons)
        partners = {
            p.id: pj.recommend_partners(p, profiles, experts, limit=3) for p in mine if p.status == "open"
        }
        return render(
            request,
            "commons_projects.html",
            c,
            page="projects",
            mine=mine,
            others=others,
            partners=partners,
            roles=pj.ROLES,
            may_act=c.user.role in ACTORS,
            ok=ok[:200],
            err=err[:500],
        )

    @router.post("/commons/projects")
    async def project_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        c = form_caller(request, form.get("csrf_token", ""))
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))

        def text(v: str) -> Text:
            return Text(ko=v) if lang == "ko" else Text(en=v)

        try:
            title = form.get("title", "").strip()[:200]
            if not title:
                raise ValueError("title: 제목을 쓰세요 / give the project a title")
            needs = []
            for i in (1, 2, 3):
                role = form.get(f"role{i}", "").strip()
                if not role:
                    continue
                split = [x.strip() for x in form.get(f"processes{i}", "").split(",") if x.strip()]
                skills = [x.strip() for x in form.get(f"skills{i}", "").split(",") if x.strip()]
                needs.append(pj.RoleNeed(role=role, processes=tuple(split), skills=tuple(skills)))
            if not needs:
                raise ValueError("role1: 필요한 역할을 하나 이상 고르세요 / choose at least one role")
            desc = form.get("description", "").strip()[:5000]
            p = pj.save_project(
                commons,
                pj.Project(
                    id=f"prj-{secrets.token_hex(5)}",
                    firm_id=firm_key(c),
                    title=text(title),
                    description=text(desc) if desc else None,
                    needs=tuple(needs),
                    posted=today_of(now()),
                ),
            )
        except (ValueError, ValidationError) as e:
            why = (
                "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in e.errors())
                if isinstance(e, ValidationError)
                else str(e)
            )
            return back("/commons/projects", lang, ValueError(why))
        return back("/commons/projects", lang, ok=p.id)

    # -- a problem for an outside expert -------------------------------------------------------
    @router.post("/commons/problems")
    async def problem_post(request: Request) -> Response:
        """Post a problem; its KPI evidence is computed here from the firm's own machines."""
        form = await request.form()
        c = form_caller(request, str(form.get("csrf_token", "")))
        if c.user.role not in ACTORS:
            return message(request, c, "권한이 없습니다 / not allowed", 403)
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        title = str(form.get("title", "")).strip()[:200]
        try:
            body = ProblemIn(
                title=Text(ko=title) if lang == "ko" else Text(en=title),
                metric=str(form.get("metric", "")),
                scope=[str(x) for x in form.getlist("scope")],
                days=_int(str(form.get("days", "")), "days", 1) or 30,
                skills=[x.strip() for x in str(form.get("skills", "")).split(",") if x.strip()],
                weeks=_int(str(form.get("weeks", "")), "weeks", 1) or 4,
                hours_per_week=_float(str(form.get("hours_per_week", "")), "hours_per_week") or 8,
            )
            p = create_problem(commons, store, c, body, now())
        except HTTPException as e:
            return back("/commons/missions", lang, ValueError(str(e.detail)))
        except ValidationError as e:
            why = "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in e.errors())
            return back("/commons/missions", lang, ValueError(why))
        except ValueError as e:
            return back("/commons/missions", lang, e)
        return RedirectResponse(
            f"/commons/missions?{urlencode({'ok': p.id})}#problem-{p.id}", status_code=303
        )

    app.include_router(router)
