"""Deadband and sampling per point: values that moved less than the deadband, or came sooner than
the sampling interval, are not stored; an unchanged value is stored again after max_interval_s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factory_commons.collect.mapping import MappingError, PointConverter, PointMapping

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
M = "acme/s/a/l/m1"


def _kept(mapping: PointMapping, values: list[tuple[float, float]]) -> list[tuple[float, float]]:
    conv = PointConverter(mapping)
    out = []
    for seconds, value in values:
        row = conv.convert(value, T0 + timedelta(seconds=seconds))
        if row is not None:
            out.append(((row[1]["ts"] - T0).total_seconds(), row[1]["value"]))
    return out


def test_deadband_keeps_moves_larger_than_it():
    m = PointMapping(machine=M, name="temp", deadband=0.5)
    values = [(0, 20.0), (1, 20.3), (2, 20.6), (3, 20.2), (4, 19.9), (5, 19.9)]
    assert _kept(m, values) == [(0, 20.0), (2, 20.6), (4, 19.9)]


def test_deadband_with_a_heartbeat():
    m = PointMapping(machine=M, name="temp", deadband=1.0, max_interval_s=10)
    values = [(0, 20.0), (5, 20.0), (10, 20.0), (12, 20.1), (21, 20.0)]
    assert _kept(m, values) == [(0, 20.0), (10, 20.0), (21, 20.0)]


def test_sampling_keeps_one_value_per_interval_and_scaling_comes_first():
    m = PointMapping(machine=M, name="load", scale=10, min_interval_s=1.0)
    values = [(0.0, 1), (0.3, 2), (0.9, 3), (1.0, 4), (1.5, 5), (2.2, 6)]
    assert _kept(m, values) == [(0.0, 10.0), (1.0, 40.0), (2.2, 60.0)]


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ({"kind": "state", "deadband": 1}, "apply to measured values"),
        ({"name": "t", "max_interval_s": 5}, "max_interval_s needs deadband"),
        ({"name": "t", "deadband": -1}, "greater than or equal to 0"),
    ],
)
def test_wrong_settings_name_the_field(table, why):
    with pytest.raises(MappingError, match=why):
        PointMapping.parse({"machine": M, **table}, 'plant.toml: [[mqtt]] "m" points."t"')
