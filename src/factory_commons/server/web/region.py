"""The region's pages: funders' tables and programme outcomes, the printable regional report (HTML
and PDF), a firm's own self-assessment and roadmap, and a buyer's view of a consenting supplier.

GET /region (tables by district and industry, by size, the cooperation indicators, programme
outcomes), /region/report (printable, standalone), /region/report.pdf, /region/self, /region/suppliers/{supplier}, and /region/consents (a supplier's
invitations, policies and access log; the owner grants and revokes there). Funders and regional analysts (`read_region`) see only what
`region.published` protected (no cell of fewer than k firms: a hidden cell reads "suppressed");
a firm (`firm_region`) sees its own assessment; a buyer sees a supplier only through
`region.consent.supplier_view` (policy checked at each access, audited). Text: `region_ui`,
then `region` (levels, domains, questions) and `web`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from markupsafe import Markup

from ...accounts import Accounts
from ...cooperate.db import CommonsDB
from ...i18n import Catalog
from ...region import consent as cs
from ...region.disclosure import ALL, Cell
from ...region.published import Published, published
from ...region.questionnaire import SEOUL_STUDY_SOURCE
from ...region.report import cooperation_comparison
from ..api.region import audit_to, own_assessment
from ..auth import Caller
from .i18n import KPI, STATES, WEB, Translate, translator
from .pages import Form as PostedForm
from .pages import Pages

REGION_UI = Catalog("region_ui")
REGION = Catalog("region")


def grid(cells: Sequence[Cell], measure: str) -> dict[str, Any]:
    """One table's cells of one measure as rows × columns (totals last)."""
    chosen = [c for c in cells if c.measure == measure]
    rows = sorted({c.row for c in chosen}, key=lambda r: (r == ALL, r))
    cols = sorted({c.column for c in chosen}, key=lambda r: (r == ALL, r))
    at = {(c.row, c.column): c for c in chosen}
    return {"rows": rows, "columns": cols, "at": at, "measure": measure}


def report_context(pub: Published) -> dict[str, Any]:
    """What the funders' page and the printed report show, all from published cells."""
    tables = []
    for name, measure in (
        ("maturity_district_industry", "score"),
        ("maturity_district_industry", "level_3_plus"),
        ("maturity_industry_size", "score"),
        ("platform_district", "linkage"),
    ):
        cells = pub.table(name)
        if cells:
            tables.append({"name": name, **grid(cells, measure)})
    return {
        "tables": tables,
        "programmes": pub.programmes,
        "comparison": cooperation_comparison(pub.cells),
        "seoul_source": SEOUL_STUDY_SOURCE,
        "k": pub.k,
        "n_cells": len(pub.cells),
        "n_suppressed": sum(c.suppressed for c in pub.cells),
    }


def add_region_pages(app: FastAPI, db: CommonsDB, accounts: Accounts, now: Callable[[], datetime]) -> None:
    """Mount the /region pages on `app` (the region's documents are in the commons database `db`)."""
    router = APIRouter(include_in_schema=False)

    def translate(lang: str, c: Caller | None) -> Translate:
        return translator(
            lang, (), catalogs=(REGION_UI, REGION, WEB, STATES, KPI)
        )  # base.html's menu: web, kpi

    pages = Pages(accounts, now, translate, Markup=Markup)

    @pages.page(router, "/region", "region.html", "region")
    def funders(request: Request, c: Caller) -> dict[str, Any]:
        return report_context(published(db))

    @pages.page(router, "/region/report", "region_report.html", "region_report")
    def printable(request: Request, c: Caller) -> dict[str, Any]:
        return {**report_context(published(db)), "printed_on": now().date().isoformat()}

    @router.get("/region/report.pdf")
    def pdf(request: Request) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        from ...region.report_pdf import report_pdf

        body = report_pdf(published(db), pages.lang(request), now().date())
        return Response(
            body, media_type="application/pdf", headers={"Content-Disposition": "inline; filename=region.pdf"}
        )

    @pages.page(router, "/region/self", "region_self.html", "region_self")
    def self_page(request: Request, c: Caller) -> dict[str, Any]:
        return {"own": own_assessment(db, c.firm.name)}

    @pages.page(router, "/region/suppliers/{supplier}", "region_supplier.html", "region_supplier")
    def supplier(request: Request, c: Caller, supplier: str) -> dict[str, Any] | Response:
        try:
            view = cs.supplier_view(
                db, c.firm.name, supplier, c.now, c.user.email, "page", None, audit_to(accounts, c)
            )
        except cs.ConsentDenied:
            return pages.message(request, c, "not_found", 404)  # as for an unknown supplier
        return {"view": view, "supplier": supplier}

    @pages.page(router, "/region/consents", "region_consents.html", "region_consents", flash=True)
    def consents(request: Request, c: Caller) -> dict[str, Any]:
        me = c.firm.name
        return {
            "me": me,
            "invitations": cs.invitations_to(db, me),
            "policies": cs.policies(db, me),
            "accesses": cs.accesses(db, me)[-50:],
            "shareable": cs.SHAREABLE,
            "aggregations": cs.AGGREGATIONS,
            "purposes": cs.PURPOSES,
            "now": now(),
        }

    @pages.form_post(router, "/region/consents", "/region/consents", roles=("owner",))
    def grant(request: Request, c: Caller, form: PostedForm) -> str:
        try:
            until = date.fromisoformat(form.get("until"))
        except ValueError:
            raise ValueError(f"until: {form.get('until')!r} is not a date (YYYY-MM-DD)") from None
        p = cs.grant(
            db, c.firm.name, form.get("buyer"), form.getlist("kpis"), form.get("aggregation"),
            form.get("purpose"), until, now(),
        )  # fmt: skip
        return p.id

    @pages.form_post(router, "/region/consents/{policy_id}/revoke", "/region/consents", roles=("owner",))
    def revoke(request: Request, c: Caller, form: PostedForm, policy_id: str) -> str:
        return cs.revoke(db, c.firm.name, policy_id, now()).id

    app.include_router(router)
