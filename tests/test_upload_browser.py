"""The upload page in real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

A shop owner uploads a CP949 product master (품번, 사이클타임(초)) with the file input and drops
a CP949 interval log (일자, 시작시간/종료시간, 상태 가동/비가동/계획정지, 사유, 양품/불량, 품번) on
the drop zone, corrects a column and sees the preview change, accepts the proposal, and follows
the result's links to the dashboard: the OEE shown is the one computed by hand from the file,
and the downtime Pareto names the machine by its display name. Screenshots:
test-artifacts/upload/.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from test_upload import HEADER, PRODUCTS, day_log_bytes, hand_oee
from web_browser import served, shooter

from factory_commons.accounts import Accounts
from factory_commons.server import create_app
from factory_commons.store import DuckDBStore

PASSWORD = "correct horse 1"
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[dict]:
    store = DuckDBStore(tmp_path_factory.mktemp("upload") / "plant.duckdb")
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    firm = accounts.create_firm("acme", ["acme"])
    accounts.create_user(firm.id, "owner@acme.example", "김사장", "owner", PASSWORD)
    app = create_app(store, accounts, clock=lambda: NOW, uploads=tmp_path_factory.mktemp("uploads"))
    yield {"store": store, "app": app}
    store.close()


@pytest.fixture(scope="module")
def server(plant) -> Iterator[str]:
    with served(plant["app"]) as url:
        yield url


shot = shooter("upload")


def drop_file(page, selector: str, name: str, data: bytes) -> None:
    """Drop a file on an element as a person does from the file manager (a DataTransfer with a
    File in a `drop` event)."""
    page.evaluate(
        """([selector, name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: 'text/csv'}));
            const target = document.querySelector(selector);
            for (const type of ['dragenter', 'dragover', 'drop']) {
                target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
            }
        }""",
        [selector, name, base64.b64encode(data).decode()],
    )


def test_browser_upload_a_product_master_and_a_cp949_log_then_see_oee_and_pareto(
    browser, server, plant, tmp_path
):
    want = hand_oee()
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{server}/upload")
    page.fill("input[name=email]", "owner@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}/upload")
    assert page.locator("[data-nav=upload]").count() == 1
    assert page.locator("h1").inner_text() == "내 데이터 올리기"  # Korean by default
    shot(page, "upload-ko")

    # 1. the product master, with the plain file input (the page sends it when chosen)
    products = tmp_path / "품목마스터.csv"
    products.write_bytes(PRODUCTS)
    page.set_input_files("#file", str(products))
    page.wait_for_url(re.compile(r"/upload/[\w-]{16}$"))
    assert page.locator("#file-kind").get_attribute("data-kind") == "products"
    assert page.locator("#table-products tr").count() == 3
    shot(page, "products-review-ko")
    page.click("#accept")
    page.wait_for_url(re.compile(r"/result$"))
    assert page.locator("#saved").get_attribute("data-n") == "2"

    # 2. the CP949 interval log, dropped on the drop zone
    page.goto(f"{server}/upload")
    drop_file(page, "#drop", "가동기록_11월.csv", day_log_bytes())
    page.wait_for_url(re.compile(r"/upload/[\w-]{16}$"))
    assert page.locator("#file-kind").get_attribute("data-kind") == "log"
    assert page.locator("#file-name").inner_text() == "가동기록_11월.csv"
    review = page.url
    role = page.locator("select.role[data-column='불량']")
    assert role.input_value() == "scrap"
    assert page.locator("select.role[data-column='품번']").input_value() == "product"
    quality = page.locator("#table-preview-kpi td.kpi-quality_ratio").first
    assert quality.inner_text() == f"{want['quality_ratio']:.1%}"
    assert page.locator("#table-preview-kpi td.kpi-oee").first.inner_text() == f"{want['oee']:.1%}"
    shot(page, "log-review-ko")

    # a person corrects a column: the preview is computed again
    with page.expect_navigation():  # the page posts the correction as soon as it is chosen
        role.select_option("ignore")
    assert page.locator("select.role[data-column='불량']").input_value() == "ignore"
    assert page.locator("#table-preview-kpi td.kpi-quality_ratio").first.inner_text() == "100.0%"
    shot(page, "log-corrected-ko")
    with page.expect_navigation():
        page.locator("select.role[data-column='불량']").select_option("scrap")
    assert page.locator("#table-preview-kpi td.kpi-quality_ratio").first.inner_text() == (
        f"{want['quality_ratio']:.1%}"
    )

    # 3. accept: the summary names the rejected line, and links to the file's days
    page.click("#accept")
    page.wait_for_url(re.compile(r"/result$"))
    assert page.locator("#rows-read").inner_text() == "6"
    assert page.locator("#rows-rejected").inner_text() == "1"
    assert page.locator("#table-rejections td").first.inner_text() == "7"
    assert page.locator("#download-rejects").count() == 1
    shot(page, "log-result-ko")

    # 4. the dashboard for those days: the OEE computed by hand, the Pareto by display name
    page.click("#see-oee")
    page.wait_for_url(re.compile(r"/oee\?from=2026-11-02&to=2026-11-02"))
    path = next(m.path for m in plant["store"].machines())
    row = page.locator(f'#table-machine tr[data-key="{path}"]')
    assert row.locator(".name").inner_text() == "CNC 1호기"
    assert row.locator("td").nth(1).inner_text() == f"{want['oee']:.1%}"
    shot(page, "oee-after-upload-ko")
    page.go_back()
    page.click("#see-downtime")
    page.wait_for_url(re.compile(r"/downtime\?from=2026-11-02&to=2026-11-02"))
    assert "공구교환" in page.locator("#table-pareto").inner_text()
    stops = page.locator(f'#table-stops-machine tr[data-key="{path}"] .name')
    assert stops.inner_text() == "CNC 1호기" and stops.get_attribute("title") == path
    assert "CNC 1호기" in page.locator("#machine-pareto").inner_html()
    shot(page, "downtime-after-upload-ko")

    # the same page in English
    page.click("#lang-en")
    page.goto(f"{server}/upload")
    assert page.locator("h1").inner_text() == "Upload your own data"
    assert page.locator("#table-recent tr").count() == 3  # the two files of this test
    page.goto(review)
    assert page.locator("#file-kind").inner_text() == "Machine log"
    assert page.locator("select.role[data-column='불량'] option:checked").inner_text() == "Scrap parts"
    notes = page.locator("#notes").inner_text()
    for word in [*HEADER.split(","), "CNC 1호기", "CNC-1호기", "비가동", "계획정지", "가동"]:
        notes = notes.replace(word, "")  # the file's own words
    assert not re.search("[\uac00-\ud7a3]", notes), notes  # the notes in English only
    shot(page, "log-review-en")
    ctx.close()
