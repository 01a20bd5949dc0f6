"""Development traces of shapes `traces.py` does not make, written apart from it (issue 23).

    python -m factory_commons.retrofit.handmade OUT SEED [--hours 6]

Writes one benchmark file (`ts,current_a,state,cycle`) per shape, so that a change to the
inference is chosen on machines the main generator's habits do not cover:

- `grinder`: a continuous machine that never idles; its load moves between light (40-70 % of
  full) and full in stretches of minutes with soft transitions; off between sessions;
- `press_single`: a mechanical press in single-stroke mode: a short stroke peak over the
  flywheel's draw, then 6-30 s of loading by hand (still running: a part every stroke), batches
  apart by minutes of real idle;
- `sag_lathe`: steps of idle and cutting with mains-voltage sags (a step of -8 to -15 % or a
  swell for 1-30 minutes) on top of a slow daily wave;
- `pump_10hz`: a hydraulic machine whose pump idles at 65-80 % of its working draw, sampled
  near 10 Hz with heavy timestamp jitter (intervals of 0.05-0.15 s);
- `welder_dropouts`: arc bursts with long dropouts (empty values for 5-120 s) and rows missing
  for minutes;
- `compressor_high_unload`: load/unload where the unloaded motor draws 50-70 % of loaded, the
  loaded current with a slow pressure ripple, the unloaded one steady.

The truth is `state` per sample and `cycle` counting starts (a stroke, a shot, an arc, a
compressor's load phase, a grinder's session), as in the benchmark format (docs/retrofit.md).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from .traces import write_csv

SHAPES = ("grinder", "press_single", "sag_lathe", "pump_10hz", "welder_dropouts", "compressor_high_unload")
FINE_HZ = 20.0
OFF, IDLE, RUN = 0, 1, 2


class _Fine:
    """A fine (FINE_HZ) relative current, its state and the cycle starts."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.v: list[np.ndarray] = []
        self.s: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.n = 0

    def put(self, values: np.ndarray | float, seconds: float, state: int, start: bool = False) -> None:
        n = max(1, int(round(seconds * FINE_HZ)))
        v = (
            np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()
            if np.ndim(values) == 0
            else values
        )
        v = np.asarray(v, dtype=np.float64)[:n]
        self.v.append(v)
        self.s.append(np.full(len(v), state, dtype=np.int8))
        c = np.zeros(len(v), dtype=bool)
        c[0] = start
        self.c.append(c)
        self.n += len(v)

    @property
    def seconds(self) -> float:
        return self.n / FINE_HZ


def _grinder(f: _Fine, hours: float) -> None:
    rng = f.rng
    f.put(0.0, rng.uniform(120, 900), OFF)
    while f.seconds < hours * 3600:
        on = rng.uniform(3600, 3 * 3600)
        parts = []
        level = rng.uniform(0.4, 1.0)
        left = on
        while left > 0:
            d = min(left, rng.uniform(120, 1500))
            nxt = rng.uniform(0.4, 1.0)
            n = max(1, int(d * FINE_HZ))
            ramp = min(n, int(rng.uniform(10, 60) * FINE_HZ))
            seg = np.full(n, nxt)
            seg[:ramp] = np.linspace(level, nxt, ramp)
            parts.append(seg)
            level = nxt
            left -= d
        v = np.concatenate(parts)
        f.put(v, len(v) / FINE_HZ, RUN, start=True)
        f.put(0.0, rng.uniform(300, 2400), OFF)


def _press_single(f: _Fine, hours: float) -> None:
    rng = f.rng
    fly = rng.uniform(0.5, 0.7)
    peak = rng.uniform(1.5, 2.2)
    f.put(0.0, rng.uniform(60, 600), OFF)
    while f.seconds < hours * 3600:
        f.put(fly, rng.uniform(120, 900), IDLE)
        for _ in range(int(rng.integers(2, 8))):
            for _ in range(int(rng.integers(15, 120))):
                stroke = rng.uniform(0.4, 0.9)
                ns = int(stroke * FINE_HZ)
                spike = fly * 1.05 + (peak - fly) * np.sin(np.linspace(0, np.pi, ns))
                f.put(spike, stroke, RUN, start=True)
                f.put(fly * 1.03, rng.uniform(6, 30), RUN)  # loading the next blank by hand
            f.put(fly, rng.uniform(120, 1200), IDLE)
        f.put(0.0, rng.uniform(600, 3000), OFF)


