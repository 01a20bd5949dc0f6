"""The errors of the accounts database, in one module so that the password rules
(passwords.py) and the database (db.py) share them without importing each other."""

from __future__ import annotations


class AccountError(ValueError):
    """A request the accounts database refuses (duplicate e-mail, unknown role, ...)."""


class LastOwnerError(AccountError):
    """The change would leave a firm without an active owner."""


class PasswordError(AccountError):
    """A new password the rules refuse (too short, the e-mail or name, a common password)."""


class WrongPassword(AccountError):
    """The old password given to change one's own password is not the user's password."""
