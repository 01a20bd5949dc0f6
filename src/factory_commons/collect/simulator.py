"""A deterministic simulated factory: a small metal-working shop with three lines and 12 machines.

The simulator plays each machine through a shift calendar as a small event loop (orders,
changeovers, micro-stops, waiting, breakdowns drawn from MTBF/MTTR distributions, planned
maintenance) and then builds the high-volume data with numpy: part counts grouped per minute,
sensor signals on a fixed grid, quality samples. Sensor signals drift (vibration, temperature,
load) in the hours before a breakdown of a degrading kind, so that anomaly detection and
remaining-useful-life work have something true to find; `FactorySimulator.breakdowns` is the
ground truth.

With `legacy=True` the shop also has six old machines without a network port (a lathe, a
machining center, a mechanical press, an injection machine, a manual welder and a compressor)
on the line `legacy/legacy-1`. They run through the same event loop, but report only the RMS
current of one phase from a clamp-on sensor (the signal `current`, in A, every
`current_interval_s` seconds, for the last `legacy_days` days (the day the sensor was clamped
on) or over `legacy_window` (a sensor tried out for a few hours)), drawn from their true state timeline and cycles: `legacy_truth()` keeps those (states,
counts, the electrical off/idle/running timeline, cycle starts) for scoring the retrofit
inference of `factory_commons.retrofit`.

Everything is drawn from `numpy.random.default_rng` streams derived from the seed, the
machine and the day, so the same seed gives identical tables, whatever is read first.

    sim = FactorySimulator(seed=7, start=datetime(2026, 10, 5, tzinfo=ZoneInfo("Asia/Seoul")))
    for day_index, batches in sim.iter_days(): ...  # {"state": pa.Table, "count": ..., ...}
    summary = sim.write_to(store)                    # kind -> rows written
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from ..model.calendar import PlannedBreak, Shift, ShiftCalendar
from ..model.hierarchy import Machine

# -- vocabulary -----------------------------------------------------------------------------

STATES = ("running", "idle", "setup", "unplanned_down", "planned_stop", "no_order")
RUNNING, IDLE, SETUP, DOWN, PLANNED, NO_ORDER = range(len(STATES))
KINDS = ("order", "state", "count", "signal", "alarm", "quality")
SIGNALS = (("load", "%"), ("vibration", "mm/s"), ("temperature", "°C"))

TS = pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "state": pa.schema(
        [
            ("machine", pa.string()),
            ("ts", TS),
            ("state", pa.string()),
            ("reason_code", pa.string()),
            ("order_id", pa.string()),
        ]
    ),
    "count": pa.schema(
        [
            ("machine", pa.string()),
            ("ts", TS),
            ("good", pa.int64()),
            ("scrap", pa.int64()),
            ("rework", pa.int64()),
            ("scrap_reason", pa.string()),
            ("order_id", pa.string()),
        ]
    ),
    "signal": pa.schema(
        [
            ("machine", pa.string()),
            ("name", pa.string()),
            ("ts", TS),
            ("value", pa.float64()),
            ("unit", pa.string()),
        ]
    ),
    "alarm": pa.schema(
        [
            ("machine", pa.string()),
            ("ts", TS),
            ("code", pa.string()),
            ("severity", pa.string()),
            ("message", pa.string()),
            ("active", pa.bool_()),
        ]
    ),
    "quality": pa.schema(
        [
            ("machine", pa.string()),
            ("ts", TS),
            ("characteristic", pa.string()),
            ("value", pa.float64()),
            ("lsl", pa.float64()),
            ("usl", pa.float64()),
            ("target", pa.float64()),
            ("unit", pa.string()),
            ("sample_id", pa.string()),
            ("order_id", pa.string()),
        ]
    ),
    "order": pa.schema(
        [
            ("order_id", pa.string()),
            ("product", pa.string()),
            ("quantity", pa.int64()),
            ("ideal_cycle_time_s", pa.float64()),
            ("machine", pa.string()),
            ("planned_start", TS),
            ("due", TS),
        ]
    ),
}


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    ideal_cycle_time_s: float
    load_pct: float  # typical spindle / ram / torch load while making it


@dataclass(frozen=True)
class FailureMode:
    """A breakdown cause. Degrading modes drift the signals before they strike."""

    code: str
    message: str
    weight: float
    drift_vibration: float = 0.0  # added vibration at failure, as a share of the running level
    drift_temperature: float = 0.0  # added °C at failure
    drift_load: float = 0.0  # added load % at failure

    @property
    def drifts(self) -> bool:
        return bool(self.drift_vibration or self.drift_temperature or self.drift_load)


@dataclass(frozen=True)
class Characteristic:
    name: str
    target: float
    lsl: float
    usl: float
    sigma: float
    unit: str = "mm"


@dataclass(frozen=True)
class LineSpec:
    area: str
    line: str
    kind: str
    display: str  # display name prefix, e.g. "CNC 가공" -> "CNC 가공 1호기"
    products: tuple[Product, ...]
    modes: tuple[FailureMode, ...]
    characteristic: Characteristic
    scrap_reasons: tuple[str, ...]
    micro_reasons: tuple[str, ...]
    mtbf_h: float  # mean running hours between breakdowns
    mttr_median_min: float
    setup_median_min: float
    run_vibration: float  # mm/s while running
    run_temperature: float  # °C while running, steady state
    thermal_tau_min: float
    micro_every_min: float  # mean running minutes between micro-stops
    order_hours: tuple[float, float]  # how long an order takes, roughly
    #: short stops and waits come between two parts (an operator finishes the part first);
    #: breakdowns still strike mid-part
    stops_between_parts: bool = False


@dataclass(frozen=True)
class MachineSpec:
    """One simulated machine: the registered Machine and the behaviour behind it."""

    machine: Machine
    line: LineSpec
    index: int
    speed_factor: float  # this machine's ideal cycle relative to the product's
    mtbf_h: float
    mttr_median_min: float

    @property
    def path(self) -> str:
        return self.machine.path


@dataclass(frozen=True)
class Breakdown:
    """Ground truth of one simulated breakdown (UTC datetimes)."""

    machine: str
    start: datetime
    end: datetime
    reason_code: str
    drift_start: datetime | None  # when the signals began to drift; None for sudden failures


LINES: tuple[LineSpec, ...] = (
    LineSpec(
        area="machining",
        line="cnc-1",
        kind="cnc",
        display="CNC 가공",
        products=(
            Product("FLG-100", "flange / 플랜지", 95.0, 55.0),
            Product("SFT-220", "shaft / 샤프트", 140.0, 62.0),
            Product("HSG-310", "housing / 하우징", 180.0, 70.0),
        ),
        modes=(
            FailureMode("spindle_overheat", "주축 과열 / spindle overheat", 0.3, 0.4, 15.0, 4.0),
            FailureMode("spindle_bearing_wear", "주축 베어링 마모 / spindle bearing wear", 0.25, 1.3, 5.0),
            FailureMode("tool_break", "공구 파손 / tool break", 0.3),
            FailureMode("coolant_pump_fault", "절삭유 펌프 고장 / coolant pump fault", 0.15),
        ),
        characteristic=Characteristic("bore_diameter", 25.0, 24.975, 25.025, 0.005),
        scrap_reasons=("dimension_out_of_tolerance", "surface_scratch"),
        micro_reasons=("chip_clearing", "door_interlock", "tool_offset_check"),
        mtbf_h=55.0,
        mttr_median_min=50.0,
        setup_median_min=45.0,
        run_vibration=1.6,
        run_temperature=41.0,
        thermal_tau_min=25.0,
        micro_every_min=30.0,
        order_hours=(3.0, 12.0),
    ),
    LineSpec(
        area="press",
        line="press-1",
        kind="press",
        display="프레스",
        products=(
            Product("BRK-010", "bracket / 브래킷", 6.0, 65.0),
            Product("CLP-020", "clip / 클립", 4.5, 52.0),
            Product("PLT-030", "plate / 플레이트", 8.0, 74.0),
        ),
        modes=(
            FailureMode("hydraulic_leak", "유압 누유 / hydraulic leak", 0.35, 0.3, 12.0, 10.0),
            FailureMode("clutch_brake_wear", "클러치·브레이크 마모 / clutch-brake wear", 0.25, 1.0, 4.0),
            FailureMode("die_crack", "금형 균열 / die crack", 0.25),
            FailureMode("sensor_fault", "센서 이상 / sensor fault", 0.15),
        ),
        characteristic=Characteristic("flange_height", 12.0, 11.9, 12.1, 0.02),
        scrap_reasons=("crack", "burr"),
        micro_reasons=("misfeed", "double_blank", "light_curtain"),
        mtbf_h=45.0,
        mttr_median_min=40.0,
        setup_median_min=35.0,
        run_vibration=3.0,
        run_temperature=47.0,
        thermal_tau_min=40.0,
        micro_every_min=15.0,
        order_hours=(2.0, 8.0),
    ),
    LineSpec(
        area="welding",
        line="weld-1",
        kind="welding_robot",
        display="용접 로봇",
        products=(
            Product("FRM-500", "frame / 프레임", 55.0, 45.0),
            Product("ASM-510", "bracket assembly / 브래킷 조립", 70.0, 50.0),
        ),
        modes=(
            FailureMode("wire_feed_jam", "와이어 송급 막힘 / wire feed jam", 0.4),
            FailureMode("torch_cooling_failure", "토치 냉각 불량 / torch cooling failure", 0.3, 0.2, 16.0),
            FailureMode("servo_fault", "서보 이상 / servo fault", 0.3, 0.9, 3.0),
        ),
        characteristic=Characteristic("bead_width", 6.0, 5.4, 6.6, 0.12),
        scrap_reasons=("porosity", "undercut"),
        micro_reasons=("nozzle_cleaning", "wire_stick", "fixture_clamp"),
        mtbf_h=70.0,
        mttr_median_min=35.0,
        setup_median_min=25.0,
        run_vibration=0.9,
        run_temperature=37.0,
        thermal_tau_min=20.0,
        micro_every_min=25.0,
        order_hours=(3.0, 10.0),
    ),
)
MACHINES_PER_LINE = (5, 4, 3)
ENTERPRISE, SITE = "acme", "changwon"
CALENDAR_NAME = "changwon-2shift"
AMBIENT_C = 24.0
MICRO_STOP_MAX_S = 90
WAIT_EVERY_H = 8.0  # mean running hours between waits for material
LOOKAHEAD_DAYS = 2  # simulate past the end so that drifts near the end are true


def default_calendar(name: str = CALENDAR_NAME, timezone: str = "Asia/Seoul") -> ShiftCalendar:
    """Two shifts on weekdays (day with lunch and tea, evening with a meal) and a Saturday morning."""
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    return ShiftCalendar(
        name=name,
        timezone=timezone,
        shifts=(
            Shift(
                name="day",
                start=time(8),
                end=time(17),
                days=weekdays,
                breaks=(
                    PlannedBreak(name="lunch", start=time(12), end=time(13)),
                    PlannedBreak(name="tea", start=time(15), end=time(15, 10)),
                ),
            ),
            Shift(
                name="evening",
                start=time(17),
                end=time(1),
                days=weekdays,
                breaks=(PlannedBreak(name="meal", start=time(20, 30), end=time(21)),),
            ),
            Shift(name="saturday", start=time(8), end=time(13), days=("sat",)),
        ),
    )


def default_machines(calendar: str = CALENDAR_NAME) -> list[MachineSpec]:
    specs: list[MachineSpec] = []
    rng = np.random.default_rng(20261005)  # fixed: the factory's layout does not depend on the seed
    for line, n in zip(LINES, MACHINES_PER_LINE, strict=True):
        prefix = line.line.split("-")[0]
        for k in range(1, n + 1):
            speed = float(round(1.0 + 0.05 * (k - 1) + rng.uniform(0, 0.03), 3))
            ideal = float(np.mean([p.ideal_cycle_time_s for p in line.products]) * speed)
            machine = Machine(
                path=f"{ENTERPRISE}/{SITE}/{line.area}/{line.line}/{prefix}-{k:02d}",
                display_name=f"{line.display} {k}호기",
                kind=line.kind,
                calendar=calendar,
                default_ideal_cycle_time_s=round(ideal, 2),
            )
            specs.append(
                MachineSpec(
                    machine=machine,
                    line=line,
                    index=len(specs),
                    speed_factor=speed,
                    mtbf_h=line.mtbf_h * float(rng.uniform(0.8, 1.25)),
                    mttr_median_min=line.mttr_median_min * float(rng.uniform(0.8, 1.2)),
                )
            )
    return specs


# -- one machine's simulated history -----------------------------------------------------------


@dataclass
class _History:
    spec: MachineSpec
    state_t: np.ndarray  # int64 epoch seconds, strictly increasing
    state: np.ndarray  # int8 index into STATES
    reason: np.ndarray  # object
    order: np.ndarray  # object (order id or None)
    load: np.ndarray  # float: running load level of the state's product
    temp0: np.ndarray  # °C at the start of each state (thermal model, before drift)
    temp_target: np.ndarray  # °C the machine tends to in each state
    count_t: np.ndarray  # int64 epoch microseconds
    count_cols: dict[str, np.ndarray]
    alarm_t: np.ndarray  # int64 epoch seconds
    alarm_cols: dict[str, np.ndarray]
    orders: list[dict]
    drift: np.ndarray  # rows: fail_t, drift_start_t, vib, temp, load
    breakdowns: list[tuple[int, int, str, int | None]] = field(default_factory=list)
    part_t: np.ndarray = field(default_factory=lambda: np.empty(0))  # each part's completion, s
    part_start: np.ndarray = field(default_factory=lambda: np.empty(0))  # each part's cycle start, s

    def drift_at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Summed drift (vibration share, °C, load %) at times t (seconds, sorted)."""
        vib, temp, load = (np.zeros(len(t)) for _ in range(3))
        for fail, ds, dv, dtemp, dl in self.drift:
            a, b = np.searchsorted(t, [ds, fail])
            if b <= a:
                continue
            g = ((t[a:b] - ds) / (fail - ds)) ** 2
            vib[a:b] += dv * g
            temp[a:b] += dtemp * g
            load[a:b] += dl * g
        return vib, temp, load


