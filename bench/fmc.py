"""Failure-mode classification benchmark (FMC, ISO 14224 labels): ours against TF-IDF + logistic regression.

    python bench/fmc.py --data DIR [--cache DIR] [--write-model]

DIR holds `train.txt`, `dev.txt` and `test.txt` in the FMC format (`observation,failure mode` per
line, one comma, no header; /work/shared/data/fmc/README.md). Only `train.txt` trains; dev and test
are scored, each printed separately (the method was chosen on train cross-validation and dev).

Compared in the same run:
- **ours**: knowhow/failure_modes.py, a k-nearest-neighbour vote over multilingual e5 embeddings
  (the embedding model knowhow/embed.py uses for search);
- **tfidf+lr**: word TF-IDF + scikit-learn logistic regression (defaults), the plain baseline.

Printed: micro-F1 and macro-F1 (sklearn, over the labels present in the gold split), beside the
published figures on the same test split (fine-tuned GPT-3.5 micro-F1 0.806 / macro-F1 0.624, the
Flair classifier 0.60 F1: Stewart et al. 2023 via the data's README).
Embeddings are cached in `--cache` (default: a temporary folder per data set), keyed by the texts'
hash: about 0.1 s of CPU per text the first time.
`--write-model` writes the shipped embeddings of DIR's `train.txt` to the package
(knowhow/data/fmc_train_e5.npz); it refuses unless `train.txt` is the one shipped.

`--ko CSV` (default tests/data/failure_modes_ko.csv, columns text,en,label; written here, not from
FMC; `--ko ""` skips it) adds the Korean check: how often the expected mode comes first / in the first three for the
Korean texts and for their English paraphrases (`suggest_failure_modes`, the shipped model).

The last line: `fmc_micro_f1: <ours, test> tfidf_lr: <baseline, test>`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FC_KNOWHOW_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from factory_commons.knowhow import failure_modes as fm  # noqa: E402

PUBLISHED = [
    ("GPT-3.5 fine-tuned (Stewart et al. 2023; llm-fmc output files)", "0.806", "0.624"),
    ("Flair classifier (Stewart et al. 2023 abstract, 'F1')", "0.60", "-"),
]


def cached_embeddings(texts: list[str], cache: Path) -> np.ndarray:
    key = hashlib.sha256(("\n".join(texts) + fm.model_fingerprint()).encode()).hexdigest()[:20]
    path = cache / f"fmc_{key}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.process_time()
    vectors = fm.embed_observations(texts)
    print(f"  embedded {len(texts)} texts in {time.process_time() - t0:.1f} s CPU", file=sys.stderr)
    np.save(path, vectors)
    return vectors


def scores(gold: list[str], pred: list[str]) -> tuple[float, float]:
    labels = sorted(set(gold))
    return (
        f1_score(gold, pred, labels=labels, average="micro", zero_division=0),
        f1_score(gold, pred, labels=labels, average="macro", zero_division=0),
    )


def korean_check(path: Path) -> None:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for column in ("text", "en"):
        tops = [[s.label for s in fm.suggest_failure_modes(r[column], k=3)] for r in rows]
        first = sum(t[0] == r["label"] for t, r in zip(tops, rows, strict=True))
        three = sum(r["label"] in t for t, r in zip(tops, rows, strict=True))
        name = "Korean" if column == "text" else "English paraphrase"
        print(f"check {path.name} {name}: first {first}/{len(rows)}, in first three {three}/{len(rows)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--write-model", action="store_true")
    ap.add_argument(
        "--ko", type=Path, default=Path(__file__).resolve().parents[1] / "tests/data/failure_modes_ko.csv"
    )
    args = ap.parse_args()
    data: Path = args.data
    cache = args.cache or Path(tempfile.gettempdir()) / "fc_fmc_cache"
    cache.mkdir(parents=True, exist_ok=True)

    splits = {s: fm.read_observations(data / f"{s}.txt") for s in ("train", "dev", "test")}
    train_x, train_y = splits["train"]
    unknown = sorted(set(train_y) - set(fm.LABELS))
    if unknown:
        print(f"note: labels outside the 22 FMC modes in train.txt: {unknown}", file=sys.stderr)

    train_e = cached_embeddings(train_x, cache)
    if args.write_model:
        if (data / "train.txt").read_bytes() != fm.TRAIN_FILE.read_bytes():
            sys.exit(f"--write-model: {data / 'train.txt'} is not the shipped {fm.TRAIN_FILE.name}")
        fm.write_embeddings(fm.EMBEDDINGS_FILE, train_e)
        print(f"wrote {fm.EMBEDDINGS_FILE} ({fm.EMBEDDINGS_FILE.stat().st_size} bytes)")

    ours = fm.FailureModeClassifier(train_e, train_y)
    vec = TfidfVectorizer()
    baseline = LogisticRegression(max_iter=2000).fit(vec.fit_transform(train_x), train_y)

    print(
        f"FMC data: {data}  train {len(train_x)}, dev {len(splits['dev'][0])}, test {len(splits['test'][0])}"
    )
    print(f"ours: kNN vote over e5 embeddings, k={ours.k}, temperature={ours.temperature}")
    print(f"{'split':6} {'method':10} {'micro-F1':>9} {'macro-F1':>9}")
    result: dict[tuple[str, str], float] = {}
    for split in ("dev", "test"):
        x, y = splits[split]
        e = cached_embeddings(x, cache)
        for name, pred in (
            ("ours", ours.predict_vectors(e)),
            ("tfidf+lr", list(baseline.predict(vec.transform(x)))),
        ):
            micro, macro = scores(y, pred)
            result[(split, name)] = micro
            print(f"{split:6} {name:10} {micro:9.3f} {macro:9.3f}")
    print("published on the FMC test.txt (comparable only when DIR is FMC; not re-run here):")
    for name, micro, macro in PUBLISHED:
        print(f"  {name}: micro-F1 {micro}, macro-F1 {macro}")
    if args.ko and args.ko.is_file():
        korean_check(args.ko)
    print(f"fmc_micro_f1: {result[('test', 'ours')]:.3f} tfidf_lr: {result[('test', 'tfidf+lr')]:.3f}")


if __name__ == "__main__":
    main()
