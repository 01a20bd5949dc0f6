"""Current traces of legacy machines with known states and cycles, for tests, benches and the demo.

A clamp-on current transformer on a machine's supply gives one number a sample: the RMS amps of
one phase over the sampling interval. `trace(kind, start, duration_s, rng, hz=...)` makes such a
trace for one machine run together with the truth (state per sample, cycle counter), so that the
inference in `retrofit/infer.py` can be scored and the simulator can show legacy machines.

Kinds (`KINDS`) follow the issue's list: a lathe, a machining center, a mechanical press
(flywheel: high idle draw, one current peak per stroke), a hydraulic press or injection machine
(pump: idle at 60-85 % of running, a repeated pattern per shot), a welding station (arc bursts
separated by short gaps) and a compressor (load/unload). Two more (`HAND_KINDS`) come from
different code: a continuous machine that never idles, a machine that is off most of the time,
and a plain step-level machine as an outsider would write it, so that the method is not fitted to
one generator's habits.

Every trace can carry what a real sensor sees: slow drift (voltage over the day, warm-up after a
cold start, tool wear), noise, inrush spikes at switch-on, timestamp jitter, gaps (missing time)
and dropouts (NaN samples). `write_csv` and `make_folder` write the benchmark format:
`ts,current_a,state,cycle` (ISO 8601 with offset; RMS amps; off|idle|running; a counter that
increments at the start of each production cycle).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from .text import retrofit_error

KINDS = ("lathe", "machining_center", "mechanical_press", "hydraulic_press", "welding", "compressor")
HAND_KINDS = ("never_idle", "mostly_off", "step_levels")
STATES = ("off", "idle", "running")
OFF, IDLE, RUN = 0, 1, 2

#: nominal running current (A) per kind: (low, high), drawn per trace
_NOMINAL = {
    "lathe": (5.0, 30.0),
    "machining_center": (8.0, 40.0),
    "mechanical_press": (5.0, 25.0),
    "hydraulic_press": (10.0, 60.0),
    "welding": (60.0, 200.0),
    "compressor": (10.0, 80.0),
    "never_idle": (3.0, 50.0),
    "mostly_off": (2.0, 20.0),
    "step_levels": (1.0, 100.0),
}


@dataclass(frozen=True)
class Disturbances:
    """What the sensor adds to the machine's current; each can be switched off."""

    drift: float = 0.05  # amplitude of the slow voltage/temperature drift (relative)
    warmup: float = 0.15  # extra draw after a cold start, decaying (relative)
    noise: float = 0.02  # relative noise of the fine signal
    jitter: float = 0.1  # timestamp jitter, as a fraction of the sampling interval
    gaps: int = 1  # how many stretches of missing time (rows absent)
    dropouts: float = 0.003  # fraction of samples that are NaN (single and in short bursts)
    inrush: bool = True  # motor start spikes at switch-on


NONE = Disturbances(drift=0.0, warmup=0.0, noise=0.0, jitter=0.0, gaps=0, dropouts=0.0, inrush=False)


class _Builder:
    """Collects the fine signal (relative to the nominal running current), state and cycle starts."""

    def __init__(self, fine_hz: float, rng: np.random.Generator) -> None:
        self.fhz = fine_hz
        self.rng = rng
        self.values: list[np.ndarray] = []
        self.states: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []
        self.n = 0

    def n_of(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fhz)))

    def add(self, values: np.ndarray, state: int, cycle_start: bool = False) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.values.append(values)
        self.states.append(np.full(len(values), state, dtype=np.int8))
        flags = np.zeros(len(values), dtype=bool)
        if cycle_start and len(values):
            flags[0] = True
        self.starts.append(flags)
        self.n += len(values)

    def level(self, seconds: float, level: float, state: int, cycle_start: bool = False) -> None:
        self.add(np.full(self.n_of(seconds), level), state, cycle_start)

    def seconds(self) -> float:
        return self.n / self.fhz


# -- running patterns: one production cycle each, relative to the nominal running current -----
def _spike(b: _Builder, peak: float, seconds: float, after: float) -> np.ndarray:
    n = b.n_of(seconds)
    return after + (peak - after) * np.exp(-np.arange(n) / max(1.0, n / 4))


