"""The preview of a guided import: what the first rows of a file give, before anything is kept.

The first `rows` data rows are copied to a temporary file (the same encoding, delimiter, title
rows and header for a CSV; the same cell values for an Excel sheet), imported with the real
importer (files.py `import_file`) into a temporary in-memory DuckDB store, and the KPIs of that
store are computed over the time the rows cover (kpi `compute_kpis`). The user's file and store
are not touched; the product master of `store` (when given) is copied in, so that the preview's
performance uses the same ideal cycle times as the real import will.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .files_guess_read import guess_text
from .files_mapping import FileMapping, parse_mapping


@dataclass
class Preview:
    """What the first rows of a file give: records, KPIs and warnings (files_guess_preview.py)."""

    rows: int
    records: dict[str, list[dict]]
    kpis: list[dict]
    warnings: list[str]
    rejections: list[str]
    window: tuple[datetime, datetime] | None = None
    summary: Any = None


#: records of each kind shown in a preview
SHOWN = 20
#: KPI columns a preview reports per machine
KPI_KEYS = (
    "oee",
    "availability",
    "effectiveness",
    "quality_ratio",
    "produced_quantity",
    "good_quantity",
    "scrap_quantity",
    "planned_busy_time",
    "actual_production_time",
)


def _cut_csv(src: Any, rows: int, out: Path) -> None:
    """The lines of the file up to its header and `rows` data rows, bytes unchanged (read as
    far as needed, not the whole file)."""
    import csv
    import io

    last = src.header_row
    seen = 0
    with io.TextIOWrapper(
        src.path.open("rb"), encoding=src.encoding, errors="surrogateescape", newline=""
    ) as f:
        reader = csv.reader(f, delimiter=src.delimiter)
        for cells in reader:
            if reader.line_num <= src.header_row:
                continue
            if any(c.strip() for c in cells):
                seen += 1
                last = reader.line_num
                if seen >= rows:
                    break
    with src.path.open("rb") as f, out.open("wb") as w:
        for n, line in enumerate(f, start=1):  # physical lines end with \n in UTF-8 and CP949
            w.write(line)
            if n >= last:
                break


def _cut_excel(path: Path, fm: FileMapping, header_row: int, rows: int, out: Path) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[fm.sheet] if fm.sheet else wb.worksheets[0]
        title = ws.title
        kept: list[list] = []
        seen = 0
        for i, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            kept.append(list(cells))
            if i > header_row and any(c is not None and str(c).strip() for c in cells):
                seen += 1
                if seen >= rows:
                    break
    finally:
        wb.close()
    new = openpyxl.Workbook(write_only=True)
    sheet = new.create_sheet(title)
    for r in kept:
        sheet.append(r)
    new.save(out)


def preview(
    path: Path,
    mapping: dict | FileMapping,
    rows: int = 50,
    *,
    store: Any = None,
    kpi_config: Any = None,
) -> Preview:
    """Import the first `rows` data rows into a temporary store and compute their KPIs.

    `mapping` is a mapping dict (as in a Proposal) or a FileMapping; MappingError or
    FileReadError when it does not fit the file. `store`: a store whose product master and
    plant time zone the preview uses (read only).
    """
    from ..kpi import compute_kpis
    from ..store import DuckDBStore
    from .files import check_columns, import_file
    from .files_read import open_source

    fm = mapping if isinstance(mapping, FileMapping) else parse_mapping(mapping, f"{path.name}.mapping.toml")
    src = open_source(path, fm)
    check_columns(src, fm, f"{path.name}.mapping.toml")
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fc-preview-") as tmp:
        part = Path(tmp) / path.name
        if src.kind == "csv":
            _cut_csv(src, rows, part)
        else:
            _cut_excel(path, fm, fm.header_row, rows, part)
        st = DuckDBStore()
        try:
            _copy_master(store, st)
            summary = import_file(part, fm, st, resume=False)
            warnings += list(getattr(summary, "warnings", []) or [])
            zone = ZoneInfo(fm.timezone)
            records = {
                kind: _records(st, table, zone)
                for kind, table in (("state", "states"), ("count", "counts"), ("signal", "signals"))
            }
            window = _window(st)
            kpis: list[dict] = []
            if window is not None:
                df = compute_kpis(st, window[0], window[1], ("machine",), kpi_config)
                names = {m.path: m.display_name for m in st.machines()}
                for r in df.to_dict("records"):
                    name = names.get(r["machine"]) or r["machine"].rsplit("/", 1)[-1]
                    row = {"machine": r["machine"], "name": name}
                    row |= {k: _plain(r.get(k)) for k in KPI_KEYS if k in r}
                    kpis.append(row)
                warnings += _kpi_warnings(st, window, kpi_config, df)
            else:
                warnings.append(guess_text("preview_no_states"))
        finally:
            st.close()
    rejections = [str(r).replace(part.name, path.name) for r in summary.first_rejections]
    return Preview(
        rows=summary.rows_read,
        records=records,
        kpis=kpis,
        warnings=warnings,
        rejections=rejections,
        window=window,
        summary=summary,
    )


def _copy_master(src: Any, dst: Any) -> None:
    """The product master (and plant zone) of the user's store into the preview's."""
    if src is None:
        return
    if hasattr(src, "products") and hasattr(dst, "save_products"):
        products = src.products()
        if products:
            dst.save_products(products)
    if hasattr(src, "plant_timezone") and hasattr(dst, "set_plant_timezone"):
        dst.set_plant_timezone(src.plant_timezone())


def _records(st: Any, table: str, zone: ZoneInfo) -> list[dict]:
    """The first records of a table, machines by path, times in the file's zone (as written)."""
    rows = st.query(f"SELECT * FROM {table} ORDER BY ts LIMIT {SHOWN}").to_pylist()  # noqa: S608 - fixed names
    paths = {
        m["machine_id"]: m["path"] for m in st.query("SELECT machine_id, path FROM machines").to_pylist()
    }
    out = []
    for r in rows:
        if "machine_id" in r:
            r["machine"] = paths.get(r.pop("machine_id"))
        if isinstance(r.get("ts"), datetime):
            r["ts"] = r["ts"].replace(tzinfo=UTC).astimezone(zone)
        out.append({k: v for k, v in r.items() if v is not None and k not in ("source", "confidence")})
    return out


