"""Development traces of one family (issue 23): continuous machines (a grinder, an extruder, a
pump) with a motor's inrush at every switch-on, the peak 3-7 times the load for 0.2-1 s.

    python bench/data/retrofit_inrush/make_traces.py OUT [SEED]

writes twelve files in the benchmark format (ts, current_a, state, cycle): at 1, 2 and 10 Hz,
a load that wanders or one that holds flat, without idle (off and running only: long sessions,
or a pump on a pressure switch started every minute or two) and with idle periods between
loaded ones (idle at 30-45 % of the load, the switch-on into idle). The inrush ratio is the
motor's own (3-7 times the load, within 5 % each start), and the CT's converter reads an offset
of 0.2-1 % of the load when off. The current
is the RMS over each sampling interval of a 50 Hz-resolution signal, so at 1 Hz an inrush is
mostly averaged into one sample and at 10 Hz it spans a few. The inrush samples are labelled
with the state the machine switches on into; `cycle` counts the loaded sessions.
Made apart from retrofit/traces.py.
"""

from __future__ import annotations

import sys

import numpy as np

from factory_commons.retrofit.traces import family_main

T0 = np.datetime64("2026-12-02T06:00:00", "us")
FINE = 50.0  # Hz of the underlying signal

LONG = ((1800.0, 3 * 3600.0), (300.0, 1800.0))  # loaded sessions and off times, seconds
SHORT = ((20.0, 90.0), (20.0, 90.0))  # a pump on a pressure switch: started every minute or two

# name: (load A, Hz, wander (relative), with idle periods, sessions, (run s, off s))
FAMILY = {
    "cont_wander_hz10": (22.0, 10.0, 0.25, False, 4, LONG),
    "cont_flat_hz10": (15.0, 10.0, 0.0, False, 5, LONG),
    "cont_wander_hz2": (30.0, 2.0, 0.25, False, 4, LONG),
    "cont_flat_hz2": (12.0, 2.0, 0.0, False, 5, LONG),
    "cont_wander_hz1": (18.0, 1.0, 0.25, False, 4, LONG),
    "pump_flat_hz10": (15.0, 10.0, 0.0, False, 80, SHORT),
    "pump_wander_hz10": (9.0, 10.0, 0.1, False, 60, SHORT),
    "pump_flat_hz2": (15.0, 2.0, 0.0, False, 80, SHORT),
    "pump_flat_hz1": (20.0, 1.0, 0.0, False, 80, SHORT),
    "idle_wander_hz10": (25.0, 10.0, 0.2, True, 3, LONG),
    "idle_flat_hz2": (14.0, 2.0, 0.0, True, 4, LONG),
    "idle_wander_hz1": (20.0, 1.0, 0.2, True, 3, LONG),
}


def make(
    load: float,
    hz: float,
    wander: float,
    with_idle: bool,
    sessions: int,
    times: tuple[tuple[float, float], tuple[float, float]],
    rng,
) -> tuple:
    """Samples of one trace: sessions of power-on separated by off, each switch-on with an inrush;
    with idle, each session idles, then alternates loaded stretches and idle stops. `times`: the
    ranges of a loaded session's and an off time's length (seconds)."""
    run_s, off_s = times
    amps: list[np.ndarray] = []
    state: list[str] = []
    cyc: list[int] = []
    count = 0

    def put(a: np.ndarray, st: str) -> None:
        amps.append(a)
        state.extend([st] * len(a))
        cyc.extend([count] * len(a))

    def n_of(s: float) -> int:
        return max(1, int(round(s * FINE)))

    def loaded(s: float) -> np.ndarray:
        n = n_of(s)
        walk = np.cumsum(rng.standard_normal(n)) / np.sqrt(FINE * 300)
        return load * (1.0 + wander * np.tanh(walk / 2.0))

    idle = load * float(rng.uniform(0.30, 0.45))
    ratio = float(rng.uniform(3, 7))  # inrush peak / load
    floor = float(rng.uniform(0.002, 0.01))  # the CT converter's offset, relative to the load
    put(np.full(n_of(rng.uniform(300, 1200)), 0.0), "off")
    for _ in range(sessions):
        first = "idle" if with_idle else "running"
        # the locked-rotor current: the motor's own ratio (within 5 % each start), held while
        # the rotor speeds up, then falling to the draw it switches on into
        k = n_of(rng.uniform(0.2, 1.0))
        peak = load * ratio * float(rng.uniform(0.95, 1.05))
        base = idle if with_idle else load
        spike = base + (peak - base) * np.minimum(1.0, 3.0 * (1.0 - np.arange(k) / k))
        if not with_idle:
            count += 1
        put(spike, first)
        if with_idle:
            put(np.full(n_of(rng.uniform(120, 600)), idle), "idle")
            for _ in range(int(rng.integers(2, 5))):
                count += 1
                put(loaded(rng.uniform(900, 3600)), "running")
                put(np.full(n_of(rng.uniform(120, 900)), idle), "idle")
        else:
            put(loaded(rng.uniform(*run_s)), "running")
        put(np.full(n_of(rng.uniform(*off_s)), 0.0), "off")
    fine = np.concatenate(amps)
    fine = fine * (1 + 0.02 * rng.standard_normal(len(fine)))
    st_f = np.array(state)
    cy_f = np.array(cyc)
    # RMS over each sampling interval, plus the CT's noise floor
    per = int(round(FINE / hz))
    n = len(fine) // per
    rms = np.sqrt(np.mean(fine[: n * per].reshape(n, per) ** 2, axis=1))
    rms = np.abs(rms + floor * load * (1 + 0.3 * rng.standard_normal(n)))
    pick = np.arange(n) * per + per - 1
    ts = T0 + (np.arange(1, n + 1) * (1e6 / hz)).astype("timedelta64[us]")
    return ts, rms, st_f[pick], cy_f[pick]


if __name__ == "__main__":
    raise SystemExit(family_main(sys.argv[1:], FAMILY, make))
