"""CSV import benchmark: a wide signals file through `factory-commons import` against pandas.

Runnable alone:  python bench/csv_import.py [--rows 1000000 --repeat 3]
Importable:      from csv_import import measure; measure(200_000) -> dict (bench/collect.py)

Data: a wide CSV as a data logger writes it: a local-time column ("2026-11-23 08:00:00",
Asia/Seoul) and 5 signal columns (Korean names, one scaled), one row a second, UTF-8, made
in a temporary folder. Each row gives 5 signal points.

Compared in the same run on the same file, each into a fresh temporary DuckDB file:
  ours      import_file(path, mapping, DuckDBStore(db)): encoding and delimiter detection,
            line-numbered reading, per-cell checks with rejects, scaling, whole-row
            validation, resumable progress file, chunks of 50,000 rows
  baseline  pandas.read_csv(parse_dates) in chunks of 50,000 rows, tz_localize/convert,
            scale, melt to long form, DuckDBStore(db).write_table("signal", frame): the
            shortest correct path through the same Store without line numbers, rejects
            or resume
Both are timed from opening the file until the store is closed; rows/s counts file rows.
The script checks that both stored the same number of points. The last line is
`csv_rows_per_s: <ours, best of --repeat>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.collect.files import import_file  # noqa: E402
from factory_commons.collect.files_mapping import parse_mapping  # noqa: E402
from factory_commons.store import DuckDBStore  # noqa: E402

MACHINE = "acme/changwon/press/line-2/press-01"
SIGNALS = [  # column, signal name, unit, scale
    ("온도(0.1℃)", "temperature", "°C", 0.1),
    ("진동", "진동", "mm/s", 1.0),
    ("부하", "spindle_load", "%", 1.0),
    ("전류", "current", "A", 1.0),
    ("압력", "pressure", "bar", 1.0),
]
CHUNK = 50_000
MAPPING = {
    "shape": "wide",
    "time": "시간",
    "machine": MACHINE,
    "columns": {c: {"kind": "signal", "name": n, "unit": u, "scale": s} for c, n, u, s in SIGNALS},
}


def make_file(path: Path, rows: int) -> Path:
    """A wide signals CSV with `rows` rows (deterministic)."""
    rng = np.random.default_rng(7)
    t = pd.date_range("2026-11-23 08:00:00", periods=rows, freq="s")
    frame = pd.DataFrame(
        {
            "시간": t.strftime("%Y-%m-%d %H:%M:%S"),
            SIGNALS[0][0]: rng.integers(380, 460, rows),
            SIGNALS[1][0]: np.round(rng.normal(1.5, 0.2, rows), 3),
            SIGNALS[2][0]: np.round(rng.uniform(20, 95, rows), 1),
            SIGNALS[3][0]: np.round(rng.normal(12, 1, rows), 2),
            SIGNALS[4][0]: np.round(rng.normal(150, 5, rows), 1),
        }
    )
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def run_ours(path: Path, db: Path) -> int:
    with DuckDBStore(db) as store:
        s = import_file(path, parse_mapping(MAPPING), store, chunk_rows=CHUNK)
    if s.rows_rejected:
        raise SystemExit(f"ours rejected {s.rows_rejected} rows: {s.first_rejections[:3]}")
    return s.written.get("signal", 0)


def run_baseline(path: Path, db: Path) -> int:
    written = 0
    names = {c: n for c, n, _, _ in SIGNALS}
    units = {n: u for _, n, u, _ in SIGNALS}
    with DuckDBStore(db) as store:
        for chunk in pd.read_csv(
            path, chunksize=CHUNK, parse_dates=["시간"], date_format="%Y-%m-%d %H:%M:%S"
        ):
            ts = chunk["시간"].dt.tz_localize("Asia/Seoul").dt.tz_convert("UTC").dt.tz_localize(None)
            chunk = chunk.drop(columns="시간").rename(columns=names)
            chunk["temperature"] = chunk["temperature"] * 0.1
            chunk["ts"] = ts
            long = chunk.melt(id_vars="ts", var_name="name", value_name="value")
            long["machine"] = MACHINE
            long["unit"] = long["name"].map(units)
            written += store.write_table("signal", long).written
    return written


def _timed(fn, path: Path, folder: Path, tag: str, i: int) -> tuple[float, int]:
    db = folder / f"{tag}{i}.duckdb"
    t0 = time.perf_counter()
    n = fn(path, db)
    dt = time.perf_counter() - t0
    db.unlink(missing_ok=True)
    Path(str(db) + ".wal").unlink(missing_ok=True)
    return dt, n


def measure(rows: int = 1_000_000, repeat: int = 1, folder: str | Path | None = None) -> dict:
    """Time ours and the baseline on one generated file; best seconds of `repeat` rounds each."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tmp = Path(tmp)
        path = make_file(tmp / "signals.csv", rows)
        size = path.stat().st_size
        ours, base = [], []
        points = set()
        for i in range(repeat):
            dt, n = _timed(run_ours, path, tmp, "ours", i)
            ours.append(dt)
            points.add(("ours", n))
            dt, n = _timed(run_baseline, path, tmp, "base", i)
            base.append(dt)
            points.add(("base", n))
    counts = {n for _, n in points}
    if counts != {rows * len(SIGNALS)}:
        raise SystemExit(f"point counts differ: {sorted(points)} (expected {rows * len(SIGNALS)})")
    return {
        "rows": rows,
        "points": rows * len(SIGNALS),
        "file_mb": size / 1e6,
        "ours_s": min(ours),
        "ours_median_s": statistics.median(ours),
        "baseline_s": min(base),
        "baseline_median_s": statistics.median(base),
        "csv_rows_per_s": rows / min(ours),
        "baseline_rows_per_s": rows / min(base),
        "ratio": min(base) / min(ours),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    r = measure(args.rows, args.repeat)
    print(
        f"file: {r['rows']:,} rows x {len(SIGNALS)} signals = {r['points']:,} points, {r['file_mb']:.1f} MB"
    )
    print(
        f"ours      import_file:              best {r['ours_s']:.2f} s, median {r['ours_median_s']:.2f} s, "
        f"{r['csv_rows_per_s']:,.0f} rows/s"
    )
    print(
        f"baseline  pandas.read_csv + write: best {r['baseline_s']:.2f} s, median {r['baseline_median_s']:.2f} s, "
        f"{r['baseline_rows_per_s']:,.0f} rows/s"
    )
    print(f"ours/baseline speed: {r['ratio']:.2f}")
    print(f"csv_rows_per_s: {r['csv_rows_per_s']:.0f}")


if __name__ == "__main__":
    main()
