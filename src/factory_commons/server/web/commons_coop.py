"""The co-op manager's pages (/commons/coop): a cooperative's own account sees its members by
name, opens purchasing pools and co-marketing campaigns, follows every member's commitment and
deposit, closes or calls them off, shares a campaign's results with its participants, and
downloads the settlement sheet of a closed pool or campaign (CSV in UTF-8 with a BOM so that
Excel reads Hangul, or XLSX).

Only the cooperative's own account (an owner or engineer of the accounts firm whose name is the
cooperative id, `api.commons.runs`) acts here; the rules are the API's, through the same
cooperate/ functions (pools.py, membership.py). Members commit on /commons/pools. Texts: the
`commons_pages` catalog.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...accounts import Accounts
from ...cooperate import membership as mb
from ...cooperate import pools as pl
from ...cooperate.catalog import PROFILE
from ...cooperate.db import CommonsDB
from ...cooperate.model import Cooperative, Profile, Text
from ...cooperate.vocab import MATERIALS
from ..api.commons import ACTORS, SEOUL, firm_key, runs
from ..auth import Caller
from .pages import Form, FormError, Pages, Refused

#: price tier rows the pool form offers
TIER_ROWS = 4


def _text(value: str, lang: str) -> Text:
    return Text(ko=value) if lang == "ko" else Text(en=value)


def _closes(value: str) -> datetime:
    """A closing time typed as Seoul local time (datetime-local: 2026-12-24T18:00)."""
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormError("closes", "co_err_time", value=value) from None
    return d.replace(tzinfo=SEOUL) if d.tzinfo is None else d


def _amount(value: str, field: str, required: bool = True) -> str | None:
    value = value.strip().replace(",", "")
    if not value:
        if required:
            raise FormError(field, "pf_err_required")
        return None
    try:
        Decimal(value)
    except ArithmeticError:
        raise FormError(field, "pf_err_number", value=value) from None
    return value


def deposit_status(window: pl.PurchasePool | pl.Campaign, firm: str) -> str:
    """Where a member's deposit stands: held (window open), charged (settled: cost taken, rest
    refunded) or refunded (minimum missed, or called off)."""
    if window.settlement is None:
        return "held"
    return "charged" if window.settlement.outcome == "settled" else "refunded"


def sheet_rows(
    window: pl.PurchasePool | pl.Campaign, names: dict[str, Text], lang: str, t: Callable[..., str]
) -> list[list[str | int]]:
    """The settlement sheet: a header, one line per member (name, id, quantity, deposit, cost,
    refund), the totals; amounts in whole won."""
    s = window.settlement
    assert s is not None
    head = [t("co_col_firm"), t("co_col_firm_id"), t("co_col_quantity"), t("co_col_deposit")]
    head += [t("co_col_cost"), t("co_col_refund")]
    rows: list[list[str | int]] = [head]
    for x in s.lines:
        name = names[x.firm_id].get(lang) if x.firm_id in names else x.firm_id
        rows.append([name, x.firm_id, str(x.quantity), x.deposit_krw, x.cost_krw, x.refund_krw])
    rows.append([t("co_total"), "", str(s.total_quantity), s.deposits_krw, s.total_cost_krw, s.refunds_krw])
    return rows


def sheet_csv(rows: list[list[str | int]]) -> bytes:
    """CSV in UTF-8 with a BOM (Excel opens Hangul right)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def sheet_xlsx(rows: list[list[str | int]], title: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31] or "settlement"
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def add_coop_pages(
    router: APIRouter, commons: CommonsDB, accounts: Accounts, now: Callable[[], datetime], pages: Pages
) -> None:
    """Mount /commons/coop and its forms on `router`."""
    page, post = pages.page, pages.form_post

    def names() -> dict[str, Text]:
        return {p.firm_id: p.facility.name for p in commons.all(PROFILE, Profile)}

    def manages(c: Caller) -> bool:
        return runs(c, firm_key(c)) and commons.get(mb.KIND, firm_key(c), Cooperative) is not None

    def own_window(c: Caller, kind: str, window_id: str) -> pl.PurchasePool | pl.Campaign:
        model = pl.PurchasePool if kind == "pool" else pl.Campaign
        w = commons.get(kind, window_id, model)
        if w is None or not runs(c, w.cooperative):
            raise Refused("not_found", 404)
        return w

    @page(router, "/commons/coop", "commons_coop.html", "coop", flash=True)
    def coop_page(request: Request, c: Caller) -> dict[str, Any]:
        me = firm_key(c)
        coop = commons.get(mb.KIND, me, Cooperative)
        # a cooperative on record (it starts with its first invitation, below or on /commons/pools)
        manager = runs(c, me) and coop is not None
        pools = sorted(pl.list_pools(commons, me), key=lambda p: p.created, reverse=True) if manager else []
        camps = (
            sorted(pl.list_campaigns(commons, me), key=lambda x: x.created, reverse=True) if manager else []
        )
        results = {x.id: pl.campaign_results(commons, x.id, me) for x in camps if x.state == "settled"}
        return {
            "manager": manager,
            # an account with neither a cooperative nor a shop profile may start a cooperative
            "may_start": runs(c, me) and coop is None and commons.get(PROFILE, me, Profile) is None,
            "coop": coop,
            "me": me,
            "names": names(),
            "pools": pools,
            "camps": camps,
            "results": results,
            "at": now(),
            "deposit_status": deposit_status,
            "material_codes": list(MATERIALS),
            "campaign_kinds": pl.CAMPAIGN_KINDS,
            "tier_rows": range(TIER_ROWS),
        }

    @post(router, "/commons/coop/pools", "/commons/coop", ACTORS, anchor="#w-{ok}")
    def open_pool_post(request: Request, c: Caller, form: Form) -> str:
        me = firm_key(c)
        if not manages(c):
            raise Refused()
        lang = pages.lang(request)
        title = form.get("title")[:200]
        if not title:
            raise FormError("title", "pf_err_required")
        tiers = []
        for i in range(TIER_ROWS):
            q = _amount(form.get(f"tier{i}_qty"), f"tier{i}_qty", required=False)
            price = _amount(form.get(f"tier{i}_price"), f"tier{i}_price", required=q is not None)
            if q is not None:
                tiers.append(pl.PriceTier(min_quantity=q, unit_price_krw=price))
        if not tiers:
            raise FormError("tier0_qty", "pf_err_required")
        spec = form.get("spec")[:500] or title
        pool = pl.open_pool(
            commons,
            cooperative=me,
            members=list(mb.members_of(commons, me)),
            title=_text(title, lang),
            material=form.get("material"),
            spec=_text(spec, lang),
            unit=form.get("unit")[:20] or "kg",
            tiers=tiers,
            minimum_quantity=_amount(form.get("minimum"), "minimum"),
            opens=now(),
            closes=_closes(form.get("closes")),
            per_member_max=_amount(form.get("per_member_max"), "per_member_max", required=False),
            supplier=form.get("supplier")[:200],
            now=now(),
        )
        return pool.id

    @post(router, "/commons/coop/campaigns", "/commons/coop", ACTORS, anchor="#w-{ok}")
    def open_campaign_post(request: Request, c: Caller, form: Form) -> str:
        me = firm_key(c)
        if not manages(c):
            raise Refused()
        lang = pages.lang(request)
        title = form.get("title")[:200]
        if not title:
            raise FormError("title", "pf_err_required")
        desc = form.get("description")[:2000]
        split = "shares" if form.get("split") == "shares" else "equal"
        cost = _amount(form.get("total_cost"), "total_cost")
        try:
            min_participants = int(form.get("min_participants") or "2")
        except ValueError:
            raise FormError(
                "min_participants", "pf_err_integer", value=form.get("min_participants")
            ) from None
        camp = pl.open_campaign(
            commons,
            cooperative=me,
            members=list(mb.members_of(commons, me)),
            kind=form.get("kind") or "other",
            title=_text(title, lang),
            description=_text(desc, lang) if desc else None,
            total_cost_krw=int(Decimal(cost or "0")),
            min_participants=min_participants,
            split=split,
            share_unit=form.get("share_unit")[:20] if split == "shares" else "",
            min_total_shares=_amount(form.get("min_total_shares"), "min_total_shares", required=False),
            opens=now(),
            closes=_closes(form.get("closes")),
            now=now(),
        )
        return camp.id

    @post(router, "/commons/coop/{kind}/{window_id}/close", "/commons/coop", ACTORS, anchor="#w-{ok}")
    def close_post(request: Request, c: Caller, form: Form, kind: str, window_id: str) -> str:
        if kind not in ("pool", "campaign"):
            raise Refused("not_found", 404)
        own_window(c, kind, window_id)
        (pl.close_pool if kind == "pool" else pl.close_campaign)(commons, window_id, now())
        return window_id

    @post(router, "/commons/coop/{kind}/{window_id}/cancel", "/commons/coop", ACTORS)
    def cancel_post(request: Request, c: Caller, form: Form, kind: str, window_id: str) -> str:
        if kind not in ("pool", "campaign"):
            raise Refused("not_found", 404)
        own_window(c, kind, window_id)
        reason = form.get("reason")[:500]
        if not reason:
            raise FormError("reason", "co_err_reason")
        lang = pages.lang(request)
        (pl.cancel_pool if kind == "pool" else pl.cancel_campaign)(
            commons, window_id, _text(reason, lang), now()
        )
        return window_id

    @post(router, "/commons/coop/campaign/{campaign_id}/results", "/commons/coop", ACTORS)
    def result_post(request: Request, c: Caller, form: Form, campaign_id: str) -> str:
        own_window(c, "campaign", campaign_id)
        title = form.get("title")[:200]
        if not title:
            raise FormError("title", "pf_err_required")
        leads = []
        for n, line in enumerate(form.get("leads").splitlines()[:1000], 1):
            parts = [x.strip() for x in line.split(",")]
            if not parts[0]:
                continue
            if len(parts) > 4:
                raise FormError("leads", "co_err_lead", line=n)
            parts += [""] * (4 - len(parts))
            leads.append(pl.Lead(name=parts[0], country=parts[1], contact=parts[2], interest=parts[3]))
        res = pl.add_campaign_result(
            commons,
            campaign_id,
            firm_key(c),
            _text(title, pages.lang(request)),
            ref=form.get("ref")[:500],
            leads=leads,
            now=now(),
        )
        return res.id

    def sheet(request: Request, kind: str, window_id: str, fmt: str) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        if kind not in ("pool", "campaign"):
            return pages.message(request, c, "not_found", 404)
        try:
            w = own_window(c, kind, window_id)
        except Refused as e:
            return pages.message(request, c, e.key, e.status)
        if w.settlement is None:
            return pages.message(request, c, "co_not_closed", 409)
        lang = pages.lang(request)
        rows = sheet_rows(w, names(), lang, pages.t(request, c))
        name = f"settlement-{w.id}.{fmt}"
        if fmt == "csv":
            body, media = sheet_csv(rows), "text/csv; charset=utf-8"
        else:
            body = sheet_xlsx(rows, w.id)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "private, no-store",
            },
        )

    def sheet_route(fmt: str) -> Callable[..., Response]:
        def endpoint(request: Request, kind: str, window_id: str) -> Response:
            return sheet(request, kind, window_id, fmt)

        endpoint.__name__ = f"settlement_{fmt}"
        return endpoint

    for fmt in ("csv", "xlsx"):
        router.add_api_route(
            f"/commons/coop/{{kind}}/{{window_id}}/settlement.{fmt}", sheet_route(fmt), methods=["GET"]
        )
