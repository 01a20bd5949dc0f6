"""Development traces of one family (issue 23): a machine tool whose program has a loaded phase
and a lighter phase in every cycle (the lighter one a little above its idle draw, labelled
running), production runs separated by stops at a distinct, lower idle level.

    python bench/data/retrofit_cycle_phase/make_traces.py OUT [SEED]

writes five files in the benchmark format (ts, current_a, state, cycle): the light phase at
1.2, 1.35, 1.5 (twice) and 2 times the idle draw, with different phase lengths, rates and run counts.
Made apart from retrofit/traces.py; the newcomer's trace (15 A 20 s, 5.5 A 10 s, idle 4 A,
2 Hz, 3 % noise) is the model.
"""

from __future__ import annotations

import sys

import numpy as np

from factory_commons.retrofit.traces import family_main

T0 = np.datetime64("2026-12-01T07:30:00", "us")

# name: (idle A, high A, high s, low ratio to idle, low s, low jitter s, Hz, runs, cycles per run)
FAMILY = {
    "phase_1p2_hz2": (4.0, 15.0, 20.0, 1.2, 10.0, 0.0, 2.0, 1, 240),
    "phase_1p5_hz1_runs": (4.0, 12.0, 30.0, 1.5, 20.0, 0.0, 1.0, 3, 60),
    "phase_2p0_hz5": (3.0, 20.0, 8.0, 2.0, 4.0, 0.0, 5.0, 2, 300),
    "phase_1p35_jitter": (6.0, 25.0, 45.0, 1.35, 15.0, 2.0, 2.0, 4, 40),
    "phase_1p5_one_run_hz1": (4.0, 15.0, 25.0, 1.5, 15.0, 1.0, 1.0, 1, 200),
}


def make(idle, high, high_s, ratio, low_s, jitter, hz, runs, cycles, rng) -> tuple:
    """Samples of one trace: off, then `runs` production runs each after an idle stop, idle and
    off at the end. The true state per sample and the cycle count (one per loaded phase)."""
    amps: list[np.ndarray] = []
    state: list[str] = []
    cyc: list[int] = []
    count = 0

    def put(a: float, s: float, st: str) -> None:
        n = max(1, int(round(s * hz)))
        amps.append(np.full(n, a))
        state.extend([st] * n)
        cyc.extend([count] * n)

    put(0.02, 1800, "off")
    for _ in range(runs):
        put(idle, float(rng.uniform(300, 900)), "idle")
        for _ in range(cycles):
            count += 1
            put(high, high_s, "running")
            put(idle * ratio, low_s + float(rng.uniform(-jitter, jitter)), "running")
    put(idle, 1200, "idle")
    put(0.02, 600, "off")
    x = np.concatenate(amps)
    x = np.abs(
        np.where(
            x > 0.1, x * (1 + 0.03 * rng.standard_normal(len(x))), 0.02 + 0.002 * rng.standard_normal(len(x))
        )
    )
    ts = T0 + (np.arange(len(x)) * (1e6 / hz)).astype("timedelta64[us]")
    return ts, x, np.array(state), np.array(cyc)


if __name__ == "__main__":
    raise SystemExit(family_main(sys.argv[1:], FAMILY, make))
