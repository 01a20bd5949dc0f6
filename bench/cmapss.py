"""C-MAPSS remaining-useful-life benchmark by the standard protocol.

Runnable alone:  python bench/cmapss.py [--data DIR] [--subset FD001 --subset FD003 ...]

For each subset: `GbmRul` (src/factory_commons/ai/rul.py) is trained on train_FD00x.txt only,
then predicts one RUL per test unit at its last cycle of test_FD00x.txt, compared with
RUL_FD00x.txt (true RUL, not clipped): RMSE and the PHM08 score (Saxena et al. 2008).

Training labels are clipped piece-wise linear, min(RUL, R_early) with R_early = 130 cycles
(fixed in code; chosen among 125, 130, 140 on the validation RMSE of the training units only).
Validation: the training file's units are shuffled with a fixed seed into 5 folds (three times,
with seeds 0, 1, 2: `--repeats`); one LightGBM model per fold is trained on the other 4 folds'
units and early-stopped on its own held-out units; the prediction is the mean of the 15 models. The test file and RUL file are
read only after training, for the final figures: never for training, tuning or early stopping.
Operating conditions are found by clustering the training file's settings, so the script runs
unchanged on subsets with six conditions (FD002, FD004) and on any folder in the same format.

Beside the product's method (GbmRul, fixed in code) it prints `CnnRul` (src/factory_commons/ai/rul_nn.py,
a 1-D CNN over 40-cycle windows, 5 unit folds, PyTorch on one CPU thread) and the mean of the
two, each with its own validation RMSE; `--no-nn` skips them.

Printed beside the published figures from ../shared/data/cmapss/README.md (authors' own
numbers, not re-run here). The last line is `cmapss_rmse: <value>` for the last subset run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.ai.cmapss import CmapssFormatError, read_rul, read_split  # noqa: E402
from factory_commons.ai.rul import GbmRul, phm08_score, rmse  # noqa: E402

R_EARLY = 130.0  # chosen on validation RMSE (125: 10.92/11.70, 130: 10.45/11.42, 140: 10.61 FD001/FD003)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmapss"

# (method, source) -> subset -> (RMSE, score); from ../shared/data/cmapss/README.md
PUBLISHED: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("MTSTAN (best RMSE FD001/FD003)", "FFVE paper Table 4, LLerDagu/RUL-FFVE Benchmark.md"): {
        "FD001": (10.97, 175.36),
        "FD002": (16.81, 1154.36),
        "FD003": (10.90, 188.22),
        "FD004": (18.85, 1446.29),
    },
    ("FFVE (best RMSE FD002/FD004)", "FFVE paper Table 4"): {
        "FD001": (12.31, 280.21),
        "FD002": (12.55, 772.17),
        "FD003": (12.43, 302.1),
        "FD004": (14.08, 1149.03),
    },
    ("TCNN-Transformer (2021)", "ICE library docs Table 1"): {
        "FD001": (11.40, 254),
        "FD002": (14.75, 1453),
        "FD003": (11.35, 415),
        "FD004": (17.30, 2583),
    },
    ("Deep LSTM (Zheng et al. 2017)", "FFVE paper Table 4"): {
        "FD001": (16.14, 338),
        "FD002": (24.49, 4450),
        "FD003": (16.18, 852),
        "FD004": (28.17, 5550),
    },
    ("CNN (Babu et al. 2016)", "FFVE paper Table 4"): {
        "FD001": (18.45, 1299),
        "FD002": (30.29, 13600),
        "FD004": (29.16, 7890),
    },
}


def _row(name: str, pred: np.ndarray, true: np.ndarray, val: float, secs: float, note: str) -> float:
    r, s = rmse(pred, true), phm08_score(pred, true)
    print(f"{name:<40} {r:>8.2f} {s:>10.1f} {val:>10.2f} {secs:>9.0f}  {note}")
    return r


def run_subset(data: Path, subset: str, seed: int, repeats: int, nn: bool) -> float:
    train = read_split(data / f"train_{subset}.txt")
    X, y = train.matrix(), train.rul()
    near = y <= 150  # validation figure: held-out training units, true RUL <= 150 (unclipped)
    t0 = time.perf_counter()
    model = GbmRul(n_ops=3, r_early=R_EARLY, seed=seed, n_repeats=repeats).fit(X, y)
    train_s = time.perf_counter() - t0
    info = model.info
    others: list[tuple[str, Any, float]] = []
    if nn:
        from factory_commons.ai.rul_nn import CnnRul

        t0 = time.perf_counter()
        cnn = CnnRul(n_ops=3, r_early=R_EARLY, seed=seed).fit(X, y)
        others.append(("CnnRul (1-D CNN, 5 folds)", cnn, time.perf_counter() - t0))

    test = read_split(data / f"test_{subset}.txt")  # read only now: never seen by training
    true = read_rul(data / f"RUL_{subset}.txt", n_units=len(test.units))
    Xt = test.matrix()
    last = test.last_rows()
    t1 = time.perf_counter()
    pred_all = model.predict(Xt)
    pred_s = time.perf_counter() - t1
    pred = pred_all[last]
    lo, hi = model.interval_around(pred, 0.8)
    covered = float(np.mean((np.minimum(true, R_EARLY) >= lo) & (np.minimum(true, R_EARLY) <= hi)))
    r_clip = rmse(pred, np.minimum(true, R_EARLY))

    print(f"\n== {subset}: {info['units']} training units ({info['rows']:,} rows), {len(last)} test units ==")
    print(
        f"operating conditions found: {info['conditions']}; signals kept: {info['signals_kept']}; "
        f"features: {info['features']}; rounds per fold: {info['rounds']}"
    )
    print(
        f"validation: {model.n_repeats} x 5 folds of training units (seeded shuffles), each fold's model "
        f"early-stopped on its held-out units; 'val RMSE' = out-of-fold RMSE at training rows with true RUL <= 150"
    )
    print(f"prediction time for all {len(Xt):,} test rows: {pred_s:.2f} s (GbmRul)")
    print(f"{'method':<40} {'RMSE':>8} {'score':>10} {'val RMSE':>10} {'train s':>9}  source")
    r = _row(
        f"ours: GbmRul ({model.n_repeats}x5 folds, R={R_EARLY:.0f}) [product]",
        pred,
        true,
        rmse(model.oof_[near], y[near]),
        train_s,
        f"this run (LightGBM, {model.lgb_params['num_threads']} thread)",
    )
    for name, other, secs in others:
        p = other.predict(Xt)[last]
        _row(f"ours: {name}", p, true, rmse(other.oof_[near], y[near]), secs, "this run (PyTorch, 1 thread)")
        blend_oof = (model.oof_ + other.oof_) / 2
        _row(
            "ours: mean of GbmRul and CnnRul",
            (pred + p) / 2,
            true,
            rmse(blend_oof[near], y[near]),
            train_s + secs,
            "this run",
        )
    for (name, source), figs in PUBLISHED.items():
        if subset in figs:
            pr, ps = figs[subset]
            print(f"{name:<40} {pr:>8.2f} {ps:>10.1f} {'':>10} {'':>9}  {source}")
    print(
        f"(for reference only, GbmRul: RMSE against the true RUL clipped at R_early, as some papers compute it: "
        f"{r_clip:.2f}; 80% band holds the clipped true RUL for {covered:.0%} of test units)"
    )
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train_/test_/RUL_FD00x.txt")
    ap.add_argument("--subset", action="append", help="FD001 ... FD004 (repeatable; default FD001 and FD003)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeats", type=int, default=3, help="seeded 5-fold splits of the training units (models: 5 x this)"
    )
    ap.add_argument("--no-nn", action="store_true", help="skip the CNN shown beside the product's method")
    args = ap.parse_args(argv)
    nn = not args.no_nn
    if nn:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("(PyTorch is not installed: the CNN is skipped)")
            nn = False
    subsets = args.subset or ["FD001", "FD003"]
    print("C-MAPSS RUL benchmark (standard protocol: one prediction per test unit at its last cycle)")
    print(
        "training labels: min(RUL, 130); metrics against RUL_FD00x.txt; published figures are the authors' own"
    )
    last = float("nan")
    for sub in subsets:
        try:
            last = run_subset(args.data, sub, args.seed, args.repeats, nn)
        except CmapssFormatError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(f"cmapss_rmse: {last:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
