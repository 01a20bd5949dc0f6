"""Retrofit benchmark: machine states and cycles from one current signal, against two baselines.

    python bench/retrofit.py --data DIR

DIR holds one CSV file per machine run (searched recursively), header `ts,current_a,state,cycle`:
`ts` ISO 8601 with offset, `current_a` RMS amps of one phase (empty where the sensor dropped
out), `state` the truth (off, idle or running), `cycle` an integer that increments at the start
of each production cycle (docs/retrofit.md, "Benchmark format"). `python -m
factory_commons.retrofit.traces OUT SEED` writes such a folder.

Each file's states and cycles are inferred from `ts` and `current_a` alone; `state` and `cycle`
are read only to score. Scores: accuracy and balanced accuracy (mean recall of off, idle and
running, over the states present) per file and over all samples of all files; cycle-count error
|found - true| / true per file and over all files, where "true" counts the cycles started while
the sensor reported (increments of `cycle` between consecutive rows, not across a gap in time
longer than the inference's gap limit: nothing can be seen there). Compared in the same run:

- **ours**: `infer_states` (factory_commons/retrofit/infer.py), learned on each file itself;
- **threshold**: the anchors' way, one global pair of amp thresholds (off/idle, idle/running)
  for all files, given the benefit of being chosen on the truth of the same data (the pair with
  the best overall balanced accuracy);
- **3-means**: per file, k-means with 3 clusters on the current, clusters ordered by centre as
  off, idle, running.

The last line: `retrofit_state_accuracy: <ours, balanced, overall> threshold: <baseline>`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from factory_commons.retrofit.infer import infer_states
from factory_commons.retrofit.traces import STATES as STATE_NAMES
from factory_commons.retrofit.traces import observed_cycles
from factory_commons.retrofit.traces import read_csv as read_trace

STATES = STATE_NAMES


@dataclass
class FileResult:
    name: str
    n: int
    truth: np.ndarray  # int codes 0 off, 1 idle, 2 running
    ours: np.ndarray
    kmeans: np.ndarray
    amps: np.ndarray
    true_cycles: int
    our_cycles: int
    seconds: float


def codes(states: np.ndarray) -> np.ndarray:
    """State names to 0/1/2; anything else (unknown) to -1."""
    out = np.full(len(states), -1, dtype=np.int8)
    for i, s in enumerate(STATES):
        out[states == s] = i
    return out


def scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean recall over the states present in the truth)."""
    acc = float(np.mean(truth == pred)) if len(truth) else float("nan")
    recalls = [float(np.mean(pred[truth == k] == k)) for k in range(3) if np.any(truth == k)]
    return acc, float(np.mean(recalls)) if recalls else float("nan")


