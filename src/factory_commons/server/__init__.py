"""The HTTP layer: thin routers (`api/`) and server-rendered pages (`web/`) over the domain
packages, composed by `create_app` (app.py). Logic lives in the domain packages; nothing
below `server/` imports it.

`create_app` is imported on first use, so a command that only registers the server's commands
(every `factory-commons` call does) does not load FastAPI and every router at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
