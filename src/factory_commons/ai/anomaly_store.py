"""Anomaly detection over the store: train per machine, detect, store alerts, check lead times.

Models live in one folder, one sub-folder per machine (the path with '/' replaced by '__'),
each saved with `save_model` (JSON + npz, no pickle). The model remembers its machine, its
sampling interval and the period it was trained on, so `detect` can default to the data after
that period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from ..model.records import AnomalyAlert
from ..store.base import Store
from .anomaly import DEFAULT_DETECTOR, WindowedDetector, make_detector
from .anomaly_alerts import alerts_from_frame
from .base import ModelFileError, load_model, save_model
from .signals import median_interval_s, read_wide, signal_span

DEFAULT_TRAIN_DAYS = 3


def model_folder(root: str | Path, machine: str) -> Path:
    return Path(root) / machine.replace("/", "__")


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def train_machine(
    store: Store,
    machine: str,
    model_dir: str | Path,
    start: datetime | None = None,
    end: datetime | None = None,
    detector: str = DEFAULT_DETECTOR,
    train_days: float = DEFAULT_TRAIN_DAYS,
) -> tuple[WindowedDetector, Path]:
    """Fit a detector on a period of normal operation of `machine` and save it.

    Default period: from the machine's first signal sample for `train_days` days.
    """
    first, _last = signal_span(store, machine)
    if first is None:
        raise ValueError(f"machine {machine}: no signals in the store")
    start = _aware(start) if start else _aware(first)
    end = _aware(end) if end else start + timedelta(days=train_days)
    if end <= start:
        raise ValueError(f"training period is empty: --to {end:%Y-%m-%d %H:%M} is not after --from {start}")
    interval = median_interval_s(store, machine)
    frame = read_wide(store, machine, start, end, interval)
    if len(frame) < 100:
        raise ValueError(
            f"machine {machine}: only {len(frame)} complete rows between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC; train on a longer normal period"
        )
    model = make_detector(detector)
    model.meta = {
        "machine": machine,
        "interval_s": interval,
        "train_from": start.isoformat(),
        "train_to": end.isoformat(),
    }
    model.fit(frame)
    folder = save_model(model, model_folder(model_dir, machine))
    return model, folder


def load_models(model_dir: str | Path, machines: list[str] | None = None) -> dict[str, WindowedDetector]:
    """machine -> fitted detector from a model folder (one sub-folder per machine)."""
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelFileError(f"{root}: model folder not found; run `factory-commons ai train` first")
    folders = (
        [root] if (root / "model.json").is_file() else sorted(p.parent for p in root.glob("*/model.json"))
    )
    models: dict[str, WindowedDetector] = {}
    for folder in folders:
        model = load_model(folder)
        if not isinstance(model, WindowedDetector):
            continue  # another kind of model (RUL) in the same folder
        machine = model.meta.get("machine")
        if not isinstance(machine, str):
            raise ModelFileError(f"{folder / 'model.json'}: field 'params.meta.machine' is missing")
        models[machine] = model
    if machines is not None:
        missing = [m for m in machines if m not in models]
        if missing:
            raise ModelFileError(f"{root}: no model for {', '.join(missing)}; train it first")
        models = {m: models[m] for m in machines}
    if not models:
        raise ModelFileError(f"{root}: no anomaly model here; run `factory-commons ai train` first")
    return models


def detect_machine(
    store: Store,
    machine: str,
    model: WindowedDetector,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[AnomalyAlert]:
    """Alerts for `machine` in [start, end) (default: from the end of its training period)."""
    if start is None and model.meta.get("train_to"):
        start = datetime.fromisoformat(model.meta["train_to"])
    frame = read_wide(store, machine, start, end, int(model.meta.get("interval_s") or 60))
    if frame.empty:
        return []
    return alerts_from_frame(model, frame, machine, detector=model.method)


@dataclass(frozen=True)
class LeadTime:
    """Was a degrading breakdown flagged before it happened, and how early?"""

    machine: str
    reason_code: str
    breakdown: datetime
    drift_start: datetime
    first_alert: datetime | None

    @property
    def flagged(self) -> bool:
        return self.first_alert is not None

    @property
    def lead(self) -> timedelta | None:
        return None if self.first_alert is None else self.breakdown - self.first_alert


def lead_times(alerts: list[AnomalyAlert], breakdowns, since: datetime | None = None) -> list[LeadTime]:
    """Per breakdown with a drift (simulator ground truth), the first alert in its drift window.

    An alert counts for a breakdown when its episode overlaps [drift_start, breakdown start).
    Breakdowns before `since` (for example, inside the training period) are left out.
    """
    out = []
    for b in breakdowns:
        if b.drift_start is None or (since is not None and b.start < _aware(since)):
            continue
        hits = [
            a.ts
            for a in alerts
            if a.machine == b.machine and a.ts < b.start and (a.ts_end or a.ts) >= b.drift_start
        ]
        first = max(min(hits), b.drift_start) if hits else None
        out.append(LeadTime(b.machine, b.reason_code, b.start, b.drift_start, first))
    return out


def false_alerts(alerts: list[AnomalyAlert], breakdowns) -> list[AnomalyAlert]:
    """Alerts that overlap no drift window nor any breakdown (down time) of their machine."""
    out = []
    for a in alerts:
        a_end = a.ts_end or a.ts
        explained = any(
            b.machine == a.machine
            and a.ts <= b.end
            and a_end >= (b.drift_start if b.drift_start is not None else b.start)
            for b in breakdowns
        )
        if not explained:
            out.append(a)
    return out


def alerts_frame(alerts: list[AnomalyAlert]) -> pd.DataFrame:
    return pd.DataFrame([a.model_dump() for a in alerts])


@dataclass(frozen=True)
class Breakdown:
    """An unplanned stop long enough to be a breakdown, read from the store's states."""

    machine: str
    start: datetime
    end: datetime | None
    reason_code: str | None


