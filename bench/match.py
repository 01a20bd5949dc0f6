"""Matching and teams benchmark: rank requests over 10,000 firms; teams against bound and greedy.

Runnable alone:  python bench/match.py [--firms 10000 --requests 1000 --seed 7 --data DB --baseline 30
                                        --batch 20 --copies 8 --time-limit 1 --due-factor 1]

Data: `generate_region(seed, firms, requests)` (cooperate/sample.py), or with `--data` the
profiles (kind "profile") and requests (kind "request") of a commons database (a
`.commons.sqlite` file or a PostgreSQL URL), ranked as of `--today` (default: the region's day).

Measured in the same run:
  index     MatchIndex(profiles): the public profiles as numpy arrays, built once
  rank      every step of every request ranked by `MatchIndex.rank` (hard constraints, six
            factors, explanations, top 20); one sample = one request with all its steps
  baseline  the same hard constraints checked in plain Python firm by firm (`hard_failures`,
            no index, no scoring) for the first `--baseline` requests; the feasible sets of
            both must agree, or the script fails
  teams     for every multi-step request: `plan_team` (exact, 1 s limit) with its proven lower
            bound, and `greedy_team` (cheapest feasible firm step by step)
  batch     `allocate_batch` over the first `--batch` multi-step requests under shared capacity
  contention `--copies` copies of one multi-step request compete for the same firms: the batch
            MILP against first come, first served (each copy in turn gets its optimal team on
            the capacity the earlier copies left)
The last line is `match_p95_ms: <p95 per request> team_gap: <mean (ours - bound) / bound>`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.cooperate.match import MatchIndex, hard_failures  # noqa: E402
from factory_commons.cooperate.model import Profile, Request  # noqa: E402
from factory_commons.cooperate.teams import allocate_batch, greedy_team, plan_team  # noqa: E402


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, dtype=float), q)) if len(xs) else float("nan")


def load(args) -> tuple[list[Profile], list[Request], date, str]:
    if args.data:
        from factory_commons.cooperate.db import CommonsDB

        db = CommonsDB(args.data)
        profiles = db.all("profile", Profile)
        requests = db.all("request", Request)[: args.requests]
        today = date.fromisoformat(args.today) if args.today else date.today()
        return profiles, requests, today, f"{args.data}"
    from factory_commons.cooperate.sample import generate_region

    region = generate_region(seed=args.seed, firms=args.firms, requests=args.requests)
    today = date.fromisoformat(args.today) if args.today else region.today
    return region.profiles, region.requests, today, f"generate_region(seed={args.seed})"


def _take(p: Profile, process: str, hours: float, weeks: float) -> Profile:
    """The profile with `hours` of the process's free capacity before the due date used up."""
    cap = p.evidence.capacity
    own = [w.free_hours for w in cap.weeks if w.process == process]
    left = max(0.0, sum(own) / len(own) - hours / weeks)
    weeks_ = tuple(
        w.model_copy(update={"free_hours": left}) if w.process == process else w for w in cap.weeks
    )
    ev = p.evidence.model_copy(update={"capacity": cap.model_copy(update={"weeks": weeks_})})
    return p.model_copy(update={"evidence": ev})


