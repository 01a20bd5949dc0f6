"""OEE of the simulated legacy machines from their current sensor alone, against the truth.

    python bench/retrofit_oee.py [--seed 7] [--days 3] [--sensor-days 2] [--write DIR]

Simulates the demo factory with its six legacy machines (lathe, machining center, mechanical
press, injection machine, manual welder, compressor), which report only a clamp-on current
signal; learns each machine's model from that signal, writes the inferred states and cycle
counts to a store and computes OEE with the KPI code, then computes OEE from the simulator's
true states and part counts over the same days (`retrofit.records.simulated_oee`). A current
sensor cannot see scrap, so the inferred side takes the true quality ratio. The last line is

    retrofit_oee_max_difference_points: <largest |difference| over machines> line: <line's difference>

(target: within 2 points). `--write DIR` also writes the legacy machines' current in the
benchmark format (one CSV per machine), for `bench/retrofit.py --data DIR`.
"""

from __future__ import annotations

import argparse
import time

from factory_commons.retrofit.records import simulated_oee


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--sensor-days", type=int, default=2)
    ap.add_argument("--write", type=str, default=None, help="also write the traces as a benchmark folder")
    args = ap.parse_args(argv)
    if args.write:
        from factory_commons.retrofit.records import write_simulated_folder

        paths = write_simulated_folder(args.write, args.seed, args.days, args.sensor_days)
        print(f"{len(paths)} files in {args.write}")
    t0 = time.perf_counter()
    rows = simulated_oee(seed=args.seed, days=args.days, sensor_days=args.sensor_days)
    print(
        f"{'machine':<12} {'OEE true':>9} {'inferred':>9} {'diff pt':>8} {'A true':>7} {'A inf':>7} {'parts':>7} {'cycles':>7}"
    )
    for r in rows:
        print(
            f"{r['machine']:<12} {r['oee_true']:>9.4f} {r['oee_inferred']:>9.4f} {r['difference_points']:>+8.2f} "
            f"{r['availability_true']:>7.4f} {r['availability_inferred']:>7.4f} {r['parts_true']:>7} {r['cycles_inferred']:>7}"
        )
    machines = [r for r in rows if r["machine"] != "legacy-1"]
    line = next(r for r in rows if r["machine"] == "legacy-1")
    worst = max(abs(r["difference_points"]) for r in machines)
    print(f"({time.perf_counter() - t0:.1f} s, seed {args.seed}, {args.sensor_days} sensor days)")
    print(f"retrofit_oee_max_difference_points: {worst:.2f} line: {line['difference_points']:+.2f}")
    return 0 if worst <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
