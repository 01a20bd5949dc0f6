"""Web pages of the commons (server-rendered, Korean/English) and the public catalog.

Pages: /catalog (no login, phone-friendly: firms with only what they published, search by
several processes, material, city, district in Korean or romanised, and words),
/catalog/{firm} (one public profile, with "request a quote"), /commons/profile (my profile,
publish/withdraw toggles), /commons/pools (join a purchasing pool, settlement),
/commons/booking (visit slots and idle machine hours: offer, book, what is left),
/commons/projects (co-R&D posts and recommended partners per role) and /commons/missions (post a
problem whose KPI evidence the server computes; experts; accept). The request, quote and order
pages (/commons/requests...) are in web/commons_requests.py. Logged-in pages use the API's
session cookie and CSRF check, like the dashboard (server/web/pages.py), and read the commons
through the same functions as the API (server/api/commons.py, cooperate/catalog.py), so they
see exactly what the API would show the caller. Their text is in the `commons` catalog (then
`web`, `states`, `kpi`, `commons_terms`, `commons_orders`; process and material names from
cooperate/vocab.py).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from ...accounts import Accounts
from ...cooperate import booking as bk
from ...cooperate import membership as mb
from ...cooperate import missions as ms
from ...cooperate import places
from ...cooperate import pools as pl
from ...cooperate import profiles as pf
from ...cooperate import projects as pj
from ...cooperate.catalog import (
    PROFILE,
    public_profiles,
    save_evidence,
    search_public,
)
from ...cooperate.db import CommonsDB
from ...cooperate.evidence import firm_evidence
from ...cooperate.experts import load_experts
from ...cooperate.model import EVIDENCE_KINDS, Cooperative, Profile, Text
from ...cooperate.vocab import MATERIALS, PROCESSES
from ...i18n import KPI, STATES, Catalog
from ...store.base import Store
from ..api.commons import (
    ACTORS,
    SEOUL,
    ProblemIn,
    catalog_entry,
    cooperative_out,
    create_problem,
    firm_key,
    offer_out,
    pool_out,
    runs,
    settlement_out,
    takes_part,
    today_of,
)
from ..auth import Caller
from .commons_coop import add_coop_pages
from .commons_profile import add_profile_pages
from .i18n import COMMONS, TERMS, WEB, Translate, translator
from .pages import Form, FormError, Pages, Refused, back
from .signup import add_signup_pages

PAGE_SIZE = 30
ORDERS = Catalog("commons_orders")  # the request, quote and order pages' text (commons_requests.py)
PAGES = Catalog("commons_pages")  # the profile editor, the co-op manager's pages, sign-up
T = TypeVar("T")
CHECK = re.compile(r"^(\w+)/([^:]+): (.*)$")  # "process/공정: milling"
#: process and material names (cooperate/vocab.py): code -> (Korean, English)
VOCAB = {c: (p.ko, p.en) for c, p in PROCESSES.items()} | {c: (m.ko, m.en) for c, m in MATERIALS.items()}


def commons_translator(lang: str, c: Caller | None = None) -> Translate:
    """The `t` of the commons pages: vocabulary names, then the commons, web, states, kpi and
    commons_terms catalogs (a commons key wins over a web key of the same name)."""
    return translator(lang, (), (COMMONS, WEB, STATES, KPI, TERMS, ORDERS, PAGES), names=VOCAB)


def _parse(value: str, field: str, parse: Callable[[str], T], key: str) -> T:
    """`parse(value)`, or a FormError naming the field, why (`key`) and what was typed."""
    try:
        return parse(value.strip())
    except ValueError:
        raise FormError(field, key, value=repr(value)) from None


def _int(value: str, field: str, lo: int = 0) -> int | None:
    value = value.strip().replace(",", "")
    if not value:
        return None
    n = _parse(value, field, int, "err_not_integer")
    if n < lo:
        raise FormError(field, "err_at_least", lo=lo)
    return n


def _float(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    x = _parse(value, field, float, "err_not_number")
    if not x > 0:
        raise FormError(field, "err_not_positive")
    return x


def _date(value: str, field: str) -> date:
    return _parse(value, field, date.fromisoformat, "err_not_date")


def _hhmm(value: str, field: str) -> time:
    return _parse(value, field, lambda v: datetime.strptime(v, "%H:%M").time(), "err_not_time")


def _text(value: str, lang: str) -> Text:
    """What a firm typed, as the text of the language it typed it in."""
    return Text(ko=value) if lang == "ko" else Text(en=value)


def _list(value: str) -> list[str]:
    return [x.strip() for x in value.split(",") if x.strip()]


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
    """The Korean or English half of a "한국어 / English" note of a cooperate module."""
    if " / " not in note:
        return note
    ko, en = note.split(" / ", 1)
    return ko if lang == "ko" else en


def check_in(check: str, lang: str, t: Translate) -> str:
    """One hard check of a match ("process/공정: milling", cooperate/match.py) in `lang`, a
    process or material code by its name."""
    found = CHECK.match(check)
    if not found:
        return check
    en, ko, value = found.groups()
    return f"{ko if lang == 'ko' else en}: {t(value) if value in VOCAB else value}"


def add_commons_pages(
    app: FastAPI, commons: CommonsDB, accounts: Accounts, now: Callable[[], datetime], store: Store
) -> None:
    """Mount the commons pages and the public catalog on `app` (kept out of the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    pages = Pages(
        accounts,
        now,
        commons_translator,
        processes=PROCESSES,
        materials=MATERIALS,
        evidence_kinds=EVIDENCE_KINDS,
        per_week=per_week,
        note_in=note_in,
        check_in=check_in,
        num=_num,
        local=lambda dt, fmt="%Y-%m-%d %H:%M": dt.astimezone(SEOUL).strftime(fmt),
    )
    page, post = pages.page, pages.form_post

    # -- public catalog ----------------------------------------------------------------------
    @router.get("/catalog", response_class=HTMLResponse)
    def catalog(
        request: Request,
        material: str = "",
        district: str = "",
        city: str = "",
        q: str = "",
        page: int = 1,
    ) -> Response:
        profiles = public_profiles(commons)
        districts = sorted({(p.facility.location.city, p.facility.location.district) for p in profiles})
        chosen = [x for x in request.query_params.getlist("process") if x in PROCESSES][:10]
        material = material if material in MATERIALS else ""
        city = places.city_key(city) or ""
        district = places.district_key(district, city or None)
        district = district if district in {d for _, d in districts} else ""
        found = search_public(
            commons,
            process=chosen,
            material=material or None,
            district=district or None,
            q=q[:100],
            city=city,
        )
        pages_n = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(page, 1), pages_n)
        shown = [catalog_entry(p) for p in found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
        query = {"material": material, "district": district, "city": city, "q": q}
        return pages.render(
            request,
            "commons_catalog.html",
            pages.caller(request),
            page="catalog",
            entries=shown,
            total=len(found),
            districts=districts,
            cities=sorted({c for c, _ in districts}),
            chosen=chosen,
            query=query,
            pageno=page,
            pages=pages_n,
            romanise=places.romanise,
            qs=lambda n: urlencode(
                [("process", x) for x in chosen] + [(k, v) for k, v in query.items() if v] + [("page", n)]
            ),
        )

    @router.get("/catalog/{firm_id}", response_class=HTMLResponse)
    def catalog_firm(request: Request, firm_id: str) -> Response:
        c = pages.caller(request)
        p = commons.get(PROFILE, firm_id, Profile)
        if p is None:
            return pages.message(request, c, "not_found", 404)
        return pages.render(
            request, "commons_firm.html", c, page="catalog", p=p.public(), own=False, romanise=places.romanise
        )

    # -- my profile --------------------------------------------------------------------------
    @page(router, "/commons/profile", "commons_firm.html", "profile", flash=True)
    def my_profile(request: Request, c: Caller) -> dict[str, Any]:
        p = commons.get(PROFILE, firm_key(c), Profile)
        return {"p": p, "own": True, "may_act": c.user.role in ACTORS, "romanise": places.romanise}

    @post(router, "/commons/profile/publish", "/commons/profile", ACTORS)
    def publish_post(request: Request, c: Caller, form: Form) -> str | Response:
        kind, action = form.get("kind"), form.get("action")
        if kind not in EVIDENCE_KINDS or action not in ("publish", "withdraw"):
            raise Refused()
        me = firm_key(c)
        p = commons.get(PROFILE, me, Profile)
        if p is None or (action == "publish" and getattr(p.evidence, kind) is None):
            return back("/commons/profile", err="no_evidence")
        (pf.publish if action == "publish" else pf.withdraw)(commons, me, [kind], now())
        return ""

    @post(router, "/commons/profile/evidence", "/commons/profile", ACTORS)
    def evidence_post(request: Request, c: Caller, form: Form) -> str:
        """Recompute the evidence from the firm's own store (what is published does not change)."""
        me = firm_key(c)
        if commons.get(PROFILE, me, Profile) is None:
            return ""
        save_evidence(commons, me, firm_evidence(store, c.firm.enterprises, today_of(now())))
        return "1"

    # the profile editor and the co-op manager's pages: web/commons_profile.py, web/commons_coop.py
    add_profile_pages(router, commons, accounts, now, pages)
    add_coop_pages(router, commons, accounts, now, pages)
    add_signup_pages(app, accounts, now, pages)  # /signup: requesters sign up (web/signup.py)

    # -- requests, quotes and orders: web/commons_requests.py ---------------------------------

    # -- pools and campaigns -----------------------------------------------------------------
    @page(router, "/commons/pools", "commons_pools.html", "pools", flash=True)
    def pools_page(request: Request, c: Caller) -> dict[str, Any]:
        me = firm_key(c)
        mine = [p for p in pl.list_pools(commons) if takes_part(commons, c, p)]
        camps = [x for x in pl.list_campaigns(commons) if takes_part(commons, c, x)]
        rows = []
        for p in mine:
            out = pool_out(p, c)
            s = p.settlement
            own_line = next((x for x in s.lines if x.firm_id == me), None) if s else None
            reach = float(p.tiers[-1].min_quantity) or 1.0
            total = out.progress.total_quantity  # None while the pool's rules withhold it
            rows.append(
                {
                    "p": out,
                    "settlement": settlement_out(s, len(p.members), c, p.cooperative, p.disclosure_min_firms)
                    if s
                    else None,
                    "own_line": own_line,
                    "all_lines": list(s.lines) if s and runs(c, p.cooperative) else [],
                    "fill": None if total is None else min(100.0, 100.0 * float(total) / reach),
                    "open": p.state == "open" and p.opens <= now() < p.closes,
                }
            )
        coops = [v for v in (cooperative_out(x, c) for x in commons.all(mb.KIND, Cooperative)) if v]
        return {
            "rows": rows,
            "camps": camps,
            # a settled campaign's results, shared with its participants (added on /commons/coop)
            "results": {
                x.id: pl.campaign_results(commons, x.id, me)
                for x in camps
                if x.state == "settled" and (me in x.participants() or me == x.cooperative)
            },
            "me": me,
            "may_act": c.user.role in ACTORS,
            "coops": coops,
            # the invite form: for the manager of a cooperative on record (a new cooperative
            # starts with its first invitation, POST /api/commons/cooperatives/{id}/invite)
            "runs_coop": runs(c, me) and any(v.status == "manager" and v.id == me for v in coops),
        }

    @post(router, "/commons/cooperatives/{coop_id}/invite", "/commons/pools", ACTORS, anchor="#coops")
    def coop_invite(request: Request, c: Caller, form: Form, coop_id: str) -> str:
        """The manager invites a firm or approves its request (`membership.invite`)."""
        if not runs(c, coop_id):
            raise Refused("not_found", 404)
        firm = form.get("firm_id").strip()
        if accounts.firm_by_name(firm) is None and commons.get(PROFILE, firm, Profile) is None:
            raise pl.CommonsError.of("firm_id", "bad_firm_id", firm=firm)
        mb.invite(commons, coop_id, firm)
        return firm

    @post(router, "/commons/cooperatives/{coop_id}/remove", "/commons/pools", ACTORS, anchor="#coops")
    def coop_remove(request: Request, c: Caller, form: Form, coop_id: str) -> str:
        if not runs(c, coop_id):
            raise Refused("not_found", 404)
        mb.remove(commons, coop_id, form.get("firm_id").strip())
        return coop_id

    @post(router, "/commons/cooperatives/join", "/commons/pools", ACTORS, anchor="#coops")
    def coop_join(request: Request, c: Caller, form: Form) -> str:
        """The firm asks to join, or accepts an invitation (`membership.request_join`)."""
        coop_id = form.get("coop_id").strip()
        if form.get("action", "join") == "leave":
            mb.leave(commons, coop_id, firm_key(c))
        else:
            mb.request_join(commons, coop_id, firm_key(c))
        return coop_id

    @post(router, "/commons/pools/{pool_id}/commit", "/commons/pools", ACTORS, anchor="#pool-{ok}")
    def pool_commit(request: Request, c: Caller, form: Form, pool_id: str) -> str:
        me = firm_key(c)
        pool = commons.get("pool", pool_id, pl.PurchasePool)
        if pool is None or not pl.may_take_part(commons, pool, me):
            raise Refused("not_found", 404)
        if form.get("action", "commit") == "withdraw":
            pl.withdraw(commons, pool_id, me, now())
        else:
            pl.commit(commons, pool_id, me, form.get("quantity").replace(",", "") or "0", now())
        return pool_id

    @post(router, "/commons/campaigns/{campaign_id}/join", "/commons/pools", None)
    def campaign_join(request: Request, c: Caller, form: Form, campaign_id: str) -> str:
        me = firm_key(c)
        camp = commons.get("campaign", campaign_id, pl.Campaign)
        if c.user.role not in ACTORS or camp is None or not pl.may_take_part(commons, camp, me):
            raise Refused("not_found", 404)
        pl.join_campaign(commons, campaign_id, me, form.get("shares") or "1", now())
        return campaign_id

    # -- missions ----------------------------------------------------------------------------
    @page(router, "/commons/missions", "commons_missions.html", "missions", flash=True)
    def missions_page(request: Request, c: Caller) -> dict[str, Any]:
        problems = ms.problems_of(commons, firm_key(c)) if c.user.role in ms.FIRM_READ_ROLES else []
        experts = load_experts(commons)
        today = today_of(now())
        return {
            "problems": problems,
            "missions": ms.missions_for(commons, accounts, c.user.id),
            "candidates": {
                p.id: ms.match_experts(p, experts, today, limit=3) for p in problems if p.status == "open"
            },
            "expert_names": {e.id: e.name for e in experts},
            "may_accept": c.user.role in ms.GRANTING_ROLES,
            "may_post": c.user.role in ACTORS,
            "metrics": ms.METRICS,
            "own_machines": sorted(m.path for m in store.machines() if c.owns(m.path)),
            "at": now(),
        }

    @post(router, "/commons/problems/{problem_id}/accept", "/commons/missions", None)
    def accept_post(request: Request, c: Caller, form: Form, problem_id: str) -> str:
        """The owner accepts an expert: a mission and a data grant for exactly its weeks."""
        problem = commons.get(ms.PROBLEM_KIND, problem_id, ms.Problem)
        if problem is None or problem.firm_id != firm_key(c) or c.user.role not in ms.GRANTING_ROLES:
            raise Refused("not_found", 404)
        ms.accept(commons, accounts, problem_id, form.get("expert_id"), c.user.id, now())
        return ""

    @post(router, "/commons/problems", "/commons/missions", ACTORS, anchor="#problem-{ok}")
    def problem_post(request: Request, c: Caller, form: Form) -> str:
        """Post a problem; its KPI evidence is computed here from the firm's own machines."""
        body = ProblemIn(
            title=_text(form.get("title")[:200], pages.lang(request)),
            metric=form.get("metric"),
            scope=form.getlist("scope"),
            days=_int(form.get("days"), "days", 1) or 30,
            skills=_list(form.get("skills")),
            weeks=_int(form.get("weeks"), "weeks", 1) or 4,
            hours_per_week=_float(form.get("hours_per_week"), "hours_per_week") or 8,
        )
        return create_problem(commons, store, c, body, now()).id

    # -- visits and shared machine hours -----------------------------------------------------
    @page(router, "/commons/booking", "commons_booking.html", "booking", flash=True)
    def booking_page(request: Request, c: Caller) -> dict[str, Any]:
        me = firm_key(c)
        own = commons.get(PROFILE, me, Profile)
        seen = {b.id: b for b in bk.bookings_of(commons, me)}
        seen.update({b.id: b for b in bk.bookings_for(commons, host=me)})
        today = today_of(now())
        return {
            "me": me,
            "slots": bk.list_slots(commons, bookable_only=True, now=now()),
            "offers": [offer_out(o, c) for o in bk.list_offers(commons, bookable_only=True, now=now())],
            "bookings": sorted(seen.values(), key=lambda b: (b.starts, b.id)),
            "equipment": list(own.facility.equipment) if own else [],
            "names": {p.firm_id: p.facility.name for p in public_profiles(commons)},
            "may_act": c.user.role in ACTORS,
            "next_monday": today + timedelta(days=7 - today.weekday()),
            "today": today,
        }

    @post(router, "/commons/slots", "/commons/booking", ACTORS)
    def slot_post(request: Request, c: Caller, form: Form) -> str:
        title = form.get("title")[:200]
        slot = bk.offer_slot(
            commons,
            firm_id=firm_key(c),
            day=_date(form.get("day"), "day"),
            start=_hhmm(form.get("start"), "start"),
            end=_hhmm(form.get("end"), "end"),
            capacity=_int(form.get("capacity"), "capacity", 1) or 1,
            languages=_list(form.get("languages", "ko")) or ["ko"],
            title=_text(title, pages.lang(request)) if title else None,
            now=now(),
        )
        return slot.id

    @post(router, "/commons/slots/{slot_id}/book", "/commons/booking", ACTORS)
    def slot_book(request: Request, c: Caller, form: Form, slot_id: str) -> str:
        party = _int(form.get("party", "1"), "party", 1) or 1
        return bk.book_visit(commons, slot_id, firm_key(c), party, now=now()).id

    @post(router, "/commons/offers", "/commons/booking", ACTORS)
    def offer_post(request: Request, c: Caller, form: Form) -> str:
        return bk.offer_machine_hours(
            commons,
            firm_key(c),
            form.get("equipment_id"),
            _date(form.get("week_start"), "week_start"),
            form.get("hours").replace(",", "") or "0",
            hourly_rate_krw=_int(form.get("rate"), "rate"),
            now=now(),
        ).id

    @post(router, "/commons/offers/{offer_id}/book", "/commons/booking", ACTORS)
    def offer_book(request: Request, c: Caller, form: Form, offer_id: str) -> str:
        hours = form.get("hours").replace(",", "") or "0"
        return bk.book_machine_hours(commons, offer_id, firm_key(c), hours, now=now()).id

    # -- co-R&D projects ---------------------------------------------------------------------
    @page(router, "/commons/projects", "commons_projects.html", "projects", flash=True)
    def projects_page(request: Request, c: Caller) -> dict[str, Any]:
        me = firm_key(c)
        mine = [p for p in commons.all(pj.KIND, pj.Project) if p.firm_id == me]
        profiles, experts = public_profiles(commons), load_experts(commons)
        return {
            "mine": mine,
            "others": [p for p in pj.open_projects(commons) if p.firm_id != me],
            "partners": {
                p.id: pj.recommend_partners(p, profiles, experts, limit=3) for p in mine if p.status == "open"
            },
            "roles": pj.role_names(),
            "may_act": c.user.role in ACTORS,
        }

    @post(router, "/commons/projects", "/commons/projects", ACTORS)
    def project_post(request: Request, c: Caller, form: Form) -> str:
        lang = pages.lang(request)
        title = form.get("title")[:200]
        if not title:
            raise FormError("title", "err_no_title")
        needs = [
            pj.RoleNeed(
                role=form.get(f"role{i}"),
                processes=tuple(_list(form.get(f"processes{i}"))),
                skills=tuple(_list(form.get(f"skills{i}"))),
            )
            for i in (1, 2, 3)
            if form.get(f"role{i}")
        ]
        if not needs:
            raise FormError("role1", "err_no_role")
        desc = form.get("description")[:5000]
        project = pj.Project(
            id=f"prj-{secrets.token_hex(5)}",
            firm_id=firm_key(c),
            title=_text(title, lang),
            description=_text(desc, lang) if desc else None,
            needs=tuple(needs),
            posted=today_of(now()),
        )
        return pj.save_project(commons, project).id

    app.include_router(router)
