"""What the region's pages, API and printed report show: the report's cells and the programme
outcomes, protected in ONE `disclosure.protect` call (so no hidden cell is recoverable by
differencing across them), cached while the region's documents stay the same.

Nothing else may reach a funder or a regional analyst: every figure comes out of `Published`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..cooperate.db import CommonsDB
from .db import KINDS, load
from .disclosure import DEFAULT_K, Cell, protect
from .models import KpiSnapshot, Programme, RegionFirm
from .programmes import evaluate_all, outcome_cells
from .report import gather, report_cells

PROGRAMME_TABLE = "programme_outcomes"


@dataclass(frozen=True)
class ProgrammeRow:
    """One programme as published: its public facts and, when its cells are published, the DiD
    effects with intervals and the cost per level and per OEE point that follow from them."""

    id: str
    name_ko: str
    name_en: str
    budget_krw: int
    start: str
    end: str
    n_firms: int | None
    level: Cell | None
    oee: Cell | None

    @property
    def suppressed(self) -> bool:
        return self.level is None or self.level.suppressed

    def cost(self, per: str) -> float | None:
        c = self.level if per == "level" else self.oee
        unit = 1.0 if per == "level" else 100.0
        if c is None or c.suppressed or c.value is None or not c.n_firms:
            return None
        if c.ci_low is None or c.ci_low <= 0:  # no gain shown: no cost per unit gained either
            return None
        return self.budget_krw / (c.value * unit * c.n_firms)


@dataclass(frozen=True)
class Published:
    """The protected cells of the region and the programme rows built from them."""

    cells: tuple[Cell, ...]
    programmes: tuple[ProgrammeRow, ...]
    k: int
    version: str = field(default="")

    def table(self, name: str) -> list[Cell]:
        return [c for c in self.cells if c.table == name]

    def tables(self) -> list[str]:
        return list(dict.fromkeys(c.table for c in self.cells))


def build(db: CommonsDB, k: int = DEFAULT_K) -> Published:
    """Protect the report's cells and the programme outcome cells together (slow: seconds)."""
    data = gather(db)
    programmes: Sequence[Programme] = load(db, Programme)
    outcomes = evaluate_all(programmes, load(db, KpiSnapshot), load(db, RegionFirm))
    cells = protect(report_cells(data) + outcome_cells(outcomes), k)
    by_row: dict[str, dict[str, Cell]] = {}
    for c in cells:
        if c.table == PROGRAMME_TABLE:
            by_row.setdefault(c.row, {})[c.measure] = c
    rows = []
    for p in programmes:
        got = by_row.get(p.id, {})
        level, oee = got.get("did_overall_level"), got.get("did_oee")
        rows.append(
            ProgrammeRow(
                id=p.id,
                name_ko=p.name_ko,
                name_en=p.name_en,
                budget_krw=p.budget_krw,
                start=p.start.isoformat(),
                end=p.end.isoformat(),
                n_firms=level.n_firms if level is not None else None,
                level=level,
                oee=oee,
            )
        )
    return Published(tuple(cells), tuple(rows), k, data_version(db))


def data_version(db: CommonsDB) -> str:
    """A marker that changes with any region document (the cache key)."""
    return "|".join(db.version(kind) for kind in sorted(KINDS))


_cache: dict[tuple[int, int], Published] = {}
_lock = threading.Lock()


def published(db: CommonsDB, k: int = DEFAULT_K) -> Published:
    """The published region of `db`, rebuilt only when a region document changed."""
    key = (id(db), k)
    version = data_version(db)
    with _lock:
        got = _cache.get(key)
        if got is not None and got.version == version:
            return got
        fresh = build(db, k)
        _cache[key] = fresh
        return fresh
