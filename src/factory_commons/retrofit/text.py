"""The retrofit package's error texts, Korean then English, from the `retrofit` catalog."""

from __future__ import annotations

from factory_commons.i18n import Catalog

RETROFIT = Catalog("retrofit")


def retrofit_error(key: str, **fields: object) -> str:
    """The message `key` in Korean and English ("… / …"), its {fields} filled in."""
    ko, en = RETROFIT.pair(key)
    return f"{ko.format(**fields)} / {en.format(**fields)}"
