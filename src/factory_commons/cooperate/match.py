"""Explained matching: rank the firms that can do one step of a request, and say why.

Only `Profile.public()` of every firm is used: evidence a firm did not publish never enters the
index, so it can neither help nor hurt a firm, nor leak through a score.

Hard constraints (a firm's equipment that fails one is never ranked):

    process        equipment.process == step.process
    material       step.material in equipment.materials
    envelope       sorted(equipment.envelope_mm)[i] >= sorted(step.envelope_mm)[i] for every axis
    tolerance      equipment.tolerance_mm <= step.tolerance_mm (holds at least as tight)
    certification  every step certification held and valid on the request's due date
    capacity       mean weekly free hours for the process x weeks until the due date >= step hours;
                   a firm that did not publish capacity fails ("capacity not published")
    distance       haversine(request, firm) <= request.max_distance_km, when given
    own request    the requester is not matched to its own request

Scored factors, each a value in [0, 1] times a fixed weight (WEIGHTS); the contributions add up
to the score. A factor with no evidence takes the neutral value 0.5 and its weight is not
"backed"; confidence = backed weight / total weight. docs/commons/matching.md has every formula.

`MatchIndex(profiles)` is built once (per process: numpy arrays of the equipment's materials,
sorted envelope, tolerance, core flag, rate; per firm: location, capacity, quality, delivery,
certificates) so that ranking one step over 10,000 firms is a few vectorised filters.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from ..i18n import Catalog
from .model import Factor, Match, Profile, Request, Step, Text, msg, msg_both, msg_pair
from .vocab import MATERIALS, PROCESSES

if TYPE_CHECKING:
    from .ratings import RatingBook

#: Fixed weights of the scored factors (sum 1.0).
WEIGHTS: dict[str, float] = {
    "capability": 0.25,
    "capacity": 0.20,
    "quality": 0.20,
    "delivery": 0.15,
    "distance": 0.10,
    "rating": 0.10,
}
NEUTRAL = 0.5  # the value of a factor without evidence
DISTANCE_SCALE_KM = 20.0  # distance factor = exp(-d / 20 km)
SUPPLEMENTARY_FIT = 0.6  # capability-fit part for subcontracted (supplementary) equipment
DECLARED_BACKING = 0.5  # capacity declared by hand backs half its weight; KPI-computed backs all
EARTH_RADIUS_KM = 6371.0088

_MAT_BIT = {code: 1 << i for i, code in enumerate(MATERIALS)}
_HARD = ("process", "material", "envelope", "tolerance", "certification", "capacity", "distance", "own")


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km (works on floats and numpy arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def weeks_left(today: date, due: date) -> float:
    """Weeks between today and the due date (0 when due is today or past)."""
    return max(0, (due - today).days) / 7.0


def weekly_free_hours(profile: Profile, process: str) -> float | None:
    """Mean free hours a week for a process from the published capacity evidence, or None."""
    cap = profile.evidence.capacity
    if cap is None:
        return None
    hours = [w.free_hours for w in cap.weeks if w.process == process]
    return sum(hours) / len(hours) if hours else None


#: processes that work a sheet: the equipment's smallest envelope axis is the thickest sheet it
#: takes, so a part is compared by its two largest axes (a bent bracket's height is not the
#: sheet's) and by its sheet thickness, when the step gives one
SHEET_PROCESSES = frozenset({"sheet_bending", "sheet_cutting", "laser_cutting", "waterjet_cutting"})


def required_envelope(st: Step) -> tuple[float, float, float] | None:
    """What the equipment's sorted envelope must hold for a step (None: nothing asked): the
    part's sorted axes; for a sheet process (thickness or 0, the part's two largest axes)."""
    env = None if st.envelope_mm is None else tuple(sorted(st.envelope_mm))
    if st.process not in SHEET_PROCESSES:
        return env  # type: ignore[return-value]
    if env is None and st.sheet_thickness_mm is None:
        return None
    big = env[1:] if env is not None else (0.0, 0.0)
    return (st.sheet_thickness_mm or 0.0, *big)  # type: ignore[return-value]


def hard_failures(request: Request, step: int, profile: Profile, equipment_id: str, today: date) -> list[str]:
    """Which hard constraints one equipment of one firm fails for a step (plain Python reference).

    The index below does the same checks vectorised; tests hold the two to each other.
    """
    st = request.steps[step]
    pub = profile.public()
    eq = next(e for e in pub.facility.equipment if e.id == equipment_id)
    failed = []
    if eq.process != st.process:
        failed.append("process")
    if st.material not in eq.materials:
        failed.append("material")
    need = required_envelope(st)
    if need is not None and any(a < b for a, b in zip(sorted(eq.envelope_mm), need, strict=True)):
        failed.append("envelope")
    if st.tolerance_mm is not None and eq.tolerance_mm > st.tolerance_mm:
        failed.append("tolerance")
    held = {c.code: c for c in pub.facility.certifications}
    if any(c not in held or not held[c].valid_on(request.due) for c in st.certifications):
        failed.append("certification")
    free = weekly_free_hours(pub, st.process)
    if free is None or free * weeks_left(today, request.due) < st.hours():
        failed.append("capacity")
    if request.max_distance_km is not None and request.location is not None:
        loc = pub.facility.location
        d = float(haversine_km(request.location.lat, request.location.lon, loc.lat, loc.lon))
        if d > request.max_distance_km:
            failed.append("distance")
    if pub.firm_id == request.requester:
        failed.append("own")
    return failed


@dataclass
class _ProcTable:
    """The equipment rows of one process."""

    firm: np.ndarray  # int32 firm index
    eq_id: np.ndarray  # object array of equipment ids
    mats: np.ndarray  # uint64 bit mask
    env: np.ndarray  # (n, 3) sorted axes
    tol: np.ndarray
    core: np.ndarray  # bool
    rate: np.ndarray  # KRW per hour


@dataclass
class Rejection:
    """Why a firm was not ranked for a step: the hard constraints its closest equipment fails."""

    firm_id: str
    equipment_id: str
    failed: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass
class NearMiss:
    """The firms that meet every hard constraint of a step but `check`, and what they offer."""

    check: str
    firms: int
    text: Text


@dataclass
class NearMisses:
    """Why few or no firms fit a step: firms with the process, feasible firms, and per relaxed
    constraint the firms it keeps out (most first)."""

    process_firms: int
    feasible_firms: int
    misses: list[NearMiss]
    summary: Text


#: the hard constraints a near-miss explanation relaxes, one at a time (never process nor own)
_RELAXABLE = ("material", "envelope", "tolerance", "certification", "capacity", "distance")
NEAR = Catalog("commons_orders")


def near_text(key: str, **params: object) -> Text:
    """The message `key` of the `commons_orders` catalog in both languages; a (Korean, English)
    pair parameter gives each language its own value."""
    ko, en = NEAR.pair(key)
    kp = {k: v[0] if isinstance(v, tuple) else v for k, v in params.items()}
    ep = {k: v[1] if isinstance(v, tuple) else v for k, v in params.items()}
    return Text.model_construct(ko=ko.format(**kp), en=en.format(**ep))


def vocab_pair(code: str) -> tuple[str, str]:
    """(Korean, English) name of a process or material code."""
    v = PROCESSES.get(code) or MATERIALS.get(code)
    return (v.ko, v.en) if v else (code, code)


@dataclass
class Candidates:
    """The feasible equipment rows of one step (every hard constraint passed), for teams and rank."""

    rows: np.ndarray  # row indices into the process table
    firm: np.ndarray  # firm indices
    eq_id: np.ndarray
    tol: np.ndarray
    env: np.ndarray
    core: np.ndarray
    rate: np.ndarray
    weekly_free: np.ndarray
    distance_km: np.ndarray | None
    hours: float


@dataclass
class MatchIndex:
    """Everything ranking needs from the public profiles, as numpy arrays; build once, rank often."""

    profiles: Sequence[Profile]
    firm_ids: list[str] = field(init=False)
    by_firm: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        # Building makes many small objects while thousands of profiles stay alive: the cyclic
        # garbage collector would rescan them again and again (measured: 20x slower), so pause it.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build()
        finally:
            if was_enabled:
                gc.enable()

    def _build(self) -> None:
        pubs = [p.public() for p in self.profiles]
        self.public = pubs
        n = len(pubs)
        self.firm_ids = [p.firm_id for p in pubs]
        self.by_firm = {f: i for i, f in enumerate(self.firm_ids)}
        if len(self.by_firm) != n:
            dup = sorted({f for f in self.firm_ids if self.firm_ids.count(f) > 1})
            raise ValueError(f"profiles: firm_id repeated: {dup[:5]}")
        order = sorted(range(n), key=lambda i: self.firm_ids[i])
        self.name_rank = np.empty(n, dtype=np.int64)
        self.name_rank[order] = np.arange(n)
        self.lat = np.array([p.facility.location.lat for p in pubs], dtype=float)
        self.lon = np.array([p.facility.location.lon for p in pubs], dtype=float)
        nan = np.full(n, np.nan)
        self.fpy, self.scrap, self.on_time, self.orders = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.declared = np.zeros(n, dtype=bool)
        self.free: dict[str, np.ndarray] = {}
        self.cert: dict[str, np.ndarray] = {}
        rows: dict[str, list[tuple]] = {}
        for i, p in enumerate(pubs):
            ev = p.evidence
            if ev.quality is not None:
                self.fpy[i], self.scrap[i] = ev.quality.first_pass_yield, ev.quality.scrap_ratio
            if ev.delivery is not None:
                self.on_time[i], self.orders[i] = ev.delivery.on_time_ratio, ev.delivery.orders
            if ev.capacity is not None:
                self.declared[i] = ev.capacity.source != "kpi"
                sums: dict[str, list[float]] = {}
                for w in ev.capacity.weeks:
                    sums.setdefault(w.process, []).append(w.free_hours)
                for proc, hs in sums.items():
                    self.free.setdefault(proc, np.full(n, np.nan))[i] = sum(hs) / len(hs)
            for c in p.facility.certifications:
                until = math.inf if c.valid_until is None else float(c.valid_until.toordinal())
                arr = self.cert.setdefault(c.code, np.full(n, -math.inf))
                arr[i] = max(arr[i], until)
            for e in p.facility.equipment:
                mask = 0
                for m in e.materials:
                    mask |= _MAT_BIT[m]
                rows.setdefault(e.process, []).append(
                    (i, e.id, mask, sorted(e.envelope_mm), e.tolerance_mm, e.core, e.hourly_rate_krw)
                )
        self.tables: dict[str, _ProcTable] = {}
        for proc, rs in rows.items():
            self.tables[proc] = _ProcTable(
                firm=np.array([r[0] for r in rs], dtype=np.int32),
                eq_id=np.array([r[1] for r in rs], dtype=object),
                mats=np.array([r[2] for r in rs], dtype=np.uint64),
                env=np.array([r[3] for r in rs], dtype=float).reshape(-1, 3),
                tol=np.array([r[4] for r in rs], dtype=float),
                core=np.array([r[5] for r in rs], dtype=bool),
                rate=np.array([r[6] for r in rs], dtype=float),
            )

    # -- hard constraints -------------------------------------------------------------------
    def _checks(
        self, request: Request, step: int, today: date
    ) -> tuple[_ProcTable | None, dict[str, np.ndarray]]:
        """Per equipment row of the step's process: True where the row passes each hard check."""
        st = request.steps[step]
        t = self.tables.get(st.process)
        if t is None:
            return None, {}
        n = len(t.firm)
        ok: dict[str, np.ndarray] = {"process": np.ones(n, dtype=bool)}
        ok["material"] = (t.mats & np.uint64(_MAT_BIT[st.material])) != 0
        env = required_envelope(st)
        ok["envelope"] = np.ones(n, dtype=bool) if env is None else (t.env >= np.array(env)).all(axis=1)
        ok["tolerance"] = np.ones(n, dtype=bool) if st.tolerance_mm is None else t.tol <= st.tolerance_mm
        cert = np.ones(n, dtype=bool)
        due = float(request.due.toordinal())
        for code in st.certifications:
            arr = self.cert.get(code)
            cert &= False if arr is None else arr[t.firm] >= due
        ok["certification"] = cert
        free = self.free.get(st.process)
        wf = np.full(n, np.nan) if free is None else free[t.firm]
        with np.errstate(invalid="ignore"):
            ok["capacity"] = wf * weeks_left(today, request.due) >= st.hours()
        if request.max_distance_km is not None and request.location is not None:
            d = haversine_km(request.location.lat, request.location.lon, self.lat[t.firm], self.lon[t.firm])
            ok["distance"] = d <= request.max_distance_km
        else:
            ok["distance"] = np.ones(n, dtype=bool)
        own = self.by_firm.get(request.requester)
        ok["own"] = np.ones(n, dtype=bool) if own is None else t.firm != own
        return t, ok

    def candidates(self, request: Request, step: int, today: date) -> Candidates:
        """The equipment rows that pass every hard constraint for a step."""
        st = request.steps[step]
        t, ok = self._checks(request, step, today)
        if t is None:
            e = np.zeros(0)
            return Candidates(
                e.astype(int),
                e.astype(np.int32),
                e.astype(object),
                e,
                e.reshape(0, 3),
                e.astype(bool),
                e,
                e,
                None,
                st.hours(),
            )
        keep = np.ones(len(t.firm), dtype=bool)
        for v in ok.values():
            keep &= v
        rows = np.flatnonzero(keep)
        firm = t.firm[rows]
        dist = None
        if request.location is not None:
            dist = haversine_km(request.location.lat, request.location.lon, self.lat[firm], self.lon[firm])
        return Candidates(
            rows=rows,
            firm=firm,
            eq_id=t.eq_id[rows],
            tol=t.tol[rows],
            env=t.env[rows],
            core=t.core[rows],
            rate=t.rate[rows],
            weekly_free=self.free.get(st.process, np.full(len(self.firm_ids), np.nan))[firm],
            distance_km=dist,
            hours=st.hours(),
        )

    # -- scoring ----------------------------------------------------------------------------
    def _values(self, request: Request, step: int, today: date, c: Candidates, ratings: RatingBook | None):
        """Factor values and backing (in [0, 1]) for every candidate row."""
        st = request.steps[step]
        n = len(c.rows)
        vals: dict[str, np.ndarray] = {}
        back: dict[str, np.ndarray] = {}
        ones = np.ones(n)
        tol_fit = ones if st.tolerance_mm is None else np.clip(np.log10(st.tolerance_mm / c.tol), 0.0, 1.0)
        env = required_envelope(st)
        if env is None:
            env_fit = ones
        else:
            e = np.array(env)
            env_fit = np.clip(((c.env - e) / np.maximum(e, 1.0)).min(axis=1), 0.0, 1.0)
        core_fit = np.where(c.core, 1.0, SUPPLEMENTARY_FIT)
        vals["capability"] = 0.4 * tol_fit + 0.3 * env_fit + 0.3 * core_fit
        back["capability"] = ones
        forecast = c.weekly_free * weeks_left(today, request.due)
        vals["capacity"] = np.clip(1.0 - c.hours / np.maximum(forecast, 1e-9), 0.0, 1.0)
        back["capacity"] = np.where(self.declared[c.firm], DECLARED_BACKING, 1.0)
        fpy, scrap = self.fpy[c.firm], self.scrap[c.firm]
        has_q = ~np.isnan(fpy)
        q = 0.5 * np.clip((fpy - 0.8) / 0.2, 0, 1) + 0.5 * (1 - np.clip(scrap / 0.1, 0, 1))
        vals["quality"] = np.where(has_q, q, NEUTRAL)
        back["quality"] = has_q.astype(float)
        ot = self.on_time[c.firm]
        has_d = ~np.isnan(ot)
        vals["delivery"] = np.where(has_d, ot, NEUTRAL)
        back["delivery"] = has_d.astype(float)
        if c.distance_km is None:
            vals["distance"] = ones
        else:
            vals["distance"] = np.exp(-c.distance_km / DISTANCE_SCALE_KM)
        back["distance"] = ones
        rv = np.full(n, NEUTRAL)
        rb = np.zeros(n)
        if ratings is not None:
            for fi in np.unique(c.firm):
                s = ratings.supplier(self.firm_ids[fi])
                if s is not None:
                    sel = c.firm == fi
                    rv[sel], rb[sel] = s.value, 1.0
        vals["rating"], back["rating"] = rv, rb
        return vals, back

    def rank(
        self,
        request: Request,
        today: date,
        *,
        step: int = 0,
        limit: int = 20,
        ratings: RatingBook | None = None,
    ) -> list[Match]:
        """The best `limit` firms for one step, best first, one match per firm (its best equipment)."""
        _check_step(request, step)
        if limit < 1:
            raise ValueError(f"limit: must be at least 1, got {limit}")
        c = self.candidates(request, step, today)
        if len(c.rows) == 0:
            return []
        vals, back = self._values(request, step, today, c, ratings)
        score = np.zeros(len(c.rows))
        for name, w in WEIGHTS.items():
            score = score + w * vals[name]
        # best row per firm, then the top `limit` firms (ties: firm id)
        order = np.lexsort((self.name_rank[c.firm], -score))
        _, first = np.unique(c.firm[order], return_index=True)
        best = order[np.sort(first)]
        best = best[np.lexsort((self.name_rank[c.firm[best]], -score[best]))][:limit]
        total_w = sum(WEIGHTS.values())
        out = []
        for r in best:
            factors = []
            for name, w in WEIGHTS.items():
                v = float(vals[name][r])
                factors.append(
                    Factor(
                        name=name,
                        value=v,
                        weight=w,
                        contribution=w * v,
                        note=_note(name, request, step, today, c, int(r), back[name][r], v, self),
                    )
                )
            conf = sum(WEIGHTS[k] * float(back[k][r]) for k in WEIGHTS) / total_w
            out.append(
                Match(
                    request_id=request.id,
                    step=step,
                    firm_id=self.firm_ids[c.firm[r]],
                    equipment_id=c.eq_id[r],
                    score=sum(f.contribution for f in factors),
                    factors=tuple(factors),
                    confidence=min(1.0, conf),
                    hard_checks=_passed(request, step, today, c, int(r), self),
                )
            )
        return out

    def near_misses(self, request: Request, today: date, *, step: int = 0) -> NearMisses:
        """What keeps firms out of a step, one constraint relaxed at a time: for each hard
        constraint, the firms that meet every other one but not this, and the best they offer
        ("3 firms bend steel, none has a 400 mm envelope: the largest is 300 x 200 x 20 mm")."""
        _check_step(request, step)
        st = request.steps[step]
        proc, mat = vocab_pair(st.process), vocab_pair(st.material)
        t, ok = self._checks(request, step, today)
        if t is None:
            return NearMisses(0, 0, [], near_text("near_no_process", process=proc))
        every = np.ones(len(t.firm), dtype=bool)
        for v in ok.values():
            every &= v
        feasible = set(t.firm[every].tolist())
        process_firms = len(set(t.firm.tolist()))
        misses: list[NearMiss] = []
        for k in _RELAXABLE:
            others = np.ones(len(t.firm), dtype=bool)
            for j, v in ok.items():
                if j != k:
                    others &= v
            rows = np.flatnonzero(others & ~ok[k])
            firms = set(t.firm[rows].tolist()) - feasible
            if not firms:
                continue
            rows = rows[[int(f) in firms for f in t.firm[rows].tolist()]]
            misses.append(
                NearMiss(k, len(firms), self._near_text(k, request, step, today, t, rows, len(firms)))
            )
        misses.sort(key=lambda m: (-m.firms, _RELAXABLE.index(m.check)))
        summary = near_text(
            "near_summary", n=process_firms, process=proc, material=mat, feasible=len(feasible)
        )
        return NearMisses(process_firms, len(feasible), misses, summary)

    def _near_text(
        self, k: str, request: Request, step: int, today: date, t: _ProcTable, rows: np.ndarray, n: int
    ) -> Text:
        st = request.steps[step]
        proc, mat = vocab_pair(st.process), vocab_pair(st.material)
        if k == "material":
            counts: dict[str, int] = {}
            for m in t.mats[rows].tolist():
                for code, bit in _MAT_BIT.items():
                    if m & bit:
                        counts[code] = counts.get(code, 0) + 1
            top = sorted(counts, key=lambda c: (-counts[c], c))[:3]
            names = tuple(", ".join(vocab_pair(c)[i] for c in top) for i in (0, 1))
            return near_text("near_material", n=n, process=proc, material=mat, others=names)
        if k == "envelope":
            need = np.array(required_envelope(st))
            fit = (t.env[rows] / np.maximum(need, 1e-9)).min(axis=1)
            best = t.env[rows[int(np.argmax(fit))]]
            return near_text(
                "near_envelope", n=n, process=proc, material=mat, needs=_env(need), has=_env(best)
            )
        if k == "tolerance":
            return near_text(
                "near_tolerance",
                n=n,
                process=proc,
                best=f"{float(t.tol[rows].min()):g}",
                asked=f"{st.tolerance_mm:g}",
            )
        if k == "certification":
            return near_text(
                "near_certification", n=n, process=proc, codes=", ".join(st.certifications), due=request.due
            )
        if k == "capacity":
            free = self.free.get(st.process)
            wf = np.full(len(rows), np.nan) if free is None else free[t.firm[rows]]
            known = wf[~np.isnan(wf)]
            if not len(known):
                return near_text("near_capacity_unpublished", n=n, process=proc)
            most = float(known.max()) * weeks_left(today, request.due)
            return near_text(
                "near_capacity",
                n=n,
                process=proc,
                free=_fmt_h(most),
                hours=_fmt_h(st.hours()),
                due=request.due,
            )
        d = haversine_km(
            request.location.lat, request.location.lon, self.lat[t.firm[rows]], self.lon[t.firm[rows]]
        )
        return near_text(
            "near_distance",
            n=n,
            process=proc,
            km=f"{float(np.min(d)):.1f}",
            max=f"{request.max_distance_km:g}",
        )

    def explain_rejections(
        self, request: Request, today: date, *, step: int = 0, limit: int = 10
    ) -> list[Rejection]:
        """The firms with the step's process that were not ranked, nearest misses first."""
        _check_step(request, step)
        t, ok = self._checks(request, step, today)
        if t is None:
            return []
        names = list(ok)
        fails = np.stack([~ok[k] for k in names])  # (checks, rows)
        nfail = fails.sum(axis=0)
        rej = np.flatnonzero(nfail > 0)
        passing_firms = set(t.firm[nfail == 0].tolist())
        rej = rej[[f not in passing_firms for f in t.firm[rej].tolist()]] if len(rej) else rej
        order = rej[np.lexsort((self.name_rank[t.firm[rej]], nfail[rej]))]
        seen: set[int] = set()
        out: list[Rejection] = []
        for r in order:
            f = int(t.firm[r])
            if f in seen:
                continue
            seen.add(f)
            failed = tuple(k for j, k in enumerate(names) if fails[j, r])
            out.append(
                Rejection(
                    self.firm_ids[f],
                    t.eq_id[r],
                    failed,
                    tuple(_reason(k, request, step, today, t, int(r), self) for k in failed),
                )
            )
            if len(out) >= limit:
                break
        return out


