"""Regional report benchmark: what protecting the report costs and what primary suppression alone leaks.

Runnable alone:  python bench/region_report.py [--firms 2000 --seed 7 --k 5 --repeat 3]

On the sample region (region/sample.py) of `--firms` firms, every cell of the report (maturity,
platform and survey tables) is built once; then, in the same run:
  ours      disclosure.protect: primary and complementary suppression of all tables together
  baseline  primary suppression alone (hide each cell of 1 to k-1 firms, nothing else)
For each: cells hidden, the time (best and median of `--repeat`), and how many cells of fewer
than k firms an attacker pins from the published cells and the tables' sums
(disclosure.exposed: linear programmes over the hidden counts, each >= 1).
The last line is `region_report_protect_s: <best seconds of ours>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.region.disclosure import exposed, protect  # noqa: E402
from factory_commons.region.report import RegionData, report_cells  # noqa: E402
from factory_commons.region.sample import generate_region_sample  # noqa: E402


def primary_only(cells, k):
    return [
        replace(c, value=None, n_firms=None, ci_low=None, ci_high=None, suppressed=True)
        if c.n_firms is not None and 1 <= c.n_firms < k
        else c
        for c in cells
    ]


def timed(fn, repeat):
    walls, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t)
    return walls, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    s = generate_region_sample(seed=args.seed, firms=args.firms, experts=0)
    data = RegionData(s.firms, s.maturity, s.survey, {a.firm_id: a for a in s.activity})
    t = time.perf_counter()
    truth = report_cells(data)
    build = time.perf_counter() - t
    small = sum(1 for c in truth if c.n_firms is not None and 1 <= c.n_firms < args.k)
    print(
        f"firms {args.firms}, cells {len(truth)}, cells of 1..{args.k - 1} firms {small}, built in {build:.2f} s"
    )
    print(f"{'run':<9} {'hidden':>7} {'exposed':>8} {'wall best':>10} {'wall med':>9}")
    best = float("nan")
    for name, fn in (
        ("ours", lambda: protect(truth, args.k)),
        ("baseline", lambda: primary_only(truth, args.k)),
    ):
        walls, published = timed(fn, args.repeat)
        leaked = exposed(published, truth, args.k)
        hidden = sum(c.suppressed for c in published)
        print(f"{name:<9} {hidden:>7} {len(leaked):>8} {min(walls):>10.2f} {statistics.median(walls):>9.2f}")
        if name == "ours":
            best = min(walls)
            if leaked:
                sys.exit(f"ours leaves {len(leaked)} small cells open")
    print(f"region_report_protect_s: {best:.3f}")


if __name__ == "__main__":
    main()
