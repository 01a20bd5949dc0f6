"""The machine page draws signal trends from the 1-minute rollup where raw signals are gone."""

from __future__ import annotations

import json
from datetime import timedelta

from test_server_plant import A1, A2, T0, make_plant

from factory_commons.model import Signal
from factory_commons.store import RetentionPolicy


def test_machine_page_falls_back_to_the_rollup(store_factory):
    plant = make_plant(store_factory())
    start = T0 + timedelta(hours=1)
    plant.store.write(
        Signal(
            ts=start + timedelta(seconds=10 * i),
            machine=A1,
            name="spindle_load",
            value=float(i % 7),
            unit="%",
        )
        for i in range(360)  # one hour, every 10 s
    )
    c = plant.client("acme:engineer")
    raw_page = c.get(f"/machines/{A1}").text
    assert 'data-signal="spindle_load (%)"' in raw_page and 'id="rollup-note"' not in raw_page
    # retention rolls the hour up into 60 one-minute means and deletes the raw samples
    plant.store.apply_retention(RetentionPolicy(raw_signal_days=0.5), now=plant.clock.now)
    assert plant.store.read("signal", machines=[A1]).num_rows == 0
    assert plant.store.read("signal_1m", machines=[A1]).num_rows == 60
    page = c.get(f"/machines/{A1}").text
    assert 'class="chart signal rollup" data-signal="spindle_load (%)"' in page
    assert 'id="rollup-note"' in page and "signals_1m" in page
    drawn = page.split('data-signal="spindle_load (%)"', 1)[1].split("data-chart='", 1)[1]
    chart = json.loads(drawn.split("'", 1)[0])  # what static/charts.js draws with uPlot
    values = [v for v in chart["series"][0]["values"] if v is not None]
    assert len(values) >= 50 and len(chart["x"]) == len(chart["series"][0]["values"])  # the minutes
    en = c.get(f"/machines/{A1}", cookies={"lang": "en"}).text
    assert "1-minute means" in en
    # outside the window (the last 1 day is T0 .. T0+1d): nothing; a machine without signals: "no data"
    plant.clock.now = T0 + timedelta(days=3)
    c = plant.client("acme:engineer")  # the session of two days ago has expired
    assert 'data-signal="spindle_load (%)"' not in c.get(f"/machines/{A1}").text
    assert 'data-signal="spindle_load (%)"' in c.get(f"/machines/{A1}", params={"days": 7}).text
    assert 'id="rollup-note"' not in c.get(f"/machines/{A2}", params={"days": 7}).text


def test_raw_points_follow_the_rollup_of_the_same_signal(store_factory):
    plant = make_plant(store_factory())
    old = [Signal(ts=T0 + timedelta(minutes=i), machine=A1, name="temp", value=20.0) for i in range(30)]
    plant.store.write(old)
    plant.store.apply_retention(RetentionPolicy(raw_signal_days=0.5), now=plant.clock.now)
    recent = plant.clock.now - timedelta(minutes=30)
    plant.store.write(
        Signal(ts=recent + timedelta(minutes=i), machine=A1, name="temp", value=40.0) for i in range(10)
    )
    from factory_commons.server.web.dashboard_data import _signal_points

    pts = _signal_points(plant.store, A1, T0, plant.clock.now)["temp"]
    assert pts["rollup"] and len(pts["ts"]) == 40
    assert pts["value"][:30] == [20.0] * 30 and pts["value"][30:] == [40.0] * 10
