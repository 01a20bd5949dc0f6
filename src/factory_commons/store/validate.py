"""Columnar validation of record batches: vectorised checks with row-level messages.

`prepare` turns what a caller hands in (Arrow table, pandas frame, list of dicts) into an
Arrow table with the declared columns and types, and lists every bad row with the field and
why, without a Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import pyarrow as pa

from ..model.hierarchy import check_segment, parse_machine_path
from ..model.policy import (
    ARROW_LINE_BAD,
    ARROW_TEXT_BAD,
    EARLIEST,
    LATEST_PLANNED,
    MAX_CODE,
    MAX_TEXT,
    bad_character,
    check_event_time,
    check_planned_time,
    latest,
    limit_text,
)
from ..model.records import check_evidence
from .schema import DEFAULTS, EVENT_TABLES, ORDER_COLUMNS, Column


class _Compute:
    """`pyarrow.compute`, imported at its first use: a collector waiting for data does not load it
    (9 MB of its idle memory, issue 19)."""

    def __getattr__(self, name: str):
        import pyarrow.compute

        return getattr(pyarrow.compute, name)


pc = _Compute()


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
    if type(data).__module__.startswith("pandas"):  # pandas is imported only where it is used
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, list):
        # every key of every row: from_pylist alone would take the columns of the first row
        # only and silently drop a field (or a misspelt one) that first appears later
        keys: dict[str, None] = {}
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise TypeError(f"row {i + 1} of the batch is a {type(row).__name__}, not a dict")
            if len(row) != len(keys) or not row.keys() <= keys.keys():
                keys.update(dict.fromkeys(row))
        return pa.table({k: _column([row.get(k) for row in data]) for k in keys})
    if isinstance(data, dict):
        return pa.table(data)
    raise TypeError(f"cannot read a batch from {type(data).__name__}")


def _column(values: list) -> pa.Array:
    """One column of row dicts; mixed types (a number, then a word) become strings, so that
    prepare reports the rows it cannot read instead of the whole batch failing here."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _cast(arr: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if arr.type == target:
        return arr
    if target == pa.timestamp("us"):
        return _cast_ts(arr)
    try:
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            raise
        if not (pa.types.is_integer(target) or pa.types.is_floating(target)):
            raise
    # words among numbers: the unreadable ones become null and are reported per row
    import pandas as pd  # here, not at the top: a collector on a small box never loads it

    num = pd.to_numeric(arr.to_pandas(), errors="coerce")
    if pa.types.is_integer(target):
        whole = num.isna() | (num == num.round())
        num = num.where(whole).astype("Int64")
    return pa.chunked_array([pa.array(num, type=target, from_pandas=True)])


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
        import pandas as pd

        s = pd.to_datetime(arr.to_pandas(), utc=True, errors="coerce", format="ISO8601")
        s = s.dt.tz_convert(UTC).dt.tz_localize(None)
        return pa.chunked_array([pa.array(s, type=pa.timestamp("us"))])
    return pc.cast(arr, pa.timestamp("us"))


