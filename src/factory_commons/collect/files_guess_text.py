"""The guided importer's texts (the `guess` catalog) in both languages.

Kept apart from the guesser itself so that registering the `import` command (its help texts)
does not load pandas."""

from __future__ import annotations

from typing import Any

from ..i18n import Catalog

GUESS = Catalog("guess")
ROLE_NAMES = Catalog("upload")  # role_<role>: the roles' names in the upload page's list


def guess_text(key: str, **values: Any) -> str:
    """A text of the `guess` catalog in both languages ("Korean / English"), fields filled.

    A `role` value also fills `{role_ko}` with the role's Korean name (양품 수 for good), so that
    the Korean half does not name a role by its English code."""
    text = GUESS.both(key, " / ")
    if "role" in values and "role_ko" not in values:
        role = str(values["role"])
        values["role_ko"] = ROLE_NAMES.get(f"role_{role}", "ko", default=role)
    return text.format(**values) if values else text
