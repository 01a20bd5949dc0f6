"""The request pages of the commons: a request that says what and where, its matches, quotes and order.

/commons/requests          post a request: steps (process, material, quantity, tolerance, part
                           size, weight, certificates), where (a district, an address naming one,
                           or latitude/longitude, and a radius), a drawing; my requests; requests
                           my firm is invited to quote on; orders; awards to confirm
/commons/requests/{id}     the requester: ranked matches with every factor's reason and bar (one
                           scale: a perfect factor is a full bar), near-miss reasons when few
                           firms fit, a team for several steps, invitations, quotes, the order's
                           status, messages per firm, drawings; an invited firm: the request, its
                           drawings, its quote, its thread, the order it supplies
/commons/requests/{id}/files/{file}  a drawing, for the requester and invited firms only

The logic is cooperate/orders.py and cooperate/catalog.py (the API's functions); the text is in
the `commons_orders` catalog, then the commons pages' catalogs (web/commons.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from ...accounts import Accounts
from ...cooperate import orders, places
from ...cooperate import ratings as rt
from ...cooperate.catalog import PROFILE, REQUEST, locate, near_misses_of, plan_request_team, rank_request
from ...cooperate.db import CommonsDB
from ...cooperate.model import Location, Match, Profile, Step
from ...cooperate.model import Request as CommonsRequest
from ...cooperate.vocab import MATERIALS, PROCESSES
from ...i18n import KPI, STATES, Catalog
from ..api.commons import ACTORS, SEOUL, drawing_response, firm_key, today_of
from ..auth import Caller
from .commons import PAGES, VOCAB, _date, _float, _int, _num, _text, check_in, note_in
from .i18n import COMMONS, TERMS, WEB, Translate, translator
from .pages import Form, FormError, Pages, Refused, back, error_text

ORDERS = Catalog("commons_orders")
FEW = 3  # fewer matches than this: the page explains the near misses
STEPS = (1, 2, 3)


def requests_translator(lang: str, c: Caller | None = None) -> Translate:
    """The request pages' `t`: vocabulary names, then commons_orders and the commons catalogs
    (commons_pages last: the sub-navigation's co-op and sign-up links)."""
    return translator(lang, (), (ORDERS, COMMONS, WEB, STATES, KPI, TERMS, PAGES), names=VOCAB)


def bars(m: Match) -> list[dict[str, Any]]:
    """The factors of a match for the template, each bar its value on one scale (0-1: a
    perfect factor draws a full bar), with its weighted contribution and reason."""
    return [
        {
            "name": f.name,
            "value": f.value,
            "weight": f.weight,
            "contribution": f.contribution,
            "note": f.note,
            "width": max(0.0, min(100.0, 100.0 * f.value)),
        }
        for f in m.factors
    ]


def _envelope(form: Form, i: int) -> tuple[float, float, float] | None:
    dims = [_float(form.get(f"{k}{i}"), f"{k}{i}") for k in ("length", "width", "height")]
    if not any(dims):
        return None
    if not all(dims):
        missing = next(k for k, d in zip(("length", "width", "height"), dims, strict=True) if not d)
        raise FormError(f"{missing}{i}", "err_not_positive")
    return tuple(dims)  # type: ignore[return-value]


def _location(commons: CommonsDB, form: Form) -> Location | None:
    """Where the request is: latitude/longitude, else a district ("Incheon/남동구", Korean or
    romanised) or an address naming one."""
    lat, lon = form.get("lat"), form.get("lon")
    if lat or lon:
        try:
            return Location(
                city=form.get("district").partition("/")[0] or "-",
                district=form.get("district").rpartition("/")[2] or "-",
                address=form.get("address")[:300],
                lat=float(lat),
                lon=float(lon),
            )
        except ValueError:
            raise FormError("lat", "err_not_number", value=repr(f"{lat}, {lon}")) from None
    city, _, district = form.get("district").rpartition("/")  # "Incheon/남동구" from the pick list
    if district or form.get("address"):
        return locate(commons, city, district, form.get("address")[:300])
    return None


def _uploads(form: Form) -> list[UploadFile]:
    return [f for f in form.data.getlist("drawing") if isinstance(f, UploadFile) and f.filename]


def add_request_pages(
    app: FastAPI, commons: CommonsDB, accounts: Accounts, now: Callable[[], datetime]
) -> None:
    """Mount the request, quote and order pages on `app` (kept out of the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    pages = Pages(
        accounts,
        now,
        requests_translator,
        processes=PROCESSES,
        materials=MATERIALS,
        note_in=note_in,
        check_in=check_in,
        num=_num,
        districts=places.DISTRICTS,
        statuses=orders.STATUSES,
        criteria=rt.CRITERIA,
        romanise=places.romanise,
        local=lambda dt, fmt="%Y-%m-%d %H:%M": dt.astimezone(SEOUL).strftime(fmt),
    )
    page, post = pages.page, pages.form_post

    def names() -> dict[str, Any]:
        return {p.firm_id: p.facility.name for p in commons.all(PROFILE, Profile)}

    def list_context(c: Caller, request: Request) -> dict[str, Any]:
        me = firm_key(c)
        mine = sorted(
            commons.all(REQUEST, CommonsRequest, owner=me), key=lambda r: (r.posted, r.id), reverse=True
        )
        invited = orders.invitations_of(commons, me)
        my_quotes = {q.request_id: q for r in invited for q in orders.visible_quotes(commons, r, me)}
        every = commons.all("award", rt.Award)
        firm = request.query_params.get("firm", "")[:200]
        return {
            "mine": mine,
            "invited": invited,
            "my_quotes": my_quotes,
            "orders": orders.orders_of(commons, me),
            "awards_in": [a for a in every if a.ordered and a.supplier == me],
            "awards_out": [a for a in every if a.buyer == me and a.ordered],
            "me": me,
            "names": names(),
            "may_act": c.user.role in ACTORS,
            "today": today_of(now()),
            "quote_firm": firm if commons.get(PROFILE, firm, Profile) is not None else "",
            "error": None,
            "form": {},
        }

    @page(router, "/commons/requests", "commons_requests.html", "requests", flash=True)
    def requests_page(request: Request, c: Caller) -> dict[str, Any]:
        return list_context(c, request)

    def new_request(c: Caller, form: Form, lang: str, today: date) -> CommonsRequest:
        certs = tuple(x.strip() for x in form.get("certifications").split(",") if x.strip())
        steps = []
        for i in STEPS:
            proc = form.get(f"process{i}")
            if not proc:
                continue
            steps.append(
                Step(
                    process=proc,
                    material=form.get(f"material{i}"),
                    quantity=_int(form.get(f"quantity{i}"), f"quantity{i}", 1) or 1,
                    tolerance_mm=_float(form.get(f"tolerance{i}"), f"tolerance{i}"),
                    envelope_mm=_envelope(form, i),
                    weight_kg=_float(form.get(f"weight{i}"), f"weight{i}"),
                    sheet_thickness_mm=_float(form.get(f"thickness{i}"), f"thickness{i}"),
                    certifications=certs,
                )
            )
        if not steps:
            raise FormError("process1", "err_no_process")
        due = _date(form.get("due"), "due")
        if due < today:
            raise FormError("due", "err_due_past", due=due, today=today)
        title = form.get("title")[:200] or f"{steps[0].process} × {steps[0].quantity}"
        me = firm_key(c)
        where = _location(commons, form)
        if where is None:
            own = commons.get(PROFILE, me, Profile)
            where = own.facility.location if own else None
        radius = _float(form.get("radius"), "radius")
        return CommonsRequest(
            id=f"r-{secrets.token_hex(5)}",
            requester=me,
            title=_text(title, lang),
            steps=tuple(steps),
            due=due,
            posted=today,
            location=where,
            max_distance_km=radius if where is not None else None,
            budget_krw=_int(form.get("budget"), "budget"),
            confidentiality="nda" if form.get("confidentiality") == "nda" else "public",
        )

    async def post_request(request: Request) -> Response:
        """Post a request (with its drawings and the firm to quote, if any) and go to its page; a
        bad field shows the form again, as typed, with why."""
        form = Form(await request.form())
        c = pages.form_caller(request, form.get("csrf_token"))
        if c.user.role not in ACTORS:
            return pages.message(request, c, "not_allowed", 403)
        lang, today = pages.lang(request), today_of(now())
        me = firm_key(c)
        try:
            r = new_request(c, form, lang, today)
            files = [(f.filename or "", await f.read(orders.MAX_FILE_BYTES + 1)) for f in _uploads(form)]
            for name, data in files:
                orders.check_file(name, data)
            commons.put(REQUEST, r.id, me, r)
            for name, data in files:
                orders.attach(commons, r.id, me, name, data, now())
            if form.get("invite"):
                orders.invite(commons, r.id, me, [form.get("invite")])
        except ValueError as e:
            ctx = list_context(c, request)
            ctx |= {"error": error_text(e, lang, pages.t(request, c)), "form": form, "ok": "", "err": ""}
            ctx["quote_firm"] = form.get("invite")
            return pages.render(request, "commons_requests.html", c, status=422, page="requests", **ctx)
        return RedirectResponse(f"/commons/requests/{quote(r.id)}", status_code=303)

    # the form with a drawing posts under /commons/uploads (its body limit is the drawing's)
    router.add_api_route("/commons/requests", post_request, methods=["POST"])
    router.add_api_route("/commons/uploads/request", post_request, methods=["POST"])

    @page(router, "/commons/requests/{request_id}", "commons_request.html", "requests", flash=True)
    def request_page(request: Request, c: Caller, request_id: str) -> dict[str, Any] | Response:
        me = firm_key(c)
        r = commons.get(REQUEST, request_id, CommonsRequest)
        if r is None or not orders.is_party(r, me):
            return pages.message(request, c, "not_found", 404)
        today = today_of(now())
        own = r.requester == me
        steps, near, team = [], [], None
        if own:
            for i, _ in enumerate(r.steps):
                ranked = rank_request(commons, r, today, i, 10)
                steps.append([{"m": m, "bars": bars(m)} for m in ranked])
                near.append(near_misses_of(commons, r, today, i) if len(ranked) < FEW else None)
            team = plan_request_team(commons, r, today) if len(r.steps) > 1 else None
        threads: dict[str, list[orders.Message]] = {f: [] for f in (r.invited if own else (me,))}
        for m in orders.messages_of(commons, r, me):
            threads.setdefault(m.thread, []).append(m)
        order = orders.get_order(commons, r.id)
        if order is not None and me not in (order.buyer, order.supplier):
            order = None
        rated = any(
            x.request_id == r.id and x.rater == me for x in commons.all("rating", rt.Rating, owner=me)
        )
        return {
            "r": r,
            "own": own,
            "steps": steps,
            "near": near,
            "team": team,
            "names": names(),
            "quotes": orders.visible_quotes(commons, r, me),
            "order": order,
            "threads": threads,
            "me": me,
            "rated": rated,
            "may_act": c.user.role in ACTORS,
            "next_step": orders.NEXT.get(order.status) if order else None,
        }

    @router.get("/commons/requests/{request_id}/files/{file_id}")
    def drawing(request: Request, request_id: str, file_id: str) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        return drawing_response(commons, request_id, file_id, firm_key(c))

    back_to = "/commons/requests/{request_id}"

    @post(router, "/commons/requests/{request_id}/invite", back_to, ACTORS, anchor="#invited")
    def invite_post(request: Request, c: Caller, form: Form, request_id: str) -> str:
        firms = [f for f in form.getlist("firm_id") if f.strip()]
        if not firms:
            raise FormError("firm_id", "err_no_firm")
        orders.invite(commons, request_id, firm_key(c), firms)
        return ",".join(firms)

    @post(router, "/commons/requests/{request_id}/quote", back_to, ACTORS, anchor="#quotes")
    def quote_post(request: Request, c: Caller, form: Form, request_id: str) -> str:
        price = _int(form.get("price"), "price")
        lead = _int(form.get("lead_days"), "lead_days", 1)
        if price is None or lead is None:
            raise FormError("price" if price is None else "lead_days", "err_not_integer", value="''")
        q = orders.submit_quote(
            commons, request_id, firm_key(c), price, lead, form.get("conditions")[:2000], today_of(now())
        )
        return q.id

    @post(router, "/commons/requests/{request_id}/quotes/{quote_id}/accept", back_to, ACTORS, anchor="#order")
    def accept_post(request: Request, c: Caller, form: Form, request_id: str, quote_id: str) -> str:
        q = commons.get(orders.QUOTE, quote_id, orders.Quote)
        if q is None or q.request_id != request_id:
            raise Refused("not_found", 404)
        return orders.accept_quote(commons, quote_id, firm_key(c), now()).quote_id

    @post(router, "/commons/requests/{request_id}/status", back_to, ACTORS, anchor="#order")
    def status_post(request: Request, c: Caller, form: Form, request_id: str) -> str:
        return orders.advance(commons, request_id, firm_key(c), form.get("status"), now()).status

    @post(router, "/commons/requests/{request_id}/messages", back_to, ACTORS, anchor="#messages")
    def message_post(request: Request, c: Caller, form: Form, request_id: str) -> str:
        m = orders.post_message(
            commons,
            request_id,
            firm_key(c),
            form.get("text")[:5000],
            now(),
            thread=form.get("thread") or None,
        )
        return m.id

    @post(router, "/commons/requests/{request_id}/rating", back_to, ACTORS, anchor="#order")
    def rating_post(request: Request, c: Caller, form: Form, request_id: str) -> str:
        me = firm_key(c)
        o = orders.get_order(commons, request_id)
        if o is None or me not in (o.buyer, o.supplier):
            raise Refused("not_found", 404)
        ratee, role = (o.supplier, "supplier") if me == o.buyer else (o.buyer, "buyer")
        scores = {k: _int(form.get(k), k, 1) or 0 for k in rt.CRITERIA[role]}
        rating = rt.Rating(
            id=f"rt-{secrets.token_hex(5)}",
            request_id=request_id,
            rater=me,
            ratee=ratee,
            ratee_role=role,
            scores=scores,
            day=today_of(now()),
            comment=form.get("comment")[:2000],
        )
        rt.save_rating(commons, rating)
        return rating.id

    @post(router, "/commons/awards/{request_id}", "/commons/requests", ACTORS, anchor="#awards")
    def award_answer(request: Request, c: Caller, form: Form, request_id: str) -> str:
        """The supplier named in an award accepts the order (it then counts) or declines it."""
        a = commons.get("award", request_id, rt.Award)
        if a is None or a.supplier != firm_key(c):
            raise Refused("not_found", 404)
        rt.answer_award(commons, request_id, firm_key(c), form.get("action") == "accept", today_of(now()))
        return request_id

    async def upload_post(request: Request) -> Response:
        """Attach one more drawing to the caller's request."""
        request_id = request.path_params["request_id"]
        form = Form(await request.form())
        c = pages.form_caller(request, form.get("csrf_token"))
        if c.user.role not in ACTORS:
            return pages.message(request, c, "not_allowed", 403)
        to = f"/commons/requests/{quote(request_id, safe='')}"
        lang = pages.lang(request)
        try:
            files = _uploads(form)
            if not files:
                raise FormError("drawing", "err_no_file")
            for f in files:
                data = await f.read(orders.MAX_FILE_BYTES + 1)
                made = orders.attach(commons, request_id, firm_key(c), f.filename or "", data, now())
        except ValueError as e:
            return back(to, err=error_text(e, lang, pages.t(request, c)), anchor="#drawings")
        return back(to, ok=made.id, anchor="#drawings")

    router.add_api_route("/commons/uploads/{request_id}", upload_post, methods=["POST"])
    app.include_router(router)
