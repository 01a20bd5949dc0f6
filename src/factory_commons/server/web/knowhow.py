"""The know-how pages: capture a case when a stop ends, search it again from a phone.

GET /knowhow is one search box (works on a 390 px phone): results with machine, cause,
action and the verified mark (`KnowhowDB.search`, hybrid, offline). GET /knowhow/capture lists
the stops of the caller's own machines that ended in the last day; GET
/knowhow/capture/{machine}?start=ISO shows one of them with the likeliest causes and actions
from past cases (`knowhow.suggest.suggest`, with the stop's context from
`knowhow.context.capture_context`): one tap on a suggestion (POST /knowhow/capture) makes the
case with its context; a short text or a photo may be added then or later on the case's page
(GET /knowhow/cases/{id}, POST .../add). A supervisor (`verify_knowhow`: owner, engineer) marks
a case verified (POST .../verify). Photos are JPEG, PNG or WebP up to `MAX_PHOTO_BYTES`, kept
under `app.state.knowhow_photos` and served only to the case's firm.

Cases belong to the caller's firm (`Case.firm` = the accounts firm name, as
`factory-commons knowhow import --firm NAME` writes it). Text: the `knowhow_ui` catalog.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from markupsafe import Markup
from starlette.datastructures import UploadFile

from ...accounts import Accounts
from ...i18n import STATES, Catalog
from ...knowhow.cases import Case
from ...knowhow.context import capture_context, case_from_event
from ...knowhow.db import KnowhowDB
from ...knowhow.suggest import suggest
from ...store.base import Store
from ..auth import PERMISSIONS, Caller
from .dashboard_range import machine_names
from .i18n import WEB, translator
from .pages import TEMPLATES, Form, FormError, Pages, Refused

KNOWHOW_UI = Catalog("knowhow_ui")
MAX_PHOTO_BYTES = 900 * 1024  # under the app's 1 MiB body limit (server/limits.py)
PHOTO_TYPES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png"}
ENDED_WITHIN = timedelta(hours=24)
SEARCH_LIMIT = 10
NOTE_MAX = 2000


def firm_key(c: Caller) -> str:
    """The caller's firm as cases name it (the accounts firm name)."""
    return c.firm.name


