"""Teams of firms for multi-step requests, solved exactly with a proven lower bound.

Each step of a request goes to one feasible (firm, equipment): every hard constraint of
`match.py` holds for it. Consecutive steps at different firms pay a move (a fixed handover plus
a cost per km of haversine distance, and transport days); the last step pays the delivery to the
requester when the request has a location. The objective, in KRW, is

    sum of processing (hours x hourly rate) + transport + LEAD_DAY_KRW x lead time in days

where lead time = sum of processing days (7 x hours / the firm's mean weekly free hours for the
process) + transport days. Constraints: lead time <= days until the due date; a firm doing
several steps with the same process needs the sum of their hours within its free capacity for
that process before the due date (capacity is published per process).

Solver (`plan_team`): an exact layered shortest path (Bellman over steps) without the capacity
and due-date couplings is a lower bound; when its path satisfies them it is optimal. Otherwise a
MILP (`scipy.optimize.milp`, HiGHS; OR-Tools cannot be used because it pins protobuf below what
Sparkplug needs) over the nodes and moves that can still beat the best known team (pruned with
forward/backward bounds, which is exact) gives the team, HiGHS's proven dual bound and the gap.
`greedy_team` is the step-by-step baseline; `allocate_batch` allocates several requests under
shared firm capacity in one MILP with the same bound/gap reporting.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from .match import MatchIndex, haversine_km, near_text, vocab_pair, weeks_left
from .model import Profile, Request, Text, msg


def _why(t: Text) -> str:
    """Why no team: Korean, then English ("가능한 업체 없음 / no feasible firm"), the order of
    every "Korean / English" note, which the pages split (web/commons.py `note_in`)."""
    return f"{t.ko} / {t.en}"


@dataclass(frozen=True)
class TeamCosts:
    """Cost model of a team (KRW, days). Assumed round figures for a 1-ton truck in Seoul/Incheon,
    not sourced prices; pass your own."""

    per_km_krw: float = 1_500.0
    handover_krw: float = 30_000.0  # loading, paperwork, the trip itself, per move between firms
    handover_days: float = 0.5
    km_per_day: float = 300.0  # transport days = handover_days + km / km_per_day
    lead_day_krw: float = 50_000.0  # lead-time penalty per day
    deliver: bool = True  # add the move from the last firm to the requester (if it has a location)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamStep(_M):
    step: int
    firm_id: str
    equipment_id: str
    process: str
    hours: float
    processing_krw: float
    processing_days: float
    move_km: float  # from the previous step's firm (0 at the first step or at the same firm)
    move_krw: float
    move_days: float


class TeamPlan(_M):
    """A team for one request: who does each step, the cost, the bound and the gap."""

    request_id: str
    feasible: bool
    steps: tuple[TeamStep, ...] = ()
    processing_krw: float = 0.0
    transport_krw: float = 0.0
    delivery_km: float = 0.0
    lead_time_days: float = 0.0
    objective: float = float("inf")
    lower_bound: float = 0.0
    gap: float = float("inf")  # (objective - lower_bound) / lower_bound
    proven_optimal: bool = False
    method: str = ""  # "path" (relaxation was feasible), "milp", "greedy"
    solve_s: float = 0.0
    reason: str = ""


class BatchPlan(_M):
    """Several requests allocated at once under shared capacity."""

    plans: tuple[TeamPlan, ...]
    served: int
    objective: float  # cost of the served teams + UNSERVED penalties
    lower_bound: float
    gap: float
    proven_optimal: bool
    candidates_per_step: int
    solve_s: float


# -- the layered graph of one request ----------------------------------------------------------


@dataclass
class _Layer:
    firm: np.ndarray  # firm index, one node per firm (its cheapest equipment for the step)
    eq_id: list[str]
    cost: np.ndarray  # node cost: processing + lead-time penalty (+ delivery at the last step)
    days: np.ndarray  # processing days (+ delivery days at the last step)
    proc_krw: np.ndarray
    proc_days: np.ndarray
    deliver_km: np.ndarray
    cap: np.ndarray  # free hours for the process before the due date
    hours: float
    process: str
    deliver: bool = False


@dataclass
class _Graph:
    request: Request
    layers: list[_Layer]
    days_left: float
    ix: MatchIndex
    costs: TeamCosts

    def move(self, s: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cost, days, km) of moves from nodes a of layer s to nodes b of layer s+1 (broadcast)."""
        la, lb = self.layers[s], self.layers[s + 1]
        fa, fb = la.firm[a], lb.firm[b]
        km = haversine_km(self.ix.lat[fa], self.ix.lon[fa], self.ix.lat[fb], self.ix.lon[fb])
        same = fa == fb
        c = self.costs
        days = np.where(same, 0.0, c.handover_days + km / c.km_per_day)
        cost = np.where(same, 0.0, c.handover_krw + c.per_km_krw * km) + c.lead_day_krw * days
        return cost, days, np.where(same, 0.0, km)