def _lathe_program(rng: np.random.Generator, idle: float) -> list[tuple[float, float]]:
    """(seconds, level) steps of one part's program: passes, rapid moves, the part change."""
    steps: list[tuple[float, float]] = []
    for _ in range(int(rng.integers(2, 5))):
        steps.append((float(rng.uniform(10, 40)), float(rng.uniform(0.7, 1.2))))
        steps.append((float(rng.uniform(1, 2)), 0.45))
    steps.append((float(rng.uniform(3, 8)), idle))  # spindle stopped: part out, part in
    return steps


def _mc_program(rng: np.random.Generator, idle: float) -> list[tuple[float, float]]:
    steps: list[tuple[float, float]] = []
    for _ in range(int(rng.integers(2, 6))):
        steps.append((3.0, idle + 0.25))  # tool change
        steps.append((float(rng.uniform(10, 60)), float(rng.uniform(0.6, 1.05))))
    steps.append((float(rng.uniform(5, 15)), idle))  # pallet/part change
    return steps


def _hydraulic_program(rng: np.random.Generator, idle: float) -> list[tuple[float, float]]:
    return [
        (float(rng.uniform(2, 4)), 1.0),  # close and clamp
        (float(rng.uniform(2, 5)), float(rng.uniform(1.2, 1.4))),  # inject / press
        (float(rng.uniform(3, 8)), 0.95),  # hold
        (float(rng.uniform(5, 18)), idle * 1.02),  # cool: the pump unloads
        (float(rng.uniform(2, 4)), 0.9),  # open, eject
    ]


def _play(b: _Builder, steps: list[tuple[float, float]], jitter: float, start_spike: bool) -> None:
    """One cycle from (seconds, level) steps, durations jittered; a spindle start spike first."""
    first = True
    for seconds, level in steps:
        n = b.n_of(seconds * (1 + b.rng.uniform(-jitter, jitter)))
        v = np.full(n, level)
        if first and start_spike:
            k = min(n, b.n_of(0.5))
            v[:k] = np.maximum(v[:k], _spike(b, 2.2, 0.5, level)[:k])
        b.add(v, RUN, cycle_start=first)
        first = False


def _run_block(kind: str, b: _Builder, n_cycles: int, p: dict) -> None:
    rng = b.rng
    if kind in ("lathe", "machining_center", "hydraulic_press"):
        for _ in range(n_cycles):
            _play(b, p["program"], 0.05, start_spike=kind != "hydraulic_press")
    elif kind == "mechanical_press":
        for _ in range(n_cycles):
            period = p["period"] * (1 + rng.uniform(-0.04, 0.04))
            n = b.n_of(period)
            base = p["idle"] * 1.06
            v = np.full(n, base)
            k = min(n, b.n_of(0.5))
            v[:k] = _spike(b, p["peak"], 0.5, base)[:k]
            b.add(v, RUN, cycle_start=True)
    elif kind == "welding":
        for i in range(n_cycles):
            arc = float(rng.uniform(2, 15))
            n = b.n_of(arc)
            v = float(rng.uniform(0.8, 1.1)) * (1 + 0.08 * rng.standard_normal(n))
            b.add(np.abs(v), RUN, cycle_start=True)
            if i < n_cycles - 1:
                b.level(float(rng.uniform(2, 12)), p["idle"], RUN)  # reposition the torch
    elif kind == "compressor":
        for _ in range(n_cycles):  # one load phase is one cycle
            n = b.n_of(float(rng.uniform(15, 90)))
            ripple = 1 + 0.03 * np.sin(np.arange(n) / b.fhz / 7.0)
            b.add(ripple, RUN, cycle_start=True)
            if _ < n_cycles - 1:
                # unloaded until the pressure falls: seconds to minutes, as the air demand goes
                b.level(float(np.exp(rng.uniform(np.log(10), np.log(600)))), p["idle"], IDLE)
    else:  # pragma: no cover - guarded by trace()
        raise ValueError(kind)


