"""Columnar validation of record batches: vectorised checks with row-level messages.

`prepare` turns what a caller hands in (Arrow table, pandas frame, list of dicts) into an
Arrow table with the declared columns and types, and lists every bad row with the field and
why, without a Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..model.hierarchy import check_segment, parse_machine_path
from .schema import DEFAULTS, EVENT_TABLES, ORDER_COLUMNS, Column


@dataclass(frozen=True)
class RowProblem:
    row: int  # 0-based row in the batch
    field: str
    why: str

    def __str__(self) -> str:
        return f"row {self.row + 1}, field '{self.field}': {self.why}"


class BatchError(ValueError):
    """A batch was rejected as a whole; `problems` lists each bad row, field and why."""

    def __init__(self, kind: str, problems: list[RowProblem], total: int):
        self.kind = kind
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(
            f"{kind} batch rejected, nothing written: {len(problems)} problem(s) in "
            f"{total} rows: {shown}{more}"
        )


def columns_for(kind: str) -> tuple[Column, ...]:
    if kind == "order":
        return ORDER_COLUMNS
    if kind not in EVENT_TABLES:
        known = ", ".join([*EVENT_TABLES, "order"])
        raise ValueError(f"unknown record kind {kind!r}; known kinds: {known}")
    return EVENT_TABLES[kind].input_columns


def to_arrow(data) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, list):
        return pa.Table.from_pylist(data) if data else pa.table({})
    if isinstance(data, dict):
        return pa.table(data)
    raise TypeError(f"cannot read a batch from {type(data).__name__}")


def _cast_ts(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.cast(arr, pa.timestamp(t.unit, tz="UTC"))
            arr = pa.chunked_array(
                [c.cast(pa.timestamp(t.unit)) for c in arr.chunks], type=pa.timestamp(t.unit)
            )
        return pc.cast(arr, pa.timestamp("us"))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        s = pd.to_datetime(arr.to_pandas(), utc=True, errors="coerce", format="ISO8601")
        s = s.dt.tz_convert(UTC).dt.tz_localize(None)
        return pa.chunked_array([pa.array(s, type=pa.timestamp("us"))])
    return pc.cast(arr, pa.timestamp("us"))


def prepare(kind: str, data) -> tuple[pa.Table, list[RowProblem]]:
    """Normalise a batch to the declared columns and list its problems (empty when valid)."""
    table = to_arrow(data)
    n = table.num_rows
    problems: list[RowProblem] = []
    cols = columns_for(kind)
    known = {c.name for c in cols}
    extra = [c for c in table.column_names if c not in known | {"kind"}]
    if extra:
        problems.append(
            RowProblem(0, extra[0], f"unknown column for {kind} (known: {', '.join(known)})")
        )
    out: dict[str, pa.ChunkedArray] = {}
    for col in cols:
        if col.name not in table.column_names:
            default = DEFAULTS.get((kind, col.name))
            if col.required:
                problems.append(RowProblem(0, col.name, "column is missing"))
                out[col.name] = pa.chunked_array([pa.nulls(n, col.arrow)])
            else:
                out[col.name] = pa.chunked_array([pa.array([default] * n, type=col.arrow)])
            continue
        arr = table.column(col.name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        try:
            if col.arrow == pa.timestamp("us"):
                cast = _cast_ts(arr)
            else:
                cast = pc.cast(arr, col.arrow)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as e:
            problems.append(RowProblem(0, col.name, f"cannot read as {col.arrow}: {e}"))
            out[col.name] = pa.chunked_array([pa.nulls(n, col.arrow)])
            continue
        # values that became null on conversion (bad timestamps) are reported as such
        newly_null = pc.and_(pc.is_null(cast), pc.is_valid(arr))
        if pc.any(newly_null).as_py():
            for i in _rows(newly_null):
                problems.append(
                    RowProblem(i, col.name, f"cannot read {arr[i].as_py()!r} as {col.arrow}")
                )
        default = DEFAULTS.get((kind, col.name))
        if default is not None and cast.null_count:
            cast = pc.fill_null(cast, pa.scalar(default, col.arrow))
        out[col.name] = cast
        problems += _check_column(col, cast)
    result = pa.table(out)
    problems += _check_machines(result)
    if kind == "signal":
        problems += _check_segments(result.column("name"), "name", "signal name")
    if kind == "count":
        over = pc.greater(result.column("rework"), result.column("good"))
        problems += [RowProblem(i, "rework", "rework cannot exceed good") for i in _rows(over)]
        empty = pc.equal(pc.add(result.column("good"), result.column("scrap")), 0)
        problems += [RowProblem(i, "good", "good and scrap are both 0") for i in _rows(empty)]
    if kind == "quality":
        bad = pc.greater_equal(result.column("lsl"), result.column("usl"))
        problems += [RowProblem(i, "lsl", "lsl must be below usl") for i in _rows(bad)]
    problems.sort(key=lambda p: p.row)
    return result, problems


def _rows(mask) -> list[int]:
    mask = pc.fill_null(mask, False)
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()


def _check_column(col: Column, arr: pa.ChunkedArray) -> list[RowProblem]:
    problems: list[RowProblem] = []
    if col.required and arr.null_count:
        problems += [RowProblem(i, col.name, "value is missing") for i in _rows(pc.is_null(arr))]
    if col.finite:
        bad = pc.invert(pc.is_finite(arr))
        problems += [
            RowProblem(i, col.name, f"must be a finite number, got {arr[i].as_py()}")
            for i in _rows(bad)
        ]
    if col.min_value is not None:
        bad = pc.less(arr, col.min_value)
        problems += [
            RowProblem(i, col.name, f"must be >= {col.min_value:g}, got {arr[i].as_py()}")
            for i in _rows(bad)
        ]
    if col.choices is not None:
        bad = pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, pa.array(col.choices))))
        problems += [
            RowProblem(
                i, col.name, f"must be one of {', '.join(col.choices)}, got {arr[i].as_py()!r}"
            )
            for i in _rows(bad)
        ]
    if pa.types.is_string(col.arrow) and col.required:
        empty = pc.equal(pc.utf8_length(arr), 0)
        problems += [RowProblem(i, col.name, "must not be empty") for i in _rows(empty)]
    return problems


def _check_segments(arr: pa.ChunkedArray, field: str, level: str) -> list[RowProblem]:
    problems: list[RowProblem] = []
    uniq = pc.unique(arr.drop_null())
    bad: dict[str, str] = {}
    for v in uniq.to_pylist():
        try:
            check_segment(v, level)
        except ValueError as e:
            bad[v] = str(e)
    if bad:
        mask = pc.is_in(arr, pa.array(list(bad)))
        problems += [RowProblem(i, field, bad[arr[i].as_py()]) for i in _rows(mask)]
    return problems


def _check_machines(table: pa.Table) -> list[RowProblem]:
    if "machine" not in table.column_names:
        return []
    arr = table.column("machine")
    bad: dict[str, str] = {}
    for path in pc.unique(arr.drop_null()).to_pylist():
        try:
            parse_machine_path(path)
        except ValueError as e:
            bad[path] = str(e)
    if not bad:
        return []
    mask = pc.is_in(arr, pa.array(list(bad)))
    return [RowProblem(i, "machine", bad[arr[i].as_py()]) for i in _rows(mask)]
