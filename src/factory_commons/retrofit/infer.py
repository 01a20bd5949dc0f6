"""Machine states (off, idle, running), cycles and micro-stops from one current signal, self-calibrating.

No amp threshold is set by hand: `CurrentModel.learn` finds the machine's own current levels in
its history and `infer` labels new data with them, following slow drift.

How (each step is data-driven; the few constants are physical or structural, named below):

1. Levels: a Gaussian mixture on log-RMS with 1-5 components, chosen by BIC; neighbouring
   components that are not clearly apart (Ashman's D below `SEPARATION`) are merged, so a
   wandering load is one level, a pump at rest and a pump working are two; but not a narrow,
   heavy one and a wider, lighter one whose samples hardly mix (`_apart`: a flywheel's draw
   and the press strokes over it). Learning fits,
   takes the drift out (3) and fits again, twice, so the levels are sharp. A motor's inrush is
   no level: where the powered samples in the first `INRUSH_S` after a switch-on that lie above
   all of the next `ACTIVITY_S` make (at least half of) a level of their own, the levels are
   fitted without them (a pump started every minute, sampled at 10 Hz: a small level above its
   load, and the load then taken for idle under it). The short-term spread's groups are always
   learned away from the switch-ons' inrush and the windows across a switch-off.
2. Which level is which state: "off" are the lowest levels indistinguishable from zero (a tiny
   fraction of the top level, or wide against their level as a sensor's noise floor is); of
   two such, the upper one is idle when it holds its samples in stretches where a floor's
   two components would flip from sample to sample (a welder's low idle draw). Of
   the levels above, the lowest is "idle"; levels close above it (it at least `IDLE_RATIO` of
   them) and well under the top one are idle too when the machine holds them (a sample in
   one is followed by one in it more often than not: a compressor's unloaded phase a little
   above its idle draw, a warm idle; not a stroke's one-sample decay), and the cycle gaps (4)
   then tell the unloaded phases inside running from the stops. The idle levels are idle when
   well under the next level (`IDLE_RATIO`); closer than that only if steady and running dips
   into them in short gaps or the machine switches on into them, else they are a lighter load
   of a continuous machine. Steady: not `STEADY` times wider than the next level, and not
   `STEADY` times wider than the level's own sample-to-sample noise explains while the powered
   current repeats no period (a grinder's light load wanders over minutes; a pump's idle, a
   compressor's unloaded draw are flat; a press's strokes repeat). One powered level only (a
   pump or flywheel that idles at its working draw): split by the short-term spread over
   `ACTIVITY_S` (quiet = idle, active = running) when that spread has two clear groups.
3. Drift: per block of `DRIFT_BLOCK_S` a common log-offset of the powered levels, chosen by a
   dynamic programme (likelihood under the levels against a cost per change,
   `DRIFT_STIFFNESS`), so warm-up, tool wear and mains voltage move the levels with them.
4. Samples: Student-t likelihood per level, hysteresis (`SURE`); then the time structure:
   inrush spikes at switch-on and single-sample flicker removed; idle dips between running
   bursts shorter than a learned cycle gap filled (welding arcs, press strokes, the cooling of
   an injection shot, a lathe's rapid moves and part change). The gap exists only when the
   short dips form a group of their own, apart from the longer stops by a factor (`GAP_JUMP`,
   `GAP_SPREAD`; a few outliers, `GAP_OUTLIERS`, may lie in the empty stretch when it is wider,
   `OUTLIER_WIDTH`); a further group of longer dips apart from it by more than its own spread
   and recurring with the cycles (`TIER_MIN`), shorter than half the period
   (`PAUSE_OF_PERIOD`), is a cycle pause too: the part change above the
   pauses between a part's passes, spots or tool moves (`part_pause_s`). A long dip that a
   stroke half between two samples, or a short dropout, splits into cycle pauses is filled
   too. The last cycle of a periodic stretch keeps its tail (at most the gap).
5. Gaps: where no sample came for longer than `max(GAP_SAMPLES * interval, GAP_MIN_S)`, or the
   values are NaN that long, the state is "unknown" (nothing is invented), with confidence 0;
   shorter NaN runs take the state before them.
6. Cycles: the period is the first strong peak of the autocorrelation of the detrended current
   in running (or a whole fraction of it when peaks stand at its multiples, `PERIOD_MULTIPLE`:
   a period that falls between samples). Candidate starts: each running stretch's start, the
   rises out of filled cycle pauses and, where running has a low and a high part, the rises
   into the high part (also a burst without a high sample, a stroke whose peak fell between
   two samples), when the current steps into it (`_steps_between`: a load drifting between two
   groups over minutes has no cycle phases). Without a period, where running pauses at the
   idle draw between cycles, a rise into the high part counts only after such a pause (else it
   is the next pass of the same part), and a rise out of a dip that belongs to a group of
   flickers (below an empty stretch of the sorted dip durations, under half the median) is
   none.
   Where the pauses form tiers, only the rises after a part change
   (`part_pause_s`) are candidates. With a period, the candidates are grouped: greedily the
   one after the longest quiet phase, the others closer than 0.6 period to a chosen start
   belonging to the same part, and a stretch's last start counts only when as much work as
   usual follows it (not the eject after the cooling). Periodic running without any pause:
   one prominent peak per period. Starts a dropout hid in periodic running are put back.
   Micro-stops: idle stretches between two running stretches shorter than `MICRO_STOP_S`.

A person's correction (`correct`) is remembered: the level that dominates the corrected stretch
takes the corrected state from then on, and the stretch itself is forced.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .text import retrofit_error

STATES = ("off", "idle", "running")
UNKNOWN = "unknown"
#: Ashman's D under which two neighbouring mixture components are one level (clearly apart: 3)
SEPARATION = 3.0
#: the drift offset is re-estimated per block of this many seconds
DRIFT_BLOCK_S = 600.0
#: a gap in time longer than this many sampling intervals (and GAP_MIN_S) has no state
GAP_SAMPLES = 10
GAP_MIN_S = 30.0
#: dips inside running form their own group when the next longer dip is this factor longer
GAP_JUMP = 1.5
#: ... and that factor (in log) is at least this fraction of the group's own 10-90 % range
GAP_SPREAD = 0.35
#: ... and the group holds at least this many dips
GAP_MIN_DIPS = 20
#: ... and at most this fraction of the group's dips lies inside the empty stretch above it
GAP_OUTLIERS = 0.01
#: ... where the empty stretch is this many times as wide (in log)
OUTLIER_WIDTH = 1.5
#: a further group of longer dips (a part change) is a cycle pause too when it is at least this
#: fraction of those below and apart from them by more than its own spread
TIER_MIN = 0.1
#: ... and, where running repeats with a period, no longer than this fraction of it
PAUSE_OF_PERIOD = 0.5
#: idle between two running stretches, shorter than this, is a micro-stop (a common 5-minute rule)
MICRO_STOP_S = 300.0
#: a running run this short (seconds) right after off is the motor's inrush at switch-on
MIN_RUN_S = 2.0
#: powered samples this many seconds after a switch-on, above all that follow, are its inrush
INRUSH_S = 2.0
#: a powered level above this fraction of the next one up is idle only with more evidence
#: (an induction motor turning free draws 25-50 % of its rated current; a pump or flywheel more)
IDLE_RATIO = 0.6
#: the short-term spread of the current is taken over this many seconds (at least 5 samples)
ACTIVITY_S = 10.0
#: a period of running needs an autocorrelation peak of at least this ...
PERIOD_MIN = 0.3
#: ... in the current less its moving mean over this many seconds (a cycle is shorter)
PERIOD_DETREND_S = 900.0
#: ... and is the first lag whose peak reaches this fraction of the highest one
PERIOD_NEAR = 0.95
#: ... or a whole fraction of that lag, when peaks of at least this fraction of it stand at its
#: multiples (a period that falls between samples shows best at a multiple; a short pulse half
#: a sample off its place keeps about half its correlation)
PERIOD_MULTIPLE = 0.5
#: a cycle's peak stands out of the noise of running by at least this many noise deviations
PEAK_NOISE = 4.0
#: a group (of spreads, of levels inside running) smaller than this fraction is not a group
MIN_GROUP = 0.05
#: degrees of freedom of the levels' Student-t likelihood
TAIL_DOF = 4.0
#: a powered level whose spread is this many times the next one's is a wandering load, not idle
STEADY = 3.0
#: a sample changes the state only when the new state's posterior is at least this
SURE = 0.8
#: drift: the offset may move by this many nats of mean log-likelihood per unit of log-current
DRIFT_STIFFNESS = 10.0
#: drift: the largest offset searched (log-current, about +-35 %)
DRIFT_RANGE = 0.3
#: the lowest level is "off" when it is below this fraction of the top level ...
OFF_FRACTION = 0.02
#: ... or when it is below OFF_RATIO of the next level and its spread in log is this large
OFF_RATIO = 0.2
OFF_SPREAD = 0.1
_MAX_FIT = 8000


def _seconds(ts: np.ndarray) -> np.ndarray:
    t = np.asarray(ts)
    if np.issubdtype(t.dtype, np.datetime64):
        return t.astype("datetime64[us]").astype(np.int64) / 1e6
    return t.astype(np.float64)


def _to_dt64(seconds: float | np.ndarray) -> np.ndarray:
    return (np.asarray(seconds) * 1e6).round().astype(np.int64).astype("datetime64[us]")


def _as_seconds(value) -> float:
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "timestamp") and not isinstance(value, np.datetime64):
        if getattr(value, "tzinfo", None) is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return float(value.timestamp())
    return float(np.datetime64(value, "us").astype(np.int64) / 1e6)


@dataclass(frozen=True)
class Inference:
    """The inferred state segments, cycles and micro-stops of one stretch of current data.

    `state[i]` holds from `ts[i]` until `ts[i + 1]` (the last one until the data ends); it is
    "off", "idle" or "running", or "unknown" over a gap in the data. `confidence` is 0..1.
    """

    ts: np.ndarray
    state: np.ndarray
    confidence: np.ndarray
    cycles: np.ndarray
    micro_stops: list[tuple[np.datetime64, np.datetime64]]
    end: np.datetime64 | None = None
    period_s: float | None = None

    def sample_states(self, ts: np.ndarray) -> np.ndarray:
        """The state at each given time (the segment it falls in); "unknown" before the first."""
        t = np.asarray(ts).astype("datetime64[us]")
        if len(self.ts) == 0:
            return np.full(len(t), UNKNOWN, dtype=object).astype(str)
        i = np.searchsorted(self.ts, t, side="right") - 1
        out = self.state[np.clip(i, 0, None)].astype(object)
        out[i < 0] = UNKNOWN
        return out.astype(str)

    def durations(self) -> dict[str, float]:
        """Seconds per state."""
        if len(self.ts) == 0:
            return {}
        end = self.end if self.end is not None else self.ts[-1]
        edges = np.append(self.ts, end).astype(np.int64) / 1e6
        out: dict[str, float] = {}
        for s, d in zip(self.state.tolist(), np.diff(edges).tolist(), strict=True):
            out[s] = out.get(s, 0.0) + d
        return out


@dataclass(frozen=True)
class CurrentModel:
    """A machine's current levels, what state each is, and the time structure of its running."""

    means: tuple[float, ...]  # log-amps of each level, ascending
    sigmas: tuple[float, ...]
    weights: tuple[float, ...]
    level_states: tuple[str, ...]
    fill_gap_s: float = 0.0  # idle dips up to this long inside running are running
    part_pause_s: float = 0.0  # filled dips at least this long are the pauses between two parts
    #: quiet/active groups of the short-term spread (log), when one powered level holds both
    #: idle and running (a pump or flywheel at rest draws as much as at work, but steadily)
    activity: tuple[tuple[float, float, float], ...] = ()
    #: low/high groups of the drift-corrected log-current inside running (a cycle's quiet and
    #: working parts: the rises into high are the cycle starts), when running has two
    cycle_split: tuple[tuple[float, float, float], ...] = ()
    period_s: float | None = None  # the repeated cycle period in running, when there is one
    kind: str | None = None
    corrections: tuple[tuple[float, float, str], ...] = field(default_factory=tuple)

    # -- learning ----------------------------------------------------------------------------
    @classmethod
    def learn(cls, ts: np.ndarray, amps: np.ndarray, *, kind: str | None = None) -> CurrentModel:
        """Learn the levels and time structure from a machine's own history (no threshold given)."""
        t, x = _checked(ts, amps)
        valid = np.isfinite(x)
        if valid.sum() < 10:
            raise ValueError(retrofit_error("err_too_few", n=int(valid.sum()), least=10))
        y = _log(x[valid])
        tv = t[valid]
        means, sigmas, weights = _levels(y)
        states = _label_levels(means, sigmas)
        # the inrush at switch-on is no level the machine holds: fitted without it
        spike = _switch_on_spikes(tv, y, means, sigmas, weights, states)
        inrush = spike
        if not _spike_level(y, means, sigmas, weights, spike):
            spike = np.zeros(len(y), dtype=bool)  # no level of its own: everything as it was
        held = ~spike
        if spike.any():
            means, sigmas, weights = _levels(y[held])
            states = _label_levels(means, sigmas)
        for _ in range(2):  # take the drift out and fit the levels again, sharper
            model = cls(tuple(means), tuple(sigmas), tuple(weights), tuple(states), kind=kind)
            powered, shift = model._shift(tv, y)
            means, sigmas, weights = _levels(np.where(powered, y - shift, y)[held])
            states = _label_levels(means, sigmas)
        if _switch_on_surge(tv, y, means, sigmas, weights, states):
            # a top level held mostly in the seconds after a switch-on (a soft start's surge) is
            # running, and no measure for the levels under it
            states = [*_label_levels(means[:-1], sigmas[:-1]), "running"]
        states = _floor_or_idle(y, means, sigmas, weights, states)
        states = _held_idle(y, means, sigmas, weights, states)
        model = cls(tuple(means), tuple(sigmas), tuple(weights), tuple(states), kind=kind)
        dt = _interval(t)
        if sum(st != "off" for st in states) == 1:
            # the spread is learned where the machine holds its power: not over a switch-on's
            # inrush or across a switch-off (windows holding off samples spread for that alone),
            # whether or not the inrush makes a level of its own (a pump started every minute
            # at 10 Hz: the windows around its starts and stops would be a group of their own)
            on, _ = model._shift(tv, y)
            skip = _near(tv, inrush | ~on, ACTIVITY_S / 2)
            model = replace(model, activity=_activity_groups(t, x, model, skip))
        labels, _post, yc = model._sample_labels(t, x)
        gap, part = _learn_fill_gap(t, labels, dt, yc)
        if gap == 0.0:
            phases = _cycle_phases(y, model)
            if phases != model.level_states:
                model = replace(model, level_states=phases)
                labels, _post, yc = model._sample_labels(t, x)
                gap, part = _learn_fill_gap(t, labels, dt, yc)
        model = replace(model, fill_gap_s=gap, part_pause_s=part)
        model, labels, gap = model._decide_high_idle(t, x, labels, gap)
        lab2 = _structure(t, labels, gap, dt)
        period = _period(yc, lab2, dt)
        run = (lab2 == 2) & np.isfinite(yc)
        split = _two_groups(yc[run]) if run.sum() >= 50 else ()
        if split and not _steps_between(t, yc, lab2 == 2, split):
            split = ()  # a load that wanders between two groups: its rises are no cycle starts
        return replace(model, period_s=period, cycle_split=split)

    def _decide_high_idle(self, t, x, labels, gap) -> tuple[CurrentModel, np.ndarray, float]:
        """Is a powered level close under the running one idle, or a lighter load of running?

        Idle when it is well below (under IDLE_RATIO of the next level up). Closer than that, a
        level that spreads STEADY times wider than the next one up is a wandering load, not idle;
        otherwise it is idle when running dips
        into it in short gaps (bursts: a learned cycle gap), or unless the machine goes from off
        straight to the higher level at most switch-ons (a machine with an idle state powers up
        into idle; a continuous one starts into its load): then it is a lighter load of running.
        """
        codes = self._codes()
        on = np.flatnonzero(codes > 0)
        if len(on) < 2 or self.level_states[on[0]] != "idle":
            return self, labels, gap
        idle = [j for j in on if self.level_states[j] == "idle"]
        up = next((j for j in on if self.level_states[j] == "running"), None)
        if up is None or math.exp(self.means[idle[-1]] - self.means[up]) < IDLE_RATIO:
            return self, labels, gap
        # idle draws steadily: a level that spreads STEADY times wider than the next one up, or
        # than its own sample-to-sample noise explains, is a wandering load
        wandering = self.sigmas[on[0]] > STEADY * self.sigmas[up] or (
            _wander(t, x, self, on[0]) > STEADY and _period_powered(t, x, self) is None
        )
        if not wandering and gap > 0:
            return self, labels, gap
        lab = _structure(t, labels, 0.0, _interval(t))
        s, e, v = _runs(lab)
        switch_on = v[1:][v[:-1] == 0]
        if not wandering and (len(switch_on) == 0 or np.mean(switch_on == 2) < 0.5):
            return self, labels, gap
        states = ["running" if st == "idle" else st for st in self.level_states]
        model = replace(self, level_states=tuple(states))
        labels, _, yc = model._sample_labels(t, x)
        gap, part = _learn_fill_gap(t, labels, _interval(t), yc)
        return replace(model, fill_gap_s=gap, part_pause_s=part), labels, gap

    # -- inference ---------------------------------------------------------------------------
    def _codes(self) -> np.ndarray:
        return np.array([STATES.index(s) for s in self.level_states])

    def _shift(self, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which valid samples are powered (not at the off level) and the drift of their levels."""
        mu = np.array(self.means)
        sd = np.maximum(np.array(self.sigmas), 1e-3)
        w = np.array(self.weights)
        codes = self._codes()
        ll = _loglik(y[:, None], mu[None, :], sd, w)
        powered = codes[np.argmax(ll, axis=1)] > 0
        on = codes > 0
        if not on.any() or not powered.any():
            return powered, np.zeros(len(y))
        shift = _drift(t, y, powered, mu[on], sd[on], np.full(int(on.sum()), 1.0 / on.sum()))
        return powered, shift

    def _sample_labels(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """State code per sample (0 off, 1 idle, 2 running, -1 no value), its posterior and the
        log-current with the drift taken out (NaN where there is no value).

        A sample changes the state only when it is sure of the new one (`SURE`); unsure samples
        keep the state of the sure sample before them (hysteresis, so noise at a border does
        not flicker).
        """
        mu = np.array(self.means)
        sd = np.maximum(np.array(self.sigmas), 1e-3)
        w = np.array(self.weights)
        codes = self._codes()
        valid = np.isfinite(x)
        lab = np.full(len(x), -1, dtype=np.int8)
        conf = np.zeros(len(x))
        yc = np.full(len(x), np.nan)
        if not valid.any():
            return lab, conf, yc
        y = _log(x[valid])
        powered, shift = self._shift(t[valid], y)
        on = (codes > 0).astype(np.float64)
        ll = _loglik(y[:, None], mu[None, :] + on[None, :] * np.where(powered, shift, 0.0)[:, None], sd, w)
        m = ll.max(axis=1, keepdims=True)
        p = np.exp(ll - m)
        p /= p.sum(axis=1, keepdims=True)
        post = np.zeros((len(y), 3))
        for j, c in enumerate(codes):
            post[:, c] += p[:, j]
        if self.activity:
            # the one powered level splits by short-term spread: quiet is idle, active running
            q = _activity_posterior(t[valid], y, self.activity)
            powered_p = post[:, 1] + post[:, 2]
            post[:, 1] = powered_p * q
            post[:, 2] = powered_p * (1 - q)
        best = np.argmax(post, axis=1)
        pmax = post.max(axis=1)
        sure = pmax >= SURE
        idx = np.where(sure, np.arange(len(y)), 0)
        np.maximum.accumulate(idx, out=idx)
        held = best[idx]
        first = int(np.argmax(sure)) if sure.any() else len(y)
        held[:first] = best[:first]
        lab[valid] = held
        conf[valid] = np.where(held == best, pmax, 1 - pmax)
        yc[valid] = y - np.where(powered, shift, 0.0)
        return lab, conf, yc

    def infer(self, ts: np.ndarray, amps: np.ndarray) -> Inference:
        """States, cycles and micro-stops of new data with this model (levels follow drift)."""
        t, x = _checked(ts, amps)
        if len(t) == 0:
            empty = np.array([], dtype="datetime64[us]")
            return Inference(empty, np.array([], dtype=str), np.array([]), empty, [])
        dt = _interval(t)
        model = self._with_corrections(t, x)
        lab, post, yc = model._sample_labels(t, x)
        high = _high(yc, model.cycle_split)
        if high is not None and model.fill_gap_s > 0:
            lab = _split_dips(t, lab, high, model.fill_gap_s, dt)
        raw = lab.copy()
        # running before the cycle gaps are filled, where a level of its own tells running from
        # idle (a quiet stretch of a pump that idles at its working draw is no gap between cycles)
        bursts = None if model.activity else _structure(t, lab, 0.0, dt) == 2
        lab = _structure(t, lab, model.fill_gap_s, dt)
        lab = _complete_last_cycles(
            t, lab, high, model.period_s, yc, model.fill_gap_s, bursts, model.part_pause_s
        )
        conf = np.where(lab == raw, post, 0.5)
        conf[raw < 0] = 0.3
        for s, e, state in model.corrections:
            inside = (t >= s) & (t < e)
            lab[inside] = STATES.index(state)
            conf[inside] = 1.0
        return _segments(t, lab, raw, conf, dt, model.period_s, high, yc, bursts, model.part_pause_s)

    def correct(self, start, end, state: str, ts: np.ndarray | None = None, amps: np.ndarray | None = None):
        """A person says the machine was in `state` from `start` to `end`: learned from then on.

        With the data (`ts`, `amps`) the level that dominates the stretch takes `state` now;
        without, the correction is kept and applied when `infer` sees data covering it.
        """
        if state not in STATES:
            raise ValueError(retrofit_error("err_state", allowed=", ".join(STATES), state=state))
        s, e = _as_seconds(start), _as_seconds(end)
        if not e > s:
            raise ValueError(retrofit_error("err_stretch", start=start, end=end))
        model = replace(self, corrections=self.corrections + ((s, e, state),))
        if ts is not None and amps is not None:
            t, x = _checked(ts, amps)
            model = model._with_corrections(t, x)
        return model

    def _with_corrections(self, t: np.ndarray, x: np.ndarray) -> CurrentModel:
        """The model with each correction covering this data applied to the level it dominates."""
        model = self
        for s, e, state in self.corrections:
            inside = (t >= s) & (t < e) & np.isfinite(x)
            if inside.sum() < 3:
                continue
            y = _log(x[inside])
            mu = np.array(model.means)
            sd = np.maximum(np.array(model.sigmas), 1e-3)
            j = np.argmax(
                np.bincount(np.argmin(np.abs(y[:, None] - mu[None, :]) / sd, axis=1), minlength=len(mu))
            )
            states = list(model.level_states)
            states[j] = state
            model = replace(model, level_states=tuple(states))
            if state == "running":
                # the stretch is running as a whole: dips inside it are part of the cycle
                lab, _, _ = model._sample_labels(t[inside], x[inside])
                longest = _longest_dip(t[inside], lab)
                if longest > model.fill_gap_s:
                    model = replace(model, fill_gap_s=longest * 1.05)
        return model

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe form (plain numbers and strings)."""
        return {
            "version": 1,
            "means": list(self.means),
            "sigmas": list(self.sigmas),
            "weights": list(self.weights),
            "level_states": list(self.level_states),
            "fill_gap_s": self.fill_gap_s,
            "part_pause_s": self.part_pause_s,
            "activity": [list(a) for a in self.activity],
            "cycle_split": [list(a) for a in self.cycle_split],
            "period_s": self.period_s,
            "kind": self.kind,
            "corrections": [[s, e, st] for s, e, st in self.corrections],
        }

    @classmethod
    def from_dict(cls, d: dict) -> CurrentModel:
        try:
            n = len(d["means"])
            if not (n == len(d["sigmas"]) == len(d["weights"]) == len(d["level_states"])) or n == 0:
                raise ValueError(retrofit_error("err_model", why="means, sigmas, weights, level_states"))
            bad = [s for s in d["level_states"] if s not in STATES]
            if bad:
                raise ValueError(retrofit_error("err_state", allowed=", ".join(STATES), state=bad[0]))
            return cls(
                means=tuple(float(v) for v in d["means"]),
                sigmas=tuple(float(v) for v in d["sigmas"]),
                weights=tuple(float(v) for v in d["weights"]),
                level_states=tuple(str(s) for s in d["level_states"]),
                fill_gap_s=float(d.get("fill_gap_s", 0.0)),
                part_pause_s=float(d.get("part_pause_s", 0.0)),
                activity=tuple(tuple(float(v) for v in a) for a in d.get("activity", [])),
                cycle_split=tuple(tuple(float(v) for v in a) for a in d.get("cycle_split", [])),
                period_s=None if d.get("period_s") is None else float(d["period_s"]),
                kind=d.get("kind"),
                corrections=tuple((float(s), float(e), str(st)) for s, e, st in d.get("corrections", [])),
            )
        except KeyError as exc:
            raise ValueError(retrofit_error("err_model_field", field=exc.args[0])) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def infer_states(ts: np.ndarray, amps: np.ndarray, model: CurrentModel | None = None) -> Inference:
    """States of a trace: with `model`, or with one learned on the same data."""
    if model is None:
        model = CurrentModel.learn(ts, amps)
    return model.infer(ts, amps)


# -- the pieces ------------------------------------------------------------------------------
def _checked(ts: np.ndarray, amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _seconds(ts)
    x = np.asarray(amps, dtype=np.float64)
    if t.shape != x.shape or t.ndim != 1:
        raise ValueError(retrofit_error("err_shape", ts=t.shape, amps=x.shape))
    if len(t) > 1 and np.any(np.diff(t) < 0):
        i = int(np.flatnonzero(np.diff(t) < 0)[0]) + 1
        raise ValueError(retrofit_error("err_order", i=i))
    x = np.where(x < 0, np.abs(x), x)
    return t, x


def _interval(t: np.ndarray) -> float:
    if len(t) < 2:
        return 1.0
    d = np.diff(t)
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0


def _log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, 1e-4))