def ended_stops(
    store: Store, paths: list[str], now: datetime, within: timedelta = ENDED_WITHIN
) -> list[dict]:
    """Stops (any state but running) of `paths` that ended in `within` before `now`, newest first."""
    if not paths:
        return []
    rows = store.read(
        "state", now - within - timedelta(days=1), now + timedelta(seconds=1), paths
    ).to_pylist()
    by_machine: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["ts"]):
        by_machine.setdefault(r["machine"], []).append(r)
    out: list[dict] = []
    for machine, states in by_machine.items():
        for i, s in enumerate(states[:-1]):
            nxt = states[i + 1]
            if s["state"] == "running" or nxt["state"] != "running":
                continue
            start, end = _aware(s["ts"]), _aware(nxt["ts"])
            if end >= now - within:
                out.append(
                    {
                        "machine": machine,
                        "start": start,
                        "end": end,
                        "state": s["state"],
                        "reason": s["reason_code"],
                    }
                )
    return sorted(out, key=lambda e: e["end"], reverse=True)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def photo_suffix(data: bytes) -> str | None:
    """The file suffix of a JPEG, PNG or WebP image by its first bytes, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((s for magic, s in PHOTO_TYPES.items() if data.startswith(magic)), None)


def add_knowhow_pages(
    app: FastAPI,
    store: Store,
    accounts: Accounts,
    now: Callable[[], datetime],
    db: KnowhowDB,
    photos: str | Path | None = None,
) -> None:
    """Mount the know-how pages on `app`; `db` holds the cases, `photos` their photo files."""
    app.state.knowhow = db
    TEMPLATES.env.globals["knowhow_text"] = KNOWHOW_UI.get  # (key, lang): base.html, stops.html
    app.state.knowhow_photos = Path(photos or tempfile.mkdtemp(prefix="fc-knowhow-photos-"))
    router = APIRouter(include_in_schema=False)
    pages = Pages(
        accounts,
        now,
        lambda lang, c: translator(lang, getattr(app.state, "stop_reasons", ()), (KNOWHOW_UI, WEB, STATES)),
        Markup=Markup,
    )

    def names(paths: list[str]) -> dict[str, str]:
        return machine_names(store.machines(), paths)

    def kind_of(path: str) -> str | None:
        return next((m.kind for m in store.machines() if m.path == path), None)

    def own_case(c: Caller, case_id: str) -> Case:
        case = db.get(case_id)
        if case is None or case.firm != firm_key(c):
            raise Refused("kh_not_found", 404)
        return case

    # -- search ----------------------------------------------------------------------------
    @pages.page(router, "/knowhow", "knowhow.html", "knowhow")
    def search_page(request: Request, c: Caller) -> dict[str, Any]:
        q = request.query_params.get("q", "").strip()[:300]
        hits = db.search(q, limit=SEARCH_LIMIT, firm=firm_key(c)) if q else []
        shown = [h.case.machine for h in hits if h.case.machine]
        return {"q": q, "hits": hits, "names": names(shown), "searched": bool(q)}

    # -- capture when a stop ends -----------------------------------------------------------
    def own_paths(c: Caller) -> list[str]:
        return [m.path for m in store.machines() if c.owns(m.path) and c.may_read(m.path)]

    @pages.page(router, "/knowhow/capture", "knowhow_capture.html", "knowhow", flash=True)
    def capture_list(request: Request, c: Caller) -> dict[str, Any]:
        paths = own_paths(c)
        stops = ended_stops(store, paths, now())
        return {"stops": stops, "names": names(paths), "event": None}

    @pages.page(router, "/knowhow/capture/{path:path}", "knowhow_capture.html", "knowhow", flash=True)
    def capture_one(request: Request, c: Caller, path: str) -> dict[str, Any] | Response:
        if path not in own_paths(c):
            return pages.message(request, c, "kh_not_found", 404)
        stops = ended_stops(store, [path], now())
        start = request.query_params.get("start", "")
        event = next((s for s in stops if s["start"].isoformat() == start), stops[0] if stops else None)
        if event is None:
            return pages.message(request, c, "kh_no_ended_stop", 404)
        ctx = capture_context(store, path, event["start"], event["end"])
        kind = kind_of(path)
        found = suggest(db, machine=path, machine_type=kind, context=ctx, firm=firm_key(c))
        minutes = (event["end"] - event["start"]).total_seconds() / 60
        return {
            "event": event,
            "context": ctx,
            "suggestions": found,
            "names": names([path]),
            "minutes": minutes,
            "stops": [],
        }

    may_write = PERMISSIONS["write_knowhow"]

    @pages.form_post(router, "/knowhow/capture", "/knowhow/capture", may_write)
    def capture_post(request: Request, c: Caller, form: Form) -> str | Response:
        machine = form.get("machine")
        if machine not in own_paths(c):
            raise Refused("kh_not_found", 404)
        event = next(
            (s for s in ended_stops(store, [machine], now()) if s["start"].isoformat() == form.get("start")),
            None,
        )
        if event is None:
            raise FormError("start", "kh_no_ended_stop")
        cause, action, note = (
            form.get("cause")[:NOTE_MAX],
            form.get("action")[:NOTE_MAX],
            form.get("note")[:NOTE_MAX],
        )
        if not (cause or action or note):
            raise FormError("cause", "kh_say_something")
        ctx = capture_context(store, machine, event["start"], event["end"])
        case = case_from_event(
            ctx,
            machine,
            kind_of(machine),
            firm=firm_key(c),
            title=(cause or note)[:120],
            symptom=note,
            cause=cause,
            action=action,
            author=c.user.display_name,
            lang=pages.lang(request),
            time_to_fix_min=round((event["end"] - event["start"]).total_seconds() / 60, 1),
            extra={"suggested_from": form.get("from_cases")[:500]} if form.get("from_cases") else {},
        )
        photo = form.data.get("photo")
        if isinstance(photo, UploadFile) and photo.filename:
            case.photos.append(save_photo(case.id, photo))
        db.add(case)
        return Response(status_code=303, headers={"location": f"/knowhow/cases/{case.id}?ok={case.id}"})

    def save_photo(case_id: str, photo: UploadFile) -> str:
        data = photo.file.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise FormError("photo", "kh_photo_too_big", kb=MAX_PHOTO_BYTES // 1024)
        suffix = photo_suffix(data)
        if suffix is None:
            raise FormError("photo", "kh_photo_type")
        folder = app.state.knowhow_photos
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.glob(f"{case_id}-*")))
        name = f"{case_id}-{n + 1}{suffix}"
        (folder / name).write_bytes(data)
        return name

    # -- one case: add text or a photo, verify ----------------------------------------------
    @pages.page(router, "/knowhow/cases/{case_id}", "knowhow_case.html", "knowhow", flash=True)
    def case_page(request: Request, c: Caller, case_id: str) -> dict[str, Any] | Response:
        case = db.get(case_id)
        if case is None or case.firm != firm_key(c):
            return pages.message(request, c, "kh_not_found", 404)
        return {
            "case": case,
            "names": names([case.machine] if case.machine else []),
            "may_verify": c.user.role in PERMISSIONS["verify_knowhow"],
            "may_write": c.user.role in may_write,
        }

    @pages.form_post(router, "/knowhow/cases/{case_id}/add", "/knowhow/cases/{case_id}", may_write)
    def add_post(request: Request, c: Caller, form: Form, case_id: str) -> str:
        case = own_case(c, case_id)
        note = form.get("note")[:NOTE_MAX]
        photo = form.data.get("photo")
        has_photo = isinstance(photo, UploadFile) and bool(photo.filename)
        if not note and not has_photo:
            raise FormError("note", "kh_say_something")
        if note:
            case.outcome = f"{case.outcome}\n{note}".strip() if case.outcome else note
        if has_photo:
            case.photos.append(save_photo(case.id, photo))  # type: ignore[arg-type]
        db.update(case)
        return case.id

    @pages.form_post(
        router, "/knowhow/cases/{case_id}/verify", "/knowhow/cases/{case_id}", PERMISSIONS["verify_knowhow"]
    )
    def verify_post(request: Request, c: Caller, form: Form, case_id: str) -> str:
        own_case(c, case_id)
        db.verify(case_id, c.user.display_name, form.get("verified", "1") != "0")
        return case_id

    @router.get("/knowhow/photos/{case_id}/{name}")
    def photo(request: Request, case_id: str, name: str) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        case = db.get(case_id)
        if case is None or case.firm != firm_key(c) or name not in case.photos:
            return pages.message(request, c, "kh_not_found", 404)
        return FileResponse(app.state.knowhow_photos / name)

    app.include_router(router)
