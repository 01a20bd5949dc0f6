"""The API server: FastAPI app over a Store, with firms, users, roles, expert grants and audit."""

from .accounts import ROLES, AccountError, Accounts
from .app import create_app

__all__ = ["ROLES", "AccountError", "Accounts", "create_app"]