def _graph(request: Request, ix: MatchIndex, today: date, costs: TeamCosts) -> tuple[_Graph, str]:
    layers = []
    wl = weeks_left(today, request.due)
    for s, st in enumerate(request.steps):
        c = ix.candidates(request, s, today)
        if len(c.rows) == 0:
            return _Graph(request, [], 0, ix, costs), _why(
                near_text("team_step_none", step=s + 1, process=vocab_pair(st.process))
            )
        # one node per firm: its cheapest equipment (same place, same capacity, same days)
        order = np.lexsort((c.rate, c.firm))
        _, first = np.unique(c.firm[order], return_index=True)
        keep = order[first]
        firm = c.firm[keep]
        h = c.hours
        proc_krw = h * c.rate[keep]
        proc_days = 7.0 * h / c.weekly_free[keep]
        days = proc_days.copy()
        dkm = np.zeros(len(keep))
        deliver = s == len(request.steps) - 1 and costs.deliver and request.location is not None
        cost = proc_krw.copy()
        if deliver:
            dkm = haversine_km(request.location.lat, request.location.lon, ix.lat[firm], ix.lon[firm])
            days = days + costs.handover_days + dkm / costs.km_per_day
            cost = cost + costs.handover_krw + costs.per_km_krw * dkm
        cost = cost + costs.lead_day_krw * days
        layers.append(
            _Layer(
                firm,
                [c.eq_id[k] for k in keep],
                cost,
                days,
                proc_krw,
                proc_days,
                dkm,
                c.weekly_free[keep] * wl,
                h,
                st.process,
                deliver,
            )
        )
    return _Graph(request, layers, max(0, (request.due - today).days), ix, costs), ""


