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
under `app.state.knowhow_photos` (`<knowhow file>.photos/`, a temporary folder for an in-memory
or PostgreSQL database) and served only to the case's firm. Instructions (TWI Job Instruction),
the machine manual (HTML, PDF), the skills matrix and the codification metrics have their
pages under /knowhow/instructions, /knowhow/manual/{machine}, /knowhow/skills, /knowhow/metrics.

Cases belong to the caller's firm (`Case.firm` = the accounts firm name, as
`factory-commons knowhow import --firm NAME` writes it). Text: the `knowhow_ui` catalog.
"""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup
from starlette.datastructures import UploadFile

from ...accounts import Accounts
from ...i18n import Catalog
from ...knowhow import instructions as ins_db
from ...knowhow import skills as skill_db
from ...knowhow.cases import Case
from ...knowhow.context import capture_context, case_from_event
from ...knowhow.db import KnowhowDB
from ...knowhow.instructions import Instruction, Step
from ...knowhow.manual import manual_html, manual_pdf
from ...knowhow.metrics import codification_metrics
from ...knowhow.suggest import suggest
from ...store.base import Store
from ..auth import PERMISSIONS, Caller
from .dashboard import CATALOGS
from .dashboard_range import machine_names, plant_zone
from .i18n import translator
from .pages import TEMPLATES, Form, FormError, Pages, Refused

KNOWHOW_UI = Catalog("knowhow_ui")
#: a phone's photo as it comes (server/limits.py lets the capture and case pages take this much)
MAX_PHOTO_BYTES = 15 * 1024 * 1024
#: kept photos are at most this many pixels on their longer side (a phone's 12 MP shrinks to ~0.3 MB)
PHOTO_MAX_SIDE = 1600
#: larger images are refused before they are decoded (a small file can unpack into gigabytes)
PHOTO_MAX_PIXELS = 50_000_000
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
    for e in out:
        e |= {"kind": "stop", "code": "", "message": ""}
    return sorted(out + ended_alarms(store, paths, now, within), key=lambda e: e["end"], reverse=True)


def ended_alarms(
    store: Store, paths: list[str], now: datetime, within: timedelta = ENDED_WITHIN
) -> list[dict]:
    """Alarms of `paths` raised and then cleared in `within` before `now` (same code)."""
    rows = store.read(
        "alarm", now - within - timedelta(days=1), now + timedelta(seconds=1), paths
    ).to_pylist()
    raised: dict[tuple[str, str], dict] = {}
    out: list[dict] = []
    for r in sorted(rows, key=lambda r: r["ts"]):
        key = (r["machine"], r["code"])
        if r["active"]:
            raised.setdefault(key, r)
        elif key in raised:
            a = raised.pop(key)
            start, end = _aware(a["ts"]), _aware(r["ts"])
            if end >= now - within:
                out.append(
                    {
                        "machine": r["machine"],
                        "start": start,
                        "end": end,
                        "state": "alarm",
                        "reason": None,
                        "kind": "alarm",
                        "code": r["code"],
                        "message": a["message"] or "",
                    }
                )
    return out


def _event(store: Store, machine: str, now: datetime, start: str, code: str) -> dict | None:
    """The ended stop or alarm of `machine` that began at `start` (ISO) with `code` ("" for a stop)."""
    found = ended_stops(store, [machine], now)
    return next((e for e in found if e["start"].isoformat() == start and e["code"] == code), None)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def parse_steps(text: str) -> list[Step]:
    """Steps from the form's text: one step a line, `important step | key point; ... | reason; ...`."""
    steps = []
    for n, line in enumerate((x for x in text.splitlines() if x.strip()), 1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > 3 or not parts[0]:
            raise FormError("steps", "kh_bad_step", n=n)
        points = [k.strip() for k in parts[1].split(";") if k.strip()] if len(parts) > 1 else []
        reasons = [r.strip() for r in parts[2].split(";") if r.strip()] if len(parts) > 2 else []
        if len(reasons) > len(points):
            raise FormError("steps", "kh_bad_step", n=n)
        steps.append(Step(important=parts[0], key_points=points, reasons=reasons))
    if not steps:
        raise FormError("steps", "kh_bad_step", n=1)
    return steps


def steps_text(steps: list[Step]) -> str:
    return "\n".join(f"{s.important} | {'; '.join(s.key_points)} | {'; '.join(s.reasons)}" for s in steps)


def _items(value: str) -> list[str]:
    return [x.strip() for x in value.replace("\n", ",").split(",") if x.strip()]


def default_photos_path(db: KnowhowDB) -> Path:
    """Beside a know-how SQLite file (`<file>.photos/`), else a temporary folder."""
    if db.target != ":memory:" and not db.target.startswith(("postgresql://", "postgres://")):
        return Path(f"{db.target}.photos")
    folder = tempfile.mkdtemp(prefix="fc-knowhow-photos-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the cases' database goes with the process
    return Path(folder)


def photo_suffix(data: bytes) -> str | None:
    """The file suffix of a JPEG, PNG or WebP image by its first bytes, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((s for magic, s in PHOTO_TYPES.items() if data.startswith(magic)), None)


def kept_photo(data: bytes) -> tuple[bytes, str]:
    """The photo as it is kept: turned upright, at most `PHOTO_MAX_SIDE` pixels a side, its metadata
    (EXIF, GPS position) dropped; JPEG, or PNG where it has transparency. Raises ValueError when
    `data` is not a JPEG, PNG or WebP image that decodes, or has more than `PHOTO_MAX_PIXELS`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if photo_suffix(data) is None:
        raise ValueError("type")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in ("JPEG", "PNG", "WEBP"):
                raise ValueError("type")
            if im.width * im.height > PHOTO_MAX_PIXELS:
                raise ValueError("pixels")
            im = ImageOps.exif_transpose(im)
            im.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
            alpha = im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info)
            out = io.BytesIO()
            if alpha:
                im.save(out, "PNG", optimize=True)
                return out.getvalue(), ".png"
            im.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
            return out.getvalue(), ".jpg"
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as e:
        raise ValueError("type") from e


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
    app.state.knowhow_photos = Path(photos or default_photos_path(db))
    router = APIRouter(include_in_schema=False)
    pages = Pages(
        accounts,
        now,
        lambda lang, c: translator(lang, getattr(app.state, "stop_reasons", ()), (KNOWHOW_UI, *CATALOGS)),
        Markup=Markup,
        plant_tz=lambda: plant_zone(store),  # the templates show times in the plant's zone
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
        q = request.query_params
        stops = ended_stops(store, [path], now())
        event = _event(store, path, now(), q.get("start", ""), q.get("code", "")) or (
            stops[0] if stops else None
        )
        if event is None:
            return pages.message(request, c, "kh_no_ended_stop", 404)
        ctx = capture_context(store, path, event["start"], event["end"], event["code"] or None)
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
        event = _event(store, machine, now(), form.get("start"), form.get("code"))
        if event is None:
            raise FormError("start", "kh_no_ended_stop")
        cause, action, note = (
            form.get("cause")[:NOTE_MAX],
            form.get("action")[:NOTE_MAX],
            form.get("note")[:NOTE_MAX],
        )
        if not (cause or action or note):
            raise FormError("cause", "kh_say_something")
        ctx = capture_context(store, machine, event["start"], event["end"], event["code"] or None)
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
        try:
            data, suffix = kept_photo(data)
        except ValueError as e:
            if str(e) == "pixels":
                raise FormError("photo", "kh_photo_pixels", mp=PHOTO_MAX_PIXELS // 1_000_000) from None
            raise FormError("photo", "kh_photo_type") from None
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

    # -- instructions (TWI Job Instruction), manuals --------------------------------------------
    @pages.page(router, "/knowhow/instructions", "knowhow_instructions.html", "knowhow", flash=True)
    def instructions_page(request: Request, c: Caller) -> dict[str, Any]:
        edit = request.query_params.get("edit", "")
        current = ins_db.get(db, edit) if edit else None
        if current is not None and current.firm != firm_key(c):
            current = None
        machines = own_paths(c)
        return {
            "instructions": ins_db.latest(db, firm_key(c)),
            "current": current,
            "current_steps": steps_text(current.steps) if current else "",
            "machines": machines,
            "names": names(machines),
            "may_write": c.user.role in may_write,
        }

    @pages.form_post(router, "/knowhow/instructions", "/knowhow/instructions", may_write)
    def instructions_post(request: Request, c: Caller, form: Form) -> str | Response:
        fields: dict[str, Any] = {
            "firm": firm_key(c),
            "task": form.get("task"),
            "title": form.get("title"),
            "machines": _items(form.get("machines")),
            "products": _items(form.get("products")),
            "steps": parse_steps(form.get("steps")),
            "author": c.user.display_name,
            "lang": pages.lang(request),
        }
        if form.get("id"):
            fields["id"] = form.get("id")
        try:
            saved = ins_db.save(db, Instruction(**fields))
        except KeyError:
            raise Refused("kh_not_found", 404) from None
        return Response(
            status_code=303, headers={"location": f"/knowhow/instructions/{saved.id}?ok={saved.version}"}
        )

    @pages.page(
        router, "/knowhow/instructions/{instruction_id}", "knowhow_instruction.html", "knowhow", flash=True
    )
    def instruction_page(request: Request, c: Caller, instruction_id: str) -> dict[str, Any] | Response:
        versions = ins_db.history(db, instruction_id)
        if not versions or versions[0].firm != firm_key(c):
            return pages.message(request, c, "kh_not_found", 404)
        wanted = request.query_params.get("v", "")
        shown = next((v for v in versions if str(v.version) == wanted), versions[-1])
        return {"ins": shown, "versions": versions, "names": names(own_paths(c))}

    @router.get("/knowhow/manual/{path:path}")
    def manual(request: Request, path: str) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        if path not in own_paths(c):
            return pages.message(request, c, "kh_not_found", 404)
        kind, lang, firm = kind_of(path), pages.lang(request), firm_key(c)
        found = ins_db.for_machine(db, path, kind, firm)
        verified = [
            x
            for x in db.cases(firm=firm, verified=True)
            if x.machine == path or (kind and x.machine_type == kind)
        ]
        name, on = names([path]).get(path, path), now().date()
        if request.query_params.get("format") == "pdf":
            pdf = manual_pdf(path, name, found, verified, lang, on)
            return Response(pdf, media_type="application/pdf")
        return HTMLResponse(manual_html(path, name, found, verified, lang, on))

    # -- skills matrix, single-person tasks, training plans ---------------------------------------
    @pages.page(router, "/knowhow/skills", "knowhow_skills.html", "knowhow", flash=True)
    def skills_page(request: Request, c: Caller) -> dict[str, Any]:
        firm = firm_key(c)
        people, tasks, cells = skill_db.matrix(db, firm)
        return {
            "people": people,
            "tasks": tasks,
            "cells": cells,
            "single": skill_db.single_person_tasks(db, firm),
            "plan": skill_db.training_plan(db, firm),
            "levels": skill_db.LEVELS,
            "titles": {i.id: i.title or i.task for i in ins_db.latest(db, firm)},
            "may_sign": c.user.role in PERMISSIONS["verify_knowhow"],
            "today": now().date().isoformat(),
        }

    @pages.form_post(router, "/knowhow/skills", "/knowhow/skills", PERMISSIONS["verify_knowhow"])
    def skills_post(request: Request, c: Caller, form: Form) -> str:
        try:
            on = datetime.fromisoformat(form.get("on")).date() if form.get("on") else now().date()
        except ValueError:
            raise FormError("on", "kh_bad_date") from None
        try:
            done = skill_db.sign_off(
                db,
                firm_key(c),
                form.get("person"),
                form.get("task"),
                form.get("level"),
                c.user.display_name,
                on,
            )
        except skill_db.SkillError as e:
            raise FormError(e.field, "kh_bad_skill", why=str(e).split(": ", 1)[-1]) from None
        return f"{done.person}/{done.task}"

    # -- codification metrics ---------------------------------------------------------------------
    @pages.page(router, "/knowhow/metrics", "knowhow_metrics.html", "knowhow")
    def metrics_page(request: Request, c: Caller) -> dict[str, Any]:
        firm = firm_key(c)
        paths = own_paths(c)
        start, end = now() - timedelta(days=30), now()
        single = sorted(skill_db.single_person_tasks(db, firm))
        whole = codification_metrics(
            store,
            db,
            start,
            end,
            firm=firm,
            machines=paths,
            instructions_per_product=ins_db.per_product(db, firm),
            single_person_tasks=single,
        )
        by_line: dict[str, list[str]] = {}
        for p in paths:
            by_line.setdefault(p.rsplit("/", 1)[0], []).append(p)
        lines = {
            line: codification_metrics(store, db, start, end, firm=firm, machines=ms)
            for line, ms in sorted(by_line.items())
        }
        return {"m": whole, "lines": lines, "names": names(paths), "firm_name": firm}

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
