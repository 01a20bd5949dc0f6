"""Machine states (off, idle, running), cycles and micro-stops from one current signal, self-calibrating.

No amp threshold is set by hand: `CurrentModel.learn` finds the machine's own current levels in
its history and `infer` labels new data with them, following slow drift.

How (each step is data-driven; the few constants are physical or structural, named below):

1. Levels: a Gaussian mixture on log-RMS with 1-5 components, chosen by BIC; neighbouring
   components that are not clearly apart (Ashman's D below `SEPARATION`) are merged, so a
   wandering load is one level, a pump at rest and a pump working are two.
2. Which level is which state: "off" is the lowest level when it is indistinguishable from zero
   (its spread is large against its level, as a sensor's noise floor is, or it is a tiny fraction
   of the running level); of the levels above it the lowest is "idle" when there are two or more,
   the rest are "running".
3. Drift: a common multiplicative offset of the powered levels is re-estimated in blocks of
   `DRIFT_BLOCK_S` (a robust median of each sample's distance to its level) and interpolated,
   so warm-up, tool wear and mains voltage move the levels with them.
4. Time structure: runs shorter than a few samples merge into their neighbours (inrush spikes at
   switch-on, flicker); idle dips between running bursts that are shorter than a learned cycle
   gap are filled (welding arcs, press strokes, the cooling phase of an injection shot). The gap
   is learned from the durations of the dips: it exists only when the short dips form a group of
   their own, clearly apart (a factor `GAP_JUMP`) from the longer stops.
5. Gaps: where no sample came for longer than `max(GAP_SAMPLES * interval, GAP_MIN_S)` the state
   is "unknown" (no state is invented across a long gap), with confidence 0; NaN samples take the
   state around them with a low confidence.
6. Cycles: the starts of running bursts (a rise after a dip), merged where closer than 0.6 of
   the repeated period found by autocorrelation; a running stretch with no inner dips counts one.
   Micro-stops: idle stretches between two running stretches shorter than `MICRO_STOP_S`.

A person's correction (`correct`) is remembered: the level that dominates the corrected stretch
takes the corrected state from then on, and the stretch itself is forced.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .text import retrofit_error

STATES = ("off", "idle", "running")
UNKNOWN = "unknown"
#: Ashman's D under which two neighbouring mixture components are one level
SEPARATION = 2.0
#: the drift offset is re-estimated per block of this many seconds
DRIFT_BLOCK_S = 900.0
#: a gap in time longer than this many sampling intervals (and GAP_MIN_S) has no state
GAP_SAMPLES = 10
GAP_MIN_S = 30.0
#: dips inside running form their own group when the next longer dip is this factor longer
GAP_JUMP = 1.8
#: idle between two running stretches, shorter than this, is a micro-stop (a common 5-minute rule)
MICRO_STOP_S = 300.0
#: runs shorter than this (seconds, and at least 2 samples) merge into their neighbours
MIN_RUN_S = 2.0
#: the lowest level is "off" when it is below this fraction of the top level ...
OFF_FRACTION = 0.02
#: ... or when it is below OFF_RATIO of the next level and its spread in log is this large
OFF_RATIO = 0.2
OFF_SPREAD = 0.1
_MAX_FIT = 20000


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
        means, sigmas, weights = _levels(y)
        states = _label_levels(means, sigmas)
        model = cls(tuple(means), tuple(sigmas), tuple(weights), tuple(states), kind=kind)
        labels, _post = model._sample_labels(t, x)
        gap = _learn_fill_gap(t, labels, _interval(t))
        model = replace(model, fill_gap_s=gap)
        lab2 = _fill(t, labels, gap, _interval(t))
        return replace(model, period_s=_period(t, x, lab2, _interval(t)))

    # -- inference ---------------------------------------------------------------------------
    def _sample_labels(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Level-state code per sample (0 off, 1 idle, 2 running, -1 no value) and its posterior."""
        mu = np.array(self.means)
        sd = np.maximum(np.array(self.sigmas), 1e-3)
        w = np.array(self.weights)
        codes = np.array([STATES.index(s) for s in self.level_states])
        valid = np.isfinite(x)
        y = np.where(valid, _log(np.where(valid, x, 1.0)), np.nan)
        powered = codes > 0
        off_sample = np.zeros(len(x), dtype=bool)
        shift = np.zeros(len(x))
        for _ in range(2):
            ll = _loglik(
                y[:, None], mu[None, :] + np.where(powered, 1.0, 0.0)[None, :] * shift[:, None], sd, w
            )
            best = np.argmax(np.where(np.isfinite(ll), ll, -np.inf), axis=1)
            off_sample = codes[best] == 0
            resid = y - mu[best]
            use = valid & ~off_sample
            shift = _block_shift(t, resid, use)
        ll = _loglik(y[:, None], mu[None, :] + np.where(powered, 1.0, 0.0)[None, :] * shift[:, None], sd, w)
        ll = np.where(np.isfinite(ll), ll, -1e300)
        # posterior per state (levels of the same state add up)
        m = ll.max(axis=1, keepdims=True)
        p = np.exp(ll - m)
        p /= p.sum(axis=1, keepdims=True)
        post = np.zeros((len(x), 3))
        for j, c in enumerate(codes):
            post[:, c] += p[:, j]
        lab = np.argmax(post, axis=1).astype(np.int8)
        lab[~valid] = -1
        return lab, post.max(axis=1)

    def infer(self, ts: np.ndarray, amps: np.ndarray) -> Inference:
        """States, cycles and micro-stops of new data with this model (levels follow drift)."""
        t, x = _checked(ts, amps)
        if len(t) == 0:
            empty = np.array([], dtype="datetime64[us]")
            return Inference(empty, np.array([], dtype=str), np.array([]), empty, [])
        dt = _interval(t)
        model = self._with_corrections(t, x)
        lab, post = model._sample_labels(t, x)
        raw = lab.copy()
        lab = _fill(t, lab, model.fill_gap_s, dt)
        conf = np.where(lab == raw, post, 0.5)
        conf[raw < 0] = 0.3
        for s, e, state in model.corrections:
            inside = (t >= s) & (t < e)
            lab[inside] = STATES.index(state)
            conf[inside] = 1.0
        return _segments(t, lab, raw, conf, dt, model.period_s)

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
                lab, _ = model._sample_labels(t[inside], x[inside])
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
    with np.errstate(invalid="ignore"):
        return np.log(w) - np.log(sd) - 0.5 * ((y - mu) / sd) ** 2


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
        g = GaussianMixture(k, covariance_type="full", random_state=0, reg_covar=1e-4, n_init=2).fit(fit)
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
            if d < SEPARATION:
                w = w1 + w2
                m = (w1 * m1 + w2 * m2) / w
                v = (w1 * (s1 * s1 + (m1 - m) ** 2) + w2 * (s2 * s2 + (m2 - m) ** 2)) / w
                comps[i : i + 2] = [[w, m, math.sqrt(v)]]
                merged = True
                break
    return [c[1] for c in comps], [c[2] for c in comps], [c[0] for c in comps]