def confusion(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """3 x 4 counts: rows the true state (off, idle, running), columns the inferred one
    (off, idle, running, unknown: a gap or a long dropout)."""
    out = np.zeros((3, 4), dtype=np.int64)
    for k in range(3):
        p = pred[truth == k]
        out[k] = np.bincount(np.where(p < 0, 3, p), minlength=4)[:4]
    return out


def worst_confusions(m: np.ndarray, top: int = 2) -> str:
    """The largest errors of a confusion matrix as shares of their true state: `idle>run .31`."""
    names = ("off", "idle", "run", "unk")
    cells = []
    for k in range(3):
        total = m[k].sum()
        for j in range(4):
            if j != k and total and m[k, j]:
                cells.append((m[k, j] / total, f"{names[k]}>{names[j]} {m[k, j] / total:.2f}"))
    cells.sort(key=lambda c: -c[0])  # ties in the order off, idle, running
    return ", ".join(c for share, c in cells[:top] if share >= 0.005) or "-"


def ffill(x: np.ndarray) -> np.ndarray:
    """NaN samples take the value before (the first ones the first valid one): for the baselines."""
    s = pd.Series(x)
    return s.ffill().bfill().fillna(0.0).to_numpy()


def kmeans3(amps: np.ndarray) -> np.ndarray:
    from sklearn.cluster import KMeans

    x = ffill(amps).reshape(-1, 1)
    k = min(3, len(np.unique(x)))
    if k < 1:
        return np.zeros(len(x), dtype=np.int8)
    km = KMeans(k, n_init=3, random_state=0).fit(x if len(x) <= 50000 else x[:: max(1, len(x) // 50000)])
    order = np.argsort(km.cluster_centers_.ravel())
    rank = np.empty(k, dtype=np.int8)
    rank[order] = np.arange(k) + (3 - k)
    return rank[km.predict(x)]


def best_threshold_pair(files: list[FileResult]) -> tuple[float, float, np.ndarray]:
    """The global (off/idle, idle/running) thresholds with the best pooled balanced accuracy."""
    x = np.concatenate([ffill(f.amps) for f in files])
    y = np.concatenate([f.truth for f in files])
    cands = np.unique(np.quantile(x, np.linspace(0, 1, 801)))
    cands = np.append(cands, np.inf)
    b = np.searchsorted(cands, x, side="right")  # bin: number of candidates <= x
    hist = np.zeros((3, len(cands) + 1))
    for k in range(3):
        hist[k] = np.bincount(b[y == k], minlength=len(cands) + 1)
    below = np.cumsum(hist, axis=1)  # below[k, i]: samples of k with x < cands[i]
    tot = hist.sum(axis=1)
    present = tot > 0
    i1 = np.arange(len(cands))[:, None]
    i2 = np.arange(len(cands))[None, :]
    r_off = below[0][i1] / max(tot[0], 1)
    r_idle = (below[1][i2] - below[1][i1]) / max(tot[1], 1)
    r_run = (tot[2] - below[2][i2]) / max(tot[2], 1)
    bal = (r_off * present[0] + r_idle * present[1] + r_run * present[2]) / present.sum()
    bal = np.where(i2 >= i1, bal, -1)
    a, c = np.unravel_index(np.argmax(bal), bal.shape)
    t1, t2 = cands[a], cands[c]
    return float(t1), float(t2), np.concatenate([thresholded(ffill(f.amps), t1, t2) for f in files])


def thresholded(x: np.ndarray, t1: float, t2: float) -> np.ndarray:
    return np.where(x < t1, 0, np.where(x < t2, 1, 2)).astype(np.int8)


def run_file(path: Path) -> FileResult:
    ts, amps, truth_state, truth_cycle = read_trace(path)
    t0 = time.perf_counter()
    inf = infer_states(ts, amps)  # current only
    ours = codes(inf.sample_states(ts))
    seconds = time.perf_counter() - t0
    found = int(np.sum((inf.cycles > ts[0]) & (inf.cycles <= ts[-1])))
    return FileResult(
        name=str(path.name),
        n=len(ts),
        truth=codes(truth_state),
        ours=ours,
        kmeans=kmeans3(amps),
        amps=amps,
        true_cycles=observed_cycles(ts, truth_cycle),
        our_cycles=found,
        seconds=seconds,
    )


def cycle_error(found: int, true: int) -> float:
    if true == 0:
        return 0.0 if found == 0 else float("inf")
    return abs(found - true) / true


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of benchmark CSV files")
    ap.add_argument(
        "--confusion", action="store_true", help="print each file's confusion matrix (true x inferred state)"
    )
    args = ap.parse_args(argv)
    console = Console(stderr=False, width=190)
    if not args.data.is_dir():
        print(f"error: --data {args.data}: not a folder / 폴더가 아닙니다", file=sys.stderr)
        return 2
    paths = sorted(args.data.rglob("*.csv"))
    if not paths:
        print(f"error: --data {args.data}: no CSV files / CSV 파일이 없습니다", file=sys.stderr)
        return 2
    results: list[FileResult] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task("retrofit", total=len(paths))
        for path in paths:
            progress.update(task, description=f"retrofit {path.name[:32]:32}")
            try:
                results.append(run_file(path))
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            progress.advance(task)

    t1, t2, thr_all = best_threshold_pair(results)
    table = Table(title=f"retrofit: {len(results)} files in {args.data}")
    for col in (
        "file",
        "rows",
        "ours acc",
        "ours bal",
        "thr bal",
        "3-means bal",
        "cycles true",
        "found",
        "cycle err",
        "ours' largest errors",
    ):
        table.add_column(col, justify="right" if col != "file" else "left")
    offset = 0
    for r in results:
        thr = thr_all[offset : offset + r.n]
        offset += r.n
        acc, bal = scores(r.truth, r.ours)
        _, tbal = scores(r.truth, thr)
        _, kbal = scores(r.truth, r.kmeans)
        err = cycle_error(r.our_cycles, r.true_cycles)
        table.add_row(
            r.name,
            str(r.n),
            f"{acc:.3f}",
            f"{bal:.3f}",
            f"{tbal:.3f}",
            f"{kbal:.3f}",
            str(r.true_cycles),
            str(r.our_cycles),
            f"{100 * err:.1f}%",
            worst_confusions(confusion(r.truth, r.ours)),
        )
    truth = np.concatenate([r.truth for r in results])
    ours = np.concatenate([r.ours for r in results])
    kmeans = np.concatenate([r.kmeans for r in results])
    acc, bal = scores(truth, ours)
    tacc, tbal = scores(truth, thr_all)
    kacc, kbal = scores(truth, kmeans)
    true_c = sum(r.true_cycles for r in results)
    found_c = sum(r.our_cycles for r in results)
    abs_err = sum(abs(r.our_cycles - r.true_cycles) for r in results)
    table.add_row(
        "overall",
        str(len(truth)),
        f"{acc:.3f}",
        f"{bal:.3f}",
        f"{tbal:.3f}",
        f"{kbal:.3f}",
        str(true_c),
        str(found_c),
        f"{100 * abs_err / max(true_c, 1):.1f}%",
        worst_confusions(confusion(truth, ours)),
    )
    console.print(table)
    if args.confusion:
        print("confusion (rows true off/idle/running; columns inferred off/idle/running/unknown):")
        for r in results:
            m = confusion(r.truth, r.ours)
            print(f"  {r.name}: " + " | ".join(" ".join(f"{v:7d}" for v in row) for row in m))
        m = confusion(truth, ours)
        print("  overall: " + " | ".join(" ".join(f"{v:7d}" for v in row) for row in m))
    per_file_err = [cycle_error(r.our_cycles, r.true_cycles) for r in results if r.true_cycles]
    within = sum(e <= 0.02 for e in per_file_err)
    print(f"accuracy overall: ours {acc:.4f}, threshold {tacc:.4f}, 3-means {kacc:.4f}")
    print(f"balanced accuracy overall: ours {bal:.4f}, threshold {tbal:.4f}, 3-means {kbal:.4f}")
    print(f"threshold pair chosen on the truth: off/idle {t1:.4g} A, idle/running {t2:.4g} A")
    print(
        f"cycles: {found_c} found of {true_c} true; total |error| {100 * abs_err / max(true_c, 1):.2f}%; "
        f"files within 2%: {within}/{len(per_file_err)}; median per-file error "
        f"{100 * float(np.median(per_file_err)) if per_file_err else 0:.2f}%"
    )
    print(f"inference time: {sum(r.seconds for r in results):.1f} s for {len(truth)} samples")
    print(f"retrofit_state_accuracy: {bal:.4f} threshold: {tbal:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