def prepare(kind: str, data) -> tuple[pa.Table, list[RowProblem]]:
    """Normalise a batch to the declared columns and list its problems (empty when valid)."""
    table = to_arrow(data)
    if table.num_columns == 0 and table.num_rows == 0:  # an empty list: nothing to check
        empty = pa.schema([(c.name, c.arrow) for c in columns_for(kind)])
        return empty.empty_table(), []
    n = table.num_rows
    problems: list[RowProblem] = []
    cols = columns_for(kind)
    known = {c.name for c in cols}
    extra = [c for c in table.column_names if c not in known | {"kind"}]
    if extra:
        problems.append(RowProblem(0, extra[0], f"unknown column for {kind} (known: {', '.join(known)})"))
    out: dict[str, pa.ChunkedArray] = {}
    checks = _value_checks(kind)
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
        default = DEFAULTS.get((kind, col.name))
        if pa.types.is_string(col.arrow) and (pa.types.is_dictionary(arr.type) or col.name in checks):
            # Strings that name things (machine paths, signal names) repeat a few values
            # millions of times: keep them dictionary-encoded and check each distinct value once.
            enc = as_dictionary(arr) if default is None or not arr.null_count else None
            if enc is not None:
                out[col.name] = pa.chunked_array([enc], type=enc.type)
                problems += _check_dictionary(col, enc, checks.get(col.name))
                continue
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        try:
            cast = _cast(arr, col.arrow)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as e:
            problems.append(RowProblem(0, col.name, f"cannot read as {col.arrow}: {e}"))
            out[col.name] = pa.chunked_array([pa.nulls(n, col.arrow)])
            continue
        # values that became null on conversion (bad timestamps) are reported as such
        if cast.null_count != arr.null_count:
            newly_null = pc.and_(pc.is_null(cast), pc.is_valid(arr))
            for i in _rows(newly_null):
                problems.append(RowProblem(i, col.name, f"cannot read {arr[i].as_py()!r} as {col.arrow}"))
        if default is not None and cast.null_count:
            cast = pc.fill_null(cast, pa.scalar(default, col.arrow))
        out[col.name] = cast
        problems += _check_column(col, cast)
        problems += _check_policy(kind, col, cast)
        if col.name in checks:
            problems += _check_values(cast, col.name, checks[col.name], skip_empty=col.required)
    result = pa.table(out)
    if kind == "count":
        over = pc.greater(result.column("rework"), result.column("good"))
        problems += [RowProblem(i, "rework", "rework cannot exceed good") for i in _rows(over)]
        empty = pc.equal(pc.add(result.column("good"), result.column("scrap")), 0)
        problems += [RowProblem(i, "good", "good and scrap are both 0") for i in _rows(empty)]
    if kind == "order":  # an unknown (null) cycle time is allowed; a known one is > 0
        bad = pc.less_equal(result.column("ideal_cycle_time_s"), 0)
        problems += [
            RowProblem(i, "ideal_cycle_time_s", f"must be > 0, got {result.column('ideal_cycle_time_s')[i]}")
            for i in _rows(bad)
        ]
    if kind == "quality":
        bad = pc.greater_equal(result.column("lsl"), result.column("usl"))
        problems += [RowProblem(i, "lsl", "lsl must be below usl") for i in _rows(bad)]
    # one problem per row and field: the first found ("cannot read 'x'" before "missing")
    seen: set[tuple[int, str]] = set()
    problems = [p for p in problems if (p.row, p.field) not in seen and not seen.add((p.row, p.field))]
    problems.sort(key=lambda p: p.row)
    return result, problems


@lru_cache(maxsize=1 << 16)
def _path_ok(value: str) -> None:
    parse_machine_path(value)  # only values that pass are cached: a bad one raises each time


@lru_cache(maxsize=1 << 16)
def _signal_name_ok(value: str) -> None:
    check_segment(value, "signal")


def _value_checks(kind: str) -> dict[str, Callable[[str], object]]:
    """Per-value checks of string columns that name things; each raises ValueError with why.

    A collector sends the same few machine paths and signal names in every batch, so values
    that passed once are remembered.
    """
    checks: dict[str, Callable[[str], object]] = {"machine": _path_ok}
    if kind == "signal":
        checks["name"] = _signal_name_ok
    if kind == "anomaly":
        checks["evidence"] = check_evidence
    return checks


def _rows(mask) -> list[int]:
    if isinstance(mask, np.ndarray):
        return np.flatnonzero(mask).tolist()
    if not mask.null_count and not pc.any(mask).as_py():
        return []
    mask = pc.fill_null(mask, False)
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()


