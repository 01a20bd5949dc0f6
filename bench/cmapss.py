"""C-MAPSS remaining-useful-life benchmark by the standard protocol.

Runnable alone:  python bench/cmapss.py [--data DIR] [--subset FD001 --subset FD003 ...]

For each subset: `GbmRul` (src/factory_commons/ai/rul.py) is trained on train_FD00x.txt only,
then predicts one RUL per test unit at its last cycle of test_FD00x.txt, compared with
RUL_FD00x.txt (true RUL, not clipped): RMSE and the PHM08 score (Saxena et al. 2008).

Training labels (fixed in code, `LABELS`; chosen on the validation RMSE of the training units
only): the repeats alternate between two labels, the usual clipped piece-wise linear
min(RUL, 130), and the true RUL on the rows at most 150 cycles from failure (rows further away
left out of that model's training); the prediction is the mean over all fold models, so it is
the mean of the two kinds. Validation: the training file's units are shuffled with a fixed seed
into 5 folds (four times, with seeds 0..3: `--repeats`); one LightGBM model per fold is trained
on the other 4 folds' units and early-stopped on its own held-out units; the prediction is the
mean of the 20 models. The test and RUL files are read only after training, for the final
figures: never for training, tuning or early stopping.

Validation figures (out-of-fold: each training row predicted by models that did not see its
unit): 'val cut' cuts every training unit at 10 seeded random points with true RUL uniform in
1..150 and scores the prediction there, as the test file cuts its units before failure;
'val all' scores every training row with true RUL <= 150 (the mean over all cut points, so the
same in expectation, with less noise). Both against the true RUL, not clipped.

Operating conditions are found by clustering the training file's settings, so the script runs
unchanged on subsets with six conditions (FD002, FD004) and on any folder in the same format.

Beside the product's method (GbmRul, fixed in code) it trains `GruRul` (src/factory_commons/ai/rul_gru.py,
a GRU over each unit's whole history with two heads for the same two labels, 3 seeded shuffles x
5 unit folds: `GRU_REPEATS`, `--gru-repeats`; each network trained through its whole 120-epoch
cosine schedule on its 4 folds' units, the last weights kept: no held-out figure picks an epoch,
so its out-of-fold figures are not flattered; PyTorch on one CPU thread) and their blend
w * GbmRul + (1 - w) * GruRul, w chosen on the out-of-fold predictions of the training units
(`BlendRul` in rul_blend.py trains the two and chooses w). **The blend is the headline** (chosen
on validation: docs/ai.md); `--no-nn`, or no PyTorch, leaves GbmRul alone as the headline.

Printed beside the published figures from ../shared/data/cmapss/README.md (authors' own
numbers, not re-run here). The last line is `cmapss_rmse: <value>`: the headline's test RMSE on the
last subset run.
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

R_EARLY = 130.0  # clipped label, chosen on validation RMSE (125: 10.92/11.70, 130: 10.45/11.42, 140: 10.61)
HORIZON = 150.0  # the other label: true RUL on rows at most this far from failure; the validation horizon
# (cap, drop rows beyond the cap), alternating over the repeats; see docs/ai.md for the validation figures
LABELS = ((R_EARLY, False), (HORIZON, True))
CUTS_PER_UNIT = 10
GRU_NET: Any = None  # GruConfig for GruRul; None: its defaults (chosen on validation, docs/ai.md)
GRU_REPEATS = 3  # seeded 5-fold splits for GruRul (networks: 5 x this); chosen on validation, docs/ai.md
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


def cut_rows(units: np.ndarray, y: np.ndarray, per_unit: int = CUTS_PER_UNIT, seed: int = 0) -> np.ndarray:
    """Rows where each training unit is 'cut' for validation: true RUL uniform in 1..HORIZON, seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for u in np.unique(units):
        rows = np.flatnonzero((units == u) & (y >= 1) & (y <= HORIZON))
        if len(rows):
            out.append(rng.choice(rows, per_unit, replace=True))
    return np.concatenate(out)


def _row(
    name: str,
    pred: np.ndarray,
    true: np.ndarray,
    oof: np.ndarray,
    y: np.ndarray,
    cut: np.ndarray,
    secs: float,
    note: str,
) -> float:
    r, s = rmse(pred, true), phm08_score(pred, true)
    near = y <= HORIZON
    v_cut, v_all = rmse(oof[cut], y[cut]), rmse(oof[near], y[near])
    print(f"{name:<44} {r:>7.2f} {s:>9.1f} {v_cut:>8.2f} {v_all:>8.2f} {secs:>8.0f}  {note}")
    return r


