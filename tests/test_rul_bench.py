"""bench/cmapss.py runs unchanged on a folder in the C-MAPSS format with six operating conditions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "cmapss.py"
# the six operating points of FD002/FD004 (altitude kft, Mach, throttle), rounded
CONDITIONS = np.array(
    [[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]]
)


def _write_units(path: Path, n_units: int, rng: np.random.Generator, truncate: bool) -> list[int]:
    """C-MAPSS-format lines; sensors move with the condition and 6 of them with wear. Returns true RULs."""
    lines, ruls = [], []
    shift = rng.normal(0, 3, size=(6, 21))
    for u in range(1, n_units + 1):
        life = int(rng.integers(70, 130))
        seen = int(rng.integers(30, life)) if truncate else life
        for c in range(1, seen + 1):
            k = int(rng.integers(0, 6))
            ops = CONDITIONS[k] + rng.normal(0, 0.001, 3)
            wear = (c / life) ** 2
            s = 100 + shift[k] + rng.normal(0, 0.3, 21)
            s[[1, 2, 3, 6, 10, 14]] += wear * np.array([4, -3, 5, 2, -4, 3])
            s[[0, 4]] = 518.67  # constant sensors, as in the real files
            lines.append(
                " ".join([str(u), str(c), *(f"{v:.4f}" for v in ops), *(f"{v:.4f}" for v in s)]) + "  "
            )
        ruls.append(life - seen)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return ruls


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_cmapss", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_runs_on_six_conditions(bench, tmp_path: Path, capsys):
    rng = np.random.default_rng(7)
    _write_units(tmp_path / "train_FD002.txt", 15, rng, truncate=False)
    ruls = _write_units(tmp_path / "test_FD002.txt", 8, rng, truncate=True)
    (tmp_path / "RUL_FD002.txt").write_text("\n".join(str(r) for r in ruls) + "\n", encoding="ascii")
    rc = bench.main(["--data", str(tmp_path), "--subset", "FD002", "--repeats", "1", "--life-repeats", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "operating conditions found: 6" in out, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("cmapss_rmse: ")
    value = float(last.split()[1])
    assert 0 < value < 40  # degradation is learnable: far below the spread of a 0..130 target


def test_bench_names_a_bad_file(bench, tmp_path: Path, capsys):
    (tmp_path / "train_FD001.txt").write_text("1 1 0 0\n", encoding="ascii")
    assert bench.main(["--data", str(tmp_path), "--subset", "FD001", "--no-nn"]) == 2
    assert "train_FD001.txt:1: expected 26 columns" in capsys.readouterr().err


def test_bench_headline_is_the_product_model_and_the_gru_blend_only_a_comparison(
    bench, tmp_path: Path, capsys, monkeypatch
):
    pytest.importorskip("torch")
    from factory_commons.ai.rul_gru import GruConfig

    monkeypatch.setattr(bench, "GRU_NET", GruConfig(hidden=4, head=4, epochs=2, patience=2))
    rng = np.random.default_rng(3)
    _write_units(tmp_path / "train_FD001.txt", 10, rng, truncate=False)
    ruls = _write_units(tmp_path / "test_FD001.txt", 6, rng, truncate=True)
    (tmp_path / "RUL_FD001.txt").write_text("\n".join(str(r) for r in ruls) + "\n", encoding="ascii")
    argv = ["--data", str(tmp_path), "--repeats", "1", "--life-repeats", "1", "--gru-repeats", "1", "--nn"]
    assert bench.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    head = next(x for x in lines if x.startswith("ours: GbmRul, cut like the test [headline]"))
    assert any("GruRul" in x and "comparison, not the product" in x for x in lines)
    assert not any("GruRul" in x and "headline" in x for x in lines)
    # the last line is the headline's (the product model's) test RMSE; the summary gives gap and coverage
    assert lines[-1] == f"cmapss_rmse: {float(head.split()[7]):.2f}", (head, lines[-1])
    summary = next(x for x in lines if x.strip().startswith("FD001, cut like the test [headline]: RMSE"))
    assert "gap" in summary and "coverage" in summary