def _check_column(col: Column, arr: pa.ChunkedArray) -> list[RowProblem]:
    problems: list[RowProblem] = []
    if col.required and arr.null_count:
        problems += [RowProblem(i, col.name, "value is missing") for i in _rows(pc.is_null(arr))]
    if col.finite and arr.null_count < len(arr) and not pc.all(pc.is_finite(arr)).as_py():
        bad = pc.invert(pc.is_finite(arr))
        problems += [
            RowProblem(i, col.name, f"must be a finite number, got {arr[i].as_py()}") for i in _rows(bad)
        ]
    if col.min_value is not None:
        low = pc.min(arr).as_py()
        if low is not None and low < col.min_value:
            bad = pc.less(arr, col.min_value)
            problems += [
                RowProblem(i, col.name, f"must be >= {col.min_value:g}, got {arr[i].as_py()}")
                for i in _rows(bad)
            ]
    if col.choices is not None:
        bad = pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, pa.array(col.choices))))
        problems += [
            RowProblem(i, col.name, f"must be one of {', '.join(col.choices)}, got {arr[i].as_py()!r}")
            for i in _rows(bad)
        ]
    if pa.types.is_string(col.arrow) and col.required:
        empty = pc.equal(pc.utf8_length(arr), 0)
        problems += [RowProblem(i, col.name, "must not be empty") for i in _rows(empty)]
    return problems


#: string columns that hold a free text (tabs and line breaks allowed, longer)
_FREE_TEXT = frozenset({"message"})
#: planned times (an order's), not event times
_PLANNED = frozenset({"planned_start", "due"})


def _check_policy(kind: str, col: Column, arr: pa.ChunkedArray) -> list[RowProblem]:
    """The input policy of model/policy.py on a whole column: event times within 1970..now +
    a day (planned times 1970..2100), strings without control characters and not too long.
    Machine paths, signal names and evidence are checked per distinct value (`_value_checks`)."""
    if arr.null_count == len(arr):
        return []
    if pa.types.is_timestamp(col.arrow):
        planned = kind == "order" and col.name in _PLANNED
        low = EARLIEST.replace(tzinfo=None)
        high = (LATEST_PLANNED if planned else latest()).replace(tzinfo=None)
        bad = pc.or_(pc.less(arr, pa.scalar(low, col.arrow)), pc.greater(arr, pa.scalar(high, col.arrow)))
        check = check_planned_time if planned else check_event_time
        return [RowProblem(i, col.name, _why_time(check, arr[i])) for i in _rows(bad)]
    if not pa.types.is_string(col.arrow):
        return []
    free = col.name in _FREE_TEXT
    longest = MAX_TEXT if free else MAX_CODE
    too_long = pc.greater(pc.utf8_length(arr), longest)
    problems = [
        RowProblem(i, col.name, limit_text("too_long", n=len(arr[i].as_py()), max=longest))
        for i in _rows(too_long)
    ]
    control = pc.match_substring_regex(arr, ARROW_TEXT_BAD if free else ARROW_LINE_BAD)
    for i in _rows(control):
        v = arr[i].as_py()
        pos = bad_character(v, free) or 0
        why = limit_text("control_char", char=f"U+{ord(v[pos]):04X}", pos=pos + 1)
        problems.append(RowProblem(i, col.name, why))
    return problems


def _why_time(check: Callable[[datetime], object], scalar: pa.Scalar) -> str:
    try:
        value = scalar.as_py()
    except (OverflowError, ValueError):  # in UTC before year 1 or after 9999 (e.g. 9999-12-31T23:00-14:00)
        return limit_text(
            "time_out_of_range",
            ts=pc.strftime(scalar, "%Y-%m-%dT%H:%M:%SZ").as_py(),
            last=LATEST_PLANNED.date(),
        )
    try:
        check(value)
    except ValueError as e:
        return str(e)
    return limit_text("time_out_of_range", ts=value, last=LATEST_PLANNED.date())  # moved past a bound


