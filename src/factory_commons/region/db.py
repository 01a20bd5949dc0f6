"""Where the region keeps its objects: the commons database beside the store, kinds `region_*`.

The region reads the commons (profiles, experts, pools, projects, missions) and adds its own
documents to the same database (`<store>.commons.sqlite` beside a DuckDB file, the commons
schema of a PostgreSQL store), so one file or schema holds the whole regional view.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from ..cooperate.db import CommonsDB, default_commons_path
from .models import (
    KpiSnapshot,
    MaturityAnswers,
    PlatformActivity,
    Programme,
    RegionFirm,
    SupplierLink,
    SurveyResponse,
)

M = TypeVar("M", bound=BaseModel)

#: kind in the commons database -> model
KINDS: dict[str, type[BaseModel]] = {
    "region_firm": RegionFirm,
    "region_maturity": MaturityAnswers,
    "region_survey": SurveyResponse,
    "region_programme": Programme,
    "region_snapshot": KpiSnapshot,
    "region_supplier_link": SupplierLink,
    "region_activity": PlatformActivity,
}


def open_region_db(store: str, commons: str | None = None) -> CommonsDB:
    """The database of the region (and the commons) for a store path or PostgreSQL URL."""
    return CommonsDB(commons or default_commons_path(store))


def kind_of(model: type[BaseModel]) -> str:
    for kind, m in KINDS.items():
        if m is model:
            return kind
    raise KeyError(f"no region kind for {model.__name__}")


def load(db: CommonsDB, model: type[M]) -> list[M]:
    """Every document of a region kind, in id order."""
    return db.all(kind_of(model), model)


def doc_id(doc: BaseModel) -> str:
    """The id a region document is kept under."""
    if isinstance(doc, RegionFirm | MaturityAnswers | PlatformActivity):
        return doc.firm_id
    if isinstance(doc, SurveyResponse):
        return f"{doc.survey}:{doc.respondent}"
    if isinstance(doc, Programme):
        return doc.id
    if isinstance(doc, KpiSnapshot):
        return f"{doc.firm_id}:{doc.on.isoformat()}"
    if isinstance(doc, SupplierLink):
        return f"{doc.buyer}:{doc.supplier}"
    raise TypeError(f"not a region document: {type(doc).__name__}")


def owner_of(doc: BaseModel) -> str:
    """The firm a document belongs to (the buyer for a link, 'region' for a programme or survey)."""
    if isinstance(doc, SupplierLink):
        return doc.buyer
    firm = getattr(doc, "firm_id", None)
    return firm or "region"


def save(db: CommonsDB, docs: list[BaseModel]) -> int:
    """Insert or replace region documents (any mix of kinds) in one transaction per kind."""
    by_kind: dict[str, list[tuple[str, str, BaseModel]]] = {}
    for d in docs:
        by_kind.setdefault(kind_of(type(d)), []).append((doc_id(d), owner_of(d), d))
    for kind, rows in by_kind.items():
        db.put_many(kind, rows)
    return len(docs)