def _label_levels(means: list[float], sigmas: list[float]) -> list[str]:
    """off / idle / running per level (ascending), from their relations only."""
    n = len(means)
    if n == 1:
        return ["running"]
    states = ["running"] * n
    lvl = np.exp(np.array(means))
    first = 0
    low_is_off = lvl[0] < OFF_FRACTION * lvl[-1] or (lvl[0] < OFF_RATIO * lvl[1] and sigmas[0] > OFF_SPREAD)
    if low_is_off:
        states[0] = "off"
        first = 1
    if n - first >= 2:
        states[first] = "idle"
    return states


def _block_shift(t: np.ndarray, resid: np.ndarray, use: np.ndarray) -> np.ndarray:
    """The common log-offset of the powered levels per block, interpolated over time."""
    if not use.any():
        return np.zeros(len(t))
    b = np.floor((t - t[0]) / DRIFT_BLOCK_S).astype(np.int64)
    nb = int(b[-1]) + 1
    centers, values = [], []
    for k in range(nb):
        sel = use & (b == k)
        if sel.sum() >= 10:
            centers.append(t[0] + (k + 0.5) * DRIFT_BLOCK_S)
            values.append(float(np.median(resid[sel])))
    if not centers:
        return np.zeros(len(t))
    v = np.array(values)
    v -= np.median(v)  # the levels are the day's; the shift is relative to them
    return np.interp(t, np.array(centers), v)


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