def _check_values(
    arr: pa.ChunkedArray, field: str, check: Callable[[str], object], skip_empty: bool
) -> list[RowProblem]:
    """Run `check` once per distinct value; report every row holding a bad one."""
    bad: dict[str, str] = {}
    for v in pc.unique(arr.drop_null()).to_pylist():
        if v == "" and skip_empty:
            continue  # reported as empty by _check_column
        try:
            check(v)
        except ValueError as e:
            bad[v] = str(e)
    if not bad:
        return []
    mask = pc.is_in(arr, pa.array(list(bad)))
    return [RowProblem(i, field, bad[arr[i].as_py()]) for i in _rows(mask)]


_DICT_TYPE = pa.dictionary(pa.int32(), pa.string())


def as_dictionary(arr: pa.ChunkedArray) -> pa.DictionaryArray | None:
    """One dictionary<int32, string> array whose dictionary holds only values used by a row.

    None when the input cannot be kept encoded (nulls inside the dictionary, non-string values).
    """
    t = arr.type
    if pa.types.is_dictionary(t):
        if not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
            return None
        if t != _DICT_TYPE:
            try:
                arr = arr.cast(_DICT_TYPE)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        chunks = arr.chunks
        if any(c.dictionary.null_count for c in chunks):
            return None
        if not chunks:
            return pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
        if len(chunks) > 1 and not all(c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]):
            arr = arr.unify_dictionaries()
        enc = arr.combine_chunks() if len(chunks) > 1 else chunks[0]
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        enc = pc.dictionary_encode(arr.cast(pa.string()) if t != pa.string() else arr)
        enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
        if enc.type != _DICT_TYPE:
            enc = enc.cast(_DICT_TYPE)
        return enc  # dictionary_encode only keeps values that occur
    else:
        return None
    # drop dictionary values no row uses, so that no one validates or registers them
    idx = enc.indices
    used = np.bincount(idx.drop_null().to_numpy(zero_copy_only=False), minlength=len(enc.dictionary)).astype(
        bool
    )
    if not used.all():
        new_pos = pa.array(np.cumsum(used, dtype=np.int32) - 1)
        enc = pa.DictionaryArray.from_arrays(pc.take(new_pos, idx), enc.dictionary.filter(pa.array(used)))
    return enc


def dictionary_indices(enc: pa.DictionaryArray) -> np.ndarray:
    """The indices of a dictionary array as int32, -1 where the row is null."""
    idx = enc.indices
    if idx.null_count:
        idx = pc.fill_null(idx, -1)
    return idx.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _check_dictionary(
    col: Column, enc: pa.DictionaryArray, check: Callable[[str], object] | None
) -> list[RowProblem]:
    """The checks of _check_column (and `check`) on each dictionary value, reported per row."""
    problems: list[RowProblem] = []
    idx = dictionary_indices(enc)
    if col.required and enc.null_count:
        problems += [RowProblem(i, col.name, "value is missing") for i in np.flatnonzero(idx < 0).tolist()]
    why: dict[int, str] = {}
    for j, v in enumerate(enc.dictionary.to_pylist()):
        if v == "" and col.required:
            why[j] = "must not be empty"
        elif col.choices is not None and v not in col.choices:
            why[j] = f"must be one of {', '.join(col.choices)}, got {v!r}"
        elif check is not None:
            try:
                check(v)
            except ValueError as e:
                why[j] = str(e)
    if why:
        rows = np.flatnonzero(np.isin(idx, np.fromiter(why, dtype=np.int32)))
        problems += [RowProblem(i, col.name, why[int(idx[i])]) for i in rows.tolist()]
    return problems


def encode_strings(arr: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Row indices (int32, -1 where null) into the distinct values of a string column."""
    enc = as_dictionary(arr)  # free when prepare() already dictionary-encoded it
    if enc is None:
        enc = pc.dictionary_encode(arr.cast(pa.string())).combine_chunks()
    return dictionary_indices(enc), enc.dictionary.to_pylist()
