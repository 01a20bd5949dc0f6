"""What every API router shares: the error answer model, the `responses=` of a route, UTC times,
the time window of a query (`query_window`, within the time policy of model/policy.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from ...model.policy import check_planned_time
from ..auth import api_text


class ErrorOut(BaseModel):
    """Every error answer: FastAPI's validation errors (a list), our messages (a string), batch
    problems (an object with `message` and `problems`)."""

    detail: str | dict[str, Any] | list[dict[str, Any]]


_WHY = {
    400: "the body is not JSON",
    401: "not logged in, or an unknown token",
    403: "the caller's role or firm may not do this (or the CSRF token is missing)",
    404: "no such object",
    409: "conflicts with the current state",
    413: "the body, a batch or a commons write is larger than its limit (docs/security.md)",
    422: "invalid parameters or body",
    429: "too many failed logins or commons writes; wait the seconds in Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: the error codes it may answer, all with ErrorOut."""
    return {c: {"model": ErrorOut, "description": _WHY[c]} for c in codes}


READ_ERRORS = errors(401, 403, 422)
WRITE_ERRORS = errors(400, 401, 403, 413, 422)


def document_framework_errors(app: FastAPI) -> None:
    """Declare on every operation of the OpenAPI document the errors that the framework and the
    middleware answer for it whatever its handler does: an operation with a body answers 400
    (not JSON), 413 (over the body limit, server/limits.py) and 422 (the text policy, the
    model); one with parameters 422. Called once by create_app (through FastAPI's `app.openapi`
    hook), so a new route is documented truly without remembering these codes
    (tests/test_api_schemathesis.py checks the document)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = build()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in doc.get("paths", {}).values():
            for op in operations.values():
                codes = (400, 413, 422) if "requestBody" in op else (422,) if op.get("parameters") else ()
                for code in codes:
                    op["responses"].setdefault(str(code), {"description": _WHY[code], "content": error})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _param_error(name: str, msg: str, value: object) -> HTTPException:
    return HTTPException(
        422, [{"type": "value_error", "loc": ["query", name], "msg": msg, "input": str(value)}]
    )


def query_window(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    max_window: timedelta,
    default: timedelta = timedelta(days=1),
) -> tuple[datetime, datetime]:
    """(start, end) of a read, aware UTC: `end` defaults to `now`, `start` to `default` before
    `end`; each given time within 1970..2100 (model/policy.py), start before end, at most
    `max_window` long. A 422 names the parameter (`["query", "end"]`), never an overflow."""
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            try:
                check_planned_time(value)
            except ValueError as e:
                raise _param_error(name, str(e), value) from None
    e = utc(end) if end else now
    s = utc(start) if start else e - default
    if not s < e:
        raise _param_error("start", api_text("start_after_end"), start)
    if e - s > max_window:
        raise _param_error("start", api_text("window_too_long", days=max_window.days), start)
    return s, e