def contention(
    ix: MatchIndex, profiles: list[Profile], multi: list[Request], today: date, copies: int
) -> None:
    """Copies of one request compete for the same firms: the batch MILP against first come,
    first served (each copy in turn gets its optimal team on the capacity the earlier ones left)."""
    by = {p.firm_id: p for p in profiles}
    for req in multi:
        if plan_team(req, ix, today).feasible:
            break
    else:
        return
    firms = set()
    for s in range(len(req.steps)):
        c = ix.candidates(req, s, today)
        firms |= {ix.firm_ids[f] for f in c.firm.tolist()}
    reqs = [req.model_copy(update={"id": f"{req.id}#{k}"}) for k in range(copies)]
    sub = [by[f] for f in sorted(firms)]
    b = allocate_batch(reqs, sub, today, time_limit_s=10.0, candidates_per_step=40)
    cur = {p.firm_id: p for p in sub}
    seq_served, seq_cost, t0 = 0, 0.0, time.perf_counter()
    weeks = (req.due - today).days / 7
    for q in reqs:
        plan = plan_team(q, list(cur.values()), today)
        if not plan.feasible:
            continue
        seq_served += 1
        seq_cost += plan.objective
        for t in plan.steps:
            cur[t.firm_id] = _take(cur[t.firm_id], t.process, t.hours, weeks)
    t_seq = time.perf_counter() - t0
    cost = sum(p.objective for p in b.plans if p.feasible)
    print(
        f"contention: {copies} copies of {req.id} ({len(req.steps)} steps, {len(sub)} candidate firms): "
        f"batch {b.served} served, {cost:,.0f} KRW, gap {b.gap:.1e}, proven {b.proven_optimal}, "
        f"{b.solve_s * 1000:.0f} ms; first come first served {seq_served} served, {seq_cost:,.0f} KRW, "
        f"{t_seq * 1000:.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--firms", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--data", help="a commons database (.commons.sqlite or PostgreSQL URL) instead of a region"
    )
    ap.add_argument("--today", help="ISO date to rank as of (default: the region's day, or today for --data)")
    ap.add_argument("--baseline", type=int, default=30, help="requests checked by the plain-Python baseline")
    ap.add_argument("--batch", type=int, default=20, help="multi-step requests allocated together")
    ap.add_argument("--time-limit", type=float, default=1.0, help="seconds per team")
    ap.add_argument("--copies", type=int, default=8, help="copies of one request competing for capacity")
    ap.add_argument(
        "--due-factor",
        type=float,
        default=1.0,
        help="scale every request's days until due (e.g. 0.5: tighter, the couplings bind more)",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    profiles, requests, today, source = load(args)
    t_load = time.perf_counter() - t0
    if args.due_factor != 1.0:
        requests = [
            r.model_copy(
                update={"due": today + timedelta(days=round((r.due - today).days * args.due_factor))}
            )
            for r in requests
        ]
    n_eq = sum(len(p.facility.equipment) for p in profiles)
    print(
        f"data: {source} (due x {args.due_factor:g}): {len(profiles):,} firms, {n_eq:,} equipment, {len(requests):,} requests "
        f"({Counter(len(r.steps) for r in requests)} steps), today {today}; loaded in {t_load:.1f} s"
    )

    t0 = time.perf_counter()
    ix = MatchIndex(profiles)
    t_index = time.perf_counter() - t0
    print(f"index: MatchIndex built in {t_index * 1000:.0f} ms")
    # The region and the index are millions of long-lived objects: move them out of the cyclic
    # GC's reach once (as a long-running server would), so that a full collection of them does
    # not land inside one timed call (seen: a 1.4 s pause inside one team).
    gc.collect()
    gc.freeze()

    # -- ranking ----------------------------------------------------------------------------
    for r in requests[:20]:  # warm-up
        ix.rank(r, today)
    per_request, per_step, empty, counts = [], [], 0, []
    for r in requests:
        t0 = time.perf_counter()
        for s in range(len(r.steps)):
            t1 = time.perf_counter()
            ms = ix.rank(r, today, step=s)
            per_step.append(time.perf_counter() - t1)
            counts.append(len(ms))
            empty += not ms
        per_request.append(time.perf_counter() - t0)
    req_ms = [x * 1000 for x in per_request]
    step_ms = [x * 1000 for x in per_step]
    print(
        f"rank, one request (all steps), ms: p50 {pct(req_ms, 50):.1f}  p95 {pct(req_ms, 95):.1f}  "
        f"max {max(req_ms):.1f}  (n={len(req_ms)})"
    )
    print(
        f"rank, one step, ms: p50 {pct(step_ms, 50):.1f}  p95 {pct(step_ms, 95):.1f}  "
        f"({len(step_ms)} steps, {empty} with no feasible firm, median {statistics.median(counts):.0f} matches)"
    )

    # -- plain-Python baseline over the same hard constraints ----------------------------------
    base_ms, idx_ms = [], []
    for r in requests[: args.baseline]:
        t0 = time.perf_counter()
        want = []
        for s in range(len(r.steps)):
            want.append(
                {
                    (p.firm_id, e.id)
                    for p in profiles
                    for e in p.facility.equipment
                    if e.process == r.steps[s].process and not hard_failures(r, s, p, e.id, today)
                }
            )
        base_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        got = []
        for s in range(len(r.steps)):
            c = ix.candidates(r, s, today)
            got.append({(ix.firm_ids[f], e) for f, e in zip(c.firm.tolist(), c.eq_id.tolist(), strict=True)})
        idx_ms.append((time.perf_counter() - t0) * 1000)
        if got != want:
            sys.exit(f"MISMATCH: request {r.id}: index and plain-Python hard constraints disagree")
    if base_ms:
        print(
            f"hard constraints only, one request, ms: index p50 {pct(idx_ms, 50):.2f} / plain Python p50 "
            f"{pct(base_ms, 50):.0f} ({len(base_ms)} requests, feasible sets identical; "
            f"speed-up {pct(base_ms, 50) / pct(idx_ms, 50):.0f}x)"
        )

    # -- teams ----------------------------------------------------------------------------------
    multi = [r for r in requests if len(r.steps) > 1]
    gaps, vs_greedy, times, methods = [], [], [], Counter()
    feasible = optimal = greedy_fail = 0
    for r in multi:
        plan = plan_team(r, ix, today, time_limit_s=args.time_limit)
        greedy = greedy_team(r, ix, today)
        times.append(plan.solve_s)
        methods[plan.method] += 1
        if not plan.feasible:
            if greedy.feasible:
                sys.exit(f"FAIL: greedy found a team for {r.id} and plan_team did not")
            continue
        feasible += 1
        optimal += plan.proven_optimal
        gaps.append(plan.gap)
        if greedy.feasible:
            if greedy.objective < plan.objective * (1 - 1e-9):
                sys.exit(f"FAIL: greedy beat plan_team on {r.id}")
            vs_greedy.append((greedy.objective - plan.objective) / plan.objective)
        else:
            greedy_fail += 1
    t_ms = [x * 1000 for x in times]
    mean_gap = float(np.mean(gaps)) if gaps else float("nan")
    print(
        f"teams: {len(multi)} multi-step requests, {feasible} with a team ({optimal} proven optimal), "
        f"methods {dict(methods)}"
    )
    if gaps:
        print(f"teams, gap (ours - bound) / bound: mean {mean_gap:.2e}  max {max(gaps):.2e}")
        print(
            f"teams, time per team, ms: p50 {pct(t_ms, 50):.1f}  p95 {pct(t_ms, 95):.1f}  max {max(t_ms):.1f}  "
            f"(limit {args.time_limit * 1000:.0f})"
        )
        worse = sum(v > 1e-9 for v in vs_greedy)
        print(
            f"greedy vs ours: greedy dearer on {worse} of {len(vs_greedy)} (mean {np.mean(vs_greedy):.2%}, "
            f"max {max(vs_greedy, default=0):.2%}); greedy found no team on {greedy_fail} that we solved"
        )

    # -- batch ----------------------------------------------------------------------------------
    if args.batch and multi:
        batch_reqs = multi[: args.batch]
        b = allocate_batch(batch_reqs, ix, today, time_limit_s=10.0)
        alone = sum(plan_team(r, ix, today).feasible for r in batch_reqs)
        print(
            f"batch: {len(batch_reqs)} requests under shared capacity: {b.served} served ({alone} alone), "
            f"gap {b.gap:.2e}, proven optimal {b.proven_optimal}, {b.solve_s * 1000:.0f} ms "
            f"({b.candidates_per_step} candidates per step)"
        )

    if args.copies and multi:
        contention(ix, profiles, multi, today, args.copies)

    print(f"match_p95_ms: {pct(req_ms, 95):.1f} team_gap: {mean_gap:.2e}")


if __name__ == "__main__":
    main()
