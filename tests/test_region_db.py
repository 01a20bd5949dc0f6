"""Region documents kept beside the store, in SQLite and in PostgreSQL (the commons database), and
the platform-behaviour indicators read from the commons' own documents."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from factory_commons.cooperate.db import CommonsDB
from factory_commons.region.db import load, open_region_db, save
from factory_commons.region.models import PlatformActivity, RegionFirm, SupplierLink, SurveyResponse
from factory_commons.region.platform import indicator, platform_activity


def _docs():
    return [
        RegionFirm(
            firm_id="f1",
            city="Seoul",
            district="금천구",
            industry="machining",
            employees=12,
            size="small",
            opted_in=True,
        ),
        SurveyResponse(
            survey="cooperation",
            respondent="r1",
            district="금천구",
            industry="machining",
            size="small",
            answers={"co_rnd": 1.0},
        ),
        SupplierLink(buyer="big", supplier="f1", since=date(2025, 1, 1)),
        PlatformActivity(firm_id="f2", pools_joined=1, source="sample"),
    ]


def _round_trip(db: CommonsDB) -> None:
    assert save(db, _docs()) == 4
    assert [f.firm_id for f in load(db, RegionFirm)] == ["f1"]
    assert load(db, SurveyResponse)[0].answers == {"co_rnd": 1.0}
    assert load(db, SupplierLink)[0].buyer == "big"
    # commons documents count as behaviour: a pool commitment and a co-R&D project of f1
    db._q(  # noqa: SLF001 - raw documents as the commons writes them
        "INSERT INTO docs (kind, id, owner, body, updated) VALUES (?, ?, ?, ?, ?)",
        ("pool", "p1", "coop", '{"commitments": [{"firm_id": "f1"}, {"firm_id": "f1"}]}', "2026-01-01"),
    )
    db._q(  # noqa: SLF001
        "INSERT INTO docs (kind, id, owner, body, updated) VALUES (?, ?, ?, ?, ?)",
        ("project", "x1", "f1", '{"firm_id": "f1"}', "2026-01-01"),
    )
    act = platform_activity(db)
    assert act["f1"].pools_joined == 1 and act["f1"].co_rnd_projects == 1 and act["f1"].source == "commons"
    assert act["f2"].pools_joined == 1 and act["f2"].source == "sample"
    assert indicator(act["f1"], "co_rnd") == 1.0 and indicator(act["f1"], "co_marketing") == 0.0
    assert indicator(None, "linkage") == 0.0


def test_region_documents_in_sqlite_beside_the_store(tmp_path):
    db = open_region_db(str(tmp_path / "s.duckdb"))
    try:
        assert db.target.endswith("s.duckdb.commons.sqlite")
        _round_trip(db)
    finally:
        db.close()


def test_region_documents_in_postgresql(pg_url):
    schema = f"region_{uuid.uuid4().hex[:10]}"
    db = open_region_db(f"{pg_url}?schema={schema}")
    try:
        assert db.schema == f"{schema}_commons"
        _round_trip(db)
    finally:
        db.close()


def test_an_unknown_document_is_refused():
    from pydantic import BaseModel

    class Other(BaseModel):
        x: int = 1

    with pytest.raises(KeyError, match="no region kind for Other"):
        save(CommonsDB(":memory:"), [Other()])