def _check_step(request: Request, step: int) -> None:
    if not 0 <= step < len(request.steps):
        raise ValueError(f"step: request {request.id!r} has steps 0..{len(request.steps) - 1}, not {step}")


def _fmt_h(x: float) -> str:
    return f"{x:,.1f}"


def _env(e) -> str:
    return " x ".join(f"{float(v):g}" for v in e)


def _passed(
    request: Request, step: int, today: date, c: Candidates, r: int, ix: MatchIndex
) -> tuple[str, ...]:
    st = request.steps[step]
    out = [_check(CHECKS["process"], st.process), _check(CHECKS["material"], st.material)]
    if required_envelope(st) is not None:
        out.append(_check(CHECKS["envelope"], f"{_env(c.env[r])} >= {_env(required_envelope(st))} mm"))
    if st.tolerance_mm is not None:
        out.append(_check(CHECKS["tolerance"], f"±{c.tol[r]:g} <= ±{st.tolerance_mm:g} mm"))
    for code in st.certifications:
        out.append(_check(CHECKS["certification"], f"{code} valid on {request.due.isoformat()}"))
    free = _fmt_h(c.weekly_free[r] * weeks_left(today, request.due))
    out.append(_check(CHECKS["capacity"], f"{free} h >= {_fmt_h(c.hours)} h"))
    if request.max_distance_km is not None and c.distance_km is not None:
        out.append(_check(CHECKS["distance"], f"{c.distance_km[r]:.1f} <= {request.max_distance_km:g} km"))
    return tuple(out)


