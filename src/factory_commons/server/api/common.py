"""What every API router shares: the error answer model, the `responses=` of a route, UTC times,
the time window of a query (`query_window`, within the time policy of model/policy.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException
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
