"""The region's faces (server/web/region.py, server/api/region.py, region/report_pdf.py): funders and
regional analysts see only published figures — no cell of fewer than k firms on the pages, the
printable report, its PDF or the API, nor recoverable by differencing them — and a firm sees its
own self-assessment and roadmap; roles that should not, do not."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from test_server_plant import T0, make_plant

from factory_commons.region.db import save
from factory_commons.region.disclosure import DEFAULT_K, exposed
from factory_commons.region.published import published
from factory_commons.region.report import gather, report_cells
from factory_commons.region.sample import generate_region_sample
from factory_commons.server import create_app
from factory_commons.store.duckdb import DuckDBStore

K = DEFAULT_K
N_SHOWN = re.compile(r"n=(\d+)")
DATA_N = re.compile(r'data-n="(\d*)"')


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    store = DuckDBStore(":memory:")
    plant = make_plant(store)
    commons = str(tmp_path_factory.mktemp("region") / "r.commons.sqlite")
    plant.app = create_app(store, plant.accounts, clock=plant.clock, commons=commons)
    s = generate_region_sample(seed=3, firms=300, experts=10, today=(T0 + timedelta(days=1)).date())
    own = s.maturity[0].model_copy(update={"firm_id": "acme"})  # acme's own self-assessment
    save(plant.app.state.commons, [*s.documents(), own])
    plant.sample = s
    yield plant
    store.close()


def test_the_truth_has_small_cells_the_published_region_hides(plant):
    db = plant.app.state.commons
    truth = report_cells(gather(db))
    assert any(c.n_firms is not None and 0 < c.n_firms < K for c in truth)  # so the checks below can fail
    pub = published(db, K)  # the pages' cache: built once for this module
    # published: k firms or more, or an empty cell (no firm at all: nobody to expose)
    assert all(c.suppressed or c.n_firms >= K or (c.n_firms == 0 and c.value is None) for c in pub.cells)
    assert all(c.value is None and c.n_firms is None for c in pub.cells if c.suppressed)
    assert {c.table for c in pub.cells} >= {"maturity_district_industry", "programme_outcomes"}
    # the programme cells were protected together with the rest: no hidden cell is recoverable
    assert exposed(list(pub.cells), truth, K) == []


def test_analyst_pages_report_pdf_and_api_show_no_cell_under_k(plant):
    from pypdf import PdfReader

    analyst = plant.client("acme:regional_analyst")
    for path in ("/region", "/region/report"):
        r = analyst.get(path)
        assert r.status_code == 200, path
        shown = [int(x) for x in N_SHOWN.findall(r.text)] + [int(x) for x in DATA_N.findall(r.text) if x]
        assert shown and all(n == 0 or n >= K for n in shown), path
        assert 'class="suppressed"' in r.text  # hidden cells are there, as the word, not a value
        assert 'data-n=""' in r.text
    r = analyst.get("/region/report.pdf", cookies={"lang": "en"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = re.sub(r"[\s\x00]+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages))
    shown = [int(x) for x in N_SHOWN.findall(text)]
    assert shown and all(n == 0 or n >= K for n in shown) and "suppressed" in text
    cells = analyst.get("/api/region/cells").json()
    assert cells and all(c["suppressed"] or c["n_firms"] >= K or c["n_firms"] == 0 for c in cells)
    assert all(c["value"] is None for c in cells if c["suppressed"])
    one = analyst.get("/api/region/cells", params={"table": "programme_outcomes"}).json()
    assert {c["row"] for c in one} == {"prog-basic", "prog-upgrade", "prog-none"}


def test_programme_outcomes_as_published(plant):
    rows = {p["id"]: p for p in plant.client("acme:regional_analyst").get("/api/region/programmes").json()}
    basic, none = rows["prog-basic"], rows["prog-none"]
    assert basic["n_firms"] == 40 and basic["effect_level"]["ci_low"] > 0
    assert basic["cost_per_level_krw"] == pytest.approx(
        basic["budget_krw"] / (basic["effect_level"]["value"] * 40), rel=1e-9
    )
    if none["effect_level"]["ci_low"] <= 0:  # no gain shown: no cost per level either
        assert none["cost_per_level_krw"] is None


def test_roles_the_analyst_reads_only_published_figures(plant):
    analyst = plant.client("acme:regional_analyst")
    for path in ("/region/self", "/api/region/self", "/api/region/consents", "/region/suppliers/beta"):
        assert analyst.get(path).status_code == 403, path
    operator = plant.client("acme:operator")
    for path in ("/region", "/region/report", "/region/report.pdf", "/api/region/cells", "/region/self"):
        assert operator.get(path).status_code == 403, path
    for path in ("/region", "/api/region/cells"):
        r = plant.client("hub_admin").get(path)
        assert r.status_code == 403, path


def test_the_firm_sees_its_own_assessment_evidence_and_roadmap(plant):
    owner = plant.client("acme:owner")
    got = owner.get("/api/region/self").json()
    assert got["assessment"]["firm_id"] == "acme" and got["roadmap"]
    page = owner.get("/region/self", cookies={"lang": "en"})
    assert page.status_code == 200 and 'id="region-roadmap"' in page.text
    assert f"{got['assessment']['score']:.2f}" in page.text
    assert plant.client("beta:owner").get("/api/region/self").status_code == 404  # beta has none
    r = owner.get("/region/self", cookies={"lang": "ko"})
    assert "로드맵" in r.text


def test_the_menu_leads_each_role_to_its_region_page(plant):
    """The owner's menu opens the self-assessment, the analyst's the published tables; an operator has none."""
    page = plant.client("acme:owner").get("/region/self", cookies={"lang": "en"}).text
    assert 'href="/region/self"' in page and "Maturity &amp; region" in page and "downtime_pareto" not in page
    analyst = plant.client("acme:regional_analyst").get("/region", cookies={"lang": "ko"}).text
    assert (
        'data-nav="region"' in analyst and 'href="/region/self"' not in analyst and "성숙도·지역" in analyst
    )
    operator = plant.client("acme:operator").get("/stops").text
    assert 'data-nav="region"' not in operator
