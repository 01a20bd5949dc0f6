"""Request limits at the door, before any handler, authentication or JSON parser runs.

`BodyLimit` is an ASGI middleware (added first by `create_app`): a body larger than its route's
limit is refused with 413 before it is read when Content-Length says so, and as soon as the
bytes read pass the limit otherwise (a chunked body), so an unauthenticated caller cannot make
the server hold a large body. JSON and form bodies within the limit, the query string and the
path are then checked against the input policy of model/policy.py: no NUL or other control
character (tabs and line breaks are allowed in bodies), no string longer than `max_string`, no
JSON nested deeper than `MAX_DEPTH`; a 422 names the place (`["body", "rows", 3, "message"]`,
`["query", "end"]`). The models then apply their own, tighter limits per field.

`check_record_batch` (record batch rows, machines per firm) and `commons_write_quota` (the
commons quotas of cooperate/quotas.py, as a router dependency) are the quotas of the API.

Settings: environment variables read by `Limits.from_env()` when the app is built (every
worker of `serve --workers N` reads the same), listed in `Limits.ENV` and docs/security.md.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

from ..cooperate.db import CommonsDB
from ..cooperate.quotas import CommonsQuota, QuotaExceeded, charge, positive_int
from ..model.policy import MAX_ANY_STRING, bad_character, limit_text
from ..store.base import Store
from .web.upload import MAX_BYTES as UPLOAD_MAX_BYTES

MiB = 1024 * 1024
#: JSON deeper than this is refused (no request model nests more than a few levels)
MAX_DEPTH = 32
#: problems listed in one 422 answer at most
MAX_PROBLEMS = 20
_JSON = ("application/json",)
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Limits:
    """The request limits of one server (defaults; `from_env` reads the settings)."""

    max_body_bytes: int = 1 * MiB
    #: path prefix -> its own body limit (the upload page counts its body itself, 50 MiB)
    route_body_bytes: tuple[tuple[str, int], ...] = (
        ("/upload", UPLOAD_MAX_BYTES + 2 * MiB),
        ("/commons/uploads", 22 * MiB),  # a request's drawing (cooperate/orders.py, 20 MiB)
        ("/api/commons/uploads", 22 * MiB),
        ("/knowhow/capture", 16 * MiB),  # a phone's photo with the case (server/web/knowhow.py, 15 MiB)
        ("/knowhow/cases", 16 * MiB),  # a photo added to a case
    )
    max_string: int = MAX_ANY_STRING
    max_batch_rows: int = 20_000
    max_machines_per_firm: int = 2_000
    commons: CommonsQuota = field(default_factory=CommonsQuota)

    ENV = {
        "max_body_bytes": "FC_MAX_BODY_BYTES",
        "max_string": "FC_MAX_STRING_CHARS",
        "max_batch_rows": "FC_MAX_BATCH_ROWS",
        "max_machines_per_firm": "FC_MAX_MACHINES_PER_FIRM",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """The defaults, each replaced by its environment variable when set (a positive integer)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {n: positive_int(v, env[v]) for n, v in cls.ENV.items() if env.get(v)}
        return cls(**values, commons=CommonsQuota.from_env(env))

    def body_limit(self, path: str) -> int:
        """The body limit of a request to `path`: its route's own, else `max_body_bytes`."""
        for prefix, limit in self.route_body_bytes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.max_body_bytes


class _TooLarge(Exception):
    pass


def _problem(loc: list, kind: str, msg: str, value: object = None) -> dict[str, Any]:
    shown = value
    if isinstance(value, str):  # a short, printable excerpt (a lone surrogate cannot go out as UTF-8)
        shown = value[:40].encode("utf-8", "backslashreplace").decode() + ("..." if len(value) > 40 else "")
    return {"type": kind, "loc": loc, "msg": msg, "input": shown}


def _text_problem(loc: list, value: str, max_string: int) -> dict[str, Any] | None:
    if len(value) > max_string:
        return _problem(loc, "string_too_long", limit_text("too_long", n=len(value), max=max_string), value)
    pos = bad_character(value, multiline=True)
    if pos is not None:
        msg = limit_text("control_char", char=f"U+{ord(value[pos]):04X}", pos=pos + 1)
        return _problem(loc, "string_control_character", msg, value)
    return None


def json_problems(data: Any, max_string: int, root: str = "body") -> list[dict[str, Any]]:
    """The strings (values and keys) of parsed JSON `data` that break the policy, and a nesting
    deeper than MAX_DEPTH, as FastAPI-style error items; empty when all is well."""
    found: list[dict[str, Any]] = []
    stack: list[tuple[list, Any, int]] = [([root], data, 0)]
    while stack and len(found) < MAX_PROBLEMS:
        loc, value, depth = stack.pop()
        if isinstance(value, str):
            if (p := _text_problem(loc, value, max_string)) is not None:
                found.append(p)
        elif isinstance(value, float) and not math.isfinite(value):  # NaN, Infinity, 1e999
            found.append(_problem(loc, "number_not_finite", limit_text("not_finite"), str(value)))
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                found.append(_problem(loc, "too_deep", limit_text("too_deep", max=MAX_DEPTH)))
                continue
            items: Iterable = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in reversed(list(items)):
                if isinstance(k, str) and (p := _text_problem([*loc, k], k, max_string)) is not None:
                    found.append(p)
                stack.append(([*loc, k], v, depth + 1))
    return found


