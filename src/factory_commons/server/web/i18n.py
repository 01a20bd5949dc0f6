"""The language of a page and the function `t(key)` its templates read their text with.

Every text of the pages is in a gettext catalog of factory_commons.i18n (one `.po` per domain
per language): `web` (the dashboard, shared page text), `commons` (the commons pages),
`states` (machine states and reason codes), `kpi` (KPI names and report headings) and
`commons_terms` (skills, roles and expert kinds of the commons). Only a firm's own stop
reasons are not in a catalog: they are the firm's data, shown as the firm wrote them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ...accounts.stop_reasons import DEFAULT_STOP_REASONS
from ...i18n import DEFAULT_LANG, KPI, LANGS, STATES, Catalog, pick_lang

__all__ = ["DEFAULT_LANG", "LANGS", "LANG_COOKIE", "pick_lang", "translator", "lang_name", "WEB", "COMMONS"]

LANG_COOKIE = "lang"
WEB = Catalog("web")
COMMONS = Catalog("commons")
TERMS = Catalog("commons_terms")
Translate = Callable[..., str]


def lang_name(code: str) -> str:
    """A language's name in itself ("한국어", "English") for a supported code, else the code."""
    return WEB.get("language_name", code) if code in LANGS else code


def translator(
    lang: str,
    stop_reasons: Iterable[tuple[str, str, str]] = DEFAULT_STOP_REASONS,
    catalogs: tuple[Catalog, ...] = (WEB, STATES, KPI),
    names: dict[str, tuple[str, str]] | None = None,
) -> Translate:
    """`t(key, **params)`: the text of `key` in `lang`, its `{params}` filled in.

    Looked up in the firm's stop reasons (code, Korean, English), then `names` (more firm or
    vocabulary data as {code: (Korean, English)}), then `catalogs` in order; a key found
    nowhere is shown as it is (an unknown reason code, a name)."""
    lang = pick_lang(lang)
    i = 0 if lang == "ko" else 1
    table = {**(names or {}), **{c: (ko, en) for c, ko, en in stop_reasons}}

    def t(key: str, **params: object) -> str:
        pair = table.get(key)
        if pair:
            text = pair[i]
        else:
            text = next((cat.get(key, lang) for cat in catalogs if cat.has(key)), key)
        return text.format(**params) if params else text

    return t
