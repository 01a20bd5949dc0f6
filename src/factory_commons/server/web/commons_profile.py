"""The firm profile editor of the commons (/commons/profile/edit): a shop owner describes the
firm in the browser (name, place, contact, certifications, UNSPSC classes, and per machine the
process, materials, working envelope, tolerance, count and hourly rate), every code picked from
the vocabulary (cooperate/vocab.py). A bad field is shown at the field, in the page's language,
with what was typed kept; nothing is saved until every field is good.

Saving replaces the facility like PUT /api/commons/profile does, but carries over what the form
does not show: the evidence and publish choices, the declared cooperatives and the OKW fields an
import kept (`Facility.okw_extra`, `Equipment.okw_extra` per equipment id). Publishing evidence
stays on /commons/profile (web/commons.py). Texts: the `commons_pages` catalog.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ...accounts import Accounts
from ...cooperate import places
from ...cooperate.catalog import PROFILE, locate
from ...cooperate.db import CommonsDB
from ...cooperate.model import Certification, Equipment, Facility, Location, Profile, Text
from ...cooperate.pools import CommonsError
from ...cooperate.vocab import CERTIFICATIONS, UNSPSC, VocabularyError
from ..api.commons import ACTORS, firm_key, today_of
from ..auth import Caller
from .pages import Form, Pages

#: blank machine rows the form offers below the firm's machines
BLANK_ROWS = 2


class FieldErrors(dict[str, str]):
    """Form field name -> why it is refused (already in the page's language)."""


def _number(
    form: Form,
    name: str,
    errors: FieldErrors,
    t: Callable[..., str],
    *,
    integer: bool = False,
    least: str = "positive",
    required: bool = True,
) -> float | int | None:
    """The number typed in field `name` (1,234 allowed), or None with the reason in `errors`;
    `least`: "positive", "zero" (not negative) or "any"."""
    raw = form.get(name).replace(",", "")
    if not raw:
        if required:
            errors[name] = t("pf_err_required")
        return None
    try:
        value: float | int = int(raw) if integer else float(raw)
    except ValueError:
        errors[name] = t("pf_err_integer" if integer else "pf_err_number", value=raw)
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors[name] = t("pf_err_number", value=raw)
        return None
    if (least == "positive" and value <= 0) or (least == "zero" and value < 0):
        errors[name] = t("pf_err_positive" if least == "positive" else "pf_err_not_negative")
        return None
    return value


def _why(e: ValidationError, lang: str, t: Callable[..., str]) -> dict[str, str]:
    """A model's refusal per model field, a vocabulary code's in the page's language."""
    out: dict[str, str] = {}
    for d in e.errors():
        field = str(d["loc"][0]) if d["loc"] else ""
        err = (d.get("ctx") or {}).get("error")
        if isinstance(err, VocabularyError):
            out[field] = err.why_ko if lang == "ko" else err.why_en
        else:
            out.setdefault(field, t("pf_err_invalid", why=d["msg"]))
    return out


def equipment_rows(form: Form) -> list[int]:
    """The indices of the machine rows the form posted (eq0_process, eq1_process, ...)."""
    found = []
    for key in form.data.keys():
        if key.startswith("eq") and key.endswith("_process"):
            try:
                found.append(int(key[2:-8]))
            except ValueError:
                continue
    return sorted(set(found))[:200]


def facility_from_form(
    form: Form,
    me: str,
    old: Profile | None,
    commons: CommonsDB,
    today: date,
    lang: str,
    t: Callable[..., str],
) -> tuple[Facility | None, FieldErrors]:
    """The facility the form describes, or None and the refused fields."""
    errors = FieldErrors()
    name_ko, name_en = form.get("name_ko")[:200], form.get("name_en")[:200]
    if not (name_ko or name_en):
        errors["name_ko"] = t("pf_err_name")
    desc_ko, desc_en = form.get("desc_ko")[:5000], form.get("desc_en")[:5000]
    # -- where
    city, district, address = form.get("city")[:50], form.get("district")[:50], form.get("address")[:300]
    city = places.city_key(city) or city
    if not city:
        errors["city"] = t("pf_err_required")
    if not district:
        errors["district"] = t("pf_err_required")
    elif places.district_of(district, city or None) is not None:
        district = places.district_key(district, city or None)
    lat = _number(form, "lat", errors, t, least="any", required=False)
    lon = _number(form, "lon", errors, t, least="any", required=False)
    location = None
    if "city" not in errors and "district" not in errors and "lat" not in errors and "lon" not in errors:
        if lat is None or lon is None:
            try:
                found = locate(commons, city, district, address)
                location = found.model_copy(update={"address": address})
            except CommonsError:
                errors["lat"] = t("pf_err_place", place=district)
        else:
            try:
                location = Location(city=city, district=district, address=address, lat=lat, lon=lon)
            except ValidationError as e:
                for field, why in _why(e, lang, t).items():
                    errors[field if field in ("lat", "lon") else "lat"] = why
    employees = _number(form, "employees", errors, t, integer=True, least="zero", required=False)
    email = form.get("contact_email")[:200]
    if email and ("@" not in email or " " in email):
        errors["contact_email"] = t("pf_err_email", value=email)
    website = form.get("website")[:300]
    # -- certificates and classes: picked from the vocabulary
    old_certs = {c.code: c for c in old.facility.certifications} if old else {}
    certs = []
    for code in form.getlist("cert")[:50]:
        if code not in CERTIFICATIONS:
            errors["cert"] = t("pf_err_code", value=code)
            continue
        until_raw = form.get(f"cert_until_{code}")
        until = None
        if until_raw:
            try:
                until = date.fromisoformat(until_raw)
            except ValueError:
                errors[f"cert_until_{code}"] = t("pf_err_date", value=until_raw)
        kept = old_certs.get(code)
        certs.append(
            Certification(code=code, last_checked=kept.last_checked if kept else today, valid_until=until)
        )
    unspsc = [u for u in form.getlist("unspsc")[:20]]
    for u in unspsc:
        if u not in UNSPSC:
            errors["unspsc"] = t("pf_err_code", value=u)
    # -- machines
    old_eq = {e.id: e for e in old.facility.equipment} if old else {}
    equipment: list[Equipment] = []
    for i in equipment_rows(form):
        p = f"eq{i}_"
        process = form.get(p + "process")
        if not process:
            continue  # a blank row
        nums = {
            "x": _number(form, p + "x", errors, t),
            "y": _number(form, p + "y", errors, t),
            "z": _number(form, p + "z", errors, t),
            "tol": _number(form, p + "tol", errors, t),
            "rate": _number(form, p + "rate", errors, t, integer=True, least="zero"),
            "count": _number(form, p + "count", errors, t, integer=True, required=False),
        }
        materials = form.getlist(p + "materials")[:40]
        if not materials:
            errors[p + "materials"] = t("pf_err_materials")
        eq_id = form.get(p + "id")[:100] or f"{process}-{secrets.token_hex(3)}"
        if any(v is None for k, v in nums.items() if k != "count") or not materials:
            continue
        try:
            equipment.append(
                Equipment(
                    id=eq_id,
                    process=process,
                    name=form.get(p + "name")[:200],
                    make_model=form.get(p + "make_model")[:200],
                    count=nums["count"] or 1,
                    materials=tuple(materials),
                    envelope_mm=(nums["x"], nums["y"], nums["z"]),
                    tolerance_mm=nums["tol"],
                    hourly_rate_krw=nums["rate"],
                    core=form.get(p + "core", "yes") != "no",
                    okw_extra=old_eq[eq_id].okw_extra if eq_id in old_eq else {},
                )
            )
        except ValidationError as e:
            names = {"tolerance_mm": "tol", "hourly_rate_krw": "rate", "envelope_mm": "x"}
            for field, why in _why(e, lang, t).items():
                errors[p + names.get(field, field)] = why
    ids = [e.id for e in equipment]
    if len(ids) != len(set(ids)):
        errors["equipment"] = t("pf_err_duplicate")
    if errors or location is None:
        return None, errors
    try:
        facility = Facility(
            firm_id=me,
            name=Text(ko=name_ko, en=name_en),
            description=Text(ko=desc_ko, en=desc_en) if desc_ko or desc_en else None,
            location=location,
            equipment=tuple(equipment),
            certifications=tuple(certs),
            unspsc=tuple(unspsc),
            cooperatives=old.facility.cooperatives if old else (),
            employees=employees,
            contact_email=email,
            website=website,
            okw_extra=old.facility.okw_extra if old else {},
        )
    except ValidationError as e:
        errors.update(_why(e, lang, t))
        return None, errors
    return facility, errors


def form_values(p: Profile | None) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The fields of the form for a saved profile (or an empty one) and its machine rows."""
    if p is None:
        return {"city": "Seoul"}, [{} for _ in range(BLANK_ROWS)]
    f = p.facility
    v = {
        "name_ko": f.name.ko,
        "name_en": f.name.en,
        "desc_ko": f.description.ko if f.description else "",
        "desc_en": f.description.en if f.description else "",
        "city": f.location.city,
        "district": f.location.district,
        "address": f.location.address,
        "lat": str(f.location.lat),
        "lon": str(f.location.lon),
        "employees": "" if f.employees is None else str(f.employees),
        "contact_email": f.contact_email,
        "website": f.website,
    }
    for c in f.certifications:
        v[f"cert_until_{c.code}"] = str(c.valid_until or "")

    def num(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else str(x)

    rows = [
        {
            "id": e.id,
            "process": e.process,
            "name": e.name,
            "make_model": e.make_model,
            "materials": list(e.materials),
            "x": num(e.envelope_mm[0]),
            "y": num(e.envelope_mm[1]),
            "z": num(e.envelope_mm[2]),
            "tol": num(e.tolerance_mm),
            "rate": str(e.hourly_rate_krw),
            "count": str(e.count),
            "core": "yes" if e.core else "no",
        }
        for e in f.equipment
    ]
    return v, rows + [{} for _ in range(BLANK_ROWS)]


def posted_values(form: Form) -> tuple[dict[str, str], list[dict[str, Any]], list[str], list[str]]:
    """What was typed, to show it again beside the errors."""
    v = {k: str(x) for k, x in form.data.items() if not k.startswith("eq") and k not in ("cert", "unspsc")}
    rows = []
    for i in equipment_rows(form):
        p = f"eq{i}_"
        row = {
            k: form.get(p + k)
            for k in ("id", "process", "name", "make_model", "x", "y", "z", "tol", "rate", "count", "core")
        }
        row["materials"] = form.getlist(p + "materials")
        row["i"] = i
        rows.append(row)
    return v, rows, form.getlist("cert"), form.getlist("unspsc")


def add_profile_pages(
    app: FastAPI | APIRouter,
    commons: CommonsDB,
    accounts: Accounts,
    now: Callable[[], datetime],
    pages: Pages,
) -> None:
    """Mount the profile editor (GET and POST /commons/profile/edit) on `app`."""
    router = APIRouter(include_in_schema=False)

    def render(request: Request, c: Caller, status: int, **ctx: Any) -> HTMLResponse:
        return pages.render(
            request,
            "commons_profile_edit.html",
            c,
            status=status,
            page="profile",
            certifications=CERTIFICATIONS,
            unspsc_classes=UNSPSC,
            cities=list(places.CITIES),
            districts=sorted(places.DISTRICTS, key=lambda d: (d.city, d.en)),
            may_act=c.user.role in ACTORS,
            **ctx,
        )

    @router.get("/commons/profile/edit", response_class=HTMLResponse)
    def edit_page(request: Request) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        p = commons.get(PROFILE, firm_key(c), Profile)
        v, rows = form_values(p)
        for i, row in enumerate(rows):
            row["i"] = i
        certs = [x.code for x in p.facility.certifications] if p else []
        unspsc = list(p.facility.unspsc) if p else []
        return render(request, c, 200, v=v, rows=rows, certs=certs, unspsc=unspsc, errors={}, new=p is None)

    @router.post("/commons/profile/edit", response_class=HTMLResponse)
    async def edit_post(request: Request) -> Response:
        form = Form(await request.form())
        c = pages.form_caller(request, form.get("csrf_token"))
        if c.user.role not in ACTORS:
            return pages.message(request, c, "not_allowed", 403)
        lang = pages.lang(request)
        t = pages.t(request, c)
        me = firm_key(c)
        old = commons.get(PROFILE, me, Profile)
        facility, errors = facility_from_form(form, me, old, commons, today_of(now()), lang, t)
        if facility is None:
            v, rows, certs, unspsc = posted_values(form)
            start = max([r["i"] for r in rows], default=-1) + 1
            rows += [{"i": start + k} for k in range(1)]
            return render(
                request, c, 422, v=v, rows=rows, certs=certs, unspsc=unspsc, errors=errors, new=old is None
            )
        with commons.transaction():
            old = commons.get(PROFILE, me, Profile)
            p = old.model_copy(update={"facility": facility}) if old else Profile(facility=facility)
            commons.put(PROFILE, me, me, p)
        return RedirectResponse("/commons/profile?ok=saved", status_code=303)

    app.include_router(router)