def run_subset(
    data: Path, subset: str, seed: int, repeats: int, nn: bool, gru_repeats: int = GRU_REPEATS
) -> float:
    train = read_split(data / f"train_{subset}.txt")
    X, y = train.matrix(), train.rul()
    cut = cut_rows(X[:, 0], y, seed=seed)  # validation cut points of the training units
    blend: Any = None
    if nn:  # BlendRul trains GbmRul (the same as below) and GruRul, and chooses their weight
        from factory_commons.ai.rul_blend import BlendRul

        blend = BlendRul(
            n_ops=3,
            cap=R_EARLY,
            horizon=HORIZON,
            seed=seed,
            n_repeats=repeats,
            gru_repeats=gru_repeats,
            net=GRU_NET,
        ).fit(X, y)
        model = blend.gbm
    else:
        model = GbmRul(n_ops=3, r_early=HORIZON, labels=LABELS, seed=seed, n_repeats=repeats).fit(X, y)
    train_s = model.info["train_seconds"]
    info = model.info

    test = read_split(data / f"test_{subset}.txt")  # read only now: never seen by training
    true = read_rul(data / f"RUL_{subset}.txt", n_units=len(test.units))
    Xt = test.matrix()
    last = test.last_rows()
    t1 = time.perf_counter()
    pred_all = model.predict(Xt)
    pred_s = time.perf_counter() - t1
    pred = pred_all[last]
    lo, hi = model.interval_around(pred, 0.8)
    covered = float(np.mean((np.minimum(true, HORIZON) >= lo) & (np.minimum(true, HORIZON) <= hi)))
    r_clip = rmse(np.minimum(pred, R_EARLY), np.minimum(true, R_EARLY))

    print(f"\n== {subset}: {info['units']} training units ({info['rows']:,} rows), {len(last)} test units ==")
    print(
        f"operating conditions found: {info['conditions']}; signals kept: {info['signals_kept']}; "
        f"features: {info['features']}; rounds per fold: {info['rounds']}"
    )
    print(
        f"validation: {model.n_repeats} x 5 folds of training units (seeded shuffles), each fold's model "
        f"early-stopped on its held-out units; out-of-fold RMSE against the true RUL at {CUTS_PER_UNIT} random cut "
        f"points per training unit with RUL in 1..{HORIZON:.0f} ('val cut') and at all rows with RUL <= "
        f"{HORIZON:.0f} ('val all')"
    )
    print(f"prediction time for all {len(Xt):,} test rows: {pred_s:.2f} s (GbmRul)")
    print(f"{'method':<44} {'RMSE':>7} {'score':>9} {'val cut':>8} {'val all':>8} {'train s':>8}  source")
    r = _row(
        f"ours: GbmRul ({model.n_repeats}x5, labels 130|150) [product{'' if blend else ', headline'}]",
        pred,
        true,
        model.oof_,
        y,
        cut,
        train_s,
        f"this run (LightGBM, {model.lgb_params['num_threads']} thread)",
    )
    if blend is not None:
        gru = blend.gru
        p = gru.predict(Xt)[last]
        gru_s = gru.info["train_seconds"]
        name = f"ours: GruRul ({gru.n_repeats}x5, heads 130|150)"
        _row(name, p, true, gru.oof_, y, cut, gru_s, "this run (PyTorch, 1 thread)")
        w = blend.weight
        r = _row(
            f"ours: {w:.2f} GbmRul + {1 - w:.2f} GruRul [headline]",
            blend.mix(pred, p),
            true,
            blend.oof_,
            y,
            cut,
            train_s + gru_s,
            "this run (BlendRul, w on out-of-fold)",
        )
    for (name, source), figs in PUBLISHED.items():
        if subset in figs:
            pr, ps = figs[subset]
            print(f"{name:<44} {pr:>7.2f} {ps:>9.1f} {'':>8} {'':>8} {'':>8}  {source}")
    print(
        f"(for reference only, GbmRul: RMSE with prediction and true RUL both clipped at {R_EARLY:.0f}, as some "
        f"papers compute it: {r_clip:.2f}; 80% band holds min(true RUL, {HORIZON:.0f}) for {covered:.0%} of test units)"
    )
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train_/test_/RUL_FD00x.txt")
    ap.add_argument("--subset", action="append", help="FD001 ... FD004 (repeatable; default FD001 and FD003)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeats", type=int, default=4, help="seeded 5-fold splits of the training units (models: 5 x this)"
    )
    ap.add_argument(
        "--gru-repeats",
        type=int,
        default=GRU_REPEATS,
        help="seeded 5-fold splits for GruRul (networks: 5 x this)",
    )
    ap.add_argument(
        "--no-nn", action="store_true", help="skip GruRul and the blend (GbmRul alone is then the headline)"
    )
    args = ap.parse_args(argv)
    nn = not args.no_nn
    if nn:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("(PyTorch is not installed: GruRul and the blend are skipped; GbmRul is the headline)")
            nn = False
    subsets = args.subset or ["FD001", "FD003"]
    print("C-MAPSS RUL benchmark (standard protocol: one prediction per test unit at its last cycle)")
    print(
        "training labels: min(RUL, 130) and RUL <= 150, in turn; metrics against RUL_FD00x.txt (not clipped); "
        "published figures are the authors' own"
    )
    last = float("nan")
    for sub in subsets:
        try:
            last = run_subset(args.data, sub, args.seed, args.repeats, nn, args.gru_repeats)
        except CmapssFormatError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(f"cmapss_rmse: {last:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
