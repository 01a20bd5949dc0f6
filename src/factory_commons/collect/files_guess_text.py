"""The guided importer's texts (the `guess` catalog) in both languages.

Kept apart from the guesser itself so that registering the `import` command (its help texts)
does not load pandas."""

from __future__ import annotations

from typing import Any

from ..i18n import Catalog

GUESS = Catalog("guess")


def guess_text(key: str, **values: Any) -> str:
    """A text of the `guess` catalog in both languages ("Korean / English"), fields filled."""
    text = GUESS.both(key, " / ")
    return text.format(**values) if values else text