def _schedule(kind: str, b: _Builder, duration_s: float, p: dict, dist: Disturbances) -> list[int]:
    """Off, idle and running stretches of a shop day; returns the fine indices of power-ons."""
    rng = b.rng
    power_on: list[int] = []
    b.level(float(rng.uniform(60, 1800)), 0.0, OFF)
    while b.seconds() < duration_s:
        power_on.append(b.n)
        b.level(float(rng.uniform(60, 600)), p["idle"], IDLE)  # power on, warm up, set up
        session_end = b.seconds() + float(rng.uniform(1.5, 4.5)) * 3600
        while b.seconds() < min(session_end, duration_s):
            _run_block(kind, b, int(rng.integers(*p["block"])), p)
            r = rng.random()
            if r < 0.55:
                b.level(float(rng.uniform(25, 180)), p["idle"], IDLE)  # micro-stop
            elif r < 0.9:
                b.level(float(rng.uniform(300, 1800)), p["idle"], IDLE)  # waiting, setup
            else:
                break
        b.level(float(rng.uniform(600, 3600)), 0.0, OFF)  # break, end of shift
    return power_on


def _never_idle(b: _Builder, duration_s: float) -> list[int]:
    """A continuous machine (grinder, extruder, conveyor): off or running, load wandering."""
    rng = b.rng
    power_on: list[int] = []
    b.level(float(rng.uniform(60, 900)), 0.0, OFF)
    while b.seconds() < duration_s:
        power_on.append(b.n)
        n = b.n_of(float(rng.uniform(1800, 4 * 3600)))
        walk = np.cumsum(rng.standard_normal(n)) / np.sqrt(b.fhz * 600)
        load = 1.0 + 0.3 * np.tanh(walk / 3.0)  # wanders, softly bounded
        steps = rng.choice([0.85, 1.0, 1.15], size=n // b.n_of(600) + 1)
        load = load * np.repeat(steps, b.n_of(600))[:n]
        b.add(load, RUN, cycle_start=True)
        b.level(float(rng.uniform(300, 2400)), 0.0, OFF)
    return power_on


def _mostly_off(b: _Builder, duration_s: float, idle: float) -> list[int]:
    """A saw or a drill used now and then: off most of the day, short sessions of a few cuts."""
    rng = b.rng
    power_on: list[int] = []
    while b.seconds() < duration_s:
        b.level(float(rng.exponential(3600)) + 600, 0.0, OFF)
        power_on.append(b.n)
        b.level(float(rng.uniform(20, 120)), idle, IDLE)
        for _ in range(int(rng.integers(1, 6))):
            b.level(float(rng.uniform(20, 90)), float(rng.uniform(0.8, 1.1)), RUN, cycle_start=True)
            b.level(float(rng.uniform(30, 200)), idle, IDLE)
    return power_on


def _step_levels(b: _Builder, duration_s: float, idle: float) -> list[int]:
    """Plain constant levels and exponential durations, the way a quick generator would do it."""
    rng = b.rng
    power_on: list[int] = []
    state = OFF
    while b.seconds() < duration_s:
        if state == OFF:
            b.level(float(rng.exponential(1200)) + 60, 0.0, OFF)
            power_on.append(b.n)
            state = IDLE
        elif state == IDLE:
            b.level(float(rng.exponential(300)) + 30, idle, IDLE)
            state = RUN if rng.random() < 0.85 else OFF
        else:
            b.level(float(rng.exponential(900)) + 60, 1.0, RUN, cycle_start=True)
            state = IDLE
    return power_on


def _params(kind: str, rng: np.random.Generator, hz: float) -> dict:
    if kind == "lathe":
        idle = float(rng.uniform(0.12, 0.3))
        return {"idle": idle, "block": (3, 25), "program": _lathe_program(rng, idle)}
    if kind == "machining_center":
        idle = float(rng.uniform(0.2, 0.4))
        return {"idle": idle, "block": (2, 12), "program": _mc_program(rng, idle)}
    if kind == "mechanical_press":
        period = max(float(rng.uniform(2.0, 8.0)), 3.0 / hz)
        idle = float(rng.uniform(0.55, 0.75))
        return {"idle": idle, "block": (20, 300), "period": period, "peak": float(rng.uniform(1.6, 2.2))}
    if kind == "hydraulic_press":
        idle = float(rng.uniform(0.6, 0.85))
        return {"idle": idle, "block": (5, 60), "program": _hydraulic_program(rng, idle)}
    if kind == "welding":
        return {"idle": float(rng.uniform(0.02, 0.06)), "block": (5, 40)}
    if kind == "compressor":
        return {"idle": float(rng.uniform(0.3, 0.45)), "block": (3, 20)}
    return {"idle": float(rng.uniform(0.05, 0.8))}


def trace(
    kind: str,
    start: datetime | np.datetime64,
    duration_s: float,
    rng: np.random.Generator,
    hz: float = 1.0,
    *,
    disturb: Disturbances | None = None,
    nominal_a: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A sampled current trace of one machine run and its truth.

    Returns (ts datetime64[us] UTC, current_a float with NaN dropouts, state str per sample,
    cycle int per sample: the number of production cycles started up to that sample).
    """
    if kind not in KINDS + HAND_KINDS:
        raise ValueError(retrofit_error("err_kind", kind=kind, allowed=", ".join(KINDS + HAND_KINDS)))
    if not (hz > 0 and duration_s > 0):
        raise ValueError(retrofit_error("err_trace_args", hz=hz, duration=duration_s))
    dist = Disturbances() if disturb is None else disturb
    fhz = max(10.0, 5.0 * hz)
    b = _Builder(fhz, rng)
    p = _params(kind, rng, hz)
    if kind == "never_idle":
        power_on = _never_idle(b, duration_s)
    elif kind == "mostly_off":
        power_on = _mostly_off(b, duration_s, float(rng.uniform(0.1, 0.5)))  # a saw turning free
    elif kind == "step_levels":
        power_on = _step_levels(b, duration_s, p["idle"])
    else:
        power_on = _schedule(kind, b, duration_s, p, dist)
    rel = np.concatenate(b.values)
    state = np.concatenate(b.states)
    starts = np.concatenate(b.starts)
    nf = len(rel)
    power_on = [i for i in power_on if i < nf]
    t_f = np.arange(nf) / fhz

    # drift: mains voltage over the day, warm-up after each power-on, tool wear in running
    nominal = float(rng.uniform(*_NOMINAL[kind])) if nominal_a is None else float(nominal_a)
    factor = 1 + dist.drift * np.sin(2 * np.pi * t_f / rng.uniform(4, 12) / 3600 + rng.uniform(0, 6.3))
    if dist.warmup:
        since_on = np.full(nf, np.inf)
        for i in power_on:
            since_on[i:] = t_f[i:] - t_f[i]
        factor *= 1 + dist.warmup * np.exp(-since_on / rng.uniform(1200, 2400))
        factor *= 1 + 0.5 * dist.drift * (t_f / max(t_f[-1], 1.0))  # wear over the run
    amps = rel * nominal * factor
    if dist.noise:
        amps *= 1 + dist.noise * rng.standard_normal(nf)
    if dist.inrush:
        for i in power_on:
            k = min(nf - i, b.n_of(rng.uniform(0.2, 0.8)))
            amps[i : i + k] += nominal * rng.uniform(4, 8) * np.exp(-np.arange(k) / max(1, k / 3))
    floor = nominal * rng.uniform(0.001, 0.006)  # the CT and its converter's noise floor
    amps = np.abs(amps + floor * rng.standard_normal(nf))

    # sample: RMS over each sampling interval, at jittered times
    dt = 1.0 / hz
    n = int(duration_s * hz)
    t_s = np.arange(1, n + 1) * dt
    if dist.jitter:
        t_s = t_s + rng.uniform(-dist.jitter, dist.jitter, n) * dt
    t_s = np.clip(t_s, dt * 0.5, t_f[-1])
    csq = np.concatenate([[0.0], np.cumsum(amps**2)]) / fhz
    hi = np.interp(t_s, np.arange(nf + 1) / fhz, csq)
    lo = np.interp(np.maximum(t_s - dt, 0), np.arange(nf + 1) / fhz, csq)
    current = np.sqrt(np.maximum(hi - lo, 0) / dt)
    idx = np.minimum((t_s * fhz).astype(np.int64), nf - 1)
    st = state[idx]
    cyc = np.cumsum(starts)[idx]

    keep = np.ones(n, dtype=bool)
    for _ in range(dist.gaps):
        g0 = int(rng.integers(0, max(1, n - 1)))
        keep[g0 : g0 + int(rng.uniform(120, 1800) * hz)] = False
    if dist.dropouts:
        drop = rng.random(n) < dist.dropouts * 0.5
        for i0 in rng.integers(0, n, size=max(1, int(n * dist.dropouts * 0.5 / (10 * hz)))):
            drop[i0 : i0 + int(rng.uniform(2, 20) * hz)] = True
        current[drop] = np.nan

    t0 = np.datetime64(
        start.astimezone(UTC).replace(tzinfo=None) if isinstance(start, datetime) else start, "us"
    )
    ts = t0 + (t_s * 1e6).astype("timedelta64[us]")
    states = np.array(STATES, dtype=object)[st]
    return ts[keep], current[keep], states[keep].astype(str), cyc[keep].astype(np.int64)


def family_main(argv: list[str], family: dict[str, tuple], make) -> int:
    """`make_traces.py DIR [SEED]` of a development family (bench/data/retrofit_*/): one file per
    member, `make(*params, rng)` -> (ts, amps, state, cycle), seeded seed + its place."""
    out = Path(argv[0])
    seed = int(argv[1]) if len(argv) > 1 else 23
    out.mkdir(parents=True, exist_ok=True)
    for k, (name, params) in enumerate(family.items()):
        ts, x, st, cy = make(*params, np.random.default_rng(seed + k))
        write_csv(out / f"{name}_{seed}.csv", ts, x, st, cy)
    return 0


def write_csv(
    path: Path, ts: np.ndarray, amps: np.ndarray, state: np.ndarray, cycle: np.ndarray, utc_offset_h: int = 9
) -> None:
    """One benchmark file: `ts,current_a,state,cycle`, ts ISO 8601 with the shop's offset."""
    tz = timezone(timedelta(hours=utc_offset_h))
    epoch = ts.astype("datetime64[us]").astype(np.int64)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ts", "current_a", "state", "cycle"])
        for us, a, s, c in zip(epoch.tolist(), amps.tolist(), state.tolist(), cycle.tolist(), strict=True):
            t = datetime.fromtimestamp(us / 1e6, tz).isoformat(timespec="milliseconds")
            w.writerow([t, "" if a != a else f"{a:.4g}", s, c])


def make_folder(
    out: Path,
    seed: int,
    *,
    hours: tuple[float, float] = (6, 12),
    repeats: int = 2,
    hz_choices: tuple[float, ...] = (1, 2, 5, 10),
    kinds: tuple[str, ...] = KINDS + HAND_KINDS,
) -> list[Path]:
    """A development folder: each kind `repeats` times, random rate, length and disturbances."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    start = datetime(2026, 3, 2, 6, 0, tzinfo=timezone(timedelta(hours=9)))
    for r in range(repeats):
        for kind in kinds:
            hz = float(rng.choice(hz_choices))
            dist = Disturbances(
                drift=float(rng.uniform(0.0, 0.08)),
                warmup=float(rng.uniform(0.0, 0.2)),
                noise=float(rng.uniform(0.005, 0.05)),
                jitter=float(rng.uniform(0.0, 0.3)),
                gaps=int(rng.integers(0, 3)),
                dropouts=float(rng.uniform(0.0, 0.01)),
                inrush=bool(rng.random() < 0.8),
            )
            dur = float(rng.uniform(*hours)) * 3600
            ts, amps, state, cycle = trace(kind, start, dur, rng, hz=hz, disturb=dist)
            path = out / f"{kind}_{seed}_{r}.csv"
            write_csv(path, ts, amps, state, cycle)
            written.append(path)
    return written


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One benchmark file: (ts datetime64[us] UTC, current_a with NaN, state str, cycle int).

    A file that is not in the format raises ValueError naming the file, the line and the field.
    """
    import pandas as pd

    from ..collect.files_read import detect_encoding

    try:
        df = pd.read_csv(
            path,
            dtype={"ts": str, "state": str},
            keep_default_na=False,
            na_values={"current_a": [""]},
            encoding=detect_encoding(Path(path)),
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(retrofit_error("err_csv_unreadable", file=path, why=exc)) from None
    missing = [c for c in ("ts", "current_a", "state", "cycle") if c not in df.columns]
    if missing:
        raise ValueError(retrofit_error("err_csv_column", file=path, column=missing[0]))
    if len(df) == 0:
        raise ValueError(retrofit_error("err_csv_empty", file=path))
    ts = pd.to_datetime(df["ts"], utc=True, format="ISO8601", errors="coerce")
    bad = ts.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            retrofit_error("err_csv_value", file=path, line=i + 2, field="ts", value=df["ts"].iloc[i])
        )
    amps = pd.to_numeric(df["current_a"], errors="coerce").to_numpy(dtype=np.float64)
    given = df["current_a"].notna().to_numpy() & (df["current_a"].astype(str).str.strip() != "").to_numpy()
    bad = (given & ~np.isfinite(amps)) | (np.isfinite(amps) & (amps < 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            retrofit_error(
                "err_csv_value", file=path, line=i + 2, field="current_a", value=df["current_a"].iloc[i]
            )
        )
    state = df["state"].astype(str).str.strip().to_numpy()
    bad = ~np.isin(state, STATES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            retrofit_error("err_csv_value", file=path, line=i + 2, field="state", value=state[i])
        )
    cycle = pd.to_numeric(df["cycle"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(cycle) | (cycle != np.round(cycle))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            retrofit_error("err_csv_value", file=path, line=i + 2, field="cycle", value=df["cycle"].iloc[i])
        )
    t = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    if len(t) > 1 and np.any(np.diff(t) < np.timedelta64(0, "us")):
        i = int(np.flatnonzero(np.diff(t) < np.timedelta64(0, "us"))[0]) + 1
        raise ValueError(retrofit_error("err_csv_order", file=path, line=i + 2))
    return t, amps, state.astype(str), cycle.astype(np.int64)


def observed_cycles(ts: np.ndarray, cycle: np.ndarray) -> int:
    """Production cycles started while the sensor was reporting (the benchmark's true count).

    The increments of `cycle` between consecutive rows, except across a gap in time longer than
    the inference's gap limit (infer.GAP_SAMPLES intervals, at least infer.GAP_MIN_S): what
    happened there cannot be seen in the current, and no state is inferred for it.
    """
    from .infer import GAP_MIN_S, GAP_SAMPLES

    if len(ts) < 2:
        return 0
    t = ts.astype("datetime64[us]").astype(np.int64) / 1e6
    step = np.diff(t)
    pos = step[step > 0]
    limit = max(GAP_SAMPLES * (float(np.median(pos)) if len(pos) else 1.0), GAP_MIN_S)
    inc = np.diff(np.asarray(cycle, dtype=np.int64))
    return int(inc[(inc > 0) & (step <= limit)].sum())


def main(argv: list[str] | None = None) -> int:
    """python -m factory_commons.retrofit.traces OUT SEED [--repeats N] [--hours A B] [--hz ...]"""
    import argparse

    ap = argparse.ArgumentParser(description="write a folder of benchmark current traces")
    ap.add_argument("out", type=Path)
    ap.add_argument("seed", type=int)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hours", type=float, nargs=2, default=(6.0, 12.0))
    ap.add_argument("--hz", type=float, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS + HAND_KINDS))
    a = ap.parse_args(argv)
    paths = make_folder(
        a.out, a.seed, hours=tuple(a.hours), repeats=a.repeats, hz_choices=tuple(a.hz), kinds=tuple(a.kinds)
    )
    print(f"{len(paths)} files in {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