def _sag_lathe(f: _Fine, hours: float) -> None:
    rng = f.rng
    idle = rng.uniform(0.15, 0.35)
    f.put(0.0, rng.uniform(60, 900), OFF)
    while f.seconds < hours * 3600:
        f.put(idle, rng.uniform(120, 600), IDLE)
        end = f.seconds + rng.uniform(3600, 3 * 3600)
        while f.seconds < end:
            for _ in range(int(rng.integers(3, 20))):
                for k in range(int(rng.integers(1, 4))):  # passes of one part
                    f.put(rng.uniform(0.6, 1.1), rng.uniform(15, 60), RUN, start=k == 0)
                    f.put(idle * 1.5, rng.uniform(1, 3), RUN)
                f.put(idle, rng.uniform(4, 10), RUN)  # part change
            f.put(idle, rng.uniform(60, 1500), IDLE)
        f.put(0.0, rng.uniform(600, 3600), OFF)


def _pump(f: _Fine, hours: float) -> None:
    rng = f.rng
    idle = rng.uniform(0.65, 0.8)
    f.put(0.0, rng.uniform(60, 900), OFF)
    while f.seconds < hours * 3600:
        f.put(idle, rng.uniform(300, 900), IDLE)
        end = f.seconds + rng.uniform(3600, 3 * 3600)
        while f.seconds < end:
            for _ in range(int(rng.integers(10, 80))):
                f.put(1.0, rng.uniform(2, 3), RUN, start=True)
                f.put(rng.uniform(1.15, 1.3), rng.uniform(2, 4), RUN)
                f.put(idle * 1.01, rng.uniform(6, 12), RUN)  # cooling, pump unloaded
                f.put(0.92, rng.uniform(1.5, 3), RUN)
            f.put(idle, rng.uniform(60, 1200), IDLE)
        f.put(0.0, rng.uniform(600, 3000), OFF)


def _welder(f: _Fine, hours: float) -> None:
    rng = f.rng
    idle = rng.uniform(0.02, 0.05)
    f.put(0.0, rng.uniform(60, 600), OFF)
    while f.seconds < hours * 3600:
        f.put(idle, rng.uniform(60, 300), IDLE)
        for _ in range(int(rng.integers(3, 12))):
            for _i in range(int(rng.integers(5, 40))):
                arc = rng.uniform(2, 12)
                n = int(arc * FINE_HZ)
                f.put(
                    np.abs(rng.uniform(0.8, 1.1) * (1 + 0.1 * rng.standard_normal(n))), arc, RUN, start=True
                )
                f.put(idle, rng.uniform(2, 10), RUN)
            f.put(idle, rng.uniform(60, 900), IDLE)
        f.put(0.0, rng.uniform(600, 2400), OFF)


def _compressor(f: _Fine, hours: float) -> None:
    rng = f.rng
    unload = rng.uniform(0.5, 0.7)
    f.put(0.0, rng.uniform(60, 600), OFF)
    while f.seconds < hours * 3600:
        end = f.seconds + rng.uniform(2 * 3600, 5 * 3600)
        while f.seconds < end:
            d = rng.uniform(20, 120)
            n = int(d * FINE_HZ)
            ripple = 0.95 + 0.1 * np.linspace(0, 1, n) ** 2  # pressure builds, current rises
            f.put(ripple, d, RUN, start=True)
            f.put(unload, float(np.exp(rng.uniform(np.log(15), np.log(900)))), IDLE)
        f.put(0.0, rng.uniform(600, 3600), OFF)