#: the names of the hard checks in the explanations of a match (read once: every result has them)
CHECKS: dict[str, Text] = {
    "process": msg("check_process"),
    "material": msg("check_material"),
    "envelope": msg("check_envelope"),
    "tolerance": msg("check_tolerance"),
    "certification": msg("check_certification"),
    "capacity": msg("check_capacity"),
    "distance": msg("check_distance"),
}


def _check(name: Text, value: str) -> str:
    """A passed hard check as "process/공정: milling": the English name, the Korean name, what
    was checked (the web pages split it at the slash and the colon)."""
    return f"{name.en}/{name.ko}: {value}"


def _note(
    name: str,
    request: Request,
    step: int,
    today: date,
    c: Candidates,
    r: int,
    backed: float,
    value: float,
    ix: MatchIndex,
) -> str:
    st = request.steps[step]
    f = int(c.firm[r])
    if name == "capability":
        if st.tolerance_mm is None:
            tol = msg_pair("note_no_tolerance_asked", held=c.tol[r])
        else:
            tol = msg_pair("note_tolerance", held=c.tol[r], asked=st.tolerance_mm)
        kind = msg_pair("note_core_equipment" if c.core[r] else "note_subcontracted_equipment")
        return "{} / {}".format(*msg_pair("note_capability", tolerance=tol, kind=kind))
    if name == "capacity":
        fc = c.weekly_free[r] * weeks_left(today, request.due)
        src = NEAR.pair("source_declared" if ix.declared[f] else "source_kpi")
        return "{} / {}".format(
            *msg_pair("note_capacity", free=_fmt_h(fc), hours=_fmt_h(c.hours), source=src)
        )
    if name == "quality":
        if not backed:
            return msg_both("note_quality_unpublished")
        return msg_both("note_quality", fpy=ix.fpy[f], scrap=ix.scrap[f])
    if name == "delivery":
        if not backed:
            return msg_both("note_delivery_unpublished")
        return msg_both("note_delivery", on_time=ix.on_time[f], orders=int(ix.orders[f]))
    if name == "distance":
        if c.distance_km is None:
            return msg_both("note_no_location")
        return msg_both("note_distance", km=c.distance_km[r])
    if not backed:
        return msg_both("note_no_ratings")
    return msg_both("note_ratings", value=value)


