"""One chunk of file rows -> columnar record batches, and every rejected row with its column and why.

A row is imported whole or rejected whole: when any of its cells cannot be read, or the
store's validation refuses a record made from it, none of its records is written. The
batches are what `Store.write_table` takes (machine paths, timestamps in UTC), with the row
each record came from so that a store-side problem can be traced back to a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from ..model.hierarchy import parse_machine_path
from ..model.policy import EARLIEST as EARLIEST_UTC
from ..model.policy import latest
from ..model.records import MachineState
from ..store.validate import prepare
from .files_mapping import ColumnMapping, FileMapping, importer_text
from .files_read import COLLECT, Chunk, collect_text
from .files_values import (
    DATE_HEADER,
    MISSING,
    NAT,
    SEVERITY_WORDS,
    blank,
    clock_times,
    codes,
    dates,
    durations,
    flags,
    local_days,
    numbers,
    on_days,
    texts,
    times,
)

_STATES = {s.value: s.value for s in MachineState}
#: no machine record is older than this (a time before it is a misread cell)
EARLIEST = np.datetime64(EARLIEST_UTC.replace(tzinfo=None), "us")  # the time policy, model/policy.py
#: a time this far from the median of its chunk is worth a warning
FAR_DAYS = 30
#: the longest order or product code the store keeps
CODE_MAX = 200
#: a row that starts this much earlier than the row above it (same machine and date) goes back
BACK_HOURS = 6


@dataclass
class Converted:
    """Record batches of one chunk and the rows rejected in it."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    sources: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> row of each record
    rejected: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (column, why)
    after: list[tuple[str, int, str]] = field(default_factory=list)  # (machine, ts µs, state)
    no_parts: int = 0  # rows whose counts were all 0 (nothing to record)
    machines: set[str] = field(default_factory=set)
    orders: dict[str, str] = field(default_factory=dict)  # order id -> product, from the product column
    far: list[tuple[str, int, int, str, str, str]] = field(default_factory=list)
    back: tuple[int, int] | None = None  # (rows going back in time on their date, the first of them)
    # (column, rows far from the chunk's median time, first such row, its cell, its time, the median)


@dataclass
class _Col:
    """One mapped column, read: values, which cells hold something."""

    name: str
    spec: ColumnMapping
    values: object  # np.ndarray (numbers) or list
    present: np.ndarray
    extra: list | None = None  # reason codes from a state column's reason_codes


class _Rejects:
    def __init__(self, n: int):
        self.bad = np.zeros(n, bool)
        self.why: dict[int, tuple[str, str]] = {}

    def add(self, mask: np.ndarray, column: str, why) -> None:
        new = mask & ~self.bad
        for i in np.flatnonzero(new).tolist():
            self.why[i] = (column, why(i) if callable(why) else why)
        self.bad |= new

    def one(self, i: int, column: str, why: str) -> None:
        if not self.bad[i]:
            self.bad[i] = True
            self.why[i] = (column, why)