class FactorySimulator:
    """A seeded small factory (acme / changwon): 12 machines on CNC, press and welding lines.

    `start` is the first simulated instant (a naive datetime is plant-local time); day i is
    the 24 h from start + i days. `signal_interval_s` spaces the sensor samples (load,
    vibration, temperature per machine), `count_interval_s` the part-count groups and
    `quality_interval_s` the quality samples. The events are simulated once, on first use,
    for the whole range (plus two days, so that drifts near the end are real); the tables
    of each day are built when `iter_days` reaches it.
    """

    def __init__(
        self,
        seed: int = 7,
        start: datetime | None = None,
        days: int = 21,
        signal_interval_s: int = 60,
        quality_interval_s: int = 1800,
        count_interval_s: int = 60,
        calendar: ShiftCalendar | None = None,
        specs: list[MachineSpec] | None = None,
        legacy: bool = False,
        legacy_days: int | None = None,
        legacy_window: tuple[datetime, datetime] | None = None,
        current_interval_s: float = 1.0,
    ):
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        if signal_interval_s < 1 or quality_interval_s < 1 or count_interval_s < 1:
            raise ValueError("intervals must be at least 1 second")
        self.seed = int(seed)
        self._calendar = calendar or default_calendar()
        tz = ZoneInfo(self._calendar.timezone)
        if start is None:
            start = datetime(2026, 10, 5, tzinfo=tz)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=tz)  # a naive start is plant-local time
        self.start = start
        self.days = int(days)
        self.signal_interval_s = int(signal_interval_s)
        self.quality_interval_s = int(quality_interval_s)
        self.count_interval_s = int(count_interval_s)
        self.specs = specs or default_machines(self._calendar.name)
        self.legacy_specs = legacy_machines(self._calendar.name) if legacy else []
        if legacy_days is not None and legacy_days < 1:
            raise ValueError(f"legacy_days must be at least 1, got {legacy_days}")
        if not 0.05 <= current_interval_s <= 3600:
            raise ValueError(f"current_interval_s must be within 0.05-3600 s, got {current_interval_s}")
        self.legacy_days = min(legacy_days or self.days, self.days)
        self.current_interval_s = float(current_interval_s)
        self._bounds = [int((start + timedelta(days=i)).timestamp()) for i in range(self.days + 1)]
        self._window = (self._bounds[self.days - self.legacy_days], self._bounds[-1])
        if legacy_window is not None:
            w0, w1 = (int(w.timestamp()) for w in legacy_window)
            if not self._bounds[0] <= w0 < w1 <= self._bounds[-1]:
                raise ValueError("legacy_window must be a non-empty stretch inside the simulated days")
            self._window = (w0, w1)
        self._histories: list[_History] | None = None
        self._legacy: list[_History] = []

    # -- the factory ---------------------------------------------------------------------------
    def machines(self) -> list[Machine]:
        return [s.machine for s in (*self.specs, *self.legacy_specs)]

    def legacy_paths(self) -> list[str]:
        """The machines that report only a current signal (none unless `legacy=True`)."""
        return [s.path for s in self.legacy_specs]

    @property
    def sensor_start(self) -> datetime:
        """When the legacy machines' current sensors were clamped on (their first sample)."""
        return _dt(self._window[0])

    @property
    def sensor_end(self) -> datetime:
        """When the legacy machines' current sensors were taken off (the end, unless a window)."""
        return _dt(self._window[1])

    def calendar(self) -> ShiftCalendar:
        return self._calendar

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def breakdowns(self) -> list[Breakdown]:
        """Every breakdown that started inside the simulated range, ordered by start."""
        t0, t1 = self._bounds[0], self._bounds[-1]
        out = []
        for h in self._simulated():
            for s, e, code, ds in h.breakdowns:
                if t0 <= s < t1:
                    out.append(
                        Breakdown(
                            machine=h.spec.path,
                            start=_dt(s),
                            end=_dt(e),
                            reason_code=code,
                            drift_start=None if ds is None else _dt(ds),
                        )
                    )
        return sorted(out, key=lambda b: (b.start, b.machine))

    # -- output ---------------------------------------------------------------------------------
    def iter_days(self) -> Iterator[tuple[int, dict[str, pa.Table]]]:
        """One dict kind -> Arrow table per simulated day (the 24 h from start + day_index days)."""
        histories = self._simulated()
        warn_carry = np.zeros(len(histories))
        for d in range(self.days):
            ta, tb = self._bounds[d], self._bounds[d + 1]
            batches: dict[str, pa.Table] = {"order": self._orders_table(histories, ta, tb)}
            batches["state"] = self._states_table(histories, ta, tb)
            batches["count"] = self._counts_table(histories, ta, tb)
            signal, warnings = self._signals_table(histories, d, ta, tb, warn_carry)
            wa, wb = max(ta, self._window[0]), min(tb, self._window[1])
            if self._legacy and wa < wb:
                signal = pa.concat_tables([signal, self._current_table(d, wa, wb)])
            batches["signal"] = signal
            batches["alarm"] = self._alarms_table(histories, ta, tb, warnings)
            batches["quality"] = self._quality_table(histories, d, ta, tb)
            yield d, batches

    def write_to(self, store, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Register machines and calendar and write every day; returns rows written per kind."""
        store.register_machines(self.machines())
        store.save_calendar(self._calendar)
        summary = dict.fromkeys(KINDS, 0)
        for d, batches in self.iter_days():
            for kind in KINDS:
                summary[kind] += store.write_table(kind, batches[kind]).written
            if progress is not None:
                progress(d, self.days)
        return summary

    # -- the event simulation ---------------------------------------------------------------------
    def _simulated(self) -> list[_History]:
        if self._histories is None:
            t0 = self._bounds[0]
            t1 = self._bounds[-1] + LOOKAHEAD_DAYS * 86400
            segments = self._segments(t0, t1)
            self._histories = [self._simulate_machine(s, segments, t0, t1) for s in self.specs]
            self._legacy = [self._simulate_machine(s, segments, t0, t1) for s in self.legacy_specs]
        return self._histories

    # -- legacy machines ---------------------------------------------------------------------------
    def _current_table(self, day: int, ta: int, tb: int) -> pa.Table:
        """The `current` signal of every legacy machine for one day: samples every
        `current_interval_s` with a little clock jitter, and now and then a dropout (the sensor
        gateway misses a few samples)."""
        parts = []
        for h in self._legacy:
            rng = np.random.default_rng([self.seed, h.spec.index, 6, day])
            step = self.current_interval_s
            t = np.arange(ta, tb, step, dtype=np.float64)
            t = t + rng.uniform(0.0, min(0.2, step / 4), len(t))
            keep = np.ones(len(t), dtype=bool)
            for s0 in rng.integers(0, len(t), size=int(rng.poisson(6))):
                keep[s0 : s0 + int(rng.integers(2, max(3, int(60 / step))))] = False
            t = t[keep]
            amps = current_trace(h, t, rng, _profile_of(h.spec))
            n = len(t)
            parts.append(
                {
                    "machine": np.full(n, h.spec.path, dtype=object),
                    "name": np.full(n, "current", dtype=object),
                    "ts": np.round(t * 1e6).astype(np.int64),
                    "value": amps,
                    "unit": np.full(n, "A", dtype=object),
                }
            )
        return _table("signal", parts)

    def legacy_truth(self, machine: str) -> dict:
        """What a legacy machine really did while its sensor was on (for scoring the inference):
        `state` and `count` tables as a networked machine would have reported them (the whole
        simulated range), `electrical` (ts, state: off/idle/running) and `cycles` (start times,
        UTC datetime64[us]) from the sensor's start to the end."""
        self._simulated()
        h = next((x for x in self._legacy if x.spec.path == machine), None)
        if h is None:
            raise KeyError(f"{machine} is not a legacy machine of this simulator")
        t0, t1 = self._window
        elec = electrical_states(h.state, h.reason)
        k0 = max(int(np.searchsorted(h.state_t, t0, side="right")) - 1, 0)
        k1 = int(np.searchsorted(h.state_t, t1))
        et, ev = h.state_t[k0:k1].copy(), elec[k0:k1]
        et[0] = max(et[0], t0)
        change = np.concatenate([[True], ev[1:] != ev[:-1]])
        cyc = h.part_start[(h.part_start >= t0) & (h.part_start < t1)]
        return {
            "state": self._states_table([h], self._bounds[0], self._bounds[-1]),
            "count": self._counts_table([h], self._bounds[0], self._bounds[-1]),
            "electrical": {
                "ts": (et[change] * 1_000_000).astype("datetime64[us]"),
                "state": np.array(ELECTRICAL, dtype=object)[ev[change]],
            },
            "cycles": np.round(cyc * 1e6).astype(np.int64).astype("datetime64[us]"),
        }

    def _segments(self, t0: int, t1: int) -> tuple[list[int], list[bool], list[str | None]]:
        """Calendar as boundary times, whether each span is work time, and the stop reason."""
        cal = self._calendar
        tz = ZoneInfo(cal.timezone)
        shifts = {s.name: s for s in cal.shifts}
        times, work, reasons = [], [], []
        for ts, status, shift, _day in cal.timeline(_dt(t0), _dt(t1)):
            reason = None
            if status == "off":
                reason = "off_shift"
            elif status == "break":
                local = ts.astimezone(tz).time()
                reason = next((b.name for b in shifts[shift].breaks if b.start == local), "break")
            times.append(max(int(ts.timestamp()), t0))
            work.append(status == "work")
            reasons.append(reason)
        return times, work, reasons

    def _simulate_machine(self, spec: MachineSpec, segments, t0: int, t1: int) -> _History:
        line = spec.line
        rng = np.random.default_rng([self.seed, spec.index, 1])
        # maintenance has its own random stream, so that a longer run does not shift the draws of
        # the event loop: a run of N days is then a prefix of every longer run (same seed, start)
        seg_t, seg_work, seg_reason = self._with_maintenance(
            spec, segments, np.random.default_rng([self.seed, spec.index, 2]), t0
        )
        n_seg = len(seg_t)
        modes = line.modes
        mode_p = np.array([m.weight for m in modes])
        mode_p /= mode_p.sum()
        mtbf_s = spec.mtbf_h * 3600.0
        slow = 1.0 + (0.04 * spec.index) % 0.1  # some machines run a little slower than others

        states: list[list] = []  # [t, state, reason, order_id, load]
        runs: list[tuple[int, int, int, float, int]] = []  # start, end, order#, factor, startup k
        alarms: list[tuple[int, str, str, str, bool]] = []
        orders: list[dict] = []
        breakdowns: list[tuple[int, int, str, int | None]] = []
        drift_rows: list[tuple[float, float, float, float, float]] = []

        def emit(t: int, state: int, reason, order) -> None:
            load = order["load"] if order is not None else 0.0
            oid = order["order_id"] if order is not None else None
            while states and states[-1][0] >= t:
                states.pop()  # a zero-length state is replaced by what follows it
            if states and states[-1][1:4] == [state, reason, oid]:
                return
            states.append([t, state, reason, oid, load])

        t = t0
        i = 0
        order: dict | None = None
        pending: list[list] = []  # [state, reason, remaining seconds] consumed in work time
        gap_checked = False
        startup_k = 0
        after_off = True
        ttf = rng.exponential(mtbf_s)
        micro = rng.exponential(line.micro_every_min * 60)
        wait = rng.exponential(WAIT_EVERY_H * 3600)
        per_day: dict[str, int] = {}
        last_repair_end = t0 - 86400

        while t < t1:
            while i + 1 < n_seg and seg_t[i + 1] <= t:
                i += 1
            seg_end = seg_t[i + 1] if i + 1 < n_seg else t1
            seg_end = min(seg_end, t1)
            if not seg_work[i]:
                reason = seg_reason[i]
                emit(t, PLANNED, reason, None if reason == "off_shift" else order)
                after_off = reason == "off_shift" or after_off
                t = seg_end
                continue
            if after_off:
                after_off = False
                if rng.random() < 0.15:
                    pending.insert(0, [IDLE, "no_operator", int(rng.uniform(300, 1800))])
            if pending:
                p = pending[0]
                dt = min(p[2], seg_end - t)
                emit(t, p[0], p[1], None if p[0] == NO_ORDER else order)
                t += dt
                p[2] -= dt
                if p[2] <= 0:
                    pending.pop(0)
                continue
            if order is None:
                if not gap_checked:
                    gap_checked = True
                    if orders and rng.random() < 0.25:
                        pending.append([NO_ORDER, "no_order", int(rng.uniform(600, 7200))])
                        continue
                gap_checked = False
                k = int(rng.integers(len(line.products)))
                prod = line.products[k]
                ideal = round(prod.ideal_cycle_time_s * spec.speed_factor, 2)
                hours = rng.uniform(*line.order_hours)
                qty = max(10, int(round(hours * 3600 / (ideal * 1.15) / 10)) * 10)
                day = _dt(t).astimezone(ZoneInfo(self._calendar.timezone)).strftime("%y%m%d")
                seq = per_day[day] = per_day.get(day, 0) + 1
                name = spec.path.rsplit("/", 1)[1].upper()
                order = {
                    "order_id": f"WO-{day}-{name}-{seq:02d}",
                    "product": prod.code,
                    "quantity": qty,
                    "ideal_cycle_time_s": ideal,
                    "machine": spec.path,
                    "planned_start": t,
                    "due": t + int(hours * 3600 * 2.5) + 86400,
                    "load": prod.load_pct,
                    "index": len(orders),
                    "work": qty * ideal,  # ideal seconds still to run
                }
                orders.append(order)
                setup = rng.lognormal(math.log(line.setup_median_min * 60), 0.35)
                pending.append([SETUP, "changeover", int(min(setup, 3 * 3600))])
                startup_k = int(rng.poisson(2.0))
                continue
            # running
            factor = slow + rng.gamma(2.0, 0.05)
            finish = math.ceil(order["work"] * factor)
            options = (seg_end - t, finish, math.ceil(ttf), math.ceil(micro), math.ceil(wait))
            which = int(np.argmin(options))
            dt = max(1, options[which])
            if line.stops_between_parts and which in (3, 4):
                ideal = order["ideal_cycle_time_s"]
                done = order["quantity"] * ideal - order["work"]
                boundary = math.ceil((done + dt / factor) / ideal - 1e-9) * ideal
                to_end = math.ceil((boundary - done) * factor)
                if to_end <= min(options[0], options[2]):
                    dt = max(dt, to_end)
            emit(t, RUNNING, None, order)
            runs.append((t, t + dt, order["index"], factor, startup_k))
            startup_k = 0
            order["work"] -= dt / factor
            ttf -= dt
            micro -= dt
            wait -= dt
            t += dt
            if order["work"] <= 1e-6:
                order = None
                continue
            if ttf <= 0:
                m = modes[int(rng.choice(len(modes), p=mode_p))]
                repair = int(
                    min(max(rng.lognormal(math.log(spec.mttr_median_min * 60), 0.6), 300), 10 * 3600)
                )
                emit(t, DOWN, m.code, order)
                alarms.append((t, m.code, "critical", m.message, True))
                alarms.append((t + repair, m.code, "critical", m.message, False))
                ds = None
                if m.drifts:
                    ds = max(t - int(rng.uniform(10, 40) * 3600), last_repair_end)
                    drift_rows.append((t, ds, m.drift_vibration, m.drift_temperature, m.drift_load))
                breakdowns.append((t, t + repair, m.code, ds))
                t += repair
                last_repair_end = t
                ttf = rng.exponential(mtbf_s)
                startup_k = int(rng.poisson(1.0))
            elif micro <= 0:
                d = int(min(max(rng.lognormal(math.log(30), 0.5), 5), MICRO_STOP_MAX_S))
                if rng.random() < 0.2:  # the operator checks a part, the machine waits
                    pending.insert(0, [IDLE, "operator_check", d])
                else:
                    code = line.micro_reasons[int(rng.integers(len(line.micro_reasons)))]
                    pending.insert(0, [DOWN, code, d])
                micro = rng.exponential(line.micro_every_min * 60)
            elif wait <= 0:
                d = int(min(rng.lognormal(math.log(20 * 60), 0.5), 2 * 3600))
                pending.insert(0, [IDLE, "waiting_material", d])
                wait = rng.exponential(WAIT_EVERY_H * 3600)

        st = np.array(states, dtype=object) if states else np.empty((0, 5), dtype=object)
        state_t = st[:, 0].astype(np.int64)
        state = st[:, 1].astype(np.int8)
        load = st[:, 4].astype(np.float64)
        temp0, target = self._thermal(spec, state_t, state, load)
        drift = np.array(drift_rows, dtype=np.float64).reshape(-1, 5)
        hist = _History(
            spec=spec,
            state_t=state_t,
            state=state,
            reason=st[:, 2].copy(),
            order=st[:, 3].copy(),
            load=load,
            temp0=temp0,
            temp_target=target,
            count_t=np.empty(0, np.int64),
            count_cols={},
            alarm_t=np.array([a[0] for a in alarms], dtype=np.int64),
            alarm_cols={
                "code": np.array([a[1] for a in alarms], dtype=object),
                "severity": np.array([a[2] for a in alarms], dtype=object),
                "message": np.array([a[3] for a in alarms], dtype=object),
                "active": np.array([a[4] for a in alarms], dtype=bool),
            },
            orders=orders,
            drift=drift,
            breakdowns=breakdowns,
        )
        self._parts(hist, runs, rng)
        return hist

    def _with_maintenance(self, spec: MachineSpec, segments, rng, t0: int):
        """Insert planned maintenance (about every 10 days, at the start of a day shift)."""
        times, work, reasons = (list(x) for x in segments)
        tz = ZoneInfo(self._calendar.timezone)
        next_pm = t0 + int(rng.uniform(2, 12) * 86400)
        out_t, out_w, out_r = [], [], []
        for k, (ts, w, r) in enumerate(zip(times, work, reasons, strict=True)):
            end = times[k + 1] if k + 1 < len(times) else None
            local = _dt(ts).astimezone(tz)
            if w and ts >= next_pm and local.hour == 8 and local.minute == 0 and end is not None:
                d = int(rng.uniform(60, 150) * 60)
                if ts + d < end:
                    out_t += [ts, ts + d]
                    out_w += [False, True]
                    out_r += ["planned_maintenance", None]
                    next_pm = ts + int(rng.uniform(8, 13) * 86400)
                    continue
            out_t.append(ts)
            out_w.append(w)
            out_r.append(r)
        return out_t, out_w, out_r

    @staticmethod
    def _thermal(spec: MachineSpec, t: np.ndarray, state: np.ndarray, load: np.ndarray):
        """First-order thermal model: the temperature at each state start and its target."""
        line = spec.line
        hot = line.run_temperature + 0.15 * (load - 60.0)
        target = np.where(state == RUNNING, hot, np.where(state == SETUP, AMBIENT_C + 3.0, AMBIENT_C))
        tau = line.thermal_tau_min * 60.0
        decay = np.exp(-np.diff(t.astype(np.float64)) / tau)
        temp0 = np.empty(len(t))
        if len(t):
            temp0[0] = AMBIENT_C
        tg = target.tolist()
        dc = decay.tolist()
        cur = AMBIENT_C
        for k in range(1, len(t)):
            cur = tg[k - 1] + (cur - tg[k - 1]) * dc[k - 1]
            temp0[k] = cur
        return temp0, target

    def _parts(self, hist: _History, runs, rng) -> None:
        """Part completions from the run segments, grouped into counts per interval."""
        spec = hist.spec
        line = spec.line
        if not runs:
            hist.count_t = np.empty(0, np.int64)
            hist.count_cols = {c: np.empty(0) for c in ("good", "scrap", "rework", "reason", "order")}
            return
        r = np.array(runs, dtype=np.float64)
        s, e, o, f, k = r[:, 0], r[:, 1], r[:, 2].astype(np.int64), r[:, 3], r[:, 4].astype(np.int64)
        w = (e - s) / f
        times, segs = [], []
        for oi in np.unique(o):
            idx = np.flatnonzero(o == oi)
            ideal = hist.orders[oi]["ideal_cycle_time_s"]
            cw = np.cumsum(w[idx])
            n = min(int(cw[-1] / ideal + 1e-9), hist.orders[oi]["quantity"])
            if n <= 0:
                continue
            target = ideal * np.arange(1, n + 1)
            j = np.minimum(np.searchsorted(cw, target - 1e-9, side="left"), len(idx) - 1)
            seg = idx[j]
            before = cw[j] - w[seg]
            times.append(s[seg] + (target - before) * f[seg])
            segs.append(seg)
        if not times:
            hist.count_t = np.empty(0, np.int64)
            hist.count_cols = {c: np.empty(0) for c in ("good", "scrap", "rework", "reason", "order")}
            return
        pt = np.concatenate(times)
        ps = np.concatenate(segs)
        order_of = o[ps]
        sort = np.argsort(pt, kind="stable")
        pt, ps, order_of = pt[sort], ps[sort], order_of[sort]
        ideal_of = np.array([od["ideal_cycle_time_s"] for od in hist.orders], dtype=np.float64)
        begin = pt - ideal_of[order_of] * f[ps]
        hist.part_t = pt
        hist.part_start = np.maximum(begin, np.concatenate([[-np.inf], pt[:-1]]))
        # startup scrap: the first k parts of a run that follows a changeover or a repair
        first = np.searchsorted(ps, ps, side="left") if np.all(np.diff(ps) >= 0) else None
        if first is None:  # pragma: no cover - parts are in segment order by construction
            raise AssertionError("parts out of segment order")
        rank = np.arange(len(ps)) - first
        startup = rank < k[ps]
        # process defects, more frequent while the machine is degrading
        dv, dtemp, _dl = hist.drift_at(pt)
        p_defect = 0.006 * (1.0 + 3.0 * np.minimum(dv + dtemp / 10.0, 1.5))
        # one stream per draw, so that the draws of a part do not depend on how many parts a
        # longer run makes (prefix stability, see _simulate_machine)
        spec_index = hist.spec.index
        defect = (np.random.default_rng([self.seed, spec_index, 3]).random(len(pt)) < p_defect) & ~startup
        which = np.random.default_rng([self.seed, spec_index, 4]).integers(
            len(line.scrap_reasons), size=len(pt)
        )
        reasons = np.array(("", "startup", *line.scrap_reasons), dtype=object)
        reason = np.where(startup, 1, np.where(defect, 2 + which, 0))
        rework = (np.random.default_rng([self.seed, spec_index, 5]).random(len(pt)) < 0.01) & (reason == 0)
        # group by (interval, order, reason); the count's time is its last part's
        bucket = ((pt - self._bounds[0]) // self.count_interval_s).astype(np.int64)
        n_r = len(reasons)
        n_o = int(o.max()) + 1
        key = (bucket * n_o + order_of) * n_r + reason
        uniq, inv = np.unique(key, return_inverse=True)
        n = np.bincount(inv)
        rw = np.bincount(inv, weights=rework).astype(np.int64)
        last = np.zeros(len(uniq))
        np.maximum.at(last, inv, pt)
        g_reason = uniq % n_r
        g_order = (uniq // n_r) % n_o
        sort = np.argsort(last, kind="stable")
        good = np.where(g_reason == 0, n, 0)[sort]
        hist.count_t = np.round(last[sort] * 1e6).astype(np.int64)
        order_ids = np.array([od["order_id"] for od in hist.orders], dtype=object)
        hist.count_cols = {
            "good": good,
            "scrap": np.where(g_reason == 0, 0, n)[sort],
            "rework": rw[sort],
            "reason": np.where(g_reason == 0, None, reasons[g_reason])[sort],
            "order": order_ids[g_order][sort],
        }

    # -- tables --------------------------------------------------------------------------------------
    def _states_table(self, hs: list[_History], ta: int, tb: int) -> pa.Table:
        parts = []
        for h in hs:
            a, b = np.searchsorted(h.state_t, [ta, tb])
            if b > a:
                parts.append(
                    {
                        "machine": np.full(b - a, h.spec.path, dtype=object),
                        "ts": h.state_t[a:b] * 1_000_000,
                        "state": np.array(STATES, dtype=object)[h.state[a:b]],
                        "reason_code": h.reason[a:b],
                        "order_id": h.order[a:b],
                    }
                )
        return _table("state", parts)

    def _counts_table(self, hs: list[_History], ta: int, tb: int) -> pa.Table:
        parts = []
        for h in hs:
            a, b = np.searchsorted(h.count_t, [ta * 1_000_000, tb * 1_000_000])
            if b > a:
                c = h.count_cols
                parts.append(
                    {
                        "machine": np.full(b - a, h.spec.path, dtype=object),
                        "ts": h.count_t[a:b],
                        "good": c["good"][a:b],
                        "scrap": c["scrap"][a:b],
                        "rework": c["rework"][a:b],
                        "scrap_reason": c["reason"][a:b],
                        "order_id": c["order"][a:b],
                    }
                )
        return _table("count", parts)

    def _orders_table(self, hs: list[_History], ta: int, tb: int) -> pa.Table:
        rows = [o for h in hs for o in h.orders if ta <= o["planned_start"] < tb]
        cols = {
            "order_id": [o["order_id"] for o in rows],
            "product": [o["product"] for o in rows],
            "quantity": [o["quantity"] for o in rows],
            "ideal_cycle_time_s": [o["ideal_cycle_time_s"] for o in rows],
            "machine": [o["machine"] for o in rows],
            "planned_start": np.array([o["planned_start"] for o in rows], np.int64) * 1_000_000,
            "due": np.array([o["due"] for o in rows], np.int64) * 1_000_000,
        }
        return _table("order", [cols])

    def _signals_table(self, hs: list[_History], day: int, ta: int, tb: int, warn_carry: np.ndarray):
        step = self.signal_interval_s
        off = (ta - self._bounds[0]) % step
        grid = np.arange(ta if off == 0 else ta + step - off, tb, step, dtype=np.int64)
        gf = grid.astype(np.float64)
        tz = ZoneInfo(self._calendar.timezone)
        offset = _dt(ta).astimezone(tz).utcoffset().total_seconds()
        hour = ((gf + offset) % 86400) / 3600.0
        ambient = 2.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)  # warmest mid-afternoon
        parts, warnings = [], []
        for m_pos, h in enumerate(hs):
            line = h.spec.line
            rng = np.random.default_rng([self.seed, h.spec.index, 2, day])
            n = len(grid)
            idx = np.searchsorted(h.state_t, grid, side="right") - 1
            idx = np.maximum(idx, 0)
            st = h.state[idx]
            running = st == RUNNING
            dv, dtemp, dl = h.drift_at(gf)
            since = gf - h.state_t[idx]
            tau = line.thermal_tau_min * 60.0
            tgt = h.temp_target[idx]
            clean = tgt + (h.temp0[idx] - tgt) * np.exp(-since / tau) + ambient
            clean += np.where(running, dtemp, 0.4 * dtemp)
            temp = clean + rng.normal(0, 0.3, n)
            vib_run = line.run_vibration * (1.0 + dv) * rng.lognormal(0, 0.08, n)
            vib_idle = (0.15 + 0.2 * dv * line.run_vibration) * rng.lognormal(0, 0.2, n)
            vib = np.where(running, vib_run, vib_idle)
            load = np.where(
                running,
                h.load[idx] + dl + rng.normal(0, 3.0, n),
                np.where(st == SETUP, 8.0, 1.5) + rng.normal(0, 0.5, n),
            )
            load = np.clip(load, 0.0, 100.0)
            for name, unit, values in (
                ("load", "%", load),
                ("vibration", "mm/s", vib),
                ("temperature", "°C", temp),
            ):
                parts.append(
                    {
                        "machine": np.full(n, h.spec.path, dtype=object),
                        "name": np.full(n, name, dtype=object),
                        "ts": grid * 1_000_000,
                        "value": np.round(values, 3),
                        "unit": np.full(n, unit, dtype=object),
                    }
                )
            # high-temperature warning with hysteresis, on the noiseless temperature
            limit = line.run_temperature + 8.0
            level = np.where(clean > limit, 1.0, np.where(clean < limit - 5.0, 0.0, np.nan))
            level = np.concatenate([[warn_carry[m_pos]], level])
            pos = np.where(np.isnan(level), 0, np.arange(len(level)))
            level = level[np.maximum.accumulate(pos)]
            edges = np.flatnonzero(np.diff(level) != 0)
            warn_carry[m_pos] = level[-1]
            for e in edges:
                up = bool(level[e + 1] == 1.0)
                warnings.append(
                    (
                        h.spec.path,
                        int(grid[e]),
                        "high_temperature",
                        "warning",
                        f"온도 높음 / high temperature: {clean[e]:.1f} °C (limit {limit:.0f} °C)",
                        up,
                    )
                )
        return _table("signal", parts), warnings

    def _alarms_table(self, hs: list[_History], ta: int, tb: int, warnings) -> pa.Table:
        rows = list(warnings)
        for h in hs:
            a, b = np.searchsorted(h.alarm_t, [ta, tb])
            c = h.alarm_cols
            for j in range(a, b):
                rows.append(
                    (
                        h.spec.path,
                        int(h.alarm_t[j]),
                        c["code"][j],
                        c["severity"][j],
                        c["message"][j],
                        bool(c["active"][j]),
                    )
                )
        rows.sort(key=lambda r: (r[0], r[1], r[2], r[5]))
        cols = {
            "machine": [r[0] for r in rows],
            "ts": np.array([r[1] for r in rows], np.int64) * 1_000_000,
            "code": [r[2] for r in rows],
            "severity": [r[3] for r in rows],
            "message": [r[4] for r in rows],
            "active": [r[5] for r in rows],
        }
        return _table("alarm", [cols])

    def _quality_table(self, hs: list[_History], day: int, ta: int, tb: int) -> pa.Table:
        step = self.quality_interval_s
        parts = []
        for h in hs:
            ch = h.spec.line.characteristic
            rng = np.random.default_rng([self.seed, h.spec.index, 3, day])
            phase = (h.spec.index * 397) % step
            grid = np.arange(ta + phase, tb, step, dtype=np.int64)
            grid = grid + rng.integers(-step // 6, step // 6 + 1, size=len(grid))
            grid = grid[(grid >= ta) & (grid < tb)]
            idx = np.maximum(np.searchsorted(h.state_t, grid, side="right") - 1, 0)
            keep = h.state[idx] == RUNNING
            grid, idx = grid[keep], idx[keep]
            if not len(grid):
                continue
            dv, dtemp, _ = h.drift_at(grid.astype(np.float64))
            bias = ch.sigma * (0.3 * ((h.spec.index % 3) - 1))
            shift = ch.sigma * 2.0 * np.minimum(dv + dtemp / 10.0, 2.0)  # degradation moves the mean
            values = ch.target + bias + shift + rng.normal(0, ch.sigma, len(grid))
            name = h.spec.path.rsplit("/", 1)[1]
            sample = [f"{name}-{t}" for t in grid.tolist()]
            n = len(grid)
            parts.append(
                {
                    "machine": np.full(n, h.spec.path, dtype=object),
                    "ts": grid * 1_000_000,
                    "characteristic": np.full(n, ch.name, dtype=object),
                    "value": np.round(values, 4),
                    "lsl": np.full(n, ch.lsl),
                    "usl": np.full(n, ch.usl),
                    "target": np.full(n, ch.target),
                    "unit": np.full(n, ch.unit, dtype=object),
                    "sample_id": np.array(sample, dtype=object),
                    "order_id": h.order[idx],
                }
            )
        return _table("quality", parts)


# -- legacy machines: only a clamp-on current sensor ------------------------------------------


@dataclass(frozen=True)
class CurrentProfile:
    """How a legacy machine draws current (RMS amps of one phase) in each electrical state.

    `pattern` shapes a production cycle: "cut" (a spindle start, cutting, rapid moves at the
    end), "stroke" (a flywheel press: one stroke per cycle, then the flywheel recovers), "hydraulic"
    (injection, hold, cooling near the pump's idle draw, ejection), "arc" (welding arcs with
    gaps at the idle draw), "load" (a compressor loading and unloading).
    """

    kind: str  # the trace kind of factory_commons.retrofit.traces
    pattern: str
    idle_a: float
    run_a: float


LEGACY_AREA, LEGACY_LINE = "legacy", "legacy-1"
_NO_MODES = (FailureMode("motor_trip", "모터 트립 / motor trip", 0.6), FailureMode("jam", "걸림 / jam", 0.4))
_NO_CHAR = Characteristic("dimension", 10.0, 9.9, 10.1, 0.02)


def _legacy_line(kind: str, display: str, product: Product, mtbf_h: float, micro_min: float) -> LineSpec:
    return LineSpec(
        area=LEGACY_AREA,
        line=LEGACY_LINE,
        kind=kind,
        display=display,
        products=(product,),
        modes=_NO_MODES,
        characteristic=_NO_CHAR,
        scrap_reasons=("defect",),
        micro_reasons=("operator_check", "jam"),
        mtbf_h=mtbf_h,
        mttr_median_min=30.0,
        setup_median_min=30.0,
        run_vibration=1.0,
        run_temperature=35.0,
        thermal_tau_min=30.0,
        micro_every_min=micro_min,
        order_hours=(2.0, 8.0),
        stops_between_parts=True,
    )


#: (line spec, current profile, short name) of each legacy machine
LEGACY: tuple[tuple[LineSpec, CurrentProfile, str], ...] = (
    (
        _legacy_line("lathe", "범용 선반", Product("PIN-010", "pin / 핀", 85.0, 50.0), 60.0, 40.0),
        CurrentProfile("lathe", "cut", 2.4, 14.0),
        "lathe",
    ),
    (
        _legacy_line(
            "machining_center", "구형 머시닝센터", Product("BLK-020", "block / 블록", 150.0, 60.0), 55.0, 35.0
        ),
        CurrentProfile("machining_center", "cut", 4.0, 19.0),
        "mc",
    ),
    (
        _legacy_line(
            "mechanical_press", "기계식 프레스", Product("WSH-030", "washer / 와셔", 4.0, 60.0), 45.0, 20.0
        ),
        CurrentProfile("mechanical_press", "stroke", 7.0, 11.0),
        "mpress",
    ),
    (
        _legacy_line("injection", "유압 사출기", Product("CAP-040", "cap / 캡", 32.0, 55.0), 50.0, 30.0),
        CurrentProfile("injection", "hydraulic", 16.0, 24.0),
        "inj",
    ),
    (
        _legacy_line("welding", "수동 용접기", Product("TAB-050", "tab / 탭", 24.0, 45.0), 80.0, 30.0),
        CurrentProfile("welding", "arc", 1.2, 22.0),
        "weld",
    ),
    (
        _legacy_line(
            "compressor", "공기 압축기", Product("AIR-060", "air load / 부하 운전", 90.0, 70.0), 120.0, 60.0
        ),
        CurrentProfile("compressor", "load", 5.5, 16.0),
        "comp",
    ),
)
LEGACY_INDEX0 = 100  # random streams of legacy machines start here (the 12 networked use 0-11)
#: electrical states of a legacy machine's current, as in the retrofit benchmark format
ELECTRICAL = ("off", "idle", "running")


def legacy_machines(calendar: str = CALENDAR_NAME) -> list[MachineSpec]:
    """The six old machines that report only a current (line legacy/legacy-1)."""
    rng = np.random.default_rng(20261006)
    specs = []
    for k, (line, _profile, short) in enumerate(LEGACY):
        speed = float(round(1.0 + rng.uniform(0, 0.05), 3))
        machine = Machine(
            path=f"{ENTERPRISE}/{SITE}/{LEGACY_AREA}/{LEGACY_LINE}/{short}-01",
            display_name=f"{line.display} 1호기",
            kind=line.kind,
            calendar=calendar,
            # a compressor makes no parts: no cycle time, so no performance or OEE, only its states
            default_ideal_cycle_time_s=None
            if line.kind == "compressor"
            else round(line.products[0].ideal_cycle_time_s * speed, 2),
        )
        specs.append(
            MachineSpec(
                machine=machine,
                line=line,
                index=LEGACY_INDEX0 + k,
                speed_factor=speed,
                mtbf_h=line.mtbf_h * float(rng.uniform(0.8, 1.25)),
                mttr_median_min=line.mttr_median_min * float(rng.uniform(0.8, 1.2)),
            )
        )
    return specs


def electrical_states(state: np.ndarray, reason: np.ndarray) -> np.ndarray:
    """What a current sensor can see of each simulated state: 0 off, 1 idle, 2 running.

    Running is running. The machine is switched off outside the shifts, for planned maintenance
    and when there is no order; in a break, a setup, a breakdown or a short stop it stays
    powered and draws its idle current.
    """
    off_reason = np.isin(reason.astype(object), np.array(["off_shift", "planned_maintenance"], dtype=object))
    off = ((state == PLANNED) & off_reason) | (state == NO_ORDER)
    return np.where(state == RUNNING, 2, np.where(off, 0, 1)).astype(np.int8)


def _profile_of(spec: MachineSpec) -> CurrentProfile:
    return LEGACY[spec.index - LEGACY_INDEX0][1]


def current_trace(
    h: _History, t: np.ndarray, rng: np.random.Generator, profile: CurrentProfile
) -> np.ndarray:
    """RMS amps at times t (float seconds, sorted) from a machine's true states and cycles."""
    n = len(t)
    idx = np.maximum(np.searchsorted(h.state_t, t, side="right") - 1, 0)
    elec = electrical_states(h.state, h.reason)
    e = elec[idx]
    since = t - h.state_t[idx]
    # how long the machine has been powered: warm-up after a power-on
    on_t = h.state_t[np.flatnonzero((elec[1:] > 0) & (elec[:-1] == 0)) + 1]
    k_on = np.searchsorted(on_t, t, side="right") - 1
    powered_for = np.where(k_on >= 0, t - on_t[np.maximum(k_on, 0)], 1e9)
    level = np.ones(n) * (1.0 + 0.02 * (h.spec.index % 5))  # this machine's own size
    idle = profile.idle_a * level * (1.0 + 0.25 * np.exp(-powered_for / 1200.0))  # cold oil, warm-up
    run = profile.run_a * level
    # mains voltage: a slow daily sag (the afternoon peak of the industrial park) and wander
    day_s = (t + 9 * 3600) % 86400
    mains = 1.0 + 0.03 * np.sin(2 * np.pi * (day_s - 6 * 3600) / 86400) + 0.01 * np.sin(t / 5000.0)
    # production cycles: where in its cycle each running sample is
    cs = h.part_start
    kc = np.searchsorted(cs, t, side="right") - 1
    ok = kc >= 0
    start = np.where(ok, cs[np.maximum(kc, 0)] if len(cs) else 0.0, 0.0)
    end = np.where(ok, h.part_t[np.maximum(kc, 0)] if len(cs) else 0.0, 0.0)
    length = np.maximum(end - start, 1.0)
    phase = np.where(ok & (t < end), (t - start) / length, (since % 60.0) / 60.0)
    secs = np.where(ok & (t < end), t - start, since % 60.0)
    # tool wear: cutting current creeps up through an order, back down after a changeover
    wear = 1.0 + 0.08 * np.minimum(since / 14400.0, 1.0)
    p = profile.pattern
    left = length - secs  # seconds to the end of the cycle
    if p == "cut":
        # the part's program, the same for every part: a spindle start, passes (operations on
        # a machining center) at their own loads with a rapid move (a tool change) before each,
        # and the part change at the end with the spindle stopped (the idle draw)
        mc = profile.kind == "machining_center"
        starts_at, loads = np.array([0.0, 0.3, 0.55, 0.78]), np.array([1.0, 0.8, 1.15, 0.9])
        op = np.searchsorted(starts_at, phase, side="right") - 1
        into = secs - starts_at[op] * length
        between = 3.0 if mc else 1.5
        change = 8.0 if mc else 5.0
        level = run * loads[op] * wear
        # a rapid move, or a tool change (spindle orients and stops, the changer and axes move)
        level = np.where((op > 0) & (into < between), idle + 0.25 * run if mc else run * 0.45, level)
        running = np.where(secs < 1.0, run * 2.2, np.where(left < change, idle, level))
    elif p == "stroke":
        # a flywheel press in single strokes: the motor draws little more than idle between
        # strokes, and a peak as the flywheel gives its energy to the stroke
        running = np.where(secs < 1.0, run * 1.9, np.where(secs < 2.0, idle * 1.3, idle * 1.06))
    elif p == "hydraulic":
        # close, inject, hold, cool (the pump unloads to its idle draw), open and eject
        running = run * np.select(
            [phase < 0.1, phase < 0.25, phase < 0.45, phase < 0.8], [1.0, 1.4, 0.95, 0.0], 0.9
        )
        running = np.where(running == 0.0, idle * 1.02, running)
    elif p == "arc":
        # one weld per part, then the torch is put down and the next part clamped (idle draw)
        running = np.where(
            left < np.minimum(8.0, 0.3 * length), idle * 1.05, run * (0.9 + 0.1 * np.sin(secs))
        )
    else:  # "load": a compressor loads two thirds of its cycle and unloads the rest
        running = np.where(phase < 0.67, run, idle * 1.15)
    amps = np.where(e == 2, running, np.where(e == 1, idle, 0.0)) * mains
    # power-on inrush: the first second after an off -> idle
    first = (e > 0) & (powered_for < 1.0)
    amps = np.where(first, np.maximum(amps, 5.0 * profile.idle_a), amps)
    # the sensor's noise floor: the RMS of the converter's noise, steady from second to second
    amps = amps * rng.lognormal(0.0, 0.03, n) + 0.03 * rng.lognormal(0.0, 0.1, n)
    return np.round(amps, 3)


def _dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _table(kind: str, parts: list[dict]) -> pa.Table:
    schema = SCHEMAS[kind]
    if not parts:
        return schema.empty_table()
    arrays = []
    for f in schema:
        values = [p[f.name] for p in parts]
        if len(values) == 1:
            col = values[0]
        elif isinstance(values[0], list):
            col = [v for chunk in values for v in chunk]
        else:
            col = np.concatenate(values)
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(np.asarray(col, dtype=np.int64), type=pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(col, type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


__all__ = [
    "Breakdown",
    "FactorySimulator",
    "FailureMode",
    "LineSpec",
    "MachineSpec",
    "Product",
    "CurrentProfile",
    "current_trace",
    "default_calendar",
    "default_machines",
    "electrical_states",
    "legacy_machines",
]
