"""The HTTP layer: thin routers (`api/`) and server-rendered pages (`web/`) over the domain
packages, composed by `create_app` (app.py). Logic lives in the domain packages; nothing
below `server/` imports it."""

from .app import create_app

__all__ = ["create_app"]