def _smooth(t: np.ndarray, lab: np.ndarray, dt: float) -> np.ndarray:
    """NaN bridged, runs shorter than MIN_RUN_S (and 2 samples) merged into the run before."""
    out = _bridge_nan(lab)
    min_n = max(2, int(round(MIN_RUN_S / dt)))
    for _ in range(3):
        s, e, v = _runs(out)
        short = (e - s) < min_n
        if not short.any():
            break
        for i in np.flatnonzero(short):
            if i == 0:
                continue
            # an inrush spike right after off: the state that follows, else the one before
            if v[i] == 2 and v[i - 1] == 0 and i + 1 < len(v):
                out[s[i] : e[i]] = v[i + 1]
            else:
                out[s[i] : e[i]] = out[s[i] - 1]
    return out


def _learn_fill_gap(t: np.ndarray, lab: np.ndarray, dt: float) -> float:
    """The longest idle dip that belongs to running: the short dips' own group, when there is one."""
    lab = _smooth(t, lab, dt)
    d = np.sort([_dip_seconds(t, a, b, dt) for a, b in _dips(t, lab, dt)])
    if len(d) < 5:
        return 0.0
    ratio = d[1:] / np.maximum(d[:-1], 1e-9)
    # the first clear jump in the sorted durations, with at least 5 short dips below it
    for i in range(4, len(ratio)):
        if ratio[i] >= GAP_JUMP and i + 1 >= 0.2 * len(d):
            return float(d[i] * 1.1)
    return 0.0


def _fill(t: np.ndarray, lab: np.ndarray, gap_s: float, dt: float) -> np.ndarray:
    out = _smooth(t, lab, dt)
    if gap_s <= 0:
        return out
    for a, b in _dips(t, out, dt):
        if _dip_seconds(t, a, b, dt) <= gap_s:
            out[a:b] = 2
    return out


def _longest_dip(t: np.ndarray, lab: np.ndarray) -> float:
    dt = _interval(t)
    lab = _smooth(t, lab, dt)
    d = [_dip_seconds(t, a, b, dt) for a, b in _dips(t, lab, dt)]
    return max(d) if d else 0.0


def _period(t: np.ndarray, x: np.ndarray, lab: np.ndarray, dt: float) -> float | None:
    """The repeated period of the current inside running (autocorrelation), if there is one."""
    run = (lab == 2) & np.isfinite(x)
    if run.sum() < 50:
        return None
    y = _log(x[run])
    y = y - y.mean()
    n = min(len(y), 200000)
    y = y[:n]
    f = np.fft.rfft(y, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[: n // 2]
    if ac[0] <= 0:
        return None
    ac /= ac[0]
    neg = np.flatnonzero(ac < 0)
    if len(neg) == 0:
        return None
    lag = int(neg[0] + np.argmax(ac[neg[0] :]))
    if ac[lag] < 0.3:
        return None
    return float(lag * dt)


def _segments(
    t: np.ndarray, lab: np.ndarray, raw: np.ndarray, conf: np.ndarray, dt: float, period: float | None
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
    cycles = _cycles(t, codes, raw, period)
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


def _cycles(t: np.ndarray, codes: np.ndarray, raw: np.ndarray, period: float | None) -> np.ndarray:
    """Cycle starts: where a running stretch begins and where running rises again inside it."""
    rawb = _bridge_nan(raw)
    running = codes == 2
    rise = running & (np.concatenate([[False], ~running[:-1]]))
    inner = running & (rawb == 2) & np.concatenate([[False], rawb[:-1] != 2]) & ~rise
    idx = np.flatnonzero(rise | inner)
    starts = t[idx]
    if period and len(starts) > 1:
        keep = [0]
        for i in range(1, len(starts)):
            if starts[i] - starts[keep[-1]] >= 0.6 * period or rise[idx[i]]:
                keep.append(i)
        starts = starts[keep]
    return starts
