"""What every API router shares: the error answer model, the `responses=` of a route, UTC times."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel


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
    422: "invalid parameters or body",
    429: "too many failed logins; wait the seconds in Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: the error codes it may answer, all with ErrorOut."""
    return {c: {"model": ErrorOut, "description": _WHY[c]} for c in codes}


READ_ERRORS = errors(401, 403, 422)
WRITE_ERRORS = errors(400, 401, 403, 422)


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
