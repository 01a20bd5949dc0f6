"""User-facing text in Korean and English, from gettext catalogs (shop people read Korean first).

Every label, page text, state name and reason code name lives in a `.po` catalog under
`i18n/locale/<lang>/LC_MESSAGES/<domain>.po`, compiled to `.mo` beside it and read with the
standard library's `gettext`. A message id is a stable key (`oee`, `loss_setup_s`,
`running`), never a sentence, so one key has a Korean and an English text and a third
language is one more folder of catalogs, not a change of code.

Domains, one catalog per kind of text (a translator opens one file):
- `kpi`: KPI names, losses, report headings (`label`); `kpi_cli`: the KPI warnings
  (kpi/plausibility.py) and the `kpi` and `downtime` commands (kpi/cli.py);
- `states`: machine states, reason codes, connector health and collection events (`display`:
  unknown codes are shown as they are);
- `spc`: control chart names and the SPC messages;
- `commons_terms`: the commons' topic tags, expert kinds, project roles and match factors;
- `web`, `commons`, `cli`: the dashboard, the commons pages and the command line;
- `upload`: the upload page (a CSV/Excel file from the browser, server/web/upload.py);
- `retrofit` (the current-sensor inference's errors, retrofit/) and `retrofit_ui` (its
  commands, page and the `current` point's messages: retrofit/cli.py, server/web/retrofit.py);
- `dashboard`: the dashboard's periods, machine states explained, the loss tree, and the
  HTML report's period and loss tree (server/web/dashboard*.py, report/);
- errors and explanations, one catalog per part: `api` (HTTP answers), `accounts`,
  `commons_errors` (pools, booking, matching, missions, teams), `collect` (file import,
  collection events), `importer` (the file importer's newer rejections and warnings), `ai`,
  `store`.

Translators: edit the `.po` files, then `python -m factory_commons.i18n compile`;
`python -m factory_commons.i18n check` lists ids without a Korean or English text.
tests/test_i18n.py fails on such ids and on a `.mo` older than its `.po`.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
LANGS = ("ko", "en")
DEFAULT_LANG = "ko"


def N_(msgid: str) -> str:
    """Mark a key as a message id where it is not translated yet (a table of codes)."""
    return msgid


def pick_lang(value: str | None) -> str:
    """A supported language from a cookie, query value or option, Korean by default."""
    return value if value in LANGS else DEFAULT_LANG


def domains() -> list[str]:
    """The catalogs there are (the `.po` files of the default language)."""
    return sorted(p.stem for p in (LOCALE_DIR / DEFAULT_LANG / "LC_MESSAGES").glob("*.po"))


@functools.cache
def _translations(domain: str, lang: str) -> gettext.NullTranslations:
    try:
        return gettext.translation(domain, localedir=str(LOCALE_DIR), languages=[lang])
    except FileNotFoundError:
        return gettext.NullTranslations()


class Catalog:
    """The texts of one domain: `catalog("ko_or_en", key)`."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    def _lookup(self, msgid: str, lang: str) -> str | None:
        t = _translations(self.domain, pick_lang(lang))
        if isinstance(t, gettext.GNUTranslations) and msgid in t._catalog:  # noqa: SLF001
            return t._catalog[msgid]  # noqa: SLF001
        return None

    def has(self, msgid: str) -> bool:
        return self._lookup(msgid, DEFAULT_LANG) is not None

    def get(self, msgid: str, lang: str = DEFAULT_LANG, default: str | None = None) -> str:
        """The text of `msgid` in `lang`; `default` (else the id itself) where there is none."""
        found = self._lookup(msgid, lang)
        if found is not None:
            return found
        return msgid if default is None else default

    __call__ = get

    def both(self, msgid: str, sep: str = " ") -> str:
        """Korean, then English ("종합설비효율 OEE"); one text where both are the same."""
        ko, en = self.get(msgid, "ko"), self.get(msgid, "en")
        return ko if ko == en else f"{ko}{sep}{en}"

    def pair(self, msgid: str) -> tuple[str, str]:
        return self.get(msgid, "ko"), self.get(msgid, "en")

    def ids(self) -> list[str]:
        t = _translations(self.domain, DEFAULT_LANG)
        return sorted(k for k in getattr(t, "_catalog", {}) if isinstance(k, str) and k)


KPI = Catalog("kpi")
STATES = Catalog("states")


def label(key: str, lang: str = "both") -> str:
    """A KPI, loss or report label: 'ko', 'en' or 'both' ("한국어 English")."""
    if lang == "both":
        return KPI.both(key)
    return KPI.get(key, lang)


def display(code: str | None, lang: str = DEFAULT_LANG) -> str:
    """The display name of a machine state or reason code; an unknown code as it is."""
    if code is None or code == "":
        return STATES.get("(none)", lang)
    return STATES.get(code, lang)
