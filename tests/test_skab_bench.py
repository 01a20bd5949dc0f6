"""bench/skab.py on generated SKAB-format folders: per-folder figures, the validation false-alarm
rate on training rows, the default's summary line, and bad files named by line and field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "skab.py"
COLUMNS = ["Accelerometer1RMS", "Current", "Pressure", "Temperature"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_skab", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(path: Path, rng: np.random.Generator, n: int = 900, start: int = 550, length: int = 200) -> None:
    """One experiment: normal noisy signals, a strong shift in two of them from `start` for `length` rows."""
    x = rng.normal(0, 1, (n, len(COLUMNS))) + np.array([0.2, 2.0, 1.0, 60.0])
    y = np.zeros(n)
    y[start : start + length] = 1
    x[start : start + length, :2] += 6.0
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["datetime;" + ";".join(COLUMNS) + ";anomaly;changepoint"]
    for i in range(n):
        ts = f"2020-03-09 10:{i // 60 % 60:02d}:{i % 60:02d}"
        lines.append(f"{ts};" + ";".join(f"{v:.4f}" for v in x[i]) + f";{y[i]:.1f};0.0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_bench_reports_each_folder_and_the_validation(bench, tmp_path: Path, capsys):
    rng = np.random.default_rng(5)
    for folder in ("valve1", "other"):
        for k in range(2):
            _write(tmp_path / folder / f"{k}.csv", rng)
    (tmp_path / "anomaly-free").mkdir()
    (tmp_path / "anomaly-free" / "anomaly-free.csv").write_text("datetime;Current\n", encoding="utf-8")
    assert bench.main(["--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 labelled files" in out  # the file without an anomaly column is skipped
    for block in ("-- all: 4 files --", "-- other: 2 files --", "-- valve1: 2 files --"):
        assert block in out, out
    assert "validation FAR" in out and f"budget {bench.FAR_BUDGET:.2f} %" in out
    lines = out.strip().splitlines()
    summary = next(x for x in lines if x.startswith("valve1: default (knn)"))
    assert "target (F1 > 0.78 with FAR <= 13.55 %)" in summary
    last = lines[-1].split()
    assert last[0] == "skab_f1:" and last[2] == "far:" and last[4] == "mar:"
    # a strong, sustained shift is found and normal rows stay quiet
    assert float(last[1]) > 0.9 and float(last[3]) < 5.0, lines[-1]


def test_bench_names_a_bad_label(bench, tmp_path: Path, capsys):
    rng = np.random.default_rng(6)
    path = tmp_path / "valve1" / "0.csv"
    _write(path, rng)
    text = path.read_text(encoding="utf-8").splitlines()
    text[5] = text[5].rsplit(";", 2)[0] + ";2.0;0.0"  # line 6: anomaly must be 0 or 1
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert bench.main(["--data", str(tmp_path)]) == 2
    assert "line 6, field 'anomaly': must be 0 or 1" in capsys.readouterr().err
