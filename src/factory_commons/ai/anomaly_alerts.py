"""From scores to alerts: episodes in batch, the same episodes online, and anomaly records.

An **episode** starts at the first row whose smoothed score is above the detector's threshold
and ends at the last flagged row followed by at least `clear` rows below it (default: the
detector's smoothing window), so a score hovering at the threshold gives one alert, not many.
Its evidence is each signal's share of the score summed over the episode's flagged rows.

`alerts_from_frame` does this over a whole time x signal frame; `OnlineDetector` takes rows
as they arrive, keeps the smoothing window and the open episode, and yields an alert the
moment an episode opens. Both give the same episode starts on the same rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ..i18n import Catalog
from ..model.records import AnomalyAlert
from .anomaly import WindowedDetector, causal_mean, shares

AI = Catalog("ai")

TOP_SIGNALS = 3


@dataclass(frozen=True)
class Episode:
    start: int  # row index of the first flagged row
    end: int  # row index of the last flagged row
    peak: float  # highest smoothed score
    evidence: dict[str, float]  # signal -> share of the episode's score


def episodes(
    scores: np.ndarray, parts: np.ndarray, threshold: float, signals: Sequence[str], clear: int
) -> list[Episode]:
    """Episodes of flagged rows (score > threshold), merged across gaps shorter than `clear`."""
    flagged = np.flatnonzero(scores > threshold)
    out: list[Episode] = []
    if not len(flagged):
        return out
    breaks = np.flatnonzero(np.diff(flagged) > clear) + 1
    for run in np.split(flagged, breaks):
        out.append(_episode(run, scores, parts, signals))
    return out


def _episode(rows: np.ndarray, scores: np.ndarray, parts: np.ndarray, signals: Sequence[str]) -> Episode:
    share = shares(parts[rows].sum(axis=0))
    return Episode(
        start=int(rows[0]),
        end=int(rows[-1]),
        peak=float(scores[rows].max()),
        evidence={s: round(float(v), 4) for s, v in zip(signals, share, strict=True)},
    )


def describe(evidence: dict[str, float], top: int = TOP_SIGNALS) -> str:
    """'vibration 72%, temperature 20%': the signals that contributed most."""
    ranked = sorted(evidence.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {share:.0%}" for name, share in ranked if share > 0)


def make_alert(
    machine: str,
    detector: str,
    ts: datetime,
    ts_end: datetime | None,
    peak: float,
    threshold: float,
    evidence,
) -> AnomalyAlert:
    """An anomaly record with a Korean + English message naming the top signals."""
    return AnomalyAlert(
        ts=ts,
        machine=machine,
        detector=detector,
        score=round(peak, 6),
        threshold=round(threshold, 6),
        ts_end=ts_end,
        evidence=evidence,
        message=AI.both("anomaly_detected", " / ").format(
            what=describe(evidence), score=peak, threshold=threshold
        ),
    )


def _utc(ts) -> datetime:
    t = pd.Timestamp(ts)
    return (t.tz_localize(UTC) if t.tzinfo is None else t.tz_convert(UTC)).to_pydatetime()


def alerts_from_frame(
    model: WindowedDetector, frame: pd.DataFrame, machine: str, detector: str, clear: int | None = None
) -> list[AnomalyAlert]:
    """Score a time-indexed frame (columns: the model's signals) and return one alert per episode."""
    X = select_signals(model, frame)
    parts = model.raw_parts(X)
    scores = causal_mean(parts.sum(axis=1), model.window)
    smoothed_parts = causal_mean(parts, model.window)
    eps = episodes(scores, smoothed_parts, model.threshold, model.signals, clear or model.window)
    idx = frame.index
    return [
        make_alert(
            machine, detector, _utc(idx[e.start]), _utc(idx[e.end]), e.peak, model.threshold, e.evidence
        )
        for e in eps
    ]


def select_signals(model: WindowedDetector, frame: pd.DataFrame) -> np.ndarray:
    """The frame's columns in the model's signal order; ValueError naming missing signals."""
    missing = [s for s in model.signals if s not in frame.columns]
    if missing:
        raise ValueError(
            f"signal(s) {', '.join(missing)} missing from the data; the model was trained on "
            f"{', '.join(model.signals)}"
        )
    return frame[model.signals].to_numpy(dtype=np.float64)


class OnlineDetector:
    """Feed rows as they arrive; get an alert when an anomaly episode opens.

    `update(ts, row)` takes one row (a mapping signal -> value or a sequence in the model's
    signal order) and returns an AnomalyAlert when this row opens an episode, else None.
    The smoothing window and the open episode are kept between calls; `score` and `flagged`
    hold the latest smoothed score and flag.
    """

    def __init__(self, model: WindowedDetector, machine: str, detector: str, clear: int | None = None):
        model._check_fitted()
        self.model, self.machine, self.detector = model, machine, detector
        self.clear = int(clear or model.window)
        self._recent: deque[np.ndarray] = deque(maxlen=model.window)
        self._quiet = self.clear  # unflagged rows since the last flagged row
        self.score = float("nan")
        self.flagged = False

    def update(self, ts: datetime, row) -> AnomalyAlert | None:
        if isinstance(row, dict):
            missing = [s for s in self.model.signals if s not in row]
            if missing:
                raise ValueError(f"row at {ts}: signal(s) {', '.join(missing)} missing")
            row = [row[s] for s in self.model.signals]
        parts = self.model.raw_parts(np.asarray(row, dtype=np.float64).reshape(1, -1))[0]
        self._recent.append(parts)
        smoothed = np.mean(self._recent, axis=0)
        self.score = float(smoothed.sum())
        self.flagged = self.score > self.model.threshold
        if not self.flagged:
            self._quiet += 1
            return None
        opens = self._quiet >= self.clear
        self._quiet = 0
        if not opens:
            return None
        evidence = {s: round(float(v), 4) for s, v in zip(self.model.signals, shares(smoothed), strict=True)}
        return make_alert(
            self.machine, self.detector, _utc(ts), None, self.score, self.model.threshold, evidence
        )

    def run(self, frame: pd.DataFrame) -> Iterator[AnomalyAlert]:
        """Feed every row of a time-indexed frame in order; yield the alerts as they open."""
        X = select_signals(self.model, frame)
        for ts, row in zip(frame.index, X, strict=True):
            alert = self.update(ts, row)
            if alert is not None:
                yield alert
