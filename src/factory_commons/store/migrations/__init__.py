"""Versioned schema migrations of the PostgreSQL store.

Each migration is a module `vNNNN_<name>.py` in this package with a docstring saying what it
does and either `SQL` (a string of statements) or `apply(cur)` (a Python step that gets a
psycopg cursor whose search_path is the store's schema). `PostgresStore` applies the ones
not yet recorded in `schema_migrations`, in version order, each in its own transaction under
an advisory lock, so that several processes opening one database at once apply each exactly
once. Migrations are Python modules rather than .sql files so that they are installed with
the package without package-data rules.

To add one: create `v0003_<what>.py` next to `v0002_latest_states.py` (the next free number),
never edit a migration that has been released, and keep `store/schema.py` (the DuckDB DDL)
in step (a change to an existing DuckDB table, such as a new column, also goes into
`schema.DUCKDB_UPGRADES`, run on every open, so that older files are upgraded); `tests/test_store_postgres.py` checks that both backends have the same tables and
columns. See docs/server.md.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass

_NAME = re.compile(r"^v(\d{4})_(\w+)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    description: str
    sql: str | None
    apply: Callable | None


def migrations() -> list[Migration]:
    """Every migration of this package, by version; versions must be unique."""
    found: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(__path__):
        m = _NAME.match(info.name)
        if not m:
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(f"two migrations with version {version}: {found[version].name}, {m.group(2)}")
        sql, step = getattr(mod, "SQL", None), getattr(mod, "apply", None)
        if (sql is None) == (step is None):
            raise RuntimeError(f"migration {info.name}: define exactly one of SQL and apply(cur)")
        doc = (mod.__doc__ or "").strip().splitlines()
        found[version] = Migration(version, m.group(2), doc[0] if doc else "", sql, step)
    return [found[v] for v in sorted(found)]
