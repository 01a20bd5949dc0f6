"""Password rules for every way a password is set (API, pages, command line).

A new password has at least `min_length()` characters (8 by default; setting
`FC_PASSWORD_MIN_LENGTH`, never below 8) and at most 1000, is not the user's e-mail, the part
of it before the @, or their display name (nor contains them, or a word of them, of 4 or more
characters), is not a run of one character or a keyboard or digit sequence, and is not in
the list of common passwords bundled in `common_passwords.py` (compared without case and
without trailing digits and punctuation, so `Password123!` is refused like `password`).
Nothing is downloaded at run time. Errors are `PasswordError`s worded in Korean and English
(catalog `security`).
"""

from __future__ import annotations

import os
import re

from ..i18n import Catalog
from .common_passwords import COMMON_PASSWORDS
from .errors import PasswordError, WrongPassword

SECURITY = Catalog("security")

MIN_LENGTH_ENV = "FC_PASSWORD_MIN_LENGTH"
DEFAULT_MIN_LENGTH = 8
MAX_LENGTH = 1000

__all__ = ["PasswordError", "WrongPassword", "check_password", "min_length", "security_text"]

_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiop",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
)


def security_text(key: str, **values: object) -> str:
    """A text of the `security` catalog in both languages ("Korean / English"), fields filled."""
    text = SECURITY.both(key, " / ")
    return text.format(**values) if values else text


def min_length() -> int:
    """The shortest password allowed: the setting FC_PASSWORD_MIN_LENGTH (at least 8)."""
    raw = os.environ.get(MIN_LENGTH_ENV, "").strip()
    try:
        return max(DEFAULT_MIN_LENGTH, int(raw)) if raw else DEFAULT_MIN_LENGTH
    except ValueError:
        return DEFAULT_MIN_LENGTH


def _core(password: str) -> str:
    """The password in lower case without trailing digits and punctuation (`Summer2024!` -> `summer`)."""
    return re.sub(r"[\d\W_]+$", "", password.lower())


def _is_sequence(p: str) -> bool:
    p = p.lower()
    if len(set(p)) <= 2:
        return True
    return any(p in seq or p in seq[::-1] for seq in _SEQUENCES)


def check_password(password: str, email: str = "", display_name: str = "") -> None:
    """Raise PasswordError saying why `password` is refused; return None when it passes."""
    n = min_length()
    if len(password) < n:
        raise PasswordError(security_text("password_too_short", min=n))
    if len(password) > MAX_LENGTH:
        raise PasswordError(security_text("password_too_long", max=MAX_LENGTH))
    low = password.lower().strip()
    local = email.strip().lower().split("@", 1)[0]
    name = display_name.strip().lower()
    words = re.split(r"[\W_]+", f"{local} {name}")
    personal = [v for v in (email.strip().lower(), local, name, *words) if v]
    if any(low == v or (len(v) >= 4 and v in low) for v in personal):
        raise PasswordError(security_text("password_personal"))
    if _is_sequence(low):
        raise PasswordError(security_text("password_sequence"))
    if low in COMMON_PASSWORDS or _core(low) in COMMON_PASSWORDS or low.replace(" ", "") in COMMON_PASSWORDS:
        raise PasswordError(security_text("password_common"))