def _loglik(y: np.ndarray, mu: np.ndarray, sd: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Log-likelihood of each level, Student-t with TAIL_DOF degrees of freedom (a sample far
    from every level, such as one straddling a change, goes to the nearest, not the widest)."""
    with np.errstate(invalid="ignore"):
        z2 = ((y - mu) / sd) ** 2
        return np.log(w) - np.log(sd) - 0.5 * (TAIL_DOF + 1) * np.log1p(z2 / TAIL_DOF)


def _levels(y: np.ndarray) -> tuple[list[float], list[float], list[float]]:
    """Mixture levels of log-RMS: BIC over 1-5 components, then unclear neighbours merged."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    fit = y if len(y) <= _MAX_FIT else rng.choice(y, _MAX_FIT, replace=False)
    fit = fit.reshape(-1, 1)
    best, best_bic = None, np.inf
    for k in range(1, 6):
        if len(np.unique(fit)) < k:
            break
        g = GaussianMixture(k, random_state=0, reg_covar=1e-4, n_init=2, init_params="k-means++").fit(fit)
        bic = g.bic(fit)
        if bic < best_bic:
            best, best_bic = g, bic
    order = np.argsort(best.means_.ravel())
    comps = [
        [float(best.weights_[i]), float(best.means_.ravel()[i]), float(np.sqrt(best.covariances_.ravel()[i]))]
        for i in order
    ]
    merged = True
    while merged and len(comps) > 1:
        merged = False
        for i in range(len(comps) - 1):
            w1, m1, s1 = comps[i]
            w2, m2, s2 = comps[i + 1]
            d = abs(m2 - m1) / math.sqrt((s1 * s1 + s2 * s2) / 2)
            if d < SEPARATION and not _apart(comps[i], comps[i + 1]):
                w = w1 + w2
                m = (w1 * m1 + w2 * m2) / w
                v = (w1 * (s1 * s1 + (m1 - m) ** 2) + w2 * (s2 * s2 + (m2 - m) ** 2)) / w
                comps[i : i + 2] = [[w, m, math.sqrt(v)]]
                merged = True
                break
    return [c[1] for c in comps], [c[2] for c in comps], [c[0] for c in comps]


#: the share of either of two equal components SEPARATION apart that the other outweighs
_OVERLAP_AT_SEPARATION = 0.5 * math.erfc(SEPARATION / 2 / math.sqrt(2))


def _apart(a: list[float], b: list[float]) -> bool:
    """Two components that Ashman's D does not call apart, apart even so: a narrow, heavy one (a
    flywheel's steady draw) and a wider, lighter one off its side (the press strokes over it, 2 %
    of the samples, each stroke's samples spread by where the sampling cut it). D, ruled by the
    wide one's spread, would merge them and hide the strokes; their samples hardly mix: of
    either, the other outweighs no more than of two like components SEPARATION apart. A narrow
    one no heavier than the wide one beside it is a pile inside a wandering load (a bounded load
    resting at its bound) and merges."""
    narrow, wide = (a, b) if a[2] < b[2] else (b, a)
    if narrow[0] <= wide[0]:
        return False
    return _overlap(a, b) <= _OVERLAP_AT_SEPARATION


def _overlap(a: list[float], b: list[float]) -> float:
    """The larger of the two shares: of a component's samples, those that the other one (its
    weight times its density) outweighs."""
    (w1, m1, s1), (w2, m2, s2) = a, b
    wide = max(s1, s2)
    g = np.linspace(min(m1, m2) - 6 * wide, max(m1, m2) + 6 * wide, 4001)
    f1 = w1 / s1 * np.exp(-0.5 * ((g - m1) / s1) ** 2)
    f2 = w2 / s2 * np.exp(-0.5 * ((g - m2) / s2) ** 2)
    return max(float(f1[f2 > f1].sum() / f1.sum()), float(f2[f1 > f2].sum() / f2.sum()))


def _label_levels(means: list[float], sigmas: list[float]) -> list[str]:
    """off / idle / running per level (ascending), from their relations only."""
    n = len(means)
    if n == 1:
        return ["running"]
    states = ["running"] * n
    lvl = np.exp(np.array(means))
    first = 0
    # the lowest levels, as long as they are indistinguishable from zero (a sensor's noise floor
    # may take two mixture components)
    while first < n - 1 and (
        lvl[first] < OFF_FRACTION * lvl[-1]
        or (lvl[first] < OFF_RATIO * lvl[first + 1] and sigmas[first] > OFF_SPREAD)
    ):
        states[first] = "off"
        first += 1
    if n - first >= 2:
        states[first] = "idle"
        # levels close above it (it at least IDLE_RATIO of them) and well under the top one are
        # the same unloaded draw a little higher (a compressor unloading in its cycle, a warm-up):
        # idle too; the cycle gaps then tell the unloaded phases inside running from the stops
        j = first + 1
        while j < n - 1 and lvl[first] >= IDLE_RATIO * lvl[j] and lvl[j] < IDLE_RATIO * lvl[-1]:
            states[j] = "idle"
            j += 1
    return states


def _level_of(y: np.ndarray, means, sigmas, weights) -> np.ndarray:
    """Per sample: the most likely of the fitted levels (log currents `y`)."""
    mu = np.array(means)
    sd = np.maximum(np.array(sigmas), 1e-3)
    return np.argmax(_loglik(y[:, None], mu[None, :], sd, np.array(weights)), axis=1)


def _switch_on_spikes(
    t: np.ndarray,
    y: np.ndarray,
    means: list[float],
    sigmas: list[float],
    weights: list[float],
    states: list[str],
) -> np.ndarray:
    """Per sample: the motor's inrush at a switch-on, a transient and no level the machine holds.

    The powered samples in the first `INRUSH_S` after a rise out of the off levels that lie above
    every powered sample of the `ACTIVITY_S` after it. A machine switched on often, sampled fast,
    makes a small level of them above its load (at 10 Hz a level of 1-2 % of the samples), which
    would push the load under `IDLE_RATIO` of the "top" level, or a group of active spread that
    would split one powered level into idle and running.
    """
    out = np.zeros(len(y), dtype=bool)
    off = np.array([st == "off" for st in states])
    if not off.any() or off.all() or len(y) < 3:
        return out
    is_off = off[_level_of(y, means, sigmas, weights)]
    rises = np.flatnonzero(is_off[:-1] & ~is_off[1:]) + 1
    for i in rises.tolist():
        b = int(np.searchsorted(t, t[i] + INRUSH_S))
        c = int(np.searchsorted(t, t[i] + INRUSH_S + ACTIVITY_S))
        after = y[b:c][~is_off[b:c]]
        if len(after) == 0 or is_off[b:c].any():
            continue
        out[i:b] = (y[i:b] > after.max()) & ~is_off[i:b]
    return out


def _spike_level(
    y: np.ndarray, means: list[float], sigmas: list[float], weights: list[float], spike: np.ndarray
) -> bool:
    """Is a level made of inrush samples (at least half of its samples are)?"""
    if not spike.any():
        return False
    mu = np.array(means)
    sd = np.maximum(np.array(sigmas), 1e-3)
    lvl = np.argmax(_loglik(y[:, None], mu[None, :], sd, np.array(weights)), axis=1)
    n = np.bincount(lvl, minlength=len(mu))
    k = np.bincount(lvl[spike], minlength=len(mu))
    return bool(np.any((n > 0) & (k >= 0.5 * np.maximum(n, 1))))


def _switch_on_surge(
    t: np.ndarray,
    y: np.ndarray,
    means: list[float],
    sigmas: list[float],
    weights: list[float],
    states: list[str],
) -> bool:
    """Is the top level a switch-on's surge: reached mostly (at least half of its samples) in the
    first `ACTIVITY_S` after a rise out of the off levels, with an idle level under it? A
    continuous machine whose motor starts against its load (1.3-2 times the load for a few
    seconds; with short offs, at 10 Hz, 1-2 % of the samples) makes such a level; taken for the
    running level, it puts the load under `IDLE_RATIO` of it and the load is read as idle."""
    powered = [j for j, st in enumerate(states) if st != "off"]
    if "idle" not in states or len(powered) < 2 or len(powered) == len(states) or len(y) < 3:
        return False
    lvl = _level_of(y, means, sigmas, weights)
    is_off = np.array([st == "off" for st in states])[lvl]
    rises = np.flatnonzero(is_off[:-1] & ~is_off[1:]) + 1
    top = lvl == powered[-1]
    if len(rises) == 0 or not top.any():
        return False
    mark = np.zeros(len(y) + 1, dtype=np.int64)
    np.add.at(mark, rises, 1)
    np.add.at(mark, np.searchsorted(t, t[rises] + ACTIVITY_S), -1)
    window = np.cumsum(mark)[:-1] > 0
    return bool((top & window).sum() >= 0.5 * top.sum())


def _near(t: np.ndarray, mark: np.ndarray, within: float) -> np.ndarray:
    """Per sample: within `within` seconds of a marked sample."""
    if not mark.any():
        return mark
    tm = t[mark]
    k = np.searchsorted(tm, t)
    left = np.abs(t - tm[np.clip(k - 1, 0, len(tm) - 1)])
    right = np.abs(tm[np.clip(k, 0, len(tm) - 1)] - t)
    return np.minimum(left, right) <= within


def _period_powered(t: np.ndarray, x: np.ndarray, model: CurrentModel) -> float | None:
    """The repeated period of the current while powered (idle and running together), if any:
    a continuous machine's wandering load repeats nothing; a press's strokes, a shot's phases
    and a compressor's load cycles do."""
    lab, _, yc = model._sample_labels(t, x)
    return _period(yc, np.where(lab > 0, 2, lab), _interval(t))


def _held_idle(
    y: np.ndarray, means: list[float], sigmas: list[float], weights: list[float], states: list[str]
) -> list[str]:
    """An idle level above the lowest one stays idle only when the machine holds it (a sample in
    it is followed by one in it more often than not); a level made of one-sample transients (the
    decay after a press stroke, a sample straddling a change) is part of running."""
    idle = [j for j, st in enumerate(states) if st == "idle"]
    if len(idle) < 2:
        return states
    lvl = _level_of(y, means, sigmas, weights)
    out = list(states)
    for j in idle[1:]:
        here = lvl[:-1] == j
        if here.sum() < 20 or float(np.mean(lvl[1:][here] == j)) < 0.5:
            out[j] = "running"
    return out


def _cycle_phases(y: np.ndarray, model: CurrentModel) -> tuple[str, ...]:
    """An idle level above the lowest idle one is a phase of the cycle (running) when the machine
    is in it only between two runs of a running level, for one steady length (a program's
    lighter phase: 15 A for 20 s, then 5.5 A for 10 s, every cycle) and rests at the lower idle
    level instead. Learned only where no cycle gap is (the phase and no stops among the dips:
    one production run): a compressor's unloading lasts as long as the air demand wants
    (seconds to minutes) and stays idle; a phase that lasts the same in every cycle is read as
    running rather than as a micro-stop in every cycle."""
    states = list(model.level_states)
    idle = [j for j, st in enumerate(states) if st == "idle"]
    if len(idle) < 2:
        return model.level_states
    lvl = _level_of(y, model.means, model.sigmas, model.weights)
    if np.sum(lvl == idle[0]) < GAP_MIN_DIPS:
        return model.level_states
    # a lone sample taken for the level beside (noise at the border of two close levels) does
    # not cut a phase in two
    lone = np.flatnonzero((lvl[1:-1] != lvl[:-2]) & (lvl[:-2] == lvl[2:])) + 1
    lvl[lone] = lvl[lone - 1]
    codes = model._codes()
    cut = np.flatnonzero(np.diff(lvl)) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut, len(lvl)]
    for j in idle[1:]:
        inside, lengths = 0, []
        for a, b in zip(starts, ends, strict=True):
            if lvl[a] != j or a == 0 or b == len(lvl):
                continue
            if codes[lvl[a - 1]] == 2 and codes[lvl[b]] == 2:
                inside += b - a
                if b - a >= 2:
                    lengths.append(b - a)
        here = int(np.sum(lvl == j))
        if len(lengths) < GAP_MIN_DIPS or inside < 0.9 * here:
            continue
        z = np.log(np.array(lengths, dtype=np.float64))
        if float(np.percentile(z, 90) - np.percentile(z, 10)) < math.log(GAP_JUMP):
            states[j] = "running"
    return tuple(states)


