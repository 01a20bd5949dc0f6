"""Docs that cannot drift: the README's Python example runs, and every KPI column is documented."""

from __future__ import annotations

import re
from pathlib import Path

from factory_commons.kpi import compute_kpis
from factory_commons.store import open_store

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    with open_store("plant.duckdb") as store:
        assert store.read("count").column("good").to_pylist() == [40]
        assert store.read("count").column("scrap_reason").to_pylist() == ["버 발생"]


def test_every_kpi_column_is_documented():
    from datetime import UTC, datetime

    from factory_commons.store import DuckDBStore

    doc = (ROOT / "docs" / "kpi.md").read_text(encoding="utf-8")
    df = compute_kpis(DuckDBStore(), datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), ())
    missing = [c for c in df.columns if c not in doc]
    assert not missing, f"columns not described in docs/kpi.md: {missing}"