def _reason(
    check: str, request: Request, step: int, today: date, t: _ProcTable, r: int, ix: MatchIndex
) -> str:
    st = request.steps[step]
    f = int(t.firm[r])
    if check == "material":
        return "{} / {}".format(*msg_pair("fail_material", material=vocab_pair(st.material)))
    if check == "envelope":
        return msg_both("fail_envelope", has=_env(t.env[r]), needs=_env(required_envelope(st)))
    if check == "tolerance":
        return msg_both("fail_tolerance", held=t.tol[r], asked=st.tolerance_mm)
    if check == "certification":
        return msg_both("fail_certification", codes=", ".join(st.certifications))
    if check == "capacity":
        free = ix.free.get(st.process)
        if free is None or np.isnan(free[f]):
            return msg_both("fail_capacity_unpublished")
        fc = free[f] * weeks_left(today, request.due)
        return msg_both("fail_capacity", free=_fmt_h(fc), hours=_fmt_h(st.hours()))
    if check == "distance":
        d = haversine_km(request.location.lat, request.location.lon, ix.lat[f], ix.lon[f])
        return msg_both("fail_distance", km=d, max=request.max_distance_km)
    if check == "own":
        return msg_both("fail_own")
    return "{} / {}".format(*msg_pair("fail_process", process=vocab_pair(st.process)))


