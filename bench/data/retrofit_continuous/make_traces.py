"""Development traces of one family (issue 23): continuous machines (a grinder, an extruder, a
conveyor, a mixer) that never idle, with a mild switch-on surge: the motor starts against its load
(or a soft starter ramps it), the current 1.3-2 times the load for a few seconds, then settles.

    python bench/data/retrofit_continuous/make_traces.py OUT [SEED]

writes ten files in the benchmark format (ts, current_a, state, cycle), at 10 Hz and 1 Hz, off and
running only: a load that wanders (a bounded random walk, with steps of +-15 % every ten minutes)
or holds flat; long sessions (half an hour to four hours, offs of 5-40 minutes) or sessions of a
one to ten minutes with short offs (5-60 s: an operator stopping the conveyor, an interlock), or both.
The surge at each switch-on is the machine's own (1.3-2 times the load, within 10 % each start),
held for 2-6 s and decaying to the load over 1-3 s more; at 10 Hz and with short offs its samples
make a small level of their own above the load (1-3 % of the samples). The CT's converter reads an
offset of 0.2-1 % of the load when off. The current is the RMS over each sampling interval of a
50 Hz-resolution signal. The surge samples are running; `cycle` counts the sessions.
Made apart from retrofit/traces.py and the inrush family (a surge, not a locked-rotor peak).
"""

from __future__ import annotations

import sys

import numpy as np

from factory_commons.retrofit.traces import family_main

T0 = np.datetime64("2026-12-03T06:00:00", "us")
FINE = 50.0  # Hz of the underlying signal

LONG = ((1800.0, 4 * 3600.0), (300.0, 2400.0))  # sessions and off times, seconds
SHORT = ((60.0, 600.0), (5.0, 60.0))  # sessions of minutes, short offs
# name: (load A, Hz, wander (relative), hours, (session s, off s), share of short offs)
FAMILY = {
    "wander_long_hz10": (18.0, 10.0, 0.3, 8.0, LONG, 0.0),
    "flat_long_hz10": (9.0, 10.0, 0.0, 8.0, LONG, 0.0),
    "wander_short_hz10": (25.0, 10.0, 0.3, 6.0, SHORT, 1.0),
    "flat_short_hz10": (6.0, 10.0, 0.0, 6.0, SHORT, 1.0),
    "wander_mixed_hz10": (40.0, 10.0, 0.3, 8.0, LONG, 0.5),
    "flat_mixed_hz10": (14.0, 10.0, 0.0, 8.0, LONG, 0.5),
    "wander_long_hz1": (12.0, 1.0, 0.3, 12.0, LONG, 0.0),
    "wander_short_hz1": (30.0, 1.0, 0.3, 8.0, SHORT, 1.0),
    "flat_short_hz1": (8.0, 1.0, 0.0, 8.0, SHORT, 1.0),
    "wander_mixed_hz1": (20.0, 1.0, 0.3, 12.0, LONG, 0.5),
}


def make(
    load: float,
    hz: float,
    wander: float,
    hours: float,
    times: tuple[tuple[float, float], tuple[float, float]],
    short_share: float,
    rng,
) -> tuple:
    """Samples of one trace: sessions of running separated by offs, each start with a surge.
    `times`: the ranges of a session's and an off time's length (seconds); with `short_share`
    > 0 a long session is cut by short offs (that share of its ten-minute stretches ends in one)."""
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
        walk = np.cumsum(rng.standard_normal(n)) / np.sqrt(FINE * 600)
        a = load * (1.0 + wander * np.tanh(walk / 3.0))
        if wander > 0:
            steps = rng.choice([0.85, 1.0, 1.15], size=n // n_of(600) + 1)
            a = a * np.repeat(steps, n_of(600))[:n]
        return a

    ratio = float(rng.uniform(1.3, 2.0))  # surge / load
    hold = float(rng.uniform(2.0, 6.0))  # seconds at the surge
    fall = float(rng.uniform(1.0, 3.0))  # seconds to settle
    floor = float(rng.uniform(0.002, 0.01))  # the CT converter's offset, relative to the load
    put(np.full(n_of(rng.uniform(60, 900)), 0.0), "off")
    total = 0.0
    while total < hours * 3600:
        count += 1
        body = loaded(rng.uniform(*run_s))
        k1, k2 = n_of(hold * rng.uniform(0.9, 1.1)), n_of(fall)
        k2 = min(k2, max(1, len(body) - k1))
        peak = body[0] * ratio * float(rng.uniform(0.95, 1.05))
        body[:k1] = peak
        body[k1 : k1 + k2] = peak + (body[k1 : k1 + k2] - peak) * np.linspace(0, 1, k2)
        # short offs inside a session: each ten-minute stretch ends in one with `short_share`
        n10 = n_of(600)
        pieces = [body[i : i + n10] for i in range(0, len(body), n10)] if short_share > 0 else [body]
        for j, piece in enumerate(pieces):
            if j > 0:
                if rng.uniform() < short_share:
                    put(np.full(n_of(rng.uniform(*SHORT[1])), 0.0), "off")
                    count += 1
                    piece = piece.copy()
                    k = min(len(piece), k1)
                    piece[:k] = piece[0] * ratio * float(rng.uniform(0.95, 1.05))
            put(piece, "running")
        total += len(body) / FINE
        put(np.full(n_of(rng.uniform(*off_s)), 0.0), "off")
    fine = np.concatenate(amps)
    fine = fine * (1 + 0.02 * rng.standard_normal(len(fine)))
    st_f = np.array(state)
    cy_f = np.array(cyc)
    per = int(round(FINE / hz))
    n = len(fine) // per
    rms = np.sqrt(np.mean(fine[: n * per].reshape(n, per) ** 2, axis=1))
    rms = np.abs(rms + floor * load * (1 + 0.3 * rng.standard_normal(n)))
    pick = np.arange(n) * per + per - 1
    ts = T0 + (np.arange(1, n + 1) * (1e6 / hz)).astype("timedelta64[us]")
    return ts, rms, st_f[pick], cy_f[pick]


if __name__ == "__main__":
    raise SystemExit(family_main(sys.argv[1:], FAMILY, make))