class Converter:
    """Applies a FileMapping to chunks of rows; keeps counter totals between chunks."""

    def __init__(
        self, mapping: FileMapping, header: list[str], strict_width: bool, carry: dict | None = None
    ):
        self.m = mapping
        self.header = header
        self.index: dict[str, int] = {}
        for i, name in enumerate(header):
            self.index.setdefault(name, i)
        self.strict_width = strict_width
        self.zone = ZoneInfo(mapping.timezone)
        self.carry: dict[str, int] = dict(carry or {})  # "machine|column" -> last counter total
        self.paths: list[str] = []
        self._path_idx: dict[str, int] = {}
        self.display: dict[str, str] = {}  # path -> name used in the file
        for name, path in mapping.machines.items():
            self.display.setdefault(path, name)
        self.roles: dict[tuple[str, str], list[str]] = {}
        for name, col in mapping.columns.items():
            self.roles.setdefault(col.role, []).append(name)

    # -- helpers ---------------------------------------------------------------------------
    def _path_id(self, path: str) -> int:
        i = self._path_idx.get(path)
        if i is None:
            i = self._path_idx[path] = len(self.paths)
            self.paths.append(path)
        return i

    def _cells(self, rows: list[list], name: str) -> list:
        """The cells of one column in this chunk (None where a short row has none)."""
        return list(self._columns[self.index[name]])

    def _transpose(self, rows: list[list]) -> None:
        width = len(self.header)
        if any(len(r) != width for r in rows):
            rows = [r if len(r) == width else (list(r) + [None] * width)[:width] for r in rows]
        self._columns = list(zip(*rows, strict=True)) if rows else [()] * width

    def _local(self, ts: np.datetime64) -> str:
        """A UTC time as the plant reads it (for messages)."""
        when = ts.astype("datetime64[s]").astype(datetime).replace(tzinfo=UTC)
        return when.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def _date_hint(self) -> str:
        """The column that probably holds the dates, for the advice to map `date`."""
        used = {self.m.time, self.m.start, self.m.end}
        for name in self.header:
            if name and name not in used and DATE_HEADER.search(name):
                return name
        return importer_text("date_column_placeholder").split(" / ")[0]

    def _dates(self, rows: list[list], rej: _Rejects) -> np.ndarray:
        """The `date` column's days (NaT where empty or unreadable; unreadable rows rejected)."""
        name = self.m.date
        assert name is not None
        cells = self._cells(rows, name)
        days, _, bad = dates(cells, self.m.date_format)
        fmt = "" if self.m.date_format == "auto" else f" (date_format {self.m.date_format!r})"
        rej.add(bad, name, lambda i: importer_text("reject_bad_date", cell=repr(cells[i]), fmt=fmt))
        return days

    def _times(
        self,
        rows: list[list],
        name: str,
        rej: _Rejects,
        required: bool,
        day: np.ndarray | None = None,
        after: np.ndarray | None = None,
    ) -> np.ndarray:
        """A time column as UTC times. Cells with only a time of day take their day from `day`
        (the `date` column), else from `after` (an interval's start: the end is the first such
        time after it); without either they are rejected with the advice to map `date`."""
        m = self.m
        cells = self._cells(rows, name)
        clock = clock_times(cells, m.time_format)
        some_clock = bool(clock.mask.any())
        rest = [None if c else v for v, c in zip(cells, clock.mask, strict=True)] if some_clock else cells
        t = times(rest, m.time_format, self.zone)
        ts = t.ts
        fmt = "" if m.time_format == "auto" else f" (time_format {m.time_format!r})"
        rej.add(t.local_gap, name, lambda i: collect_text("reject_dst_time", cell=repr(cells[i])))
        rej.add(t.bad, name, lambda i: collect_text("reject_bad_time", cell=repr(cells[i]), fmt=fmt))
        if required:
            rej.add(t.empty & ~clock.mask, name, collect_text("reject_no_time"))
        if some_clock:
            base = day
            if base is None and after is not None:
                base = local_days(after, self.zone)
            no_date = clock.mask.copy()
            if base is not None:
                have = clock.mask & ~np.isnat(base)
                no_date &= ~have
                got, gap = on_days(base[have], clock.us[have], self.zone)
                if after is not None:  # an end before its start is on the next day (a night shift)
                    with np.errstate(invalid="ignore"):
                        early = ~np.isnat(got) & ~np.isnat(after[have]) & (got < after[have])
                    if early.any():
                        again, gap2 = on_days(base[have][early] + 1, clock.us[have][early], self.zone)
                        got[early] = again
                        gap[early] = gap2
                ts[have] = got
                gaps = np.zeros(len(cells), bool)
                gaps[have] = gap
                rej.add(gaps, name, lambda i: collect_text("reject_dst_time", cell=repr(cells[i])))
            if m.date:
                rej.add(no_date, m.date, lambda i: importer_text("reject_no_date", cell=repr(cells[i])))
            else:
                hint = self._date_hint()
                rej.add(
                    no_date,
                    name,
                    lambda i: importer_text("reject_clock_no_date", cell=repr(cells[i]), date=hint),
                )
            ts[no_date] = NAT
        self._plausible(ts, cells, name, rej)
        return ts

    def _plausible(self, ts: np.ndarray, cells: list, name: str, rej: _Rejects) -> None:
        """Reject times that cannot be a machine's: a time of day read on Excel's or strptime's
        day 0 (year 1900), anything before 1970 or more than a day in the future."""
        ok = ~np.isnat(ts)
        if not ok.any():
            return
        with np.errstate(invalid="ignore"):
            old = ok & (ts < EARLIEST)
            no_day = old & (ts < np.datetime64("1901-01-01T00:00:00", "us"))
            now = np.datetime64(latest().replace(tzinfo=None), "us")  # now + FC_MAX_FUTURE_HOURS
            future = ok & (ts > now)
        if no_day.any():
            hint = self._date_hint()
            year = lambda i: int(self._local(ts[i])[:4])  # noqa: E731
            rej.add(
                no_day,
                name,
                lambda i: importer_text("reject_time_no_date", cell=repr(cells[i]), year=year(i), date=hint),
            )
        rej.add(
            old,
            name,
            lambda i: importer_text("reject_before_1970", cell=repr(cells[i]), ts=self._local(ts[i])),
        )
        rej.add(
            future, name, lambda i: importer_text("reject_future", cell=repr(cells[i]), ts=self._local(ts[i]))
        )
        ts[old | future] = NAT

    def _far(self, ts: np.ndarray, ok: np.ndarray, cells: list, name: str, out: Converted) -> None:
        """Count the imported times set apart from the chunk's others (a typo in a year, a wrong
        format for a few rows): sorted, the times fall into groups wherever two neighbours are
        more than FAR_DAYS apart; the rows of small groups (under a tenth of the rows) are far.
        A long history with no such gap gives no warning."""
        rows = np.flatnonzero(ok & ~np.isnat(ts))
        if len(rows) < 3:
            return
        order = np.argsort(ts[rows], kind="stable")
        sorted_ts = ts[rows][order]
        group = np.concatenate([[0], np.cumsum(np.diff(sorted_ts) > np.timedelta64(FAR_DAYS, "D"))])
        if group[-1] == 0:
            return
        sizes = np.bincount(group)
        main = int(np.argmax(sizes))
        small = (sizes < max(2, len(rows) // 10)) & (np.arange(len(sizes)) != main)
        far_sorted = small[group]
        if not far_sorted.any():
            return
        far_rows = np.sort(rows[order][far_sorted])
        i = int(far_rows[0])
        in_main = sorted_ts[group == main]
        median = in_main[len(in_main) // 2]
        out.far.append((name, len(far_rows), i, repr(cells[i]), self._local(ts[i]), self._local(median)[:10]))

    @staticmethod
    def _back_in_time(
        day: np.ndarray, machine: np.ndarray, t0: np.ndarray, ok: np.ndarray
    ) -> tuple[int, int] | None:
        """Rows that, in file order, start more than BACK_HOURS before the row above them of
        the same machine and date: rows after midnight that keep the shift's date (read a day
        early). (How many, the first of them.)"""
        rows = np.flatnonzero(ok & ~np.isnat(day) & ~np.isnat(t0))
        if len(rows) < 2:
            return None
        key = machine[rows].astype(np.int64) * 1_000_000 + day[rows].astype(np.int64)
        order = np.argsort(key, kind="stable")  # file order kept within a machine and date
        k, t = key[order], t0[rows][order]
        back = (k[1:] == k[:-1]) & (t[1:] < t[:-1] - np.timedelta64(BACK_HOURS, "h"))
        if not back.any():
            return None
        found = np.sort(rows[order][1:][back])
        return len(found), int(found[0])

    def _ends(self, rows: list[list], t0: np.ndarray, rej: _Rejects) -> np.ndarray:
        """Interval ends from the `duration` column: start + length."""
        name = self.m.duration
        assert name is not None
        cells = self._cells(rows, name)
        us, empty, bad, negative = durations(cells, self.m.duration_unit)
        unit = self.m.duration_unit
        rej.add(empty, name, importer_text("reject_no_duration"))
        rej.add(bad, name, lambda i: importer_text("reject_bad_duration", cell=repr(cells[i]), unit=unit))
        rej.add(negative, name, lambda i: importer_text("reject_negative_duration", cell=repr(cells[i])))
        ok = ~empty & ~bad & ~negative & ~np.isnat(t0)
        t1 = np.full(len(t0), NAT)
        t1[ok] = t0[ok] + us[ok].astype("timedelta64[us]")
        return t1

    def _machines(self, rows: list[list], rej: _Rejects) -> np.ndarray:
        n = len(rows)
        if self.m.machine:
            return np.full(n, self._path_id(self.m.machine), np.int32)
        if not self.m.machine_column:
            return np.full(n, -1, np.int32)
        name = self.m.machine_column
        out = np.full(n, -1, np.int32)
        known: dict[str, int | str] = {}
        for i, v in enumerate(texts(self._cells(rows, name))):
            if v is None:
                rej.one(i, name, collect_text("reject_no_machine"))
                continue
            got = known.get(v)
            if got is None:
                path = self.m.machines.get(v)
                if path is None:
                    try:
                        parse_machine_path(v)
                        path = v
                    except ValueError:
                        got = collect_text("reject_unknown_machine", machine=repr(v))
                if path is not None:
                    got = self._path_id(path)
                    self.display.setdefault(path, v)
                known[v] = got
            if isinstance(got, str):
                rej.one(i, name, got)
            else:
                out[i] = got
        return out

    def _read(self, rows: list[list], name: str, spec: ColumnMapping, rej: _Rejects) -> _Col:
        kind, fld = spec.role
        cells = self._cells(rows, name)
        if (kind, fld) in (("signal", "value"), ("count", "good"), ("count", "scrap"), ("count", "rework")):
            vals, empty, bad = numbers(cells)
            rej.add(bad, name, lambda i: collect_text("reject_not_number", cell=repr(cells[i])))
            vals = vals * spec.scale + spec.offset
            if kind == "count":
                with np.errstate(invalid="ignore"):
                    rounded = np.round(vals, 6)
                    wrong = ~empty & ~bad & ((rounded < 0) | (rounded != np.floor(rounded)))
                rej.add(wrong, name, lambda i: collect_text("reject_bad_count", cell=repr(cells[i])))
                vals = np.where(wrong | empty | bad, 0, rounded)
            return _Col(name, spec, vals, ~empty & ~bad)
        text = texts(cells)
        present = np.fromiter((t is not None for t in text), bool, len(text))
        extra = None
        if kind in ("product", "order_id"):
            if spec.codes:
                text = [spec.codes.get(t, t) if t is not None else None for t in text]  # type: ignore[misc]
            long = np.fromiter((t is not None and len(t) > CODE_MAX for t in text), bool, len(text))
            rej.add(long, name, lambda i: importer_text("reject_long_code", max=CODE_MAX))
            return _Col(name, spec, text, present & ~long)
        if (kind, fld) == ("state", "state"):
            got = (
                codes(text, spec.state_codes, None)
                if spec.state_codes is not None
                else codes(text, {}, _STATES)
            )
            if spec.reason_codes is not None:
                extra = [spec.reason_codes.get(t) if t is not None else None for t in text]
            known = (
                ", ".join(sorted(spec.state_codes)) if spec.state_codes is not None else ", ".join(_STATES)
            )
            what = "state_codes" if spec.state_codes is not None else "machine states"
            miss = np.fromiter((g is MISSING for g in got), bool, len(got))
            rej.add(
                miss,
                name,
                lambda i: collect_text("reject_unknown_state", text=repr(text[i]), what=what, known=known),
            )
            return _Col(name, spec, got, present & ~miss, extra)
        if (kind, fld) == ("alarm", "severity"):
            got = codes(text, spec.codes or {}, SEVERITY_WORDS)
        elif (kind, fld) == ("alarm", "active"):
            got = flags(text, spec.codes)
        else:
            got = [(spec.codes.get(t, t) if spec.codes else t) if t is not None else None for t in text]
        miss = np.fromiter((g is MISSING for g in got), bool, len(got))
        rej.add(
            miss,
            name,
            lambda i: collect_text("reject_unknown_value", text=repr(text[i]), kind=kind, field=fld),
        )
        return _Col(name, spec, got, present & ~miss)

    # -- a chunk ---------------------------------------------------------------------------
    def convert(self, chunk: Chunk) -> Converted:
        rows = chunk.rows
        n = len(rows)
        rej = _Rejects(n)
        for i, why in chunk.problems.items():
            rej.one(i, "", why)
        width = len(self.header)
        lens = np.fromiter(map(len, rows), np.int64, n)
        for i in np.flatnonzero(lens != width).tolist():
            cells = rows[i]
            if len(cells) < width and (self.strict_width or not cells):
                rej.one(i, "", collect_text("reject_width", width=width, found=len(cells)))
            elif len(cells) > width and any(not blank(c) for c in cells[width:]):
                rej.one(i, "", collect_text("reject_width", width=width, found=len(cells)))
        self._transpose(rows)
        for i in np.flatnonzero(rej.bad).tolist():
            if chunk.end_lines[i] > chunk.lines[i] and rej.why[i][1].startswith(
                COLLECT.get("reject_width", "ko")
            ):
                col, why = rej.why[i]
                rej.why[i] = (col, f"{why} (the row runs to line {chunk.end_lines[i]}: an unclosed quote?)")
        m = self.m
        day = self._dates(rows, rej) if m.date else None
        if m.shape == "intervals":
            t0 = self._times(rows, m.start, rej, required=True, day=day)
            if m.end:
                t1 = self._times(rows, m.end, rej, required=False, day=day, after=t0)
            elif m.duration:
                t1 = self._ends(rows, t0, rej)
            else:
                t1 = np.full(n, NAT)
            with np.errstate(invalid="ignore"):
                backwards = ~np.isnat(t0) & ~np.isnat(t1) & (t1 < t0)
            rej.add(backwards, m.end or m.duration or "", collect_text("reject_backwards"))
        else:
            t0 = t1 = self._times(rows, m.time, rej, required=True, day=day)
        machine = self._machines(rows, rej)
        cols = {name: self._read(rows, name, spec, rej) for name, spec in m.columns.items()}
        if day is not None:
            out_back = self._back_in_time(day, machine, t0, ~rej.bad)
        else:
            out_back = None
        self._presence(cols, t1, n, rej)
        out = Converted()
        for _ in range(3):  # store-side problems reject rows; rebuilding without them is final
            carry = dict(self.carry)
            out = self._build(cols, machine, t0, t1, ~rej.bad, carry)
            problems = self._validate(out)
            if not problems:
                break
            for i, (column, why) in problems.items():
                rej.one(i, column, why)
        self.carry = carry
        out.rejected = rej.why
        out.back = out_back
        first = m.time or m.start
        assert first is not None
        self._far(t0, ~rej.bad, self._cells(rows, first), first, out)
        return out

    def _presence(self, cols: dict[str, _Col], end: np.ndarray, n: int, rej: _Rejects) -> None:
        """Reject rows with a detail but not the value it belongs to, and rows with nothing."""
        m = self.m
        anything = np.zeros(n, bool)
        main_of = {
            "state": [("state", "state")],
            "alarm": [("alarm", "code")],
            "signal": [("signal", "value")],
        }
        main_of["count"] = [("count", "good"), ("count", "scrap"), ("count", "rework")]
        for kind, mains in main_of.items():
            main = np.zeros(n, bool)
            for role in mains:
                for name in self.roles.get(role, []):
                    main |= cols[name].present
            if kind == "state" and m.shape == "intervals" and m.state is not None:
                main |= True
            anything |= main
            for (k, fld), names in self.roles.items():
                if k != kind or (k, fld) in mains:
                    continue
                for name in names:
                    first = self.roles.get(mains[0], ["?"])[0]
                    rej.add(cols[name].present & ~main, name, collect_text("reject_no_main", column=first))
            if kind == "count" and m.shape == "intervals":
                rej.add(main & np.isnat(end), m.end or "", collect_text("reject_no_end"))
        signal_names = self.roles.get(("signal", "name"), [])
        if signal_names:
            named = cols[signal_names[0]].present
            for name in self.roles.get(("signal", "value"), []):
                if cols[name].spec.name is None:
                    rej.add(
                        cols[name].present & ~named, signal_names[0], collect_text("reject_no_signal_name")
                    )
        rej.add(~anything, "", collect_text("reject_empty_row"))

    def _machine_of(self, kind_roles: list[tuple[str, str]], machine: np.ndarray) -> np.ndarray:
        """Per row machine ids for a kind: the row's machine, else its main column's machine."""
        if (machine >= 0).all() or self.m.machine_column:
            return machine
        for role in kind_roles:
            for name in self.roles.get(role, []):
                spec = self.m.columns[name]
                if spec.machine:
                    return np.full(len(machine), self._path_id(spec.machine), np.int32)
        return machine

    def _dict(self, ids: np.ndarray) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(ids, pa.int32()), pa.array(self.paths, pa.string()))

    def _build(
        self,
        cols: dict[str, _Col],
        machine: np.ndarray,
        t0: np.ndarray,
        t1: np.ndarray,
        ok: np.ndarray,
        carry,
    ) -> Converted:
        out = Converted()
        m = self.m
        ivl = m.shape == "intervals"

        def one(role: tuple[str, str]) -> _Col | None:
            names = self.roles.get(role)
            return cols[names[0]] if names else None

        def pick(col: _Col | None, mask: np.ndarray) -> list:
            if col is None:
                return [None] * int(mask.sum())
            vals = col.values
            return [vals[i] for i in np.flatnonzero(mask).tolist()]

        order_col = one(("order_id", "order_id"))
        product_col = one(("product", "product"))
        if product_col is not None:  # the product made in the row: its order, else the product itself
            made = ok & product_col.present
            orders = pick(order_col, made)
            for order, product in zip(orders, pick(product_col, made), strict=True):
                out.orders.setdefault(order or product, product)
        # signals ----------------------------------------------------------------------------
        value_cols = [cols[n] for n in self.roles.get(("signal", "value"), [])]
        if value_cols:
            k = len(value_cols)
            vals = np.column_stack([c.values for c in value_cols])
            present = np.column_stack([c.present for c in value_cols]) & ok[:, None]
            flat = present.ravel()
            rows = np.repeat(np.arange(len(ok)), k)[flat]
            which = np.tile(np.arange(k), len(ok))[flat]
            col_machine = np.array(
                [self._path_id(c.spec.machine) if c.spec.machine else -1 for c in value_cols], np.int32
            )
            mach = np.where(col_machine[which] >= 0, col_machine[which], machine[rows])
            name_col = one(("signal", "name"))
            if name_col is not None and any(c.spec.name is None for c in value_cols):
                row_names = np.array(name_col.values, dtype=object)
                names = pa.array(
                    [
                        c.spec.name or row_names[r]
                        for c, r in zip(np.array(value_cols)[which], rows, strict=True)
                    ]
                    if k > 1
                    else row_names[rows].tolist(),
                    pa.string(),
                )
            else:
                names = pa.DictionaryArray.from_arrays(
                    pa.array(which.astype(np.int32)), pa.array([c.spec.name for c in value_cols], pa.string())
                )
            unit_col = one(("signal", "unit"))
            if unit_col is not None:
                units = pa.array(np.array(unit_col.values, dtype=object)[rows].tolist(), pa.string())
            else:
                units = pa.DictionaryArray.from_arrays(
                    pa.array(which.astype(np.int32)), pa.array([c.spec.unit for c in value_cols], pa.string())
                )
            out.tables["signal"] = pa.table(
                {
                    "machine": self._dict(mach),
                    "name": names,
                    "ts": pa.array(t0[rows]),
                    "value": pa.array(vals.ravel()[flat]),
                    "unit": units,
                }
            )
            out.sources["signal"] = rows
            out.machines.update(self.paths[i] for i in np.unique(mach).tolist())
        # states -----------------------------------------------------------------------------
        state_col = one(("state", "state"))
        if state_col is not None or (ivl and m.state is not None):
            has = ok & (state_col.present if state_col is not None else True)
            if ivl and m.state is not None:
                has = ok.copy()
            mach = self._machine_of([("state", "state")], machine)
            if state_col is not None:
                st = [
                    v if v is not None else (m.state.value if m.state else None) for v in pick(state_col, has)
                ]
            else:
                st = [m.state.value] * int(has.sum())
            reason = pick(one(("state", "reason_code")), has)
            if state_col is not None and state_col.extra is not None:
                from_code = pick(_Col("", state_col.spec, state_col.extra, state_col.present), has)
                reason = [r if r is not None else c for r, c in zip(reason, from_code, strict=True)]
            orders = [
                a or b or c
                for a, b, c in zip(
                    pick(one(("state", "order_id")), has),
                    pick(order_col, has),
                    pick(product_col, has),
                    strict=True,
                )
            ]
            rows = np.flatnonzero(has)
            out.tables["state"] = pa.table(
                {
                    "machine": self._dict(mach[rows]),
                    "ts": pa.array(t0[rows]),
                    "state": pa.array(st, pa.string()),
                    "reason_code": pa.array(reason, pa.string()),
                    "order_id": pa.array(orders, pa.string()),
                }
            )
            out.sources["state"] = rows
            out.machines.update(self.paths[i] for i in np.unique(mach[rows]).tolist())
            if ivl and m.state_after is not None:
                after = rows[~np.isnat(t1[rows])]
                us = t1[after].astype(np.int64).tolist()
                out.after = [
                    (self.paths[mach[r]], t, m.state_after.value) for r, t in zip(after, us, strict=True)
                ]
        # counts -----------------------------------------------------------------------------
        count_roles = [("count", "good"), ("count", "scrap"), ("count", "rework")]
        count_cols = {role[1]: one(role) for role in count_roles}
        if any(count_cols.values()):
            has = ok.copy()
            present = np.zeros(len(ok), bool)
            for c in count_cols.values():
                if c is not None:
                    present |= c.present
            has &= present
            mach = self._machine_of(count_roles, machine)
            rows = np.flatnonzero(has)
            amounts = {}
            for fld, c in count_cols.items():
                if c is None:
                    amounts[fld] = np.zeros(len(rows), np.int64)
                    continue
                v = np.asarray(c.values)[rows].astype(np.int64)
                if c.spec.counter == "total":
                    v = self._increments(v, c.present[rows], mach[rows], c.name, carry)
                else:
                    v = np.where(c.present[rows], v, 0)
                amounts[fld] = v
            some = (amounts["good"] + amounts["scrap"]) > 0
            out.no_parts = int((~some).sum())
            rows = rows[some]
            mask = np.zeros(len(ok), bool)
            mask[rows] = True
            orders = [
                a or b or c
                for a, b, c in zip(
                    pick(one(("count", "order_id")), mask),
                    pick(order_col, mask),
                    pick(product_col, mask),
                    strict=True,
                )
            ]
            out.tables["count"] = pa.table(
                {
                    "machine": self._dict(mach[rows]),
                    "ts": pa.array(t1[rows]),
                    "good": pa.array(amounts["good"][some]),
                    "scrap": pa.array(amounts["scrap"][some]),
                    "rework": pa.array(amounts["rework"][some]),
                    "scrap_reason": pa.array(pick(one(("count", "scrap_reason")), mask), pa.string()),
                    "order_id": pa.array(orders, pa.string()),
                }
            )
            out.sources["count"] = rows
            out.machines.update(self.paths[i] for i in np.unique(mach[rows]).tolist())
        # alarms -----------------------------------------------------------------------------
        code_col = one(("alarm", "code"))
        if code_col is not None:
            has = ok & code_col.present
            mach = self._machine_of([("alarm", "code")], machine)
            rows = np.flatnonzero(has)
            sev = [s or "warning" for s in pick(one(("alarm", "severity")), has)]
            msg = [s or "" for s in pick(one(("alarm", "message")), has)]
            act = [True if a is None else a for a in pick(one(("alarm", "active")), has)]
            code = pick(code_col, has)
            ts = t0[rows]
            if ivl:  # raised at the start, cleared at the end
                ended = ~np.isnat(t1[rows])
                e = np.flatnonzero(ended)
                rows = np.concatenate([rows, rows[e]])
                ts = np.concatenate([ts, t1[rows[len(ts) :]]])
                sev += [sev[i] for i in e]
                msg += [msg[i] for i in e]
                code += [code[i] for i in e]
                act = [True] * len(act) + [False] * len(e)
            out.tables["alarm"] = pa.table(
                {
                    "machine": self._dict(mach[rows]),
                    "ts": pa.array(ts),
                    "code": pa.array(code, pa.string()),
                    "severity": pa.array(sev, pa.string()),
                    "message": pa.array(msg, pa.string()),
                    "active": pa.array(act, pa.bool_()),
                }
            )
            out.sources["alarm"] = rows
            out.machines.update(self.paths[i] for i in np.unique(mach[rows]).tolist())
        return out

    def _increments(
        self, total: np.ndarray, present: np.ndarray, mach: np.ndarray, column: str, carry
    ) -> np.ndarray:
        """Running totals -> parts since the previous total of the same machine (0 for the first,
        which only sets the baseline; a smaller total means the counter was reset)."""
        out = np.zeros(len(total), np.int64)
        for i in np.flatnonzero(present).tolist():
            key = f"{self.paths[mach[i]]}|{column}"
            v = int(total[i])
            prev = carry.get(key)
            carry[key] = v
            if prev is not None:
                out[i] = v - prev if v >= prev else v
        return out

    def _validate(self, out: Converted) -> dict[int, tuple[str, str]]:
        """The store's own checks on each batch, traced back to rows and file columns."""
        problems: dict[int, tuple[str, str]] = {}
        for kind, table in out.tables.items():
            _, found = prepare(kind, table)
            for p in found:
                row = int(out.sources[kind][p.row])
                problems.setdefault(
                    row, (self._column_of(kind, p.field), collect_text("reject_store", why=p.why))
                )
        return problems

    def _column_of(self, kind: str, fld: str) -> str:
        """The file column a record field came from (for messages)."""
        if fld == "machine":
            return self.m.machine_column or "machine"
        if fld == "ts":
            return self.m.time or self.m.start or ""
        names = self.roles.get((kind, fld)) or self.roles.get((kind, {"signal": "value"}.get(kind, fld)))
        if names:
            return names[0]
        main = {"count": "good", "state": "state", "alarm": "code", "signal": "value"}[kind]
        return (self.roles.get((kind, main)) or [""])[0]
