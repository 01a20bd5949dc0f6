"""Tenancy: firms, users, roles, sessions, API tokens, expert grants, the audit log and each
firm's stop reasons.

The tenancy core sits below the commons, the server and the CLI: `cooperate/`, `server/` and
the regional view import it; it imports none of them.
"""

from .db import ROLES, Accounts, Firm, Grant, User
from .errors import AccountError, LastOwnerError, PasswordError, WrongPassword

__all__ = [
    "ROLES",
    "AccountError",
    "Accounts",
    "Firm",
    "Grant",
    "LastOwnerError",
    "PasswordError",
    "User",
    "WrongPassword",
]
