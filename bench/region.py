"""Region generator benchmark: how long `generate_region` takes for 2,000 and 10,000 firms.

Runnable alone:  python bench/region.py [--sizes 2000 10000 --requests 300 --repeat 3 --seed 7]

Measured in the same run, for each size (best and median of `--repeat` rounds, wall and CPU
seconds):
  ours      generate_region(seed, firms, requests): firms built as plain dicts and validated in
            one pydantic call with the cyclic garbage collector paused
  baseline  the same generator with the garbage collector left on (what the first version did),
            so that the figure of the pause is measured, not assumed
Both must give equal regions (checked). The last line is `region_2000_s: <best wall seconds>`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.cooperate import sample as R  # noqa: E402


def timed(fn, repeat: int) -> tuple[list[float], list[float], object]:
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        out = None
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    best2000 = float("nan")
    print(f"{'firms':>7} {'run':<9} {'wall best':>10} {'wall med':>9} {'cpu best':>9}")
    for n in args.sizes:
        ours = timed(lambda n=n: R.generate_region(args.seed, n, args.requests), args.repeat)
        base = timed(lambda n=n: R._generate(args.seed, n, args.requests, R.DEFAULT_TODAY), args.repeat)
        a, b = ours[2], base[2]
        if a.profiles != b.profiles or a.requests != b.requests:
            sys.exit("ours and baseline gave different regions")
        for name, (walls, cpus, _) in (("ours", ours), ("baseline", base)):
            print(f"{n:>7} {name:<9} {min(walls):>10.2f} {statistics.median(walls):>9.2f} {min(cpus):>9.2f}")
        print(
            f"{n:>7} firms: {len(a.profiles)}, cooperatives: {len(a.cooperatives)}, requests: {len(a.requests)}, "
            f"equipment: {sum(len(p.facility.equipment) for p in a.profiles)}, "
            f"capacity weeks: {sum(len(p.evidence.capacity.weeks) for p in a.profiles if p.evidence.capacity)}"
        )
        if n == 2000:
            best2000 = min(ours[0])
    print(f"region_2000_s: {best2000:.3f}")


if __name__ == "__main__":
    main()