def _index(profiles: Sequence[Profile] | MatchIndex) -> MatchIndex:
    return profiles if isinstance(profiles, MatchIndex) else MatchIndex(profiles)


def rank(
    request: Request,
    profiles: Sequence[Profile] | MatchIndex,
    today: date,
    *,
    step: int = 0,
    limit: int = 20,
    ratings: RatingBook | None = None,
) -> list[Match]:
    """Rank the firms for one step of a request (build a `MatchIndex` once to rank many)."""
    return _index(profiles).rank(request, today, step=step, limit=limit, ratings=ratings)


def near_misses(
    request: Request, profiles: Sequence[Profile] | MatchIndex, today: date, *, step: int = 0
) -> NearMisses:
    """Why few or no firms fit a step, one hard constraint relaxed at a time."""
    return _index(profiles).near_misses(request, today, step=step)


def explain_rejections(
    request: Request, profiles: Sequence[Profile] | MatchIndex, today: date, *, step: int = 0, limit: int = 10
) -> list[Rejection]:
    """Why the nearest-miss firms (they have the process) were not ranked for a step."""
    return _index(profiles).explain_rejections(request, today, step=step, limit=limit)


__all__ = [
    "WEIGHTS",
    "MatchIndex",
    "Rejection",
    "Candidates",
    "rank",
    "explain_rejections",
    "near_misses",
    "NearMiss",
    "NearMisses",
    "hard_failures",
    "haversine_km",
    "weeks_left",
    "weekly_free_hours",
]