def shape_trace(
    shape: str, rng: np.random.Generator, hours: float, start: datetime
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ts UTC datetime64[us], current_a with NaN, state, cycle) of one hand-made shape."""
    f = _Fine(rng)
    {
        "grinder": _grinder,
        "press_single": _press_single,
        "sag_lathe": _sag_lathe,
        "pump_10hz": _pump,
        "welder_dropouts": _welder,
        "compressor_high_unload": _compressor,
    }[shape](f, hours)
    rel = np.concatenate(f.v)
    st = np.concatenate(f.s)
    cyc = np.cumsum(np.concatenate(f.c))
    n = len(rel)
    tf = np.arange(n) / FINE_HZ
    nominal = rng.uniform(5, 120)
    volt = 1 + 0.03 * np.sin(2 * np.pi * tf / 86400 * rng.uniform(1, 3) + rng.uniform(0, 6))
    if shape == "sag_lathe":
        for _ in range(int(rng.integers(4, 12))):
            a = int(rng.integers(0, n))
            d = int(rng.uniform(60, 1800) * FINE_HZ)
            volt[a : a + d] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.08, 0.15)
    amps = rel * nominal * volt * (1 + 0.02 * rng.standard_normal(n))
    amps = np.abs(amps + nominal * 0.003 * rng.standard_normal(n))
    # sampling: RMS over each interval at jittered times
    if shape == "pump_10hz":
        step = rng.uniform(0.05, 0.15, int(tf[-1] / 0.05))
    else:
        hz = float(rng.choice([1.0, 2.0, 5.0]))
        step = np.full(int(tf[-1] * hz), 1 / hz) * (1 + rng.uniform(-0.2, 0.2, int(tf[-1] * hz)))
    ts = np.cumsum(step)
    ts = ts[(ts > 0.2) & (ts < tf[-1])]
    csq = np.concatenate([[0.0], np.cumsum(amps**2)]) / FINE_HZ
    grid = np.arange(n + 1) / FINE_HZ
    prev = np.concatenate([[ts[0] - step[0]], ts[:-1]])
    cur = np.sqrt(
        np.maximum(np.interp(ts, grid, csq) - np.interp(prev, grid, csq), 0) / np.maximum(ts - prev, 1e-3)
    )
    idx = np.minimum((ts * FINE_HZ).astype(np.int64), n - 1)
    state = np.array(("off", "idle", "running"))[st[idx]]
    cycle = cyc[idx]
    keep = np.ones(len(ts), dtype=bool)
    if shape == "welder_dropouts":
        for _ in range(int(rng.integers(10, 40))):
            a = int(rng.integers(0, len(ts)))
            cur[a : a + int(rng.uniform(5, 120) / np.median(step))] = np.nan
        for _ in range(int(rng.integers(1, 4))):
            a = int(rng.integers(0, len(ts)))
            keep[a : a + int(rng.uniform(60, 600) / np.median(step))] = False
    cur[rng.random(len(cur)) < 0.002] = np.nan
    t0 = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    tsd = t0 + (ts * 1e6).astype("timedelta64[us]")
    return tsd[keep], cur[keep], state[keep], cycle[keep]


def make_folder(out: Path, seed: int, hours: float = 6.0, repeats: int = 1) -> list[Path]:
    """One file per shape (and repeat) in `out`."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 4, 6, 7, 0, tzinfo=timezone(timedelta(hours=9)))
    paths = []
    for r in range(repeats):
        for shape in SHAPES:
            ts, cur, state, cycle = shape_trace(shape, rng, hours * rng.uniform(0.7, 1.3), start)
            p = out / f"hand_{shape}_{seed}_{r}.csv"
            write_csv(p, ts, cur, state, cycle)
            paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write hand-made development traces (issue 23)")
    ap.add_argument("out", type=Path)
    ap.add_argument("seed", type=int)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args(argv)
    print(f"{len(make_folder(a.out, a.seed, a.hours, a.repeats))} files in {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
