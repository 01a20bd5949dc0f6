"""Features of a clamp-on current signal, computed at the edge so that only these leave the shop.

A current transformer's converter delivers raw samples (hundreds to thousands a second, the
50/60 Hz wave itself) or, in cheaper meters, an RMS value a second. What the inference needs is
one RMS value per window (1-10 a second); the edge device computes it here from raw samples, with
a few shape features that tell a motor at rest from a machine working (crest factor, spread):

- `rms(samples, window)`: RMS per window of `window` raw samples (the last partial window is
  dropped); `rms_three_phase(a, b, c)`: the mean of the three phases' RMS (balanced load);
- `scale_adc(counts, ...)`: raw ADC counts to amps with the CT ratio and burden resistor;
- `window_features(samples, window)`: RMS, peak, crest factor, standard deviation per window;
- `edge_features(samples, hz_in, hz_out)`: the dict of arrays an edge device sends, one row per
  output sample.

All work on numpy arrays; NaN samples (a converter error) make their window NaN.
"""

from __future__ import annotations

import numpy as np

from .text import retrofit_error


def _windows(samples: np.ndarray, window: int) -> np.ndarray:
    if window < 1:
        raise ValueError(retrofit_error("err_window", window=window))
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(retrofit_error("err_samples_dim", shape=x.shape))
    n = len(x) // window
    return x[: n * window].reshape(n, window)


def rms(samples: np.ndarray, window: int) -> np.ndarray:
    """RMS of each window of `window` raw samples (DC offset included, as a true-RMS meter)."""
    w = _windows(samples, window)
    return np.sqrt(np.mean(w * w, axis=1))


def rms_three_phase(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One current for a three-phase machine: the mean of the phases' RMS values.

    Takes RMS values (one per window and phase) of equal length; a NaN phase is left out of the
    mean, so one broken clamp still gives a signal.
    """
    if len({len(a), len(b), len(c)}) != 1:
        raise ValueError(retrofit_error("err_phases", a=len(a), b=len(b), c=len(c)))
    arr = np.vstack([np.asarray(v, dtype=np.float64) for v in (a, b, c)])
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(arr)
        total = np.where(valid, arr, 0.0).sum(axis=0)
        count = valid.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def scale_adc(counts: np.ndarray, *, bits: int, vref: float, burden_ohm: float, ratio: float) -> np.ndarray:
    """Raw ADC counts of a CT with a burden resistor to amps on the primary.

    The ADC's midpoint is zero (the converter is biased at vref/2); volts over the burden divided
    by its resistance is the secondary current, times the CT ratio (turns) the primary's.
    """
    if bits < 1 or vref <= 0 or burden_ohm <= 0 or ratio <= 0:
        raise ValueError(retrofit_error("err_adc"))
    c = np.asarray(counts, dtype=np.float64)
    mid = 2 ** (bits - 1)
    volts = (c - mid) * vref / 2**bits
    return volts / burden_ohm * ratio


def window_features(samples: np.ndarray, window: int) -> dict[str, np.ndarray]:
    """RMS, peak, crest factor (peak / RMS) and standard deviation per window of raw samples.

    A motor turning freely draws a clean sine (crest factor near 1.41); a working machine's
    current is less regular. The features are for a person checking a sensor and for later models;
    the state inference reads RMS alone.
    """
    w = _windows(samples, window)
    r = np.sqrt(np.mean(w * w, axis=1))
    peak = np.max(np.abs(w), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crest = np.where(r > 0, peak / r, np.nan)
    return {"rms": r, "peak": peak, "crest": crest, "std": np.std(w, axis=1)}


def edge_features(samples: np.ndarray, hz_in: float, hz_out: float = 1.0) -> dict[str, np.ndarray]:
    """What an edge device sends from raw samples at `hz_in`: features at `hz_out` a second.

    One window spans hz_in / hz_out raw samples, which must be a whole number of at least 2
    (for 50/60 Hz mains, a window of whole mains periods keeps the RMS steady).
    """
    if hz_in <= 0 or hz_out <= 0:
        raise ValueError(retrofit_error("err_rates", hz_in=hz_in, hz_out=hz_out))
    per = hz_in / hz_out
    if abs(per - round(per)) > 1e-9 or round(per) < 2:
        raise ValueError(retrofit_error("err_rate_ratio", per=f"{per:g}"))
    return window_features(samples, int(round(per)))
