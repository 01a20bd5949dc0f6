"""Import CSV and Excel exports into the store: `import_file(path, mapping, store)`.

Shapes: one row per event (a state, count or alarm log; a long signal log), one row per
interval (start, end, state/reason, good/scrap: a state change at the start, optionally the
state that follows at the end, counts at the end), and wide tables of signals (a time column
and one column per signal). The mapping file says which (files_mapping.py).

Nothing is lost and nothing is counted twice:

- every rejected row is reported with file, line, column and why, and written to
  `<file>.rejects.csv` (same encoding and delimiter, a line and a reason column first) so it
  can be fixed and imported again; the other rows are imported;
- a row is imported whole or not at all (all its records pass validation, or none is written);
- the store's keys make a second import of the same file add nothing;
- progress is saved after each chunk in `<file>.import-state.json` (written atomically): an
  import that is killed resumes after the last committed line; the few rows of a chunk that
  was being written are written again and skipped by the store as duplicates.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..model.hierarchy import Machine
from ..model.records import ProductionOrder
from ..store.base import Store
from .files_convert import BACK_HOURS, FAR_DAYS, Converter
from .files_mapping import FileMapping, MappingError, importer_text, load_mapping
from .files_read import (
    FileReadError,
    RejectsWriter,
    Source,
    fingerprint,
    open_source,
    read_chunks,
    rejects_path,
)

__all__ = [
    "FileReadError",
    "ImportSummary",
    "MappingError",
    "Rejection",
    "import_file",
    "rejects_path",
    "state_path",
]

STATE_VERSION = 1
CHUNK_ROWS = 50_000
#: an import that writes at least this many rows is a backfill: `Store.optimize` runs after it
OPTIMIZE_AFTER_ROWS = 100_000
KINDS = ("signal", "state", "count", "alarm")
#: states that, written after a machine's last interval, count as a loss until its next record
LOSS_AFTER = ("idle", "unplanned_down", "setup")


@dataclass(frozen=True)
class Rejection:
    """One rejected row: where it is and why."""

    file: str
    line: int
    column: str
    why: str

    def __str__(self) -> str:
        col = f", column '{self.column}'" if self.column else ""
        return f"{self.file}:{self.line}{col}: {self.why}"


@dataclass
class ImportSummary:
    """What an import did. Counts cover the whole file, earlier runs of a resumed import included."""

    file: str
    rows_read: int = 0
    rows_rejected: int = 0
    rows_no_parts: int = 0
    written: dict[str, int] = field(default_factory=dict)  # records written per kind
    duplicates: dict[str, int] = field(default_factory=dict)  # records already in the store
    rejects_file: str | None = None
    first_rejections: list[Rejection] = field(default_factory=list)
    resumed_after_line: int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0
    #: what the data says that cannot be right, Korean / English, naming the file, the column
    #: and what to change (the rows were imported)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_imported(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def records_written(self) -> int:
        return sum(self.written.values())

    @property
    def records_duplicate(self) -> int:
        return sum(self.duplicates.values())

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "rows_read": self.rows_read,
            "rows_imported": self.rows_imported,
            "rows_rejected": self.rows_rejected,
            "rows_no_parts": self.rows_no_parts,
            "written": self.written,
            "duplicates": self.duplicates,
            "rejects_file": self.rejects_file,
            "resumed_after_line": self.resumed_after_line,
            "warnings": self.warnings,
        }


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector (rows hold no reference cycles; refcounting frees them)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def state_path(path: Path) -> Path:
    return path.with_name(path.name + ".import-state.json")


def _save_state(path: Path, state: dict) -> None:
    """Write the progress file atomically (a temp file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_columns(src: Source, mapping: FileMapping, where: str) -> None:
    """Every column the mapping names must be in the file's header (MappingError otherwise)."""
    have = set(src.header)
    keys = {"time": mapping.time, "start": mapping.start, "end": mapping.end, "date": mapping.date}
    keys["duration"] = mapping.duration
    keys["machine_column"] = mapping.machine_column
    keys |= {f"columns.{name}": name for name in mapping.columns}
    for key, name in keys.items():
        if name and name not in have:
            shown = ", ".join(repr(h) for h in src.header if h)
            raise MappingError(
                f"{where}: key '{key}': column {name!r} is not in {src.path.name} "
                f"(line {src.header_row} has {shown}; encoding {src.encoding or 'xlsx'})"
            )


def import_file(
    path: str | Path,
    mapping: FileMapping | str | Path,
    store: Store,
    *,
    chunk_rows: int = CHUNK_ROWS,
    resume: bool = True,
    store_id: str | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    keep_reasons: int = 20,
) -> ImportSummary:
    """Import one CSV or Excel file through `mapping` into `store`.

    `mapping` is a FileMapping or the path of its TOML file. Raises MappingError (naming the
    mapping file, key and why) or FileReadError before anything is written. `progress(done,
    total, unit)` is called after each chunk (bytes for CSV, rows for Excel). `store_id`
    names the store in the progress file, so that progress towards one store is never used
    for another (default: the store's path).
    """
    t_start = time.perf_counter()
    path = Path(path)
    if isinstance(mapping, FileMapping):
        fm, mapping_hash, where = mapping, mapping.model_dump_json(), "mapping"
    else:
        fm, mapping_hash = load_mapping(mapping)
        where = str(mapping)
    src = open_source(path, fm)
    check_columns(src, fm, where)

    sp = state_path(path)
    identity = {
        "version": STATE_VERSION,
        "file": str(path.resolve()),
        **fingerprint(path),
        "mapping_sha256": mapping_hash,
        "store": store_id or str(getattr(store, "path", type(store).__name__)),
    }
    saved = _load_state(sp) if resume else None
    if saved is not None and any(saved.get(k) != v for k, v in identity.items()):
        saved = None  # another file content, mapping or store: start from the top
    summary = ImportSummary(file=str(path), encoding=src.encoding, delimiter=src.delimiter)
    after_line = 0
    carry: dict = {}
    pending: list = []
    rejects_size = 0
    far: dict[str, list] = {}  # column -> [rows far from their chunk's median, line, cell, time, median]
    back: list | None = None  # [rows going back in time on their date, the first line]
    if saved is not None:
        after_line = int(saved["line"])
        carry = saved.get("carry", {})
        pending = [tuple(p) for p in saved.get("pending_after", [])]
        rejects_size = int(saved.get("rejects_bytes", 0))
        totals = saved.get("totals", {})
        summary.rows_read = totals.get("rows_read", 0)
        summary.rows_rejected = totals.get("rows_rejected", 0)
        summary.rows_no_parts = totals.get("rows_no_parts", 0)
        summary.written = dict(totals.get("written", {}))
        summary.duplicates = dict(totals.get("duplicates", {}))
        far = {k: list(v) for k, v in totals.get("far", {}).items()}
        back = totals.get("back")
        summary.resumed_after_line = after_line
    if rejects_size and not rejects_path(path).exists():
        rejects_size = 0
    rejects = RejectsWriter(src, truncate_to=rejects_size)
    conv = Converter(fm, src.header, strict_width=src.kind == "csv", carry=carry)
    known = {m.path for m in store.machines()}
    have_orders: set[str] | None = None  # order ids in the store (read when a product column names one)

    with _gc_paused():  # millions of short-lived row lists: the cyclic GC would scan them over and over
        for chunk in read_chunks(src, after_line, chunk_rows):
            out = conv.convert(chunk)
            new = sorted(out.machines - known)
            if new:
                store.register_machines(Machine(path=p, display_name=conv.display.get(p)) for p in new)
                known.update(new)
            if out.orders:
                if have_orders is None:
                    have_orders = _order_ids(store)
                new_orders = {o: p for o, p in out.orders.items() if o not in have_orders}
                if new_orders:  # quantity and cycle time unknown: the product master gives the cycle time
                    r = store.write_orders(
                        ProductionOrder(order_id=o, product=p) for o, p in new_orders.items()
                    )
                    summary.written["order"] = summary.written.get("order", 0) + r.written
                    have_orders.update(new_orders)
            for kind in KINDS:
                if kind in out.tables and out.tables[kind].num_rows:
                    r = store.write_table(kind, out.tables[kind])
                    summary.written[kind] = summary.written.get(kind, 0) + r.written
                    summary.duplicates[kind] = summary.duplicates.get(kind, 0) + r.duplicates
            pending += out.after
            bad = sorted(out.rejected.items())
            rejects.write([(chunk.lines[i], why, chunk.rows[i]) for i, (_, why) in bad])
            for i, (col, why) in bad[: max(0, keep_reasons - len(summary.first_rejections))]:
                summary.first_rejections.append(Rejection(path.name, chunk.lines[i], col, why))
            summary.rows_read += len(chunk.rows)
            summary.rows_rejected += len(bad)
            summary.rows_no_parts += out.no_parts
            if out.back is not None:
                back = back or [0, chunk.lines[out.back[1]]]
                back[0] += out.back[0]
            for column, count, i, cell, ts, median in out.far:
                seen = far.setdefault(column, [0, chunk.lines[i], cell, ts, median])
                seen[0] += count
            after_line = chunk.lines[-1]
            _save_state(
                sp,
                {
                    **identity,
                    "line": after_line,
                    "rejects_bytes": rejects.size,
                    "carry": conv.carry,
                    "pending_after": [list(p) for p in pending],
                    "totals": {
                        "rows_read": summary.rows_read,
                        "rows_rejected": summary.rows_rejected,
                        "rows_no_parts": summary.rows_no_parts,
                        "written": summary.written,
                        "duplicates": summary.duplicates,
                        "far": far,
                        "back": back,
                    },
                },
            )
            if progress is not None:
                progress(chunk.position, src.total, src.unit)

    if pending:  # states at interval ends: after every start, so that a start at the same time wins
        r = store.write_table(
            "state",
            pa.table(
                {
                    "machine": pa.array([p[0] for p in pending], pa.string()),
                    "ts": pa.array(np.array([p[1] for p in pending], dtype="datetime64[us]")),
                    "state": pa.array([p[2] for p in pending], pa.string()),
                }
            ),
        )
        # the others coincide with the next interval's start (or were imported before)
        summary.written["state"] = summary.written.get("state", 0) + r.written
    sp.unlink(missing_ok=True)
    summary.warnings += _warnings(path, fm, far, bool(pending), back)
    if sum(summary.written.values()) >= OPTIMIZE_AFTER_ROWS:
        store.optimize()  # a backfill: keep the store's time-range reads cheap
    if summary.rows_rejected:
        summary.rejects_file = str(rejects.path)
    elif rejects_size == 0:
        rejects.path.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - t_start
    return summary


def _warnings(
    path: Path, fm: FileMapping, far: dict[str, list], ends_written: bool, back: list | None
) -> list[str]:
    """What the imported data says that cannot be right (Korean / English, file, column, what
    to change): times far from the file's others, and end states that count as a loss."""
    out = []
    for column, (count, line, cell, ts, median) in far.items():
        out.append(
            importer_text(
                "warn_far_times",
                file=path.name,
                column=column,
                count=count,
                days=FAR_DAYS,
                median=median,
                line=line,
                cell=cell,
                ts=ts,
            )
        )
    if back is not None:
        time = fm.time or fm.start
        out.append(
            importer_text(
                "warn_back_in_time",
                file=path.name,
                date=fm.date,
                time=time,
                count=back[0],
                line=back[1],
                hours=BACK_HOURS,
            )
        )
    if ends_written and fm.state_after is not None and fm.state_after.value in LOSS_AFTER:
        out.append(importer_text("warn_state_after_loss", file=path.name, state=fm.state_after.value))
    return out


def _order_ids(store: Store) -> set[str]:
    """The orders the store has: a product column adds only new ones, never replacing an order
    whose quantity or cycle time someone gave."""
    return {r["order_id"] for r in store.query("SELECT order_id FROM orders").to_pylist()}
