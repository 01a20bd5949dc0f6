"""The dashboard in real Chromium on a shop's month-old imported history.

The store (test_dashboard_range.imported_plant) holds November's interval log of two machines,
imported from CSV files through the real importer, with display names from a machine master
file; the clock stands at 2026-12-07 16:00 (Seoul). A person logs in, sees that this week has
no data and since when, picks last month and a few days with the date picker, reads the
display names (the path on hover), the Pareto and the loss tree, points at a trend and reads a
value, and zooms in by dragging. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from test_dashboard import shot
from test_dashboard_range import CNC, NAMES, PASSWORD, PRESS, Imported, imported_plant
from web_browser import served


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[Imported]:
    p = imported_plant(tmp_path_factory.mktemp("imported-browser"))
    yield p
    p.store.close()


@pytest.fixture(scope="module")
def server(plant) -> Iterator[str]:
    with served(plant.app) as url:
        yield url


def login(browser, server: str, lang: str = "ko"):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/lang/{lang}?next=/")
    page.fill("input[name=email]", "owner@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")
    return ctx, page, errors


def test_browser_month_old_history_by_range_names_pareto_and_trend(browser, server):
    ctx, page, errors = login(browser, server)
    # today: nothing new, and the tile says since when instead of "unknown"
    tile = page.locator(f'.machine[data-path="{CNC}"]')
    assert tile.locator(".mname").inner_text() == NAMES[CNC]
    assert tile.get_attribute("title") == CNC  # the path on hover
    assert tile.locator(".mstate").inner_text() == "2026-11-27 17:00 이후 데이터 없음"
    assert "2026-12-07 00:00 – 16:00" in page.locator("#overview-period").inner_text()
    shot(page, "imported-overview-ko")

    # the Pareto of last month, by a preset
    page.click("[data-nav=downtime]")
    page.wait_for_url(f"{server}/downtime")
    assert page.locator("#empty").is_visible()  # the last 7 days: no stops
    page.click("a[data-range=last_month]")
    page.wait_for_url(re.compile(r"/downtime\?range=last_month$"))
    assert "2026-11-01 00:00 – 2026-12-01 00:00" in page.locator("#range-label").inner_text()
    row = page.locator('#table-pareto tr[data-reason="스핀들 알람"]')
    assert row.count() == 1 and row.locator("td").nth(3).inner_text() == "20.0"  # 2 x 20 days x 30 min
    assert "스핀들 알람" in page.locator("#pareto svg").inner_html()
    names = page.locator("#table-stops-machine .name")
    assert sorted(names.all_inner_texts()) == sorted(NAMES.values())
    assert page.locator(f'#table-stops-machine .name[data-path="{PRESS}"]').get_attribute("title") == PRESS
    assert NAMES[PRESS] in page.locator("#machine-pareto svg").inner_html()
    assert page.locator('#loss-tree tr[data-key="loss_breakdowns_s"] td').nth(1).inner_text() == "20.0"
    shot(page, "imported-downtime-last-month-ko")

    # a few days with the date picker; the period goes along to the OEE page
    page.fill("#range-from", "2026-11-02")
    page.fill("#range-to", "2026-11-13")
    page.click("#range-submit")
    page.wait_for_url(re.compile(r"/downtime\?from=2026-11-02&to=2026-11-13$"))
    assert row.locator("td").nth(3).inner_text() == "10.0"  # 2 machines x 10 days x 30 min
    page.click("[data-nav=oee]")
    page.wait_for_url(re.compile(r"/oee\?from=2026-11-02&to=2026-11-13$"))
    assert page.locator("#range-from").input_value() == "2026-11-02"
    oee = page.locator(".card b").first.inner_text()
    assert re.fullmatch(r"\d+\.\d%", oee), oee
    assert page.locator(f'#table-machine .name[data-path="{CNC}"]').inner_text() == NAMES[CNC]

    # the trend: point at a day and read its value; drag to zoom in, double-click to zoom out
    chart = page.locator("#trend-chart")
    page.wait_for_selector("#trend-chart[data-drawn='1']")
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box and box["width"] > 300
    value = chart.locator(".u-legend .u-series").nth(1).locator(".u-value")
    assert value.inner_text() in ("–", "--", "")
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)  # the first day, 11-02
    page.wait_for_function("document.querySelector('#trend-chart').uplot.cursor.idx === 0")
    assert re.fullmatch(r"\d+\.\d%", value.inner_text()), value.inner_text()
    assert chart.locator(".u-legend .u-series").first.locator(".u-value").inner_text() == "2026-11-02"
    shot(page, "imported-oee-hover-ko")
    span = (
        "(() => { const s = document.querySelector('#trend-chart').uplot.scales.x; return s.max - s.min; })()"
    )
    before = page.evaluate(span)
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 40, steps=8)
    page.mouse.up()
    page.wait_for_function(f"{span} < {before} * 0.6")
    page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + 40)
    page.wait_for_function(f"{span} >= {before} * 0.99")
    assert not errors, errors
    ctx.close()


def test_browser_bad_date_is_explained_and_english_keeps_the_names(browser, server):
    ctx, page, errors = login(browser, server, "en")
    page.goto(f"{server}/oee?from=2026-11-31&to=2026-11-30")
    error = page.locator("#range-error")
    assert error.is_visible()
    assert error.inner_text().startswith("Start day (from): '2026-11-31' is not a date")
    page.goto(f"{server}/machines/{CNC}?range=last_month")
    assert page.locator("#machine-name").inner_text() == NAMES[CNC]
    assert page.locator("#machine-name").get_attribute("title") == CNC
    assert page.locator("#machine-live .badge").inner_text() == "No data since 2026-11-27 17:00"
    shot(page, "imported-machine-en")
    assert not errors, errors
    ctx.close()