def breakdowns_in_store(
    store: Store,
    machines: list[str],
    start: datetime | None = None,
    end: datetime | None = None,
    min_minutes: float = 15.0,
) -> list[Breakdown]:
    """`unplanned_down` episodes of at least `min_minutes` (short micro-stops are left out)."""
    if not machines:
        return []
    marks = ", ".join("?" * len(machines))
    rows = store.query(
        f"""
        SELECT machine, ts, next_ts, reason_code FROM (
            SELECT machine, ts, state, reason_code, lead(ts) OVER (PARTITION BY machine ORDER BY ts) AS next_ts
            FROM v_states WHERE machine IN ({marks})
        ) s
        WHERE state = 'unplanned_down'
        ORDER BY machine, ts
        """,
        list(machines),
    ).to_pylist()
    out = []
    for r in rows:
        b_start = _aware(r["ts"])
        b_end = _aware(r["next_ts"]) if r["next_ts"] is not None else None
        if b_end is not None and (b_end - b_start).total_seconds() < min_minutes * 60:
            continue
        if (start is not None and b_start < _aware(start)) or (end is not None and b_start >= _aware(end)):
            continue
        out.append(Breakdown(r["machine"], b_start, b_end, r["reason_code"]))
    return out


@dataclass(frozen=True)
class Warning:
    """How long before a breakdown the first alert came (None: no alert in the look-back window)."""

    machine: str
    breakdown: datetime
    reason_code: str | None
    first_alert: datetime | None

    @property
    def lead(self) -> timedelta | None:
        return None if self.first_alert is None else self.breakdown - self.first_alert


def warnings_before(
    alerts: list[AnomalyAlert], breakdowns: list[Breakdown], lookback: timedelta = timedelta(hours=48)
) -> list[Warning]:
    """For each breakdown, the first alert of its machine within `lookback` before it.

    Alerts before the end of the machine's previous breakdown do not count: they belong to that
    one. This needs no ground truth, so it works on a real shop's history as on the simulator's.
    """
    out = []
    by_machine: dict[str, list[Breakdown]] = {}
    for b in sorted(breakdowns, key=lambda b: b.start):
        by_machine.setdefault(b.machine, []).append(b)
    for machine, items in by_machine.items():
        previous_end: datetime | None = None
        for b in items:
            window_start = b.start - lookback
            if previous_end is not None:
                window_start = max(window_start, previous_end)
            hits = [
                _aware(a.ts)
                for a in alerts
                if a.machine == machine and window_start <= _aware(a.ts) < b.start
            ]
            out.append(Warning(machine, b.start, b.reason_code, min(hits) if hits else None))
            previous_end = b.end or b.start
    return out
