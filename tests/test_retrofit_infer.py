"""Retrofit inference (factory_commons/retrofit/infer.py) on small generated current traces.

Each test makes a trace with known states (retrofit/traces.py, or by hand here) and infers the
states from the current alone: drift, noise, dropouts and gaps, a machine that never idles, high
idle draw (hydraulic pump, flywheel press), welding bursts, press strokes; the model's JSON round
trip, a person's correction, the edge features and the errors on bad input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from factory_commons.retrofit import CurrentModel, infer_states
from factory_commons.retrofit.features import edge_features, rms, rms_three_phase, scale_adc, window_features
from factory_commons.retrofit.infer import UNKNOWN
from factory_commons.retrofit.traces import NONE, Disturbances, observed_cycles, trace

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HANGUL = "\uac00"  # any Korean syllable at or above this one


def has_korean(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def balanced(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(
        np.mean([np.mean(pred[truth == s] == s) for s in ("off", "idle", "running") if np.any(truth == s)])
    )


def found_cycles(inf, ts) -> int:
    return int(np.sum((inf.cycles > ts[0]) & (inf.cycles <= ts[-1])))


def check(kind: str, seed: int, hours: float = 3.0, hz: float = 1.0, dist=None, least: float = 0.95):
    ts, amps, state, cycle = trace(
        kind, START, hours * 3600, np.random.default_rng(seed), hz=hz, disturb=dist
    )
    inf = infer_states(ts, amps)
    bal = balanced(state, inf.sample_states(ts))
    assert bal >= least, f"{kind}: balanced accuracy {bal:.3f}"
    return ts, amps, state, cycle, inf


# -- the machines and what the sensor adds ---------------------------------------------------
def test_lathe_with_strong_drift_and_noise_keeps_states_and_counts_parts():
    dist = Disturbances(drift=0.08, warmup=0.2, noise=0.05, gaps=0, dropouts=0.0)
    ts, _, _, cycle, inf = check("lathe", 1, hours=4, dist=dist)
    # at 5 % noise the rapid moves between passes dip to the idle side: they are a part's own
    # pauses, the part change the tier above them
    assert abs(found_cycles(inf, ts) - observed_cycles(ts, cycle)) <= max(
        2, 0.02 * observed_cycles(ts, cycle)
    )


@pytest.mark.parametrize(("kind", "seed"), [("lathe", 61), ("machining_center", 62)])
def test_a_part_of_several_passes_or_tools_counts_once(kind, seed):
    """A part program of 2-5 passes (or tools) with short moves and tool changes between them,
    the same program for every part: one cycle per part, not per pass (issue 23's +3.8 points)."""
    ts, _, _, cycle, inf = check(kind, seed, hours=6)
    assert abs(found_cycles(inf, ts) - observed_cycles(ts, cycle)) <= max(
        2, 0.02 * observed_cycles(ts, cycle)
    )


def test_the_levels_follow_drift_that_a_fixed_threshold_cannot():
    """Idle at 83 % of running, the whole current sagging by 15 % over the day (mains voltage,
    a machine cooling down): a threshold halfway between the morning's idle and running levels
    is wrong for hours by the evening; ours is not."""
    rng = np.random.default_rng(2)
    n = 8 * 3600
    t = np.arange(n)
    state = np.where((t // 600) % 2 == 1, "idle", "running")
    state[:600] = "off"  # switched on into idle, as a machine with an idle state is
    level = np.where(state == "running", 18.0, 15.0)
    level[state == "off"] = 0.05
    sag = 1.0 - 0.15 * t / n
    amps = level * sag * (1 + 0.01 * rng.standard_normal(n))
    ts = np.datetime64("2026-03-02T00:00:00", "us") + t.astype("timedelta64[s]")
    inf = infer_states(ts, amps)
    assert balanced(state, inf.sample_states(ts)) >= 0.97
    fixed = np.where(amps < 1, "off", np.where(amps < 16.5, "idle", "running"))
    assert balanced(state, fixed) < 0.9  # the point of following drift


def test_scaling_the_current_changes_nothing():
    """No amp threshold anywhere: a CT ten times as sensitive gives the same states."""
    ts, amps, _, _ = trace("machining_center", START, 2 * 3600, np.random.default_rng(3))
    a = infer_states(ts, amps).sample_states(ts)
    b = infer_states(ts, amps * 10).sample_states(ts)
    assert np.mean(a == b) > 0.999


def test_noise_dropouts_and_a_gap():
    dist = Disturbances(noise=0.05, dropouts=0.01, gaps=0, jitter=0.3)
    ts, amps, state, _ = trace("compressor", START, 4 * 3600, np.random.default_rng(4), hz=2, disturb=dist)
    assert np.isnan(amps).sum() > 50
    # cut out 20 minutes: no state is invented across it
    keep = (ts < ts[0] + np.timedelta64(7200, "s")) | (ts > ts[0] + np.timedelta64(8400, "s"))
    ts, amps, state = ts[keep], amps[keep], state[keep]
    inf = infer_states(ts, amps)
    assert balanced(state, inf.sample_states(ts)) >= 0.95
    gap_start = ts[0] + np.timedelta64(7300, "s")
    inside = inf.sample_states(np.array([gap_start, gap_start + np.timedelta64(900, "s")]))
    assert list(inside) == [UNKNOWN, UNKNOWN]
    assert inf.confidence[inf.state == UNKNOWN].max() == 0.0
    assert set(inf.state) <= {"off", "idle", "running", UNKNOWN}


def test_a_long_dropout_is_unknown_not_guessed():
    ts, amps, state, _ = trace("lathe", START, 3 * 3600, np.random.default_rng(5), disturb=NONE)
    amps = amps.copy()
    amps[5000:5600] = np.nan  # ten minutes of a dead sensor, timestamps still coming
    inf = infer_states(ts, amps)
    assert set(inf.sample_states(ts[5010:5590])) == {UNKNOWN}
    assert balanced(state[:5000], inf.sample_states(ts[:5000])) >= 0.95


def test_a_machine_that_never_idles():
    ts, amps, state, _, inf = check("never_idle", 6, hours=6)
    assert "idle" not in set(state)
    pred = inf.sample_states(ts)
    assert np.mean(pred[state == "running"] == "running") >= 0.97


def test_a_machine_that_is_off_most_of_the_time():
    check("mostly_off", 7, hours=6)


def test_high_idle_draw_hydraulic_press():
    """The pump idles at 60-85 % of running; running is the pattern of each shot."""
    ts, amps, state, cycle, inf = check("hydraulic_press", 8, hours=3)
    assert abs(found_cycles(inf, ts) - observed_cycles(ts, cycle)) <= max(
        2, 0.05 * observed_cycles(ts, cycle)
    )


def test_high_idle_draw_on_one_level_told_by_spread():
    """A flywheel press sampled fast: idle and running draw the same on average; the strokes
    make running's current restless, idle's is steady."""
    ts, amps, state, cycle, inf = check("mechanical_press", 9, hours=2, hz=10)
    assert abs(found_cycles(inf, ts) - observed_cycles(ts, cycle)) <= max(
        2, 0.03 * observed_cycles(ts, cycle)
    )


def test_welding_bursts_are_one_running_stretch_and_each_arc_a_cycle():
    ts, amps, state, cycle, inf = check("welding", 10, hours=3, hz=2)
    assert abs(found_cycles(inf, ts) - observed_cycles(ts, cycle)) <= max(
        2, 0.03 * observed_cycles(ts, cycle)
    )
    # the gaps between arcs are running, not a flicker of idle: few segments per arc
    assert len(inf.state) < 0.5 * observed_cycles(ts, cycle)


def test_press_strokes_counted_at_one_sample_a_second():
    ts, amps, state, cycle, inf = check("mechanical_press", 11, hours=3, hz=1)
    assert abs(found_cycles(inf, ts) - observed_cycles(ts, cycle)) <= max(
        2, 0.03 * observed_cycles(ts, cycle)
    )


def test_inrush_at_switch_on_is_not_running():
    n = 1200
    amps = np.full(n, 0.02)
    amps[300:] = 4.0  # idle after switch-on
    amps[300] = 80.0  # the motor's inrush, one sample
    amps[600:700] = 20.0  # one run
    amps[900:] = 4.0
    state = np.array(["off"] * 300 + ["idle"] * 300 + ["running"] * 100 + ["idle"] * 500)
    rng = np.random.default_rng(12)
    amps = amps * (1 + 0.01 * rng.standard_normal(n))
    ts = np.datetime64("2026-03-02T00:00:00", "us") + np.arange(n).astype("timedelta64[s]")
    inf = infer_states(ts, amps)
    pred = inf.sample_states(ts)
    assert pred[300] != "running"
    assert balanced(state, pred) >= 0.98


def test_micro_stops_are_short_idle_between_running():
    dist = Disturbances(drift=0.0, warmup=0.0, noise=0.01, gaps=0, dropouts=0.0)
    ts, amps, state, _ = trace("lathe", START, 4 * 3600, np.random.default_rng(13), disturb=dist)
    inf = infer_states(ts, amps)
    assert inf.micro_stops, "the lathe's schedule has short stops between runs"
    for a, b in inf.micro_stops:
        assert np.timedelta64(0, "s") < b - a <= np.timedelta64(300, "s")
        mid = a + (b - a) // 2
        assert inf.sample_states(np.array([mid]))[0] == "idle"


# -- the model: learned once, used on new data, saved, corrected -----------------------------
def test_a_model_learned_on_one_day_infers_the_next_and_survives_json():
    rng = np.random.default_rng(14)
    day1 = trace("hydraulic_press", START, 4 * 3600, rng)
    model = CurrentModel.learn(day1[0], day1[1], kind="hydraulic_press")
    text = json.dumps(model.to_dict())
    again = CurrentModel.from_dict(json.loads(text))
    assert again == model
    # the next day: same machine (same nominal), other timing and drift
    ts, amps, state, _ = trace(
        "hydraulic_press", START + timedelta(days=1), 4 * 3600, np.random.default_rng(14)
    )
    a, b = model.infer(ts, amps), again.infer(ts, amps)
    assert np.array_equal(a.state, b.state) and np.array_equal(a.ts, b.ts)
    assert balanced(state, a.sample_states(ts)) >= 0.95


def test_a_correction_is_learned_and_kept():
    """Two powered levels far apart: the lower is taken as idle. The person says one stretch at
    that level was running (a light finishing pass); from then on that level is running
    everywhere, also in data the correction did not cover, and after a JSON round trip."""
    rng = np.random.default_rng(15)
    n = 4 * 3600
    t = np.arange(n)
    phase = (t // 300) % 3
    amps = np.where(phase == 0, 0.03, np.where(phase == 1, 3.0, 12.0)) * (1 + 0.01 * rng.standard_normal(n))
    ts = np.datetime64("2026-03-02T00:00:00", "us") + t.astype("timedelta64[s]")
    model = CurrentModel.learn(ts, amps)
    before = model.infer(ts, amps).sample_states(ts)
    assert set(before[phase == 1]) == {"idle"}
    fixed = model.correct(ts[300], ts[600], "running", ts=ts, amps=amps)
    after = fixed.infer(ts, amps).sample_states(ts)
    assert np.mean(after[phase == 1] == "running") > 0.99
    assert np.mean(after[phase == 2] == "running") > 0.99 and np.mean(after[phase == 0] == "off") > 0.99
    # without the data at hand: kept and applied when infer sees the stretch
    later = CurrentModel.from_dict(
        json.loads(json.dumps(model.correct(ts[300], ts[600], "running").to_dict()))
    )
    assert np.mean(later.infer(ts, amps).sample_states(ts)[phase == 1] == "running") > 0.99


def test_confidence_and_segments_are_consistent():
    ts, amps, state, _ = trace("welding", START, 2 * 3600, np.random.default_rng(16), hz=1)
    inf = infer_states(ts, amps)
    assert len(inf.ts) == len(inf.state) == len(inf.confidence)
    assert np.all(np.diff(inf.ts.astype(np.int64)) > 0)
    assert np.all((inf.confidence >= 0) & (inf.confidence <= 1))
    assert np.all(inf.state[1:] != inf.state[:-1]) or UNKNOWN in set(inf.state)
    assert inf.ts.dtype == np.dtype("datetime64[us]") and inf.cycles.dtype == np.dtype("datetime64[us]")
    total = sum(inf.durations().values())
    assert total == pytest.approx((ts[-1] - ts[0]).astype(np.int64) / 1e6, rel=0.01)


# -- edge features ---------------------------------------------------------------------------
def test_rms_of_a_sine_and_three_phases():
    fs, f = 2000, 60
    t = np.arange(fs) / fs
    a = 10 * np.sqrt(2) * np.sin(2 * np.pi * f * t)
    r = rms(a, fs // 10)  # 10 windows of 6 mains periods each
    assert r == pytest.approx(np.full(10, 10.0), rel=1e-3)
    three = rms_three_phase(r, r * 1.1, np.where(np.arange(10) < 5, np.nan, r * 0.9))
    assert three[0] == pytest.approx(10.5) and three[9] == pytest.approx(10.0)
    feats = window_features(a, fs // 10)
    assert feats["crest"] == pytest.approx(np.full(10, np.sqrt(2)), rel=1e-2)
    assert edge_features(a, hz_in=fs, hz_out=10)["rms"] == pytest.approx(r)


def test_adc_counts_to_amps():
    # a 12-bit ADC at 3.3 V, 33 ohm burden, 2000:1 CT: mid-scale is 0 A
    amps = scale_adc(np.array([2048, 2048 + 1024]), bits=12, vref=3.3, burden_ohm=33.0, ratio=2000.0)
    assert amps[0] == 0.0 and amps[1] == pytest.approx(1024 * 3.3 / 4096 / 33.0 * 2000)


# -- bad input: a clear error in Korean and English ------------------------------------------
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: rms(np.zeros(10), 0), "window"),
        (lambda: rms(np.zeros((2, 5)), 2), "one-dimensional"),
        (lambda: rms_three_phase(np.zeros(3), np.zeros(3), np.zeros(4)), "equal length"),
        (lambda: scale_adc(np.zeros(2), bits=12, vref=0.0, burden_ohm=1.0, ratio=1.0), "positive"),
        (lambda: edge_features(np.zeros(100), hz_in=1000, hz_out=3), "whole number"),
        (lambda: edge_features(np.zeros(100), hz_in=0, hz_out=1), "positive"),
        (lambda: trace("loom", START, 10, np.random.default_rng(0)), "unknown machine kind"),
        (lambda: trace("lathe", START, -1, np.random.default_rng(0)), "must be positive"),
    ],
)
def test_bad_feature_and_trace_arguments(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert words in str(err.value) and has_korean(str(err.value))


def test_bad_inference_input():
    ts = np.datetime64("2026-03-02T00:00:00", "us") + np.arange(100).astype("timedelta64[s]")
    with pytest.raises(ValueError, match="same length") as err:
        infer_states(ts, np.ones(99))
    assert has_korean(str(err.value))
    with pytest.raises(ValueError, match="sample 50 is earlier") as err:
        infer_states(np.concatenate([ts[:50], ts[:50]]), np.ones(100))
    assert has_korean(str(err.value))
    with pytest.raises(ValueError, match="too few valid") as err:
        CurrentModel.learn(ts, np.full(100, np.nan))
    assert has_korean(str(err.value))
    model = CurrentModel.learn(ts, np.where(np.arange(100) < 50, 0.01, 5.0))
    with pytest.raises(ValueError, match="state must be one of") as err:
        model.correct(ts[0], ts[10], "broken")
    assert has_korean(str(err.value))
    with pytest.raises(ValueError, match="must end after it starts") as err:
        model.correct(ts[10], ts[0], "idle")
    assert has_korean(str(err.value))
    d = model.to_dict()
    with pytest.raises(ValueError, match="missing field 'means'") as err:
        CurrentModel.from_dict({k: v for k, v in d.items() if k != "means"})
    assert has_korean(str(err.value))
    with pytest.raises(ValueError, match="'warp'"):
        CurrentModel.from_dict({**d, "level_states": ["warp"] * len(d["means"])})
    with pytest.raises(ValueError, match="same, non-zero length|level_states"):
        CurrentModel.from_dict({**d, "sigmas": []})


def test_a_noise_floor_of_two_kinds_is_still_off():
    """The converter's floor differs between two periods off (another range, a warmer board):
    two low mixture components, both indistinguishable from zero, are both off."""
    rng = np.random.default_rng(17)
    parts = [("off", 0.02, 1800), ("idle", 6.0, 900), ("running", 18.0, 1800), ("off", 0.25, 1800)]
    parts += [("idle", 6.0, 600), ("running", 18.0, 1200), ("idle", 6.0, 300), ("off", 0.02, 1200)]
    state = np.concatenate([[s] * n for s, _, n in parts])
    level = np.concatenate([np.full(n, a) for _, a, n in parts])
    amps = np.abs(level * (1 + 0.02 * rng.standard_normal(len(level))))
    ts = np.datetime64("2026-03-02T00:00:00", "us") + np.arange(len(amps)).astype("timedelta64[s]")
    model = CurrentModel.learn(ts, amps)
    assert model.level_states[:2] == ("off", "off")  # the case: two components at the floor
    assert balanced(state, model.infer(ts, amps).sample_states(ts)) >= 0.99


# -- cycles inside a running stretch ----------------------------------------------------------
def _by_hand(pieces: list[tuple[float, int, str]], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1 Hz samples of (amps, seconds, state) pieces with 3 % noise; the times and the states."""
    rng = np.random.default_rng(seed)
    amps = np.concatenate([np.full(n, a) for a, n, _ in pieces]) * rng.lognormal(
        0, 0.03, sum(n for _, n, _ in pieces)
    )
    state = np.concatenate([np.full(n, s) for _, n, s in pieces])
    t0 = np.datetime64(START.replace(tzinfo=None), "us")
    ts = t0 + np.arange(len(amps)) * np.timedelta64(1, "s")
    return ts, amps, state


def test_a_lathe_s_parts_are_counted_by_the_part_change_between_them():
    """Parts of uneven length (no repeating period) run back to back, the spindle stopped at
    the idle draw for 5 s between two: the part change is running, and each part a cycle."""
    rng = np.random.default_rng(31)
    pieces: list[tuple[float, int, str]] = [(0.03, 600, "off"), (2.4, 300, "idle")]
    parts = 0
    for _stretch in range(12):
        for _ in range(int(rng.integers(8, 15))):
            cut = int(rng.integers(40, 160))
            pieces += [(30.0, 1, "running"), (14.0, cut // 2, "running"), (11.0, cut - cut // 2, "running")]
            pieces += [(2.4, 5, "running")]
            parts += 1
        pieces += [(2.4, int(rng.integers(400, 1500)), "idle")]
    ts, amps, state = _by_hand(pieces, 32)
    inf = infer_states(ts, amps)
    assert balanced(state, inf.sample_states(ts)) >= 0.98
    assert abs(len(inf.cycles) - parts) <= max(2, 0.02 * parts), (len(inf.cycles), parts)


def test_a_press_stroke_whose_peak_fell_between_two_samples_still_counts():
    """A flywheel press at 1 Hz: one stroke in five shows only its tail (the peak fell between
    two samples); it still starts a cycle. Stops of 8 s and more are idle."""
    rng = np.random.default_rng(33)
    pieces: list[tuple[float, int, str]] = [(0.03, 300, "off"), (7.0, 300, "idle")]
    strokes = 0
    for _stretch in range(40):
        for k in range(int(rng.integers(60, 120))):
            peak = (9.1, 1, "running") if k % 5 == 4 else (21.0, 1, "running")
            pieces += [peak, (9.1, 1, "running"), (7.4, int(rng.integers(2, 4)), "running")]
            strokes += 1
        pieces += [(7.0, int(rng.integers(60, 600)), "idle")]
    ts, amps, state = _by_hand(pieces, 34)
    inf = infer_states(ts, amps)
    assert balanced(state, inf.sample_states(ts)) >= 0.95
    assert abs(len(inf.cycles) - strokes) <= max(2, 0.02 * strokes), (len(inf.cycles), strokes)


def test_a_welder_s_low_idle_draw_under_a_wide_noise_floor_is_idle_not_off():
    """The sensor's floor reads about 1 A and wanders widely from sample to sample; the welder
    at rest draws 5 A, steady over minutes; the arcs draw 200 A. Two low levels, both wide and
    far under the arcs: the floor flips sample by sample, idle keeps its stretches."""
    rng = np.random.default_rng(35)
    amps, state = [], []
    for _shift in range(6):
        n_off = int(rng.integers(1800, 3600))
        amps.append(np.exp(rng.normal(0.0, 0.33, n_off)))
        state += ["off"] * n_off
        for _ in range(int(rng.integers(20, 40))):
            rest, arc = int(rng.integers(20, 120)), int(rng.integers(10, 40))
            amps += [4.9 * np.exp(rng.normal(0, 0.15, rest)), 200 * np.exp(rng.normal(0, 0.1, arc))]
            state += ["idle"] * rest + ["running"] * arc
    x = np.concatenate(amps)
    ts = np.datetime64(START.replace(tzinfo=None), "us") + np.arange(len(x)) * np.timedelta64(1, "s")
    inf = infer_states(ts, x)
    pred = inf.sample_states(ts)
    assert np.mean(pred[np.array(state) == "idle"] == "idle") >= 0.95
    assert balanced(np.array(state), pred) >= 0.95


def test_a_part_made_in_two_to_four_passes_is_one_cycle():
    """Each part takes 2-4 passes (the count changes from part to part, so there is no clean
    period), with 1-3 s at the idle draw between passes and 8-14 s between parts: the short
    pauses and the part change are running; only the rise after a part change starts a part.
    (The part change stands apart from the pauses between passes by more than its own spread.)"""
    rng = np.random.default_rng(41)
    pieces: list[tuple[float, int, str]] = [(0.03, 600, "off"), (3.0, 300, "idle")]
    parts = 0
    for _stretch in range(10):
        for _ in range(int(rng.integers(8, 20))):
            passes = int(rng.integers(2, 5))
            for k in range(passes):
                pieces += [(float(rng.uniform(14.0, 18.0)), int(rng.integers(8, 25)), "running")]
                if k < passes - 1:
                    pieces += [(3.0, int(rng.integers(1, 4)), "running")]
            pieces += [(3.0, int(rng.integers(8, 15)), "running")]
            parts += 1
        pieces += [(3.0, int(rng.integers(120, 900)), "idle")]
    ts, amps, state = _by_hand(pieces, 42)
    inf = infer_states(ts, amps)
    assert balanced(state, inf.sample_states(ts)) >= 0.97
    assert abs(len(inf.cycles) - parts) <= max(2, 0.02 * parts), (len(inf.cycles), parts)