def _wander(t: np.ndarray, x: np.ndarray, model: CurrentModel, level: int) -> float:
    """How much wider a level spreads (10-90 % range, drift taken out) than the sample-to-sample
    noise of its samples would make it: about 1 for a steady draw (a motor turning free, a pump
    unloaded), several for a load that wanders over minutes (a grinder, an extruder)."""
    valid = np.isfinite(x)
    y = _log(x[valid])
    tv = t[valid]
    powered, shift = model._shift(tv, y)
    yc = y - np.where(powered, shift, 0.0)
    mu = np.array(model.means)
    sd = np.maximum(np.array(model.sigmas), 1e-3)
    here = np.argmax(_loglik(yc[:, None], mu[None, :], sd, np.array(model.weights)), axis=1) == level
    both = here[1:] & here[:-1]
    if both.sum() < 50:
        return 0.0
    d = np.diff(yc)[both]
    noise = float(np.median(np.abs(d - np.median(d)))) / 0.6745 / math.sqrt(2)
    spread = float(np.percentile(yc[here], 90) - np.percentile(yc[here], 10)) / 2.563
    return spread / max(noise, 1e-4)


def _floor_or_idle(
    y: np.ndarray, means: list[float], sigmas: list[float], weights: list[float], states: list[str]
) -> list[str]:
    """The upper of two "off" levels is idle when it keeps its samples in long stretches.

    A sensor's noise floor split into two mixture components flips between them from sample to
    sample; a low idle draw (a welder's transformer at rest) under a wide floor holds its own
    stretches. Idle when, of its samples, the next one leaves it less than half as often as it
    would if the floor's samples fell at random between the two, and no level is idle yet.
    """
    off = [i for i, st in enumerate(states) if st == "off"]
    if len(off) < 2 or "idle" in states:
        return states
    lvl = _level_of(y, means, sigmas, weights)
    j = off[-1]
    here = lvl[:-1] == j
    if here.sum() < 20:
        return states
    leave = float(np.mean(lvl[1:][here] != j))
    floor = np.isin(lvl, off)
    random_leave = 1.0 - float(np.mean(lvl[floor] == j))
    if leave < 0.5 * random_leave:
        return [*states[:j], "idle", *states[j + 1 :]]
    return states


