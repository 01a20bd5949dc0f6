"""What every command group of the `factory-commons` command line shares: the consoles, the
--store option, opening a store (exit 2 with a message when it is missing) and reading a day.

The main app (`cli.py`) and each domain's `cli.py` import from here, so that no domain's
commands need the main app and the main app can register them without an import cycle.

The command line's own texts (help, messages) are in the `cli` catalog and shown in both
languages, "Korean / English": `cli_text(key, name=value)` fills the `{name}` fields of both.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from .i18n import Catalog

CLI = Catalog("cli")


def cli_text(key: str, **values) -> str:
    """A text of the `cli` catalog in both languages ("Korean / English"), `{name}` fields filled."""
    text = CLI.both(key, " / ")
    return text.format(**values) if values else text


#: the password of a URL's user info (`scheme://user:password@host`) and a `password=` setting
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#\s]*):[^/?#\s]*@")
_KEY_PASSWORD = re.compile(r"(?P<head>\bpassword=)[^&\s]*", re.IGNORECASE)


def mask_url(text: str) -> str:
    """`text` with every database password hidden: user:***@ and password=*** (issue 20)."""
    return _KEY_PASSWORD.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>:***@", str(text)))


console = Console()
err = Console(stderr=True)

StoreOpt = Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_store"))]
SEOUL = ZoneInfo("Asia/Seoul")


def open_store_or_exit(path: str, must_exist: bool = True):
    from .store import open_store

    is_url = path.startswith(("postgresql://", "postgres://"))
    if must_exist and path != ":memory:" and not is_url and not Path(path).exists():
        err.print(f"[red]{cli_text('store_not_found')}:[/] {mask_url(path)}")
        raise typer.Exit(2)
    return open_store(path)


def parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option}: {cli_text('not_a_date')}:[/] {value!r}")
        raise typer.Exit(2) from None
    return datetime(d.year, d.month, d.day, tzinfo=SEOUL)