def _window(st: Any) -> tuple[datetime, datetime] | None:
    got = st.query(
        "SELECT min(lo) AS lo, max(hi) AS hi FROM ("
        "SELECT min(ts) AS lo, max(ts) AS hi FROM states UNION ALL "
        "SELECT min(ts), max(ts) FROM counts)"
    ).to_pylist()[0]
    if got["lo"] is None:
        return None
    if not st.query("SELECT 1 FROM states LIMIT 1").num_rows:
        return None
    return got["lo"].replace(tzinfo=UTC), got["hi"].replace(tzinfo=UTC) + timedelta(seconds=1)


def _plain(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    return v


def _kpi_warnings(st: Any, window: tuple[datetime, datetime], config: Any, df: Any) -> list[str]:
    """The KPI module's plausibility warnings (kpi/plausibility.py), else our own few."""
    try:
        from ..kpi.plausibility import plausibility
    except ImportError:  # an older KPI module without them
        plausibility = None
    if plausibility is not None:
        got = plausibility(df, ("machine",), store=st, start=window[0], end=window[1], config=config)
        return [w.text() if hasattr(w, "text") else str(w) for w in got]
    out = []
    for r in df.to_dict("records"):
        produced = r.get("produced_quantity") or 0
        eff = r.get("effectiveness")
        if produced and (eff is None or (isinstance(eff, float) and (math.isnan(eff) or eff == 0))):
            out.append(guess_text("preview_no_cycle_time", machine=r["machine"]))
        for k in ("oee", "availability", "effectiveness", "quality_ratio"):
            v = r.get(k)
            if isinstance(v, float) and not math.isnan(v) and v > 1.0 + 1e-9:
                out.append(guess_text("preview_over_100", machine=r["machine"], kpi=k, value=f"{v:.1%}"))
    return out


__all__ = ["Preview", "preview"]
