"""Catalog upkeep with Babel: compile `.po` to `.mo`, check that every id has both texts, and
write a domain's catalogs from a table of (Korean, English) texts.

Needs Babel (`pip install -e '.[test]'` or `'.[dev]'`); the product only reads the compiled
`.mo` files with the standard library. Run `python -m factory_commons.i18n compile|check`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from . import LANGS, LOCALE_DIR

PROJECT = "factory-commons"


def po_path(domain: str, lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


#: the creation date given to a catalog whose header has none: Babel would take the current
#: time, and the compiled `.mo` would then differ from minute to minute (never "current")
UNDATED = datetime(2026, 1, 1, tzinfo=UTC)


def read_catalog(path: Path) -> Catalog:
    raw = path.read_bytes()
    catalog = read_po(io.BytesIO(raw))
    if b"POT-Creation-Date:" not in raw:
        catalog.creation_date = UNDATED
    return catalog


def mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_all() -> list[Path]:
    """Write every `.mo` from its `.po`; returns the files written."""
    written = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        data = mo_bytes(read_catalog(po))
        if not mo.exists() or mo.read_bytes() != data:
            mo.write_bytes(data)
            written.append(mo)
    return written


def problems() -> list[str]:
    """Every id without a text in one of the languages, every id in one language's catalog but
    not the other's, and every `.mo` that is not compiled from its current `.po`."""
    out: list[str] = []
    domains = sorted({p.stem for p in LOCALE_DIR.glob("*/LC_MESSAGES/*.po")})
    for domain in domains:
        ids: dict[str, set[str]] = {}
        for lang in LANGS:
            po = po_path(domain, lang)
            if not po.exists():
                out.append(f"{domain}: no {lang} catalog ({po})")
                ids[lang] = set()
                continue
            cat = read_catalog(po)
            ids[lang] = {m.id for m in cat if m.id}
            for m in cat:
                if m.id and (not m.string or m.fuzzy):
                    out.append(f"{domain}/{lang}: {m.id!r} has no {lang} text")
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.read_bytes() != mo_bytes(cat):
                out.append(f"{domain}/{lang}: {mo.name} is not compiled from {po.name} (run compile)")
        for a, b in ((LANGS[0], LANGS[1]), (LANGS[1], LANGS[0])):
            for missing in sorted(ids[a] - ids[b]):
                out.append(f"{domain}/{b}: {missing!r} is missing (it is in {a})")
    return out


def write_domain(
    domain: str, texts: Mapping[str, tuple[str, str]], comments: Mapping[str, str] | None = None
) -> None:
    """Write (or overwrite) the Korean and English catalogs of `domain` from {id: (ko, en)},
    keeping the order of `texts`, then compile them."""
    for i, lang in enumerate(LANGS):
        cat = Catalog(locale=lang, domain=domain, project=PROJECT, fuzzy=False)
        for key, pair in texts.items():
            cat.add(key, pair[i], auto_comments=[comments[key]] if comments and key in comments else ())
        path = po_path(domain, lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, cat, width=100, omit_header=False, sort_output=False)
    compile_all()