def _moves(g: _Graph, alive: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(cost, days) of every move between the alive nodes of consecutive steps."""
    out = []
    for s in range(len(g.layers) - 1):
        mc, md, _ = g.move(s, alive[s][:, None], alive[s + 1][None, :])
        out.append((mc, md))
    return out


def _dp(g: _Graph, alive: list[np.ndarray], moves, mu: float, alpha: float = 1.0):
    """Shortest paths through the steps with weights alpha x cost + mu x days (alive nodes only).

    Returns F (best weight up to and including each node), B (from each node to the end,
    including it) and the node weights."""
    S = len(g.layers)
    w = [alpha * layer.cost + mu * layer.days for layer in g.layers]
    F = [np.full(len(layer.cost), np.inf) for layer in g.layers]
    B = [np.full(len(layer.cost), np.inf) for layer in g.layers]
    F[0][alive[0]] = w[0][alive[0]]
    mw = [alpha * mc + mu * md for mc, md in moves]
    for s in range(S - 1):
        a, b = alive[s], alive[s + 1]
        F[s + 1][b] = (F[s][a][:, None] + mw[s]).min(axis=0) + w[s + 1][b]
    B[S - 1][alive[S - 1]] = w[S - 1][alive[S - 1]]
    for s in range(S - 2, -1, -1):
        a, b = alive[s], alive[s + 1]
        B[s][a] = (mw[s] + B[s + 1][b][None, :]).min(axis=1) + w[s][a]
    return F, B, w, mw


def _path_from(g: _Graph, F: list[np.ndarray], mw, alive: list[np.ndarray]) -> list[int]:
    """The best path of a `_dp` (backtracking the forward weights)."""
    S = len(g.layers)
    last = int(alive[S - 1][np.argmin(F[S - 1][alive[S - 1]])])
    path = [last]
    for s in range(S - 2, -1, -1):
        a = alive[s]
        j = int(np.searchsorted(alive[s + 1], path[-1]))
        path.append(int(a[np.argmin(F[s][a] + mw[s][:, j])]))
    return path[::-1]


def _evaluate(g: _Graph, path: Sequence[int]) -> tuple[float, float, bool]:
    """(objective, lead days, feasible) of a full assignment (node per layer)."""
    obj = sum(float(g.layers[s].cost[n]) for s, n in enumerate(path))
    days = sum(float(g.layers[s].days[n]) for s, n in enumerate(path))
    for s in range(len(path) - 1):
        mc, md, _ = g.move(s, np.array([path[s]]), np.array([path[s + 1]]))
        obj += float(mc[0])
        days += float(md[0])
    load: dict[tuple[int, str], float] = {}
    cap: dict[tuple[int, str], float] = {}
    for s, n in enumerate(path):
        layer = g.layers[s]
        key = (int(layer.firm[n]), layer.process)
        load[key] = load.get(key, 0.0) + layer.hours
        cap[key] = float(layer.cap[n])
    ok = days <= g.days_left + 1e-9 and all(load[k] <= cap[k] + 1e-9 for k in load)
    return obj, days, ok


def _greedy_path(g: _Graph) -> list[int] | None:
    used: dict[tuple[int, str], float] = {}
    days = 0.0
    path: list[int] = []
    for s, layer in enumerate(g.layers):
        n = len(layer.cost)
        cost, d = layer.cost.copy(), layer.days.copy()
        if s:
            mc, md, _ = g.move(s - 1, np.full(n, path[-1]), np.arange(n))
            cost, d = cost + mc, d + md
        room = layer.cap - np.array([used.get((int(f), layer.process), 0.0) for f in layer.firm])
        ok = (room >= layer.hours - 1e-9) & (days + d <= g.days_left + 1e-9)
        if not ok.any():
            return None
        k = int(np.flatnonzero(ok)[np.argmin(cost[ok])])
        path.append(k)
        days += float(d[k])
        key = (int(layer.firm[k]), layer.process)
        used[key] = used.get(key, 0.0) + layer.hours
    return path


def _plan(g: _Graph, path: Sequence[int], **kw) -> TeamPlan:
    steps = []
    obj, days, ok = _evaluate(g, path)
    transport = 0.0
    for s, n in enumerate(path):
        layer = g.layers[s]
        km = mk = md = 0.0
        if s:
            mc, mdd, mkm = g.move(s - 1, np.array([path[s - 1]]), np.array([n]))
            km, md = float(mkm[0]), float(mdd[0])
            mk = float(mc[0]) - g.costs.lead_day_krw * md
        transport += mk
        steps.append(
            TeamStep(
                step=s,
                firm_id=g.ix.firm_ids[int(layer.firm[n])],
                equipment_id=layer.eq_id[n],
                process=layer.process,
                hours=layer.hours,
                processing_krw=float(layer.proc_krw[n]),
                processing_days=float(layer.proc_days[n]),
                move_km=km,
                move_krw=mk,
                move_days=md,
            )
        )
    last = g.layers[-1]
    dkm = float(last.deliver_km[path[-1]])
    if last.deliver:
        transport += g.costs.handover_krw + g.costs.per_km_krw * dkm
    lb = kw.pop("lower_bound")
    return TeamPlan(
        request_id=g.request.id,
        feasible=ok,
        steps=tuple(steps),
        processing_krw=sum(t.processing_krw for t in steps),
        transport_krw=transport,
        delivery_km=dkm,
        lead_time_days=days,
        objective=obj,
        lower_bound=lb,
        gap=_gap(obj, lb),
        **kw,
    )


def _gap(obj: float, lb: float) -> float:
    if lb <= 0:
        return 0.0 if obj <= 0 else float("inf")
    return max(0.0, (obj - lb) / lb)


def _index(profiles: Sequence[Profile] | MatchIndex) -> MatchIndex:
    return profiles if isinstance(profiles, MatchIndex) else MatchIndex(profiles)


def greedy_team(
    request: Request, profiles: Sequence[Profile] | MatchIndex, today: date, *, costs: TeamCosts = TeamCosts()
) -> TeamPlan:
    """Baseline: step by step, the cheapest feasible firm given the previous one (no look-ahead)."""
    t0 = time.perf_counter()
    g, why = _graph(request, _index(profiles), today, costs)
    if why:
        return TeamPlan(request_id=request.id, feasible=False, reason=why, method="greedy")
    path = _greedy_path(g)
    if path is None:
        return TeamPlan(
            request_id=request.id,
            feasible=False,
            method="greedy",
            reason=_why(msg("team_greedy_failed")),
        )
    return _plan(g, path, lower_bound=0.0, method="greedy", solve_s=time.perf_counter() - t0)


# -- exact team for one request ------------------------------------------------------------


class _Sparse:
    """Rows of a sparse constraint matrix with their bounds, built entry by entry."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, row: int, col: int, val: float) -> None:
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(val)

    def bound(self, lo: float, hi: float) -> None:
        self.lo.append(lo)
        self.hi.append(hi)

    def bounds(self, lo: list[float], hi: list[float]) -> None:
        self.lo.extend(lo)
        self.hi.extend(hi)

    def constraint(self, nrows: int, ncols: int) -> LinearConstraint:
        assert nrows == len(self.lo), (nrows, len(self.lo))
        m = coo_matrix((self.vals, (self.rows, self.cols)), shape=(nrows, ncols)).tocsr()
        return LinearConstraint(m, self.lo, self.hi)


# HiGHS's presolve (scipy 1.17.1) returned a solution 4% above the optimum flagged "optimal", with
# a dual bound equal to it, on a 20-variable batch found by tests/test_commons_teams.py (seed 66,
# days 8); without presolve it finds the optimum. Our MILPs are small after pruning, so presolve
# stays off everywhere.
def _milp(g: _Graph, alive: list[np.ndarray], edge_keep, time_limit_s: float):
    """Solve the team MILP over the alive nodes and kept moves: (path, obj, bound, HiGHS status).

    scipy's status: 0 optimal, 1 time limit, 2 proven infeasible."""
    S = len(g.layers)
    col = 0
    xcol: list[dict[int, int]] = []
    c: list[float] = []
    for s in range(S):
        m = {}
        for n in alive[s]:
            m[int(n)] = col
            col += 1
            c.append(float(g.layers[s].cost[n]))
        xcol.append(m)
    edges = []  # (s, a, b, col, days)
    for s in range(S - 1):
        a, b = alive[s], alive[s + 1]
        mc, md, _ = g.move(s, a[:, None], b[None, :])
        keep = edge_keep(s, a, b, mc)
        for i, j in zip(*np.nonzero(keep), strict=True):
            edges.append((s, int(a[i]), int(b[j]), col, float(md[i, j])))
            c.append(float(mc[i, j]))
            col += 1
    A = _Sparse()
    r = 0
    for s in range(S):  # one node per step
        for k in xcol[s].values():
            A.add(r, k, 1.0)
        A.bound(1.0, 1.0)
        r += 1
    out: dict[tuple[int, int], int] = {}
    inn: dict[tuple[int, int], int] = {}
    for s in range(S - 1):  # flow: moves out of a node = the node, moves into a node = the node
        for n, k in xcol[s].items():
            out[(s, n)] = r
            A.add(r, k, -1.0)
            A.bound(0.0, 0.0)
            r += 1
        for n, k in xcol[s + 1].items():
            inn[(s + 1, n)] = r
            A.add(r, k, -1.0)
            A.bound(0.0, 0.0)
            r += 1
    for s, a, b, k, _ in edges:
        A.add(out[(s, a)], k, 1.0)
        A.add(inn[(s + 1, b)], k, 1.0)
    # due date
    for s in range(S):
        for n, k in xcol[s].items():
            A.add(r, k, float(g.layers[s].days[n]))
    for _, _, _, k, d in edges:
        A.add(r, k, d)
    A.bound(-np.inf, float(g.days_left))
    r += 1
    # capacity of a firm's process used by several steps
    groups: dict[tuple[int, str], list[tuple[int, float, float]]] = {}
    for s in range(S):
        layer = g.layers[s]
        for n, k in xcol[s].items():
            groups.setdefault((int(layer.firm[n]), layer.process), []).append(
                (k, layer.hours, float(layer.cap[n]))
            )
    for items in groups.values():
        if len(items) > 1:
            for k, h, _ in items:
                A.add(r, k, h)
            A.bound(-np.inf, items[0][2])
            r += 1
    integrality = np.zeros(col)
    for m in xcol:
        for k in m.values():
            integrality[k] = 1
    res = milp(
        np.array(c),
        integrality=integrality,
        bounds=Bounds(0, 1),
        constraints=A.constraint(r, col),
        options={"time_limit": max(0.01, time_limit_s), "mip_rel_gap": 1e-7, "presolve": False},
    )
    if res.x is None:
        return None, np.inf, getattr(res, "mip_dual_bound", None), res.status
    path = [max(m, key=lambda n: res.x[m[n]]) for m in xcol]
    bound = res.mip_dual_bound if res.mip_dual_bound is not None else res.fun
    return path, float(res.fun), float(bound), res.status


MAX_FULL_NODES = 150  # per step, when no feasible team is known to prune with
TIME_OUT = _why(msg("team_time_out"))


def _all_moves(s, a, b, mc):
    return np.ones(mc.shape, bool)


def plan_team(
    request: Request,
    profiles: Sequence[Profile] | MatchIndex,
    today: date,
    *,
    time_limit_s: float = 1.0,
    costs: TeamCosts = TeamCosts(),
) -> TeamPlan:
    """The cheapest feasible team for a request, with a proven lower bound and the gap."""
    if time_limit_s <= 0:
        raise ValueError(f"time_limit_s: must be positive, got {time_limit_s}")
    t0 = time.perf_counter()
    g, why = _graph(request, _index(profiles), today, costs)
    if why:
        return TeamPlan(request_id=request.id, feasible=False, reason=why, proven_optimal=True, method="path")
    S = len(g.layers)
    # incumbent from greedy, then a cheap node bound: node + the cheapest node of every other step
    best_path = _greedy_path(g)
    ub = _evaluate(g, best_path)[0] if best_path is not None else np.inf
    mins = np.array([layer.cost.min() for layer in g.layers])
    alive = [
        np.flatnonzero(layer.cost + mins.sum() - mins[s] <= ub * (1 + 1e-9))
        for s, layer in enumerate(g.layers)
    ]
    moves = _moves(g, alive)
    F, B, w, mw = _dp(g, alive, moves, 0.0)
    relaxed = _path_from(g, F, mw, alive)
    lb = float(F[S - 1][alive[S - 1]].min())
    _, rdays, rok = _evaluate(g, relaxed)
    if rok:  # the relaxation's optimum satisfies the couplings: optimal
        return _plan(
            g, relaxed, lower_bound=lb, proven_optimal=True, method="path", solve_s=time.perf_counter() - t0
        )
    D = float(g.days_left)
    best = (lb, 0.0, F, B, w, mw)  # Lagrangian bound, mu, and its shortest-path tables
    if rdays > D + 1e-9:
        # the due date binds: is any team fast enough at all (capacity ignored)? then a Lagrangian
        # on the due date, cost + mu x (days - D), bisected on mu: every mu gives a lower bound,
        # and paths that meet the due date (and capacities) are incumbents
        Fd, _, _, _ = _dp(g, alive, moves, 1.0, alpha=0.0)
        if float(Fd[S - 1][alive[S - 1]].min()) > D + 1e-9:
            return TeamPlan(
                request_id=request.id,
                feasible=False,
                proven_optimal=True,
                method="path",
                reason=_why(msg("team_not_by_due")),
                solve_s=time.perf_counter() - t0,
            )
        lo, hi, found = 0.0, max(1.0, costs.lead_day_krw), False
        for _ in range(60):
            mu = 0.5 * (lo + hi) if found else hi
            Fm, Bm, wm, mwm = _dp(g, alive, moves, mu)
            pm = _path_from(g, Fm, mwm, alive)
            bound = float(Fm[S - 1][alive[S - 1]].min()) - mu * D
            if bound > best[0]:
                best = (bound, mu, Fm, Bm, wm, mwm)
            obj, days, ok = _evaluate(g, pm)
            if ok and obj < ub:
                best_path, ub = pm, obj
            if days > D + 1e-9:
                lo = mu
                if not found:
                    hi = 4.0 * mu
            else:
                hi, found = mu, True
            if found and hi - lo <= 1e-6 * hi or ub <= best[0] * (1 + 1e-9):
                break
            if time.perf_counter() - t0 > time_limit_s / 3:
                break
    lb = max(lb, best[0])
    if np.isfinite(ub) and ub <= lb * (1 + 1e-9):  # the Lagrangian closed the gap
        return _plan(
            g,
            best_path,
            lower_bound=min(lb, ub),
            proven_optimal=True,
            method="lagrangian",
            solve_s=time.perf_counter() - t0,
        )
    _, mu, F, B, w, mw = best

    def left() -> float:
        return max(0.05, time_limit_s - (time.perf_counter() - t0))

    def none(proven: bool, reason: str) -> TeamPlan:
        return TeamPlan(
            request_id=request.id,
            feasible=False,
            proven_optimal=proven,
            method="milp",
            reason=reason,
            solve_s=time.perf_counter() - t0,
        )

    no_team = _why(msg("team_none_fits"))
    if not np.isfinite(ub):  # no incumbent yet: MILPs over the best nodes per step look for one
        through = [F[s] + B[s] - w[s] for s in range(S)]  # cheapest (Lagrangian) team through a node
        for k in (30, MAX_FULL_NODES):
            small = [a[np.argsort(through[s][a], kind="stable")[:k]] for s, a in enumerate(alive)]
            whole = all(len(x) == len(a) for x, a in zip(small, alive, strict=True))
            p, obj, _, status = _milp(g, small, _all_moves, left() / 2 if k == 30 else left())
            if p is not None:
                best_path, ub = p, _evaluate(g, p)[0]
                break
            if whole:  # the restricted set was everything
                return none(status == 2, no_team if status == 2 else TIME_OUT)
        else:
            return none(False, _why(msg("team_none_among_best")))
    # exact pruning with the best bound's tables: a node or move whose cheapest team through it
    # (in the Lagrangian, which never exceeds the true cost of a feasible team) costs more than
    # the incumbent cannot be in an optimal team
    tol = (ub + mu * D) * 1e-9 + 1e-6  # float error grows with the size of the Lagrangian terms
    tables = alive  # mw[s] is over tables[s] x tables[s + 1]

    def keep(s, a, b, mc):
        m = mw[s][np.ix_(np.searchsorted(tables[s], a), np.searchsorted(tables[s + 1], b))]
        return F[s][a][:, None] + m + B[s + 1][b][None, :] - mu * D <= ub + tol

    alive = [a[(F[s][a] + B[s][a] - w[s][a] - mu * D) <= ub + tol] for s, a in enumerate(tables)]
    p, obj, bound, status = _milp(g, alive, keep, left())
    if bound is not None and np.isfinite(bound):
        lb = max(lb, bound)
    if p is not None and obj < ub:
        best_path = p
    obj = _evaluate(g, best_path)[0]
    lb = min(lb, obj)
    return _plan(
        g,
        best_path,
        lower_bound=lb,
        proven_optimal=status == 0 or obj <= lb * (1 + 1e-7),
        method="milp",
        solve_s=time.perf_counter() - t0,
    )


# -- a batch of requests under shared capacity ------------------------------------------------


def allocate_batch(
    requests: Sequence[Request],
    profiles: Sequence[Profile] | MatchIndex,
    today: date,
    *,
    time_limit_s: float = 5.0,
    candidates_per_step: int = 25,
    costs: TeamCosts = TeamCosts(),
) -> BatchPlan:
    """Teams for several requests at once, sharing every firm's free capacity per process
    (counted by due date: work due by day d fits in the free hours until d).

    Each request is served by a full team or not at all; an unserved request costs a penalty
    larger than all teams together (so serving more requests always comes first). Candidates: per
    step the `candidates_per_step` nodes with the cheapest relaxed team through them; the lower
    bound and gap are proven for that candidate set (all feasible firms when it is large enough).
    """
    if len({r.id for r in requests}) != len(requests):
        raise ValueError("requests: request ids must be unique")
    if candidates_per_step < 1:
        raise ValueError(f"candidates_per_step: must be at least 1, got {candidates_per_step}")
    t0 = time.perf_counter()
    ix = _index(profiles)
    graphs: list[_Graph | None] = []
    alive_all: list[list[np.ndarray] | None] = []
    reasons: dict[int, str] = {}
    for i, req in enumerate(requests):
        g, why = _graph(req, ix, today, costs)
        if why:
            graphs.append(None)
            alive_all.append(None)
            reasons[i] = why
            continue
        full = [np.arange(len(layer.cost)) for layer in g.layers]
        F, B, _, _ = _dp(g, full, _moves(g, full), 0.0)
        through = [F[s] + B[s] - g.layers[s].cost for s in range(len(g.layers))]
        graphs.append(g)
        alive_all.append([np.argsort(t, kind="stable")[:candidates_per_step] for t in through])
    col = 0
    c: list[float] = []
    A = _Sparse()
    r = 0
    xmap: dict[tuple[int, int, int], int] = {}
    zcol: dict[int, int] = {}
    worst_all = 0.0
    # per (firm, process): (column, hours, days until that request's due, free hours by then)
    cap_groups: dict[tuple[int, str], list[tuple[int, float, int, float]]] = {}
    for i, g in enumerate(graphs):
        if g is None:
            continue
        alive = alive_all[i]
        S = len(g.layers)
        worst = sum(float(g.layers[s].cost[alive[s]].max()) for s in range(S))
        zcol[i] = col
        c.append(0.0)  # -penalty, set below
        col += 1
        for s in range(S):
            layer = g.layers[s]
            for n in alive[s]:
                xmap[(i, s, int(n))] = col
                c.append(float(layer.cost[n]))
                key = (int(layer.firm[n]), layer.process)
                cap_groups.setdefault(key, []).append((col, layer.hours, g.days_left, float(layer.cap[n])))
                col += 1
            for n in alive[s]:  # one node per step when served
                A.add(r, xmap[(i, s, int(n))], 1.0)
            A.add(r, zcol[i], -1.0)
            A.bound(0.0, 0.0)
            r += 1
        due_row = r
        r += 1
        A.bound(-np.inf, float(g.days_left))
        for s in range(S):
            for n in alive[s]:
                A.add(due_row, xmap[(i, s, int(n))], float(g.layers[s].days[n]))
        for s in range(S - 1):
            a, b = alive[s], alive[s + 1]
            mc, md, _ = g.move(s, a[:, None], b[None, :])
            worst += float(mc.max())
            out_rows = {int(n): r + k for k, n in enumerate(a)}
            in_rows = {int(n): r + len(a) + k for k, n in enumerate(b)}
            for n in a:
                A.add(out_rows[int(n)], xmap[(i, s, int(n))], -1.0)
            for n in b:
                A.add(in_rows[int(n)], xmap[(i, s + 1, int(n))], -1.0)
            A.bounds([0.0] * (len(a) + len(b)), [0.0] * (len(a) + len(b)))
            r += len(a) + len(b)
            for p in range(len(a)):
                for q in range(len(b)):
                    A.add(out_rows[int(a[p])], col, 1.0)
                    A.add(in_rows[int(b[q])], col, 1.0)
                    A.add(due_row, col, float(md[p, q]))
                    c.append(float(mc[p, q]))
                    col += 1
        worst_all += worst
    # one penalty for every unserved request, above the worst cost of all teams together, so that
    # serving more requests always comes first
    unserved = 2.0 * worst_all + 1.0
    for i in zcol:
        c[zcol[i]] = -unserved
    # shared capacity, by due date: the hours of all requests due by day d fit in the free
    # hours until d, for every due day d among them (earliest-due-first can then run them all)
    for items in cap_groups.values():
        for d in sorted({it[2] for it in items}):
            for k, h, due, _ in items:
                if due <= d:
                    A.add(r, k, h)
            A.bound(-np.inf, next(it[3] for it in items if it[2] == d))
            r += 1
    const = unserved * len(zcol)
    plans: list[TeamPlan] = []
    if col == 0:
        plans = [
            TeamPlan(request_id=q.id, feasible=False, reason=reasons.get(i, ""))
            for i, q in enumerate(requests)
        ]
        return BatchPlan(
            plans=tuple(plans),
            served=0,
            objective=0.0,
            lower_bound=0.0,
            gap=0.0,
            proven_optimal=True,
            candidates_per_step=candidates_per_step,
            solve_s=time.perf_counter() - t0,
        )
    integrality = np.zeros(col)
    for k in list(xmap.values()) + list(zcol.values()):
        integrality[k] = 1
    left = max(0.05, time_limit_s - (time.perf_counter() - t0))
    res = milp(
        np.array(c),
        integrality=integrality,
        bounds=Bounds(0, 1),
        constraints=A.constraint(r, col),
        options={"time_limit": left, "mip_rel_gap": 1e-7, "presolve": False},
    )
    if res.x is None:
        raise RuntimeError(
            f"allocate_batch: HiGHS found no allocation within {time_limit_s} s ({res.message})"
        )
    served = 0
    for i, req in enumerate(requests):
        g = graphs[i]
        if g is None:
            plans.append(TeamPlan(request_id=req.id, feasible=False, reason=reasons[i]))
            continue
        if res.x[zcol[i]] < 0.5:
            plans.append(
                TeamPlan(
                    request_id=req.id,
                    feasible=False,
                    reason=_why(msg("team_not_served_shared")),
                )
            )
            continue
        path = [
            max((int(n) for n in alive_all[i][s]), key=lambda n, s=s: res.x[xmap[(i, s, n)]])
            for s in range(len(g.layers))
        ]
        plans.append(_plan(g, path, lower_bound=0.0, method="batch"))
        served += 1
    obj = float(res.fun) + const
    bound = float(res.mip_dual_bound if res.mip_dual_bound is not None else res.fun) + const
    return BatchPlan(
        plans=tuple(plans),
        served=served,
        objective=obj,
        lower_bound=min(bound, obj),
        gap=_gap(obj, bound),
        proven_optimal=res.status == 0,
        candidates_per_step=candidates_per_step,
        solve_s=time.perf_counter() - t0,
    )
