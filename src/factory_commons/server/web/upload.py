"""The upload page: a person brings a CSV or Excel export to the firm's store from the browser.

GET /upload shows a drop zone and a plain file input; POST /upload (multipart, the session's
CSRF token in the form) keeps the file in the firm's own temporary folder (at most
`MAX_BYTES`; the name the browser sent is only shown, never used as a path) and goes to
GET /upload/{id}: the mapping the guesser proposes (collect/files_guess.py), one row per
column with its sample values and a role the person can change, the guesser's notes, the
records the first rows give, the KPIs they would give and the import's warnings. POST
/upload/{id}/roles keeps a person's corrections (the preview is computed again); POST
/upload/{id}/accept imports the file into the firm's store (collect/files.py `import_file`,
the same store the dashboard reads) and shows the summary: rows, rejected rows with line
and why, the rejects file to download (GET /upload/{id}/rejects.csv) and links to the
dashboard for the file's days. A product master (product, ideal cycle time) is recognised
and saved as the firm's products instead (collect/master_files.py).

Only the firm's owners and engineers (permission `write_records`) may upload; machine paths
are put under the firm's enterprise and every write is checked to be the firm's own. An
upload id of another firm is not found. Text: the `upload` catalog (then `web`, `states`,
`kpi`), Korean by default, English by the page's language switch. See docs/server.md,
"Uploading a file".
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from ...accounts import Accounts
from ...collect.files import import_file, rejects_path
from ...collect.files_guess import ROLES, Proposal, guess_mapping, preview, with_roles
from ...collect.files_mapping import parse_mapping
from ...collect.master_files import read_machines, read_products
from ...i18n import KPI, STATES, Catalog
from ...store.base import Store
from ..auth import PERMISSIONS, Caller
from .i18n import WEB, Translate, translator
from .pages import Form, Pages, back

UPLOAD = Catalog("upload")
#: the largest file one upload may hold
MAX_BYTES = 50 * 1024 * 1024
#: the file kinds the importer reads (an old .xls must be saved as .xlsx first)
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
#: how long an upload is kept in its temporary folder
KEEP = timedelta(hours=24)
#: rows of the file the preview reads
PREVIEW_ROWS = 50
#: bytes read at a time from the browser's upload
BLOCK = 1 << 20
#: the KPIs of the preview, per machine (names from the `kpi` catalog)
PREVIEW_KPIS = ("oee", "availability", "effectiveness", "quality_ratio", "produced_quantity", "good_quantity")
#: record fields the preview does not show
HIDDEN_FIELDS = ("machine_id", "id", "ingested_at", "seq")
#: records of each kind the preview shows
PREVIEW_SHOWN = 10
_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
_UNSAFE = re.compile(r"[^\w.\-]+")


def default_uploads_path(store: str) -> Path | None:
    """Where a server keeps its uploads, shared by its worker processes: beside a store file
    (`<store>.uploads/`), or for a PostgreSQL store a folder of the temp directory named by
    the URL's hash; None for an in-memory store (a temporary folder of the process)."""
    if store.startswith(("postgresql://", "postgres://")):
        digest = hashlib.sha256(store.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"factory-commons-uploads-{digest}"
    if not store or store.startswith(":memory:"):
        return None
    return Path(f"{store}.uploads")


class UploadError(ValueError):
    """An upload that is refused: a catalog key of `upload`, its parameters and the HTTP status."""

    def __init__(self, key: str, status: int = 422, **params: object) -> None:
        super().__init__(key)
        self.key, self.status, self.params = key, status, params

    def text(self, t: Translate) -> str:
        return t(self.key, **self.params)


@dataclass
class Upload:
    """One uploaded file of a firm and what was decided about it (kept as `upload.json`)."""

    id: str
    firm_id: int
    user_id: int
    name: str  # the file's name, made safe (shown, and named in the importer's messages)
    size: int
    created: str  # ISO time, UTC
    roles: dict[str, str] = field(default_factory=dict)  # column -> role a person chose
    sheet: str | None = None  # the Excel sheet a person chose (None: the guesser's)
    result: dict[str, Any] | None = None  # the last import's summary


def safe_name(name: str | None) -> str:
    """A file name to keep the upload under: the last part of what the browser sent, with
    anything but letters, digits, '.', '-' and '_' replaced, at most 80 characters."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._") or "upload"
    suffix = _UNSAFE.sub("", suffix).lower()
    return stem[:70] + (f".{suffix[:8]}" if suffix else "")


def check_text(path: Path) -> None:
    """A CSV must be text: no NUL bytes, and its first megabytes UTF-8 (BOM or not) or CP949
    (which holds EUC-KR). UploadError `not_text` names the line and byte where it is neither."""
    with path.open("rb") as f:
        head = f.read(4 * BLOCK)
    if b"\x00" in head:
        nul = head.index(b"\x00")
        raise UploadError("not_text_nul", line=head.count(b"\n", 0, nul) + 1, byte=nul)
    best = 0
    for encoding in ("utf-8-sig", "cp949"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < 4 * BLOCK)
            return
        except UnicodeDecodeError as e:
            best = max(best, e.start)
    raise UploadError("not_text", line=head.count(b"\n", 0, best) + 1, byte=best)


def check_excel(path: Path) -> None:
    """An .xlsx/.xlsm file is a zip archive (it starts with 'PK')."""
    with path.open("rb") as f:
        if f.read(2) != b"PK":
            raise UploadError("not_excel")


class Uploads:
    """The uploads of every firm under `root`: `root/<firm id>/<upload id>/` holds the file
    and `upload.json`. A firm only ever looks in its own folder."""

    def __init__(self, root: Path | None, max_bytes: int = MAX_BYTES, keep: timedelta = KEEP) -> None:
        self._root, self.max_bytes, self.keep = root, max_bytes, keep
        if root is not None:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)  # firms' data: the server's user only

    @property
    def root(self) -> Path:
        """The folder (without one given, a temporary folder made at the first use)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="fc-uploads-"))
        return self._root

    def folder(self, firm_id: int, upload_id: str) -> Path | None:
        if not _ID.match(upload_id):
            return None
        folder = self.root / str(int(firm_id)) / upload_id
        return folder if (folder / "upload.json").is_file() else None

    def load(self, firm_id: int, upload_id: str) -> Upload | None:
        folder = self.folder(firm_id, upload_id)
        if folder is None:
            return None
        up = Upload(**json.loads((folder / "upload.json").read_text(encoding="utf-8")))
        return up if up.firm_id == firm_id else None

    def recent(self, firm_id: int, most: int = 10) -> list[Upload]:
        """The firm's uploads still kept, newest first."""
        found = []
        for meta in (self.root / str(int(firm_id))).glob("*/upload.json"):
            up = self.load(firm_id, meta.parent.name)
            if up is not None:
                found.append(up)
        return sorted(found, key=lambda u: u.created, reverse=True)[:most]

    def file(self, up: Upload) -> Path:
        return self.root / str(up.firm_id) / up.id / up.name

    def why(self, e: Exception | str, up: Upload) -> str:
        """An error's text with the file named as the person knows it, not where the server
        keeps it."""
        path = self.file(up)
        return str(e).replace(str(path), up.name).replace(str(path.parent) + "/", "")

    def save(self, up: Upload) -> None:
        folder = self.root / str(up.firm_id) / up.id
        tmp = folder / "upload.json.tmp"
        tmp.write_text(json.dumps(asdict(up), ensure_ascii=False), encoding="utf-8")
        tmp.replace(folder / "upload.json")

    async def receive(self, firm_id: int, user_id: int, upload: Any, now: datetime) -> Upload:
        """Keep a browser's file (starlette UploadFile) in a new folder of the firm; UploadError
        when it has no name, is not CSV/Excel, is empty, too big or not readable text."""
        name = safe_name(getattr(upload, "filename", None))
        if not getattr(upload, "filename", None):
            raise UploadError("no_file")
        if not name.lower().endswith(SUFFIXES):
            key = "old_xls" if name.lower().endswith(".xls") else "not_csv_excel"
            raise UploadError(key, suffixes=", ".join(SUFFIXES))
        self.prune(now)
        up = Upload(secrets.token_urlsafe(12), int(firm_id), user_id, name, 0, now.isoformat())
        folder = self.root / str(up.firm_id) / up.id
        folder.mkdir(parents=True)
        try:
            with (folder / name).open("wb") as f:
                while block := await upload.read(BLOCK):
                    up.size += len(block)
                    if up.size > self.max_bytes:
                        raise UploadError("too_big", status=413, mb=self.max_bytes // (1024 * 1024))
                    f.write(block)
            if up.size == 0:
                raise UploadError("empty")
            if name.lower().endswith((".xlsx", ".xlsm")):
                check_excel(folder / name)
            else:
                check_text(folder / name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.save(up)
        return up

    def prune(self, now: datetime) -> None:
        """Remove the uploads older than `keep` (of every firm)."""
        limit = time.time() - self.keep.total_seconds()
        for folder in self.root.glob("*/*"):
            try:
                if folder.is_dir() and folder.stat().st_mtime < limit:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


class Proposals:
    """The last few proposals made, by (firm, upload, the firm's machines, corrections): a page
    view or a correction does not read a large file again."""

    def __init__(self, size: int = 16) -> None:
        self.size, self.items = size, OrderedDict[tuple, Any]()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple, proposal: Any) -> Any:
        with self.lock:
            self.items[key] = proposal
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return proposal


class FirmStore:
    """The store as one firm's import sees it: every machine it registers or writes must be
    under the firm's enterprises (PermissionError otherwise, before that batch is written),
    and the times it writes are remembered (the file's days, for the dashboard links)."""

    def __init__(self, store: Store, owns: Callable[[str], bool]) -> None:
        self._store, self._owns = store, owns
        self.first: datetime | None = None
        self.last: datetime | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _check(self, paths: Iterable[str]) -> None:
        foreign = sorted({p for p in paths if not self._owns(p)})
        if foreign:
            raise PermissionError(", ".join(foreign[:5]))

    def machines(self) -> list[Any]:
        """The firm's machines only (the guesser keeps their paths for names it finds)."""
        return [m for m in self._store.machines() if self._owns(m.path)]

    def register_machines(self, machines: Iterable[Any]) -> Any:
        machines = list(machines)
        self._check(m.path for m in machines)
        return self._store.register_machines(machines)

    def write_table(self, kind: str, table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not isinstance(table, pa.Table):
            table = pa.Table.from_pylist(list(table))
        if table.num_rows:
            self._check(pc.unique(table["machine"]).to_pylist())
            lo, hi = pc.min_max(table["ts"]).values()
            lo, hi = _utc(lo.as_py()), _utc(hi.as_py())
            self.first = lo if self.first is None else min(self.first, lo)
            self.last = hi if self.last is None else max(self.last, hi)
        return self._store.write_table(kind, table)


def kpi_text(key: str, value: Any, t: Translate) -> str:
    """A ratio as '85.3%', a quantity as '1,234', an unknown value as the page's word for it."""
    if value is None or (isinstance(value, float) and value != value):
        return t("unknown_kpi")
    if key.endswith("_quantity"):
        return f"{int(value):,}"
    return f"{float(value):.1%}"


def cell_text(value: Any, zone: ZoneInfo, name: Translate | None = None) -> str:
    """A record's value for the preview table: times in the plant's zone (a naive time is UTC),
    a code by its name where `name` is given (a machine state)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _utc(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return name(str(value)) if name else str(value)


_HANGUL = re.compile(f"[{chr(0xAC00)}-{chr(0xD7A3)}]")  # Hangul syllables


def one_language(text: str, lang: str) -> str:
    """The part of a "한국어 / English" text in `lang` (the guesser's notes read both): split
    at the " / " that leaves the most Korean before it and the least after it; a text without
    one is shown whole."""
    parts = text.split(" / ")
    if len(parts) < 2:
        return text

    def share(s: str) -> float:
        return len(_HANGUL.findall(s)) / max(1, len(s))

    best = max(
        range(1, len(parts)), key=lambda k: share(" / ".join(parts[:k])) - share(" / ".join(parts[k:]))
    )
    ko, en = " / ".join(parts[:best]), " / ".join(parts[best:])
    if share(ko) <= share(en):
        return text
    return ko if lang == "ko" else en


async def read_form(request: Request, limit: int, too_big: UploadError) -> FormData:
    """The form of a post, reading at most `limit` bytes of its body (`too_big` is raised
    beyond, so a body sent without Content-Length cannot fill the disk); one file at most."""

    async def body() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise too_big
            yield chunk

    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await request.form()  # a post without a file
    parser = MultiPartParser(request.headers, body(), max_files=1, max_fields=10)
    try:
        return await parser.parse()
    except MultiPartException as e:
        raise UploadError("bad_form", 400, why=e.message) from None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_firm(path: str, enterprises: tuple[str, ...]) -> str:
    """A machine path under the firm's enterprise: a path whose first level is not one of
    `enterprises` gets the first of them in its place."""
    first, sep, rest = path.partition("/")
    if not sep or first in enterprises or not enterprises:
        return path
    return f"{enterprises[0]}/{rest}"


def firm_mapping(mapping: dict[str, Any], enterprises: tuple[str, ...]) -> dict[str, Any]:
    """The mapping with every machine path it names put under the firm's enterprise."""
    out = dict(mapping)
    if isinstance(out.get("machine"), str):
        out["machine"] = in_firm(out["machine"], enterprises)
    if isinstance(out.get("machines"), dict):
        out["machines"] = {k: in_firm(str(v), enterprises) for k, v in out["machines"].items()}
    if isinstance(out.get("columns"), dict):
        cols = {}
        for name, col in out["columns"].items():
            if isinstance(col, dict) and isinstance(col.get("machine"), str):
                col = {**col, "machine": in_firm(col["machine"], enterprises)}
            cols[name] = col
        out["columns"] = cols
    return out


def plant_zone(store: Store) -> ZoneInfo:
    """The plant's time zone (the store's setting where it has one, else Asia/Seoul)."""
    get = getattr(store, "plant_timezone", None)
    try:
        return ZoneInfo(get() if callable(get) else "Asia/Seoul")
    except Exception:  # noqa: BLE001 - an unknown zone name in the settings: the default
        return ZoneInfo("Asia/Seoul")


def add_upload_pages(
    app: FastAPI,
    store: Store,
    accounts: Accounts,
    now: Callable[[], datetime],
    root: Path | str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Uploads:
    """Mount the upload pages on `app`; uploads are kept under `root` (default: a new
    temporary folder of this process; `serve` gives `default_uploads_path`, one folder for all
    its workers). Returns the Uploads (tests look into it)."""
    uploads = Uploads(Path(root) if root else None, max_bytes)
    app.state.uploads = uploads
    router = APIRouter(include_in_schema=False)

    def translate(lang: str, c: Caller | None) -> Translate:
        reasons = getattr(app.state, "stop_reasons", ())
        return translator(lang, reasons, catalogs=(UPLOAD, WEB, STATES, KPI))

    pages = Pages(accounts, now, translate, Markup=Markup)
    proposals = Proposals()  # the guesser reads the whole file: each proposal is made once
    running: set[str] = set()  # uploads being imported (a second accept waits for the first)
    running_lock = threading.Lock()

    def may_import(c: Caller) -> bool:
        return c.user.role in PERMISSIONS["write_records"] and bool(c.firm.enterprises)

    def refused(request: Request, c: Caller | None) -> Response:
        if c is not None and c.user.role in PERMISSIONS["write_records"]:  # a firm without machines
            return pages.message(request, c, "no_enterprise", 403)
        return pages.message(request, c, "not_allowed", 403)

    def start_page(request: Request, c: Caller, status: int = 200, error: str = "") -> Response:
        return pages.render(
            request,
            "upload.html",
            c,
            status=status,
            page="upload",
            error=error,
            max_mb=uploads.max_bytes // (1024 * 1024),
            suffixes=", ".join(SUFFIXES),
            keep_hours=int(uploads.keep.total_seconds() // 3600),
            recent=[
                (
                    up,
                    datetime.fromisoformat(up.created)
                    .astimezone(plant_zone(store))
                    .strftime("%Y-%m-%d %H:%M"),
                )
                for up in uploads.recent(c.firm.id)
            ],
        )

    @router.get("/upload", response_class=HTMLResponse)
    def upload_page(request: Request) -> Response:
        c = pages.caller(request)
        if c is None:
            return pages.to_login(request)
        if not may_import(c):
            return refused(request, c)
        return start_page(request, c)

    @router.post("/upload", response_class=HTMLResponse)
    async def upload_post(request: Request) -> Response:
        session = pages.caller(Request({**request.scope, "method": "GET"}))  # the CSRF check follows
        if session is None:
            return pages.to_login(request)  # nothing of the body is read
        too_big = UploadError("too_big", 413, mb=uploads.max_bytes // (1024 * 1024))
        length = int(request.headers.get("content-length") or 0)
        if length > uploads.max_bytes + BLOCK:  # refused before the body is read
            return start_page(request, session, 413, too_big.text(pages.t(request, session)))
        try:
            form = await read_form(request, uploads.max_bytes + BLOCK, too_big)
        except UploadError as e:  # more than the limit, whatever Content-Length said
            return start_page(request, session, e.status, e.text(pages.t(request, session)))
        try:
            c = pages.form_caller(request, str(form.get("csrf_token") or ""))
            if not may_import(c):
                return refused(request, c)
            up = await uploads.receive(c.firm.id, c.user.id, form.get("file"), now())
        except UploadError as e:
            return start_page(request, c, e.status, e.text(pages.t(request, c)))
        finally:
            await form.close()
        return RedirectResponse(f"/upload/{up.id}", status_code=303)

    def found(request: Request, upload_id: str, c: Caller | None) -> Upload | Response:
        """The caller's firm's upload, or the page that says why not."""
        if c is None:
            return pages.to_login(request)
        if not may_import(c):
            return refused(request, c)
        up = uploads.load(c.firm.id, upload_id)
        if up is None or not uploads.file(up).is_file():
            return pages.message(
                request, c, "upload_gone", 404, hours=int(uploads.keep.total_seconds() // 3600)
            )
        return up

    async def posted(request: Request, upload_id: str) -> tuple[Form, Caller, Upload] | Response:
        """A form posted about an upload: the form, its caller (CSRF checked) and the upload,
        or the page that says why not."""
        form = Form(await request.form())
        c = pages.form_caller(request, form.get("csrf_token"))
        up = found(request, upload_id, c)
        if isinstance(up, Response):
            return up
        return form, c, up

    @router.get("/upload/{upload_id}", response_class=HTMLResponse)
    def review(request: Request, upload_id: str) -> Response:
        c = pages.caller(request)
        up = found(request, upload_id, c)
        if isinstance(up, Response):
            return up
        assert c is not None
        t = pages.t(request, c)
        try:
            ctx = review_context(up, c, t, pages.lang(request))
        except UploadError as e:
            return start_page(request, c, e.status, e.text(t))
        if not ctx["problem"] and request.query_params.get("err"):
            ctx["problem"] = request.query_params["err"][:500]
        return pages.render(request, "upload_review.html", c, page="upload", up=up, **ctx)

    @router.post("/upload/{upload_id}/roles", response_class=HTMLResponse)
    async def roles_post(request: Request, upload_id: str) -> Response:
        got = await posted(request, upload_id)
        if isinstance(got, Response):
            return got
        form, c, up = got
        if form.get("reset"):  # back to the proposal as guessed
            up.roles = {}
            uploads.save(up)
            return RedirectResponse(f"/upload/{up.id}#mapping", status_code=303)
        proposal = await run_in_threadpool(guess, up, {}, c)
        chosen = {}
        for i, col in enumerate(proposal.columns):
            role = form.get(f"role_{i}")
            if role in ROLES and role != col.role:
                chosen[col.name] = role
        try:
            await run_in_threadpool(guess, up, chosen, c)
        except UploadError as e:  # a combination the guesser refuses: the roles stay as they were
            return back(f"/upload/{up.id}", err=e.text(pages.t(request, c)), anchor="#mapping")
        up.roles = chosen
        uploads.save(up)
        return RedirectResponse(f"/upload/{up.id}#mapping", status_code=303)

    @router.post("/upload/{upload_id}/sheet", response_class=HTMLResponse)
    async def sheet_post(request: Request, upload_id: str) -> Response:
        got = await posted(request, upload_id)
        if isinstance(got, Response):
            return got
        form, c, up = got
        proposal = await run_in_threadpool(guess, up, {}, c)
        sheet = form.get("sheet")
        if sheet not in proposal.sheets:
            return back(f"/upload/{up.id}", err=pages.t(request, c)("no_such_sheet", sheet=sheet[:80]))
        up.sheet, up.roles = sheet, {}  # another table: the corrections of the old one do not apply
        uploads.save(up)
        return RedirectResponse(f"/upload/{up.id}", status_code=303)

    @router.post("/upload/{upload_id}/accept", response_class=HTMLResponse)
    async def accept_post(request: Request, upload_id: str) -> Response:
        got = await posted(request, upload_id)
        if isinstance(got, Response):
            return got
        form, c, up = got
        t = pages.t(request, c)
        with running_lock:
            if up.id in running:
                return back(f"/upload/{up.id}", err=t("import_running"))
            running.add(up.id)
        try:
            up.result = await run_in_threadpool(accept, up, c, t)  # the server answers others meanwhile
        except UploadError as e:  # back to the proposal, with what went wrong
            return back(f"/upload/{up.id}", err=e.text(t))
        finally:
            with running_lock:
                running.discard(up.id)
        uploads.save(up)
        return RedirectResponse(f"/upload/{up.id}/result", status_code=303)

    @router.get("/upload/{upload_id}/result", response_class=HTMLResponse)
    def result(request: Request, upload_id: str) -> Response:
        c = pages.caller(request)
        up = found(request, upload_id, c)
        if isinstance(up, Response):
            return up
        if up.result is None:
            return RedirectResponse(f"/upload/{up.id}", status_code=303)
        lang = pages.lang(request)
        r = dict(up.result)
        r["warnings"] = [one_language(w, lang) for w in r.get("warnings", [])]
        return pages.render(request, "upload_result.html", c, page="upload", up=up, r=r)

    @router.get("/upload/{upload_id}/rejects.csv")
    def rejects(request: Request, upload_id: str) -> Response:
        c = pages.caller(request)
        up = found(request, upload_id, c)
        if isinstance(up, Response):
            return up
        path = rejects_path(uploads.file(up))
        if not path.is_file():
            return pages.message(request, c, "not_found", 404)
        return FileResponse(path, media_type="text/csv", filename=path.name)

    # -- what the pages show and do ------------------------------------------------------------
    def guess(up: Upload, roles: dict[str, str], c: Caller) -> Proposal:
        """The guesser's proposal for the upload, with a person's corrections; new machines
        get paths under the firm's enterprise, known machines of the firm keep theirs."""
        path = uploads.file(up)
        view = FirmStore(store, c.owns)
        known = view.machines()
        prefix = None if known else f"{c.firm.enterprises[0]}/plant-1"
        machines = hash(tuple((m.path, m.display_name) for m in known))
        key = (up.firm_id, up.id, up.sheet, machines, tuple(sorted(roles.items())))
        base_key = (up.firm_id, up.id, up.sheet, machines, ())
        try:
            proposal = proposals.get(key)
            if proposal is None:
                base = proposals.get(base_key)
                if base is None:
                    base = proposals.put(
                        base_key, guess_mapping(path, sheet=up.sheet, store=view, prefix=prefix)
                    )
                proposal = proposals.put(key, with_roles(base, roles)) if roles else base
            return proposal
        except (ValueError, OSError) as e:  # FileReadError, MappingError, a file openpyxl cannot open
            raise UploadError("cannot_read", name=up.name, why=uploads.why(e, up)) from None

    def review_context(up: Upload, c: Caller, t: Translate, lang: str) -> dict[str, Any]:
        proposal = guess(up, up.roles, c)
        ctx: dict[str, Any] = {
            "kind": proposal.kind,
            "notes": [one_language(n, lang) for n in proposal.notes],
            "size_kb": max(1, round(up.size / 1024)),
            "corrected": bool(up.roles),
            "sheet": proposal.sheet,
            "sheets": proposal.sheets,
            "rows": PREVIEW_ROWS,
            "problem": "",
        }
        path = uploads.file(up)
        if proposal.kind == "products":
            ctx["products"] = master(lambda: read_products(path, sheet=proposal.sheet), up)
            return ctx
        if proposal.kind == "machines":
            ctx["machines"] = firm_machines(up, c)
            return ctx
        ctx |= {
            "roles": ROLES,
            "toml": proposal.toml,
            "columns": [
                {
                    "i": i,
                    "name": col.name,
                    "samples": " · ".join(col.samples[:5]),
                    "role": col.role,
                    "why": one_language(col.why, lang),
                }
                for i, col in enumerate(proposal.columns)
            ],
            "warnings": [],
            "kpi_keys": [k for k in PREVIEW_KPIS if KPI.has(k)],
            "kpi_rows": [],
            "records": [],
            "rejections": [],
        }
        if proposal.kind == "unknown" or not proposal.mapping:
            ctx["problem"] = t("no_time_column")
            return ctx
        try:
            pv = preview(
                path,
                firm_mapping(proposal.mapping, c.firm.enterprises),
                rows=PREVIEW_ROWS,
                store=FirmStore(store, c.owns),
            )
        except (ValueError, OSError) as e:  # MappingError after a person's correction, FileReadError
            ctx["problem"] = t("mapping_invalid", why=uploads.why(e, up))
            return ctx
        ctx["warnings"] = [one_language(uploads.why(w, up), lang) for w in pv.warnings]
        summary = pv.summary  # rejection reasons stay in both languages, as in the rejects file
        if summary is not None and getattr(summary, "first_rejections", None) is not None:
            ctx["rejections"] = [(r.line, r.column, r.why) for r in summary.first_rejections]
        else:
            ctx["rejections"] = [("", "", r) for r in pv.rejections]
        names = {row.get("machine"): row.get("name") for row in pv.kpis if row.get("name")}
        for row in pv.kpis:
            shown = [kpi_text(k, row.get(k), t) for k in ctx["kpi_keys"]]
            ctx["kpi_rows"].append({"path": row.get("machine"), "name": row.get("name"), "values": shown})
        zone = plant_zone(store)
        for kind, records in pv.records.items():
            if records:
                keys = list(dict.fromkeys(k for r in records for k in r if k not in HIDDEN_FIELDS))
                head = [t(f"field_{k}") if UPLOAD.has(f"field_{k}") else k for k in keys]
                body = [
                    [
                        names.get(r.get(k)) or r.get(k)
                        if k == "machine"
                        else cell_text(r.get(k), zone, t if k == "state" else None)
                        for k in keys
                    ]
                    for r in records[:PREVIEW_SHOWN]
                ]
                ctx["records"].append((kind, head, body))
        return ctx

    def firm_machines(up: Upload, c: Caller) -> list[Any]:
        """The machines of a machine master file, their paths under the firm's enterprise."""
        known = FirmStore(store, c.owns).machines()
        prefix = None if known else f"{c.firm.enterprises[0]}/plant-1"
        read = master(lambda: read_machines(uploads.file(up), prefix=prefix, known=known, sheet=up.sheet), up)
        return [m.model_copy(update={"path": in_firm(m.path, c.firm.enterprises)}) for m in read]

    def master(read: Callable[[], list[Any]], up: Upload) -> list[Any]:
        try:
            return read()
        except (ValueError, OSError) as e:  # MasterFileError names the file, line and column
            raise UploadError("cannot_read", name=up.name, why=uploads.why(e, up)) from None

    def accept(up: Upload, c: Caller, t: Translate) -> dict[str, Any]:
        proposal = guess(up, up.roles, c)
        path = uploads.file(up)
        if proposal.kind == "products":
            products = master(lambda: read_products(path, sheet=proposal.sheet), up)
            return {"kind": "products", "saved": store.save_products(products)}
        if proposal.kind == "machines":
            ms = firm_machines(up, c)
            guarded = FirmStore(store, c.owns)
            try:
                guarded.register_machines(ms)
            except PermissionError as e:
                raise UploadError("not_firms_machine", 403, paths=str(e)) from None
            return {"kind": "machines", "saved": len(ms)}
        try:
            mapping = parse_mapping(firm_mapping(proposal.mapping, c.firm.enterprises), up.name)
        except ValueError as e:
            raise UploadError("mapping_invalid", why=uploads.why(e, up)) from None
        guarded = FirmStore(store, c.owns)
        try:
            summary = import_file(path, mapping, guarded, store_id=f"firm-{c.firm.id}")
        except PermissionError as e:
            raise UploadError("not_firms_machine", 403, paths=str(e)) from None
        except ValueError as e:  # FileReadError, MappingError
            raise UploadError("cannot_read", name=up.name, why=uploads.why(e, up)) from None
        zone = plant_zone(store)
        days = [d.astimezone(zone).date().isoformat() for d in (guarded.first, guarded.last) if d]
        return {
            "kind": "log",
            **summary.as_dict(),
            "records_written": summary.records_written,
            "records_duplicate": summary.records_duplicate,
            "rejections": [[r.line, r.column, r.why] for r in summary.first_rejections],
            "has_rejects": bool(summary.rejects_file),
            "warnings": [uploads.why(w, up) for w in getattr(summary, "warnings", []) or []],
            "first_day": days[0] if days else None,
            "last_day": days[-1] if days else None,
        }

    app.include_router(router)
    return uploads