def _drift(
    t: np.ndarray, y: np.ndarray, powered: np.ndarray, mu: np.ndarray, sd: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """The common log-offset of the powered levels over time (per sample), smooth in time.

    Each block of DRIFT_BLOCK_S scores every offset in +-DRIFT_RANGE by the mean log-likelihood
    of its powered samples, shifted back, under the levels' mixture; a dynamic programme picks
    the offsets that score best with a cost DRIFT_STIFFNESS per unit of change between blocks.
    """
    yp, tp = y[powered], t[powered]
    if len(yp) < 20:
        return np.zeros(len(y))
    step = 0.01
    k = int(round(DRIFT_RANGE / step))
    lo, hi = float(yp.min()) - DRIFT_RANGE - step, float(yp.max()) + DRIFT_RANGE + step
    grid = np.arange(lo, hi + step, step)
    dens = (w[None, :] / sd[None, :] * np.exp(-0.5 * ((grid[:, None] - mu[None, :]) / sd[None, :]) ** 2)).sum(
        1
    )
    ref = np.log(np.maximum(dens, 1e-300))
    ref = np.maximum(ref, ref.max() - 12.0)  # an outlier costs at most this much
    b = np.floor((tp - t[0]) / DRIFT_BLOCK_S).astype(np.int64)
    nb = int(b.max()) + 1
    gi = np.clip(np.round((yp - lo) / step).astype(np.int64), 0, len(grid) - 1)
    hist = np.zeros((nb, len(grid)))
    np.add.at(hist, (b, gi), 1.0)
    n = hist.sum(axis=1)
    shifts = np.arange(-k, k + 1)
    score = np.zeros((nb, len(shifts)))
    for j, sh in enumerate(shifts):  # data shifted by -sh steps against ref
        r = np.roll(ref, sh)
        if sh > 0:
            r[:sh] = ref.min()
        elif sh < 0:
            r[sh:] = ref.min()
        score[:, j] = hist @ r
    has = n >= 10
    score[has] /= n[has, None]
    score[~has] = 0.0
    # dynamic programme over blocks: maximise score - stiffness * |change|
    pen = DRIFT_STIFFNESS * step * np.abs(shifts[:, None] - shifts[None, :])
    score -= 0.5 * DRIFT_STIFFNESS * step * np.abs(shifts)[None, :]  # no drift unless the data says
    acc = score[0].copy()
    back = np.zeros((nb, len(shifts)), dtype=np.int64)
    for i in range(1, nb):
        cand = acc[:, None] - pen
        back[i] = np.argmax(cand, axis=0)
        acc = cand[back[i], np.arange(len(shifts))] + score[i]
    path = np.zeros(nb, dtype=np.int64)
    path[-1] = int(np.argmax(acc))
    for i in range(nb - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    off = shifts[path] * step
    centers = t[0] + (np.arange(nb) + 0.5) * DRIFT_BLOCK_S
    if has.any():
        off = off - np.median(off[has])
        return np.interp(t, centers[has], off[has])
    return np.zeros(len(y))


def _runs(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends exclusive, values) of runs of equal labels."""
    if len(lab) == 0:
        return np.array([], int), np.array([], int), np.array([], lab.dtype)
    change = np.flatnonzero(np.diff(lab) != 0) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(lab)]])
    return starts, ends, lab[starts]


def _bridge_nan(lab: np.ndarray) -> np.ndarray:
    """NaN samples (-1) take the state before them (after the first valid one, before it)."""
    out = lab.copy()
    valid = out >= 0
    if not valid.any():
        return out
    idx = np.where(valid, np.arange(len(out)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = out[idx]
    first = int(np.argmax(valid))
    out[:first] = lab[first]
    return out


def _dips(t: np.ndarray, lab: np.ndarray, dt: float) -> list[tuple[int, int]]:
    """Idle runs (start, end) that lie between two running runs, without a long time gap."""
    s, e, v = _runs(lab)
    out = []
    for i in range(1, len(v) - 1):
        if v[i] == 1 and v[i - 1] == 2 and v[i + 1] == 2:
            out.append((int(s[i]), int(e[i])))
    return out


def _dip_seconds(t: np.ndarray, a: int, b: int, dt: float) -> float:
    end = t[b] if b < len(t) else t[-1] + dt
    return float(end - t[a])


def _structure(t: np.ndarray, lab: np.ndarray, gap_s: float, dt: float) -> np.ndarray:
    """Labels with their time structure: NaN bridged, cycle gaps filled, inrush spikes removed."""
    out = _bridge_nan(lab)
    if gap_s > 0:
        for a, b in _dips(t, out, dt):
            if _dip_seconds(t, a, b, dt) <= gap_s:
                out[a:b] = 2
    s, e, v = _runs(out)
    short = max(MIN_RUN_S, 1.5 * dt)
    for i in range(1, len(v)):
        # right after off, or after a moment of idle right after off (the spike's decay)
        after_off = v[i - 1] == 0 or (
            i >= 2 and v[i - 1] == 1 and v[i - 2] == 0 and _dip_seconds(t, s[i - 1], e[i - 1], dt) <= short
        )
        if v[i] == 2 and after_off and _dip_seconds(t, s[i], e[i], dt) <= short:
            out[s[i] : e[i]] = v[i + 1] if i + 1 < len(v) else 0
    # a single sample that is not running between two other runs: noise at the floor, or a
    # sample whose RMS window straddles a change (it belongs to the state that follows)
    s, e, v = _runs(out)
    for i in range(1, len(v) - 1):
        if e[i] - s[i] == 1 and v[i] != 2:
            out[s[i]] = v[i - 1] if v[i - 1] == v[i + 1] else v[i + 1]
    return out


def _split_dips(t: np.ndarray, lab: np.ndarray, high: np.ndarray, gap_s: float, dt: float) -> np.ndarray:
    """Idle samples in running's high part, and short dropouts, are running where they split a
    dip too long for a cycle pause into cycle pauses (a press stroke whose peak fell half
    between two samples, or into a dropout)."""
    out = lab.copy()
    lifted = ((lab == 1) & high) | (lab < 0)
    if not lifted.any():
        return out
    for a, b in _dips(t, _structure(t, lab, 0.0, dt), dt):
        inner = np.flatnonzero(lifted[a:b]) + a
        if len(inner) == 0 or _dip_seconds(t, a, b, dt) <= gap_s:
            continue
        starts = np.concatenate([[a], inner + 1])
        ends = np.concatenate([inner, [b]])
        pieces = [_dip_seconds(t, x, y, dt) for x, y in zip(starts, ends, strict=True) if y > x]
        if pieces and max(pieces) <= gap_s:
            out[inner] = 2
    return out


def _learn_fill_gap(
    t: np.ndarray, lab: np.ndarray, dt: float, yc: np.ndarray | None = None
) -> tuple[float, float]:
    """The longest idle dip that belongs to running (the short dips' own group, when there is
    one) and, where these form tiers, the shortest pause between two parts (else 0).

    Dips are idle runs between two running runs. The short ones (a cycle's own pauses: between
    weld seams, press strokes, the cooling of a shot, a lathe's rapid moves and its part change)
    form a group of their own when, going up from the most common dip duration, the sorted
    durations leave an empty stretch of a factor GAP_JUMP before the next dips (the stops), wide
    against the group's own spread (GAP_SPREAD of its 10-90 % range in log), and the group holds
    most dips (at least half and GAP_MIN_DIPS). A few dips (GAP_OUTLIERS of the group) may lie in
    the empty stretch (a pause merged with a missed short burst). Of several such groups (a
    lathe's rapid moves, then its part changes, then the stops) the widest one is taken: a
    cycle's pauses are all part of running; the top tier is then the pause between two parts
    (a part is made in several passes, spots or tool moves with shorter pauses between). Without
    such a group nothing is filled: stops of one spread are all idle.
    """
    lab = _structure(t, lab, 0.0, dt)
    d = np.sort([_dip_seconds(t, a, b, dt) for a, b in _dips(t, lab, dt)])
    if len(d) < GAP_MIN_DIPS:
        return 0.0, 0.0
    z = np.log(np.maximum(d, dt))
    bins = np.floor(z / 0.1).astype(np.int64)
    vals, counts = np.unique(bins, return_counts=True)
    mode = vals[np.argmax(counts)] * 0.1
    jumps = _dip_jumps(z, dt)
    for i in jumps:
        group = z[: i + 1]
        if z[i] < mode or i + 1 < max(GAP_MIN_DIPS, 0.5 * len(d)):
            continue
        spread = float(np.percentile(group, 90) - np.percentile(group, 10))
        if jumps[i] >= GAP_SPREAD * spread:
            break
    else:
        return 0.0, 0.0
    part = 0.0
    # a pause inside a cycle is shorter than the cycle: with the first group filled, the
    # repeated period of running (when there is one) bounds the tiers (the stops are longer)
    period = _period(yc, _structure(t, lab, float(d[i] * 1.1), dt), dt) if yc is not None else None
    # the next tiers: groups of dips (a part change), each apart from the dips below and above
    # it by more than its own spread, and recurring with the cycles (at least TIER_MIN as many
    # as the dips below; the stops are fewer)
    ends = [j for j in jumps if j > i]
    while ends:
        j = ends.pop(0)
        tier = z[i + 1 : j + 1]
        spread = float(np.percentile(tier, 90) - np.percentile(tier, 10))
        if (
            len(tier) < max(GAP_MIN_DIPS, TIER_MIN * (i + 1))
            or spread >= min(jumps[i], jumps[j])
            or (period and d[j] > PAUSE_OF_PERIOD * period)
        ):
            break
        i = j
    # the pause between two parts: the top group of the filled dips, above a jump, as many as
    # TIER_MIN of those below it and apart from them by more than its own spread
    for j in sorted((j for j in jumps if j < i), reverse=True):
        top = z[j + 1 : i + 1]
        spread = float(np.percentile(top, 90) - np.percentile(top, 10))
        if len(top) >= max(GAP_MIN_DIPS, TIER_MIN * (j + 1)) and j + 1 >= GAP_MIN_DIPS and spread < jumps[j]:
            part = math.sqrt(float(d[j]) * math.exp(float(np.percentile(top, 10))))
            break
    return float(d[i] * 1.1), part


def _dip_jumps(z: np.ndarray, dt: float) -> dict[int, float]:
    """Sorted log-durations: {index: width} of the empty stretches above z[index] of at least
    a factor GAP_JUMP. A few dips (GAP_OUTLIERS of those below) may lie inside a stretch
    OUTLIER_WIDTH times as wide (in log): its width is to the dip after them. Of consecutive
    such indices (the outliers' own) the highest that is still at the group's edge (within a
    factor GAP_JUMP of the lowest) is taken, with the widest of their stretches. Durations a
    sample apart (`dt`) are never apart."""
    n = len(z)
    k = (GAP_OUTLIERS * (np.arange(n) + 1)).astype(np.int64)
    width = z[np.minimum(np.arange(n) + 1 + k, n - 1)] - z
    bare = np.append(np.diff(z), 0.0)
    # with outliers inside, the stretch is wider (else it is a thinning series of dips, not a
    # group's end: strokes hidden between samples leave dips of 2, 3, ... periods)
    # ... and outliers are outliers only with more dips beyond them (not the last few of all)
    spaced = (width >= OUTLIER_WIDTH * math.log(GAP_JUMP)) & (np.arange(n) + 2 + k < n)
    wide = (bare >= math.log(GAP_JUMP)) | spaced
    width = np.where(spaced, width, bare)
    # durations one sample apart are no gap (2 and 3 samples at 1 Hz)
    wide &= np.exp(z + width) - np.exp(z) > 1.5 * dt
    out: dict[int, float] = {}
    start = edge = -1
    for i in range(n - 1):
        if not wide[i]:
            start = -1
            continue
        if z[i + 1] == z[i]:
            continue
        if start < 0:
            start = edge = i
            out[i] = float(width[i])
            continue
        if z[i] - z[start] < math.log(GAP_JUMP):  # still the group's edge
            out[i] = max(out.pop(edge), float(width[i]))
            edge = i
        else:
            out[edge] = max(out[edge], float(width[i]))
    # a stretch that starts inside the one below (at one of its outliers) extends it
    merged: dict[int, float] = {}
    for i, w in out.items():
        below = max(merged) if merged else -1
        if below >= 0 and z[i] < z[below] + merged[below]:
            merged[below] = max(merged[below], float(z[i] + w - z[below]))
        else:
            merged[i] = w
    return merged


def _longest_dip(t: np.ndarray, lab: np.ndarray) -> float:
    dt = _interval(t)
    lab = _structure(t, lab, 0.0, dt)
    d = [_dip_seconds(t, a, b, dt) for a, b in _dips(t, lab, dt)]
    return max(d) if d else 0.0


def _period(yc: np.ndarray, lab: np.ndarray, dt: float) -> float | None:
    """The repeated period of the current inside running, if there is one.

    Autocorrelation of the drift-free log-current over the running samples, less its moving
    mean over PERIOD_DETREND_S (so that warm-up and slow wander do not count as a period):
    after the first zero crossing, the first peak that reaches PERIOD_NEAR of the highest one,
    when that is at least PERIOD_MIN (a clear repetition; a multiple of the period is not taken).
    """
    run = (lab == 2) & np.isfinite(yc)
    if run.sum() < 50:
        return None
    y = yc[run]
    w = max(3, int(PERIOD_DETREND_S / dt))
    if len(y) > w:
        c = np.concatenate([[0.0], np.cumsum(y)])
        i = np.arange(len(y))
        a = np.clip(i - w // 2, 0, len(y))
        b = np.clip(a + w, 0, len(y))
        y = y - (c[b] - c[a]) / (b - a)
    y = y - y.mean()
    n = min(len(y), 400000)
    y = y[:n]
    f = np.fft.rfft(y, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[: n // 2]
    if len(ac) < 5 or ac[0] <= 0:
        return None
    ac /= ac[0]
    neg = np.flatnonzero(ac < 0)
    if len(neg) == 0:
        return None
    start = max(int(neg[0]), 1)
    inner = ac[start:-1]
    peaks = np.flatnonzero((inner > ac[start - 1 : -2]) & (inner >= ac[start + 1 :])) + start
    if len(peaks) == 0:
        return None
    best = float(ac[peaks].max())
    if best < PERIOD_MIN:
        return None
    lag = int(peaks[np.argmax(ac[peaks] >= PERIOD_NEAR * best)])
    # sampled slower than the period's fraction, a multiple of the period can stand out (the
    # period falls between samples): lag / m is the period when peaks stand at each multiple
    # (a peak within a sample of each multiple j * lag / m, j < m, at least PERIOD_MULTIPLE as
    # high as the lag's; the first multiple checked for every m at once: a long lag of a slow
    # load's wander would otherwise take lag^2 steps)
    good = peaks[ac[peaks] >= PERIOD_MULTIPLE * ac[lag]]

    def near_good(v: np.ndarray) -> np.ndarray:
        k = np.searchsorted(good, v)
        lo = good[np.clip(k - 1, 0, len(good) - 1)]
        hi = good[np.clip(k, 0, len(good) - 1)]
        return (np.abs(lo - v) <= 1.0) | (np.abs(hi - v) <= 1.0)

    ms = np.arange(lag // 2, 1, -1)
    for m in ms[near_good(lag / ms)].tolist():
        q = lag / m
        if near_good(np.arange(1, m) * q).all():
            return float(q * dt)
    return float(lag * dt)


def _segments(
    t: np.ndarray,
    lab: np.ndarray,
    raw: np.ndarray,
    conf: np.ndarray,
    dt: float,
    period: float | None,
    high: np.ndarray | None,
    yc: np.ndarray | None = None,
    bursts: np.ndarray | None = None,
    part_pause: float = 0.0,
) -> Inference:
    gap_limit = max(GAP_SAMPLES * dt, GAP_MIN_S)
    codes = lab.astype(np.int16)
    # a long gap in time: "unknown" from the last sample before it for the gap's length
    step = np.diff(t)
    gaps = np.flatnonzero(step > gap_limit)
    # a long run of NaN: unknown too
    nan_runs = []
    s, e, v = _runs((raw < 0).astype(np.int8))
    for a, b, isnan in zip(s, e, v, strict=True):
        if isnan and t[b - 1] - t[a] > gap_limit:
            nan_runs.append((a, b))
    seg_t: list[float] = []
    seg_s: list[str] = []
    seg_c: list[float] = []
    names = np.array(STATES + (UNKNOWN,))
    codes = codes.copy()
    for a, b in nan_runs:
        codes[a:b] = 3
        conf[a:b] = 0.0
    rs, re_, rv = _runs(codes)
    gap_set = set(gaps.tolist())
    for a, b, val in zip(rs, re_, rv, strict=True):
        # split at long gaps inside the run
        cuts = [g for g in gap_set if a <= g < b - 1]
        pieces = []
        start = a
        for g in sorted(cuts):
            pieces.append((start, g + 1, True))
            start = g + 1
        pieces.append((start, b, False))
        for pa, pb, ends_in_gap in pieces:
            seg_t.append(t[pa])
            seg_s.append(str(names[val]))
            seg_c.append(float(np.mean(conf[pa:pb])))
            if ends_in_gap:
                seg_t.append(t[pb - 1] + dt)
                seg_s.append(UNKNOWN)
                seg_c.append(0.0)
    # also a gap exactly between runs
    for g in gaps:
        if codes[g] != codes[g + 1]:
            seg_t.append(t[g] + dt)
            seg_s.append(UNKNOWN)
            seg_c.append(0.0)
    order = np.argsort(np.array(seg_t), kind="stable")
    ts_arr = np.array(seg_t)[order]
    st_arr = np.array(seg_s)[order]
    cf_arr = np.array(seg_c)[order]
    # cycles: rises into running after a raw dip, merged closer than 0.6 period
    cycles = _cycles(t, codes, high, period, yc, bursts, part_pause, raw == 1)
    micro = []
    rs, re_, rv = _runs(codes)
    for i in range(1, len(rv) - 1):
        if rv[i] == 1 and rv[i - 1] == 2 and rv[i + 1] == 2:
            d0, d1 = t[rs[i]], t[re_[i]] if re_[i] < len(t) else t[-1]
            if d1 - d0 <= MICRO_STOP_S and not np.any(step[rs[i] : re_[i]] > gap_limit):
                micro.append((_to_dt64(d0)[()], _to_dt64(d1)[()]))
    return Inference(
        ts=_to_dt64(ts_arr),
        state=st_arr.astype(str),
        confidence=np.clip(cf_arr, 0.0, 1.0),
        cycles=_to_dt64(cycles),
        micro_stops=micro,
        end=_to_dt64(t[-1] + dt)[()],
        period_s=period,
    )


def _cycles(
    t: np.ndarray,
    codes: np.ndarray,
    high: np.ndarray | None,
    period: float | None,
    yc: np.ndarray | None = None,
    bursts: np.ndarray | None = None,
    part_pause: float = 0.0,
    was_idle: np.ndarray | None = None,
) -> np.ndarray:
    """Cycle starts inside each running stretch (`_cycle_starts`), with those that a dropout
    of the sensor hid in periodic running put back: where two starts inside one stretch with a
    dropout between them lie twice or more the usual interval around them apart, the missing
    starts are spread evenly between them."""
    starts = _cycle_starts(t, codes, high, period, yc, bursts, part_pause, was_idle)
    if not period or len(starts) < 6:
        return starts
    idx = np.searchsorted(t, starts)
    not_run = np.concatenate([[0], np.cumsum(codes != 2)])
    gap = np.concatenate([[0], np.cumsum(np.diff(t) > max(GAP_SAMPLES * _interval(t), GAP_MIN_S))])
    nan = np.concatenate([[0], np.cumsum(~np.isfinite(yc))]) if yc is not None else None
    # no stop and no gap in the data between two starts
    same = (not_run[idx[1:]] == not_run[idx[:-1]]) & (gap[idx[1:]] == gap[idx[:-1]])
    span = np.diff(starts)
    extra = []
    for i in np.flatnonzero(same):
        near = [j for j in range(max(0, i - 5), min(len(span), i + 6)) if j != i and same[j]]
        if len(near) < 4:
            continue
        usual = float(np.median(span[near]))
        n_more = int(round(span[i] / usual)) - 1
        hidden = nan is not None and nan[idx[i + 1]] > nan[idx[i]]  # a dropout between them
        if hidden and span[i] >= 1.6 * usual and n_more >= 1:
            extra.append(starts[i] + span[i] * np.arange(1, n_more + 1) / (n_more + 1))
    return np.sort(np.concatenate([starts, *extra])) if extra else starts


def _cycle_starts(
    t: np.ndarray,
    codes: np.ndarray,
    high: np.ndarray | None,
    period: float | None,
    yc: np.ndarray | None = None,
    bursts: np.ndarray | None = None,
    part_pause: float = 0.0,
    was_idle: np.ndarray | None = None,
) -> np.ndarray:
    """Cycle starts inside each running stretch.

    Candidates: where running has a low and a high part, the rises into the high part (and a
    burst of running without a high sample, a stroke whose peak fell between two samples);
    otherwise the rises out of a filled cycle pause (`bursts`: running before the fill; a
    lathe's part change with the spindle stopped, the clamping between two welds). Each
    running stretch starts a cycle. When running repeats with a period, the candidates are
    grouped by it (`_one_per_period`): a part is made in several passes, tool changes or
    strokes of the program, and its start is the rise after the longest quiet phase, the
    candidates closer than 0.6 period to a chosen one belonging to the same part. Periodic
    running without such pauses: one prominent peak of the current per period.
    """
    running = codes == 2
    seg_start = running & np.concatenate([[True], ~running[:-1]])
    seg_id = np.cumsum(seg_start)
    if part_pause > 0 and bursts is not None:
        # the cycle pauses form tiers: a part starts after a pause of the top tier only
        idx = np.flatnonzero(seg_start | _pause_ends(t, running, bursts, grouped=True, least=part_pause))
        if not period:
            return t[idx]
        return t[_one_per_period(t, idx, seg_id, running & bursts, seg_start, period, running)]
    if high is None:
        if bursts is None:
            if period and yc is not None:
                return _peak_starts(t, codes, yc, period)
            return t[seg_start]
        pause_end = _pause_ends(t, running, bursts, grouped=bool(period))
        if period and yc is not None and not _pauses_per_period(t, running, pause_end, period):
            return _peak_starts(t, codes, yc, period)
        idx = np.flatnonzero(seg_start | pause_end)
        if not period:
            return t[idx]
        return t[_one_per_period(t, idx, seg_id, running & bursts, seg_start, period, running)]
    h = running & high
    prev = np.concatenate([[False], h[:-1]]) & ~seg_start
    rise = h & ~prev
    if not period and was_idle is not None and bursts is not None and (running & ~bursts).any():
        # no period to group them by: where the machine pauses at its idle draw between cycles
        # (filled cycle pauses), a rise into the high part counts only after a sample of such a
        # pause; the rises out of running's low part alone are the next pass of the same part
        # (a lathe whose parts take 1-3 passes with short moves between, a part change at idle)
        pause = running & was_idle
        # a rapid move that touched the idle draw for a sample or a few (the sampling cut it
        # there) is no pause: the dips far shorter than the usual one form a group of their own
        # under them (`_dip_jumps`, as the flickers in `_pause_ends`) and do not split a part
        s_, e_, v_ = _runs(pause.astype(np.int8))
        runs = [(x, z) for x, z, val in zip(s_, e_, v_, strict=True) if val]
        if runs:
            secs = np.array([t[min(z, len(t) - 1)] - t[x] for x, z in runs])
            d = np.sort(secs)
            zz = np.log(np.maximum(d, 1e-3))
            below = [i for i in _dip_jumps(zz, _interval(t)) if d[i] < 0.5 * float(np.median(secs))]
            if below:
                for (x, z), sec in zip(runs, secs, strict=True):
                    if sec <= d[max(below)]:
                        pause[x:z] = False
        paused = np.cumsum(pause | seg_start)
        last_h = np.where(h, np.arange(len(t)), 0)
        np.maximum.accumulate(last_h, out=last_h)
        before = np.concatenate([[0], last_h[:-1]])
        rise &= paused > paused[before]
    # a running stretch without any high sample is one cycle too
    has_high = np.zeros(int(seg_id.max()) + 1, dtype=bool)
    has_high[seg_id[h]] = True
    lone = seg_start & ~has_high[seg_id]
    tail = np.zeros(len(t), dtype=bool)
    if bursts is not None and period:
        # a burst of running without a high sample (a stroke whose peak fell between two
        # samples) starts a cycle too
        b = running & bursts
        b_start = b & ~np.concatenate([[False], b[:-1]])
        b_id = np.cumsum(b_start)
        b_high = np.zeros(int(b_id.max()) + 1, dtype=bool)
        b_high[b_id[h & b]] = True
        tail = b_start & ~b_high[b_id] & ~seg_start
    idx = np.flatnonzero(rise | lone | tail)
    if not period or len(idx) < 2:
        return t[idx]
    if bursts is None:
        keep = _one_per_period(t, idx, seg_id, h, seg_start, period, running)
    else:
        # the rises out of the pauses at the idle level compete too: a part change is the
        # longest quiet phase of a part, whatever load its passes have
        pause_end = _pause_ends(t, running, bursts, grouped=True)
        idx = np.flatnonzero(rise | lone | tail | pause_end)
        keep = _one_per_period(t, idx, seg_id, running & bursts, seg_start, period, running)
    sid = seg_id[keep]
    # a burst without a high sample is a cycle only when a start of the same stretch follows
    # it, a period's part away (else it is a flicker of running inside a cycle, or the last
    # phase of the stretch's last cycle)
    ok = [
        not tail[k] or (n + 1 < len(keep) and sid[n + 1] == sid[n] and t[keep[n + 1]] - t[k] >= 0.6 * period)
        for n, k in enumerate(keep)
    ]
    return t[keep[np.array(ok, dtype=bool)]]


def _one_per_period(
    t: np.ndarray,
    idx: np.ndarray,
    seg_id: np.ndarray,
    active: np.ndarray,
    seg_start: np.ndarray,
    period: float,
    running: np.ndarray,
) -> np.ndarray:
    """Of candidate cycle starts `idx`, those that begin a part: per running stretch, its start,
    then greedily the rises after the longest quiet phase (time since the last `active` sample)
    that lie at least 0.6 period from every start chosen, in the same stretch."""
    last = np.where(active, np.arange(len(t)), -1)
    np.maximum.accumulate(last, out=last)
    before = np.concatenate([[-1], last[:-1]])[idx]
    quiet = np.where(
        (before >= 0) & (seg_id[np.maximum(before, 0)] == seg_id[idx]),
        t[idx] - t[np.maximum(before, 0)],
        np.inf,
    )
    quiet[seg_start[idx]] = np.inf
    least = 0.6 * period
    keep: list[int] = []
    sid = seg_id[idx]
    bounds = np.flatnonzero(np.diff(sid)) + 1
    for part in np.split(np.arange(len(idx)), bounds):
        chosen: list[float] = []
        for j in part[np.lexsort((t[idx[part]], -quiet[part]))]:
            tj = t[idx[j]]
            pos = bisect.bisect_left(chosen, tj)
            if (pos > 0 and tj - chosen[pos - 1] < least) or (pos < len(chosen) and chosen[pos] - tj < least):
                continue
            chosen.insert(pos, tj)
            keep.append(int(idx[j]))
    keep_a = np.array(sorted(keep), dtype=np.int64)
    if len(keep_a) < 3:
        return keep_a
    # the last start of a stretch begins a part only when as much work follows it as usually
    # follows a start (else it is the last phase of the part before: an eject after the
    # cooling, the last pass after a rapid move)
    act_end = np.zeros(int(seg_id.max()) + 2)
    np.maximum.at(act_end, seg_id[active], t[active])
    k_sid = seg_id[keep_a]
    k_quiet = quiet[np.searchsorted(idx, keep_a)]
    nxt_same = np.append(k_sid[1:] == k_sid[:-1], False)
    work = (np.roll(t[keep_a], -1) - np.roll(k_quiet, -1) - t[keep_a])[nxt_same]
    if len(work) < 3:
        return keep_a
    usual = float(np.median(work))
    last = ~nxt_same & ~seg_start[keep_a]
    short = last & (act_end[k_sid] - t[keep_a] < 0.5 * usual)
    return keep_a[~short]


def _pauses_per_period(t: np.ndarray, running: np.ndarray, pause_end: np.ndarray, period: float) -> bool:
    """Do the filled pauses mark the parts (at least one per two periods of running)?"""
    s, e, v = _runs(running.astype(np.int8))
    fits = sum(math.floor((t[b - 1] - t[a]) / period) for a, b, val in zip(s, e, v, strict=True) if val)
    return fits == 0 or int(pause_end.sum()) >= 0.5 * fits


def _pause_ends(
    t: np.ndarray, running: np.ndarray, bursts: np.ndarray, grouped: bool = False, least: float = 0.0
) -> np.ndarray:
    """Per sample: where running rises out of a filled cycle pause (a dip inside running).

    Unless they are to be grouped by a period, a dip much shorter than the machine's usual pause
    (under half the median filled dip) is a flicker inside a cycle (a rapid move that touched the
    idle level), not the pause between two. With `least`, only pauses at least that long count.
    """
    b = running & bursts
    gap = running & ~bursts
    rise = b & ~np.concatenate([[False], b[:-1]])
    s, e, v = _runs(gap.astype(np.int8))
    dips = [(a, z) for a, z, val in zip(s, e, v, strict=True) if val and a > 0 and z < len(t)]
    if not dips or (grouped and not least):
        return rise
    secs = np.array([t[z] - t[a] for a, z in dips])
    if least:
        short = secs < least
    else:
        # flickers form a group of their own under the pauses: below an empty stretch of the
        # sorted durations (`_dip_jumps`) that lies under half the median pause; pauses of one
        # spread (a press loaded by hand, 6-30 s) are all pauses
        d = np.sort(secs)
        z = np.log(np.maximum(d, 1e-3))
        below = [i for i in _dip_jumps(z, _interval(t)) if d[i] < 0.5 * float(np.median(secs))]
        short = secs <= d[max(below)] if below else np.zeros(len(secs), dtype=bool)
    for (_a, z), drop in zip(dips, short, strict=True):
        if drop:
            rise[z] = False
    return rise


def _peak_starts(t: np.ndarray, codes: np.ndarray, yc: np.ndarray, period: float) -> np.ndarray:
    """Periodic running: a cycle per prominent peak, starting where the current rose to it."""
    from scipy.signal import find_peaks

    running = codes == 2
    y_all = yc[running & np.isfinite(yc)]
    if len(y_all) < 10:
        return t[running & np.concatenate([[True], ~running[:-1]])]
    lo, hi = np.percentile(y_all, [5, 95])
    d = np.diff(y_all)
    noise = float(np.median(np.abs(d - np.median(d)))) / 0.6745 / math.sqrt(2) if len(d) else 0.0
    prom = max(0.3 * (hi - lo), PEAK_NOISE * noise)
    dist = max(1, int(0.6 * period / _interval(t)))
    s, e, v = _runs(running.astype(np.int8))
    out: list[float] = []
    for a, b, val in zip(s, e, v, strict=True):
        if not val:
            continue
        y = _ffill(yc[a:b], lo)
        pad = np.concatenate([[lo - 1.0], y, [lo - 1.0]])
        peaks, props = find_peaks(pad, distance=dist, prominence=prom)
        peaks = peaks - 1
        most = max(1, math.ceil((t[b - 1] - t[a]) / period))  # no more cycles than fit
        if len(peaks) > most:
            peaks = np.sort(peaks[np.argsort(props["prominences"])[::-1][:most]])
        if len(peaks) == 0:
            out.append(t[a])
            continue
        for k in peaks:
            mid = 0.5 * (y[k] + lo)
            below = np.flatnonzero(y[:k] <= mid)
            out.append(t[a + (below[-1] + 1 if len(below) else 0)])
    return np.unique(np.array(out))


def _ffill(y: np.ndarray, first: float) -> np.ndarray:
    """NaN values take the value before them (`first` before any)."""
    ok = np.isfinite(y)
    if ok.all():
        return y
    idx = np.where(ok, np.arange(len(y)), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, y[np.maximum(idx, 0)], first)


def _two_groups(v: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    """(weight, mean, sigma) of a low and a high group of `v`, when two clearly apart fit better."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    fit = (v if len(v) <= _MAX_FIT else rng.choice(v, _MAX_FIT, replace=False)).reshape(-1, 1)
    if len(np.unique(fit)) < 3:
        return ()
    g1 = GaussianMixture(1, random_state=0, init_params="k-means++").fit(fit)
    g2 = GaussianMixture(2, random_state=0, n_init=2, reg_covar=1e-4, init_params="k-means++").fit(fit)
    if g2.bic(fit) >= g1.bic(fit):
        return ()
    m = g2.means_.ravel()
    sd = np.sqrt(g2.covariances_.ravel())
    if (
        abs(m[1] - m[0]) / math.sqrt((sd[0] ** 2 + sd[1] ** 2) / 2) < SEPARATION
        or g2.weights_.min() < MIN_GROUP
    ):
        return ()
    lo = int(np.argmin(m))
    return tuple((float(g2.weights_[i]), float(m[i]), float(sd[i])) for i in (lo, 1 - lo))


def _steps_between(t: np.ndarray, yc: np.ndarray, running: np.ndarray, split) -> bool:
    """Does the current step from running's low group into its high one (a cycle's phases: a
    tool engaging, a stroke, a valve), rather than drift there (a continuous machine's load
    wandering over minutes)? Step: before the median rise into the high group the current lay
    between the two groups' means for at most `ACTIVITY_S` (the short-term scale); a wandering
    load crosses that band over minutes."""
    high = _high(yc, split)
    h = running & high
    rise = np.flatnonzero(h[1:] & ~h[:-1] & running[:-1]) + 1
    if len(rise) == 0:
        return True
    (_wl, ml, _sl), (_wh, mh, _sh) = split
    y = np.where(np.isfinite(yc), yc, ml)
    outside = (y <= ml) | (y >= mh)
    last = np.where(outside, np.arange(len(y)), 0)
    np.maximum.accumulate(last, out=last)
    crossing = t[rise - 1] - t[last[rise - 1]]
    return bool(np.median(crossing) <= ACTIVITY_S)


def _high(yc: np.ndarray, split) -> np.ndarray | None:
    """Per sample: in the high group of running (sure samples decide, unsure ones keep)."""
    if not split:
        return None
    (wl, ml, sl), (wh, mh, sh) = split
    known = np.isfinite(yc)
    y = np.where(known, yc, ml)
    ll = math.log(wl) - math.log(sl) - 0.5 * ((y - ml) / sl) ** 2
    lh = math.log(wh) - math.log(sh) - 0.5 * ((y - mh) / sh) ** 2
    p = 1.0 / (1.0 + np.exp(np.clip(ll - lh, -50, 50)))
    sure = ((p >= SURE) | (p <= 1 - SURE)) & known
    idx = np.where(sure, np.arange(len(y)), 0)
    np.maximum.accumulate(idx, out=idx)
    return p[idx] >= 0.5


def _complete_last_cycles(
    t: np.ndarray,
    lab: np.ndarray,
    high: np.ndarray | None,
    period: float | None,
    yc: np.ndarray | None,
    gap_s: float,
    bursts: np.ndarray | None = None,
    part_pause: float = 0.0,
) -> np.ndarray:
    """A periodic machine's last cycle in a running stretch lasts its usual time.

    Where running repeats with a period, a cycle's quiet part (cooling of a shot, the rest
    after a press stroke, the part change of a lathe) looks idle; inside a stretch the gap fill
    covers it, after the last cycle it is extended here to the median cycle interval, by no
    more than the learned cycle gap.
    """
    if not period or gap_s <= 0:
        return lab
    starts = _cycles(t, lab.astype(np.int16), high, period, yc, bursts, part_pause)
    if len(starts) < 6:
        return lab
    s, e, v = _runs(lab)
    run_of = np.searchsorted(t[s], starts, side="right") - 1
    same = run_of[1:] == run_of[:-1]
    if same.sum() < 5:
        return lab
    interval = float(np.median(np.diff(starts)[same]))
    out = lab.copy()
    last = {}
    for r, st in zip(run_of.tolist(), starts.tolist(), strict=True):
        last[r] = st
    for r, st in last.items():
        if v[r] != 2 or r + 1 >= len(v) or v[r + 1] != 1:
            continue
        if np.sum(run_of == r) < 2:
            continue
        a, b = e[r], e[r + 1]
        # the tail is a cycle's own pause: never longer than the learned cycle gap
        k = a + int(np.searchsorted(t[a:b], min(st + interval, t[a] + gap_s)))
        out[a:k] = 2
    return out


def _spread(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log of the standard deviation of log-current over ACTIVITY_S around each sample."""
    dt = _interval(t)
    w = max(5, int(round(ACTIVITY_S / dt)))
    c1 = np.concatenate([[0.0], np.cumsum(y)])
    c2 = np.concatenate([[0.0], np.cumsum(y * y)])
    i = np.arange(len(y))
    a = np.clip(i - w // 2, 0, len(y))
    b = np.clip(a + w, 0, len(y))
    n = np.maximum(b - a, 1)
    mean = (c1[b] - c1[a]) / n
    var = np.maximum((c2[b] - c2[a]) / n - mean * mean, 0.0)
    return np.log(np.sqrt(var) + 1e-4)


def _activity_groups(
    t: np.ndarray, x: np.ndarray, model: CurrentModel, skip: np.ndarray | None = None
) -> tuple[tuple[float, float, float], ...]:
    """(weight, mean, sigma) of the quiet and the active group of the powered samples' spread.

    Only when two groups fit better than one (BIC), lie clearly apart and the quiet one draws
    less current than the active one; else () and the powered level stays one state. `skip`
    (per valid sample): samples left out, those whose spread an inrush at switch-on makes.
    """
    valid = np.isfinite(x)
    y = _log(x[valid])
    powered, _ = model._shift(t[valid], y)
    if skip is not None:
        powered = powered & ~skip
    v = _spread(t[valid], y)[powered]
    if len(v) < 50:
        return ()
    groups = _two_groups(v)
    if not groups:
        return ()
    (wq, mq, sq), (wa, ma, sa) = groups
    quiet = _activity_posterior(t[valid], y, groups)[powered] >= 0.5
    yp = y[powered]
    if quiet.all() or not quiet.any() or yp[quiet].mean() >= yp[~quiet].mean():
        return ()
    return groups


def _activity_posterior(t: np.ndarray, y: np.ndarray, groups) -> np.ndarray:
    """Probability that each sample is quiet (idle) by its short-term spread."""
    v = _spread(t, y)
    (wq, mq, sq), (wa, ma, sa) = groups
    lq = math.log(wq) - math.log(sq) - 0.5 * ((v - mq) / sq) ** 2
    la = math.log(wa) - math.log(sa) - 0.5 * ((v - ma) / sa) ** 2
    return 1.0 / (1.0 + np.exp(np.clip(la - lq, -50, 50)))