def pairs_problems(pairs: Iterable[tuple[str, str]], root: str, max_string: int) -> list[dict[str, Any]]:
    """Policy problems of decoded name=value pairs (a query string, a form)."""
    found = []
    for name, value in pairs:
        for text in (name, value):
            if (p := _text_problem([root, name], text, max_string)) is not None:
                found.append(p)
                break
    return found[:MAX_PROBLEMS]


def _decoded_pairs(raw: bytes) -> list[tuple[str, str]]:
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")


class BodyLimit:
    """The ASGI middleware: body limits, then the text policy of bodies, queries and paths."""

    def __init__(self, app: Callable[..., Awaitable[None]], limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits.from_env()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lim = self.limits
        path = scope.get("path", "")
        if (p := _path_problem(path)) is not None:
            await _answer(send, 422, [p])
            return
        found = pairs_problems(_decoded_pairs(scope.get("query_string", b"")), "query", lim.max_string)
        if found:
            await _answer(send, 422, found)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        limit = lim.body_limit(path)
        too_large = limit_text("body_too_large", limit=limit, setting=Limits.ENV["max_body_bytes"])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _answer(send, 400, limit_text("bad_length"))
                return
            if declared > limit:
                await _answer(send, 413, too_large)
                return
        if limit > lim.max_body_bytes:  # a route that reads (and counts) its large body itself
            await self._streamed(scope, receive, send, limit, too_large)
            return
        try:
            body, more = await _read(receive, limit)
        except _TooLarge:
            await _answer(send, 413, too_large)
            return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        found = _body_problems(ctype, body, lim.max_string)
        if found:
            await _answer(send, 422, found)
            return
        await self.app(scope, _replay(body, more, receive), send)

    async def _streamed(self, scope: dict, receive: Callable, send: Callable, limit: int, text: str) -> None:
        seen = 0
        started = False

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _answer(send, 413, text)


def _path_problem(path: str) -> dict[str, Any] | None:
    pos = bad_character(path)
    if pos is None:
        return None
    msg = limit_text("control_char", char=f"U+{ord(path[pos]):04X}", pos=pos + 1)
    return _problem(["path"], "string_control_character", msg, path)


def _body_problems(ctype: str, body: bytes, max_string: int) -> list[dict[str, Any]]:
    if not body:
        return []
    if ctype in _JSON or ctype.endswith("+json"):
        try:
            data = json.loads(body)
        except RecursionError:
            return [_problem(["body"], "too_deep", limit_text("too_deep", max=MAX_DEPTH))]
        except ValueError:  # not JSON, not UTF-8: FastAPI answers that itself
            return []
        return json_problems(data, max_string)
    if ctype == _FORM:
        return pairs_problems(_decoded_pairs(body), "body", max_string)
    return []


async def _read(receive: Callable, limit: int) -> tuple[bytes, bool]:
    """The whole body, at most `limit` bytes (_TooLarge beyond); (body, whether a disconnect
    came instead of the end)."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, disconnected: bool, receive: Callable) -> Callable[[], Awaitable[dict]]:
    sent = False

    async def again() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the client to go (streaming answers)

    return again


async def _answer(send: Callable, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- quotas of the API --------------------------------------------------------------------------
def check_record_batch(rows: list, store: Store, owns: Callable[[str], bool], limits: Limits) -> None:
    """A record batch within the quotas: at most `max_batch_rows` rows (413), and the firm's
    machines with the batch's new ones at most `max_machines_per_firm` (403)."""
    if len(rows) > limits.max_batch_rows:
        text = limit_text(
            "too_many_rows", n=len(rows), max=limits.max_batch_rows, setting=Limits.ENV["max_batch_rows"]
        )
        raise HTTPException(413, text)
    named = {r["machine"] for r in rows if isinstance(r, dict) and isinstance(r.get("machine"), str)}
    if not named:
        return
    known = set(store.machine_paths())
    new = named - known
    if not new:
        return
    mine = sum(1 for p in known if owns(p))
    if mine + len(new) > limits.max_machines_per_firm:
        text = limit_text(
            "too_many_machines",
            max=limits.max_machines_per_firm,
            new=len(new),
            setting=Limits.ENV["max_machines_per_firm"],
        )
        raise HTTPException(403, text)


def commons_write_quota(
    commons: CommonsDB, caller: Callable[[Request], Any], now: Callable[[], datetime]
) -> Callable[[Request], Awaitable[None]]:
    """A dependency of the commons router: each write (not GET/HEAD/OPTIONS) is charged to the
    caller's firm (cooperate/quotas.py); 413 or 429 (with Retry-After) when over a quota."""

    async def quota(request: Request) -> None:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        c = caller(request)  # 401/403 as the route would answer
        if request.url.path.startswith("/api/commons/uploads/"):
            size = 0  # a drawing counts as a write; its size has its own limits (cooperate/orders.py)
        else:
            size = len(await request.body())
        limits: Limits = getattr(request.app.state, "limits", None) or Limits()
        try:
            charge(commons, c.firm.name, size, now(), limits.commons)
        except QuotaExceeded as e:
            headers = {"Retry-After": str(e.retry_after)} if e.retry_after else None
            raise HTTPException(e.status, e.text, headers=headers) from None

    return quota
