"""Guided import: guess what a shop's own CSV or Excel export means and propose a mapping.

`guess_mapping(path)` reads the top of the file the way `import` will read it (the encoding and
delimiter detection of files_read.py), finds the header row below any title rows, picks the
Excel sheet that holds data, and gives each column a role from its name (Korean and English
synonyms, files_guess_words.py) checked against its values (timestamps, dates, times of day,
Excel serial numbers, durations, state words, counts). From the roles it builds a mapping for
the importer (files_mapping.py): the shape (events, intervals, wide signals), the time columns,
the machine paths (a flat machine name gets `prefix/area/line/name` from the area and line
columns there are), the state words as machine states. Whatever it could not tell for sure is
said in `notes` (Korean and English) and as a comment in the TOML the person can edit.

`with_roles(proposal, {column: role})` applies a person's corrections (the upload page) and
`preview(path, mapping)` imports the first rows into a temporary store and computes their
KPIs (files_guess_preview.py). Master files (products with cycle times, machine lists) are
recognised (`kind`), so that `import` can point to `products import` / `machines import`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..model.hierarchy import parse_machine_path
from .files_convert import Converter
from .files_guess_preview import Preview, preview
from .files_guess_read import (
    SAMPLE_ROWS,
    SLUG_BAD,
    TIME_ROLES,
    Profile,
    Table,
    cell_kind,
    guess_text,
    profile_column,
    read_table,
    value_counts,
)
from .files_guess_words import (
    AMBIGUOUS_UNIT,
    COUNTER_SUFFIX_HEADERS,
    CURRENT_HEADERS,
    CURRENT_UNITS,
    DEFAULT_SHEET,
    END_MARKERS,
    GOOD_FIRST,
    MACHINE_LIKE,
    PLANNED_REASON_WORDS,
    ROLE_WORDS,
    RUN_FLAGS,
    SETUP_REASON_WORDS,
    STATE_WORDS,
    STOP_FLAGS,
    TAIL_UNITS,
    TIME_RANGE,
    UNIT_WORDS,
    bracket,
    norm,
)
from .files_mapping import ColumnMapping, FileMapping, parse_mapping
from .files_read import Chunk
from .files_values import dates, times

__all__ = [
    "DEFAULT_PREFIX",
    "ROLES",
    "ColumnGuess",
    "Preview",
    "Proposal",
    "guess_mapping",
    "guess_text",
    "preview",
    "read_table",
    "SAMPLE_ROWS",
    "with_roles",
]

#: enterprise/site of the machine paths the guesser proposes when the store has none
DEFAULT_PREFIX = "my-company/plant-1"
#: the roles a column can be given (the upload page offers these)
ROLES = (
    "time",
    "date",
    "start",
    "end",
    "duration",
    "machine",
    "line",
    "area",
    "state",
    "reason",
    "good",
    "scrap",
    "rework",
    "product",
    "order",
    "signal",
    "signal_name",
    "unit",
    "ignore",
)


@dataclass
class ColumnGuess:
    """One column of the file and the role proposed for it."""

    name: str
    role: str
    samples: list[str]
    why: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Proposal:
    """A proposed mapping with the reasons for it.

    `mapping` passes `parse_mapping` (empty when `kind` is not "log"), `toml` is the same
    mapping as a commented TOML file, `columns` the role of each column with sample values and
    why, `notes` what was detected and assumed (Korean and English), `kind` "log" for machine
    data, "products" or "machines" for a master file, "unknown" when no time column was found.
    """

    path: Path
    mapping: dict
    toml: str
    columns: list[ColumnGuess]
    notes: list[str]
    kind: str
    prefix: str = DEFAULT_PREFIX
    timezone: str = "Asia/Seoul"
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    header_row: int = 1
    encoding: str | None = None
    delimiter: str | None = None
    roles: dict[str, str] = field(default_factory=dict)  # corrections given to with_roles
    table: Table | None = field(default=None, repr=False)
    known_machines: dict[str, str] = field(default_factory=dict, repr=False)  # name -> path in the store

    def file_mapping(self) -> FileMapping:
        """The mapping validated (MappingError when the proposal is incomplete)."""
        return parse_mapping(self.mapping, f"{self.path.name}.mapping.toml")


# -- roles from names -------------------------------------------------------------------------
def _name_roles(name: str) -> list[tuple[int, str]]:
    """(score, role) the column name suggests, best first: an exact synonym, then the longest
    synonym inside the name (ASCII synonyms only as whole words)."""
    n = norm(name)
    words = re.findall(r"[a-z]+", re.sub(r"\(.*?\)", " ", name.lower()))
    out: dict[str, int] = {}
    if not n:
        return []
    for role, syns in ROLE_WORDS.items():
        for w in syns:
            if n == w:
                score = 100 + len(w)
            elif w.isascii():
                score = len(w) if (w in words or (len(w) >= 5 and w in n)) else 0
            else:
                score = len(w) if len(w) >= 2 and w in n else 0
            if score > out.get(role, 0):
                out[role] = score
    return sorted(((s, r) for r, s in out.items()), reverse=True)


def _unit_seconds(name: str, default: float | None = None) -> float | None:
    """Seconds per unit a header names: `시간(분)` 60, `duration_s` 1, `(hr)` 3600."""
    b = bracket(name)
    if b and norm(b) in UNIT_WORDS:
        return UNIT_WORDS[norm(b)]
    tail = re.split(r"[\s_\-\.]+", name.lower().strip())[-1]
    if tail in UNIT_WORDS and tail != AMBIGUOUS_UNIT:
        return UNIT_WORDS[tail]
    n = norm(name)
    for w in TAIL_UNITS:
        if n.endswith(w):
            return UNIT_WORDS[w]
    return default


# -- states ---------------------------------------------------------------------------------
def state_of(word: str) -> tuple[str | None, bool]:
    """(machine state, known) of a state word: exact first, then the longest known word in it.
    `None, True` for a word that only says "not running" (비가동, 정지, stop)."""
    n = norm(word)
    if n in STATE_WORDS:
        return STATE_WORDS[n], True
    end = _end_of(n)
    if end is not None:  # 가동종료: no longer running (outside OEE, as after an interval log's
        # last row); 정지해제, 고장복구, 셋업완료: running again
        before, known = state_of(n[: -len(end)])
        if known:
            return ("planned_stop" if before == "running" else "running"), True
    hits = [w for w in STATE_WORDS if len(w) >= 2 and not w.isdigit() and w in n]
    if hits:
        best = max(hits, key=len)
        return STATE_WORDS[best], True
    return None, False


def _end_of(n: str) -> str | None:
    """The end marker a normalised state word ends with (가동종료 -> 종료), else None."""
    return next((m for m in END_MARKERS if n.endswith(m) and len(n) > len(m)), None)


def _stateness(p: Profile) -> float:
    """Share of the distinct values that are state words (a state column is mostly those)."""
    if p.kind not in ("text", "num") or not p.distinct or p.n_distinct > 40:
        return 0.0
    known = [state_of(v)[1] for v in p.distinct]
    if {norm(v) for v in p.distinct} <= {*RUN_FLAGS, *STOP_FLAGS}:
        return 0.5  # a flag column: a state column when its name says so
    return sum(known) / len(known)


# -- the guess --------------------------------------------------------------------------------
def guess_mapping(
    path: Path | str,
    *,
    sheet: str | None = None,
    prefix: str | None = None,
    store: Any = None,
    timezone: str | None = None,
) -> Proposal:
    """Propose a mapping for a CSV or Excel export (FileReadError when it has no readable header).

    `prefix` is the enterprise/site of new machine paths (default: that of the machines in
    `store`, else DEFAULT_PREFIX); machines of the store whose display name or last path level
    is a name in the file keep their path. `timezone`: of times written without one (default
    the store's plant zone, else Asia/Seoul).
    """
    path = Path(path)
    table = read_table(path, sheet)
    known: dict[str, str] = {}
    if store is not None:
        paths = []
        for m in store.machines():
            paths.append(m.path)
            known.setdefault(m.path.rsplit("/", 1)[-1], m.path)
            if m.display_name:
                known.setdefault(m.display_name, m.path)
        if prefix is None and paths:
            prefix = Counter("/".join(p.split("/")[:2]) for p in paths).most_common(1)[0][0]
        if timezone is None and hasattr(store, "plant_timezone"):
            try:
                timezone = store.plant_timezone()
            except Exception:  # an older store without the settings table
                timezone = None
    prefix = _check_prefix(prefix or DEFAULT_PREFIX)
    proposal = Proposal(
        path=path,
        mapping={},
        toml="",
        columns=[],
        notes=[],
        kind="unknown",
        prefix=prefix,
        timezone=timezone or "Asia/Seoul",
        sheet=table.sheet,
        sheets=table.sheets,
        header_row=table.header_row,
        encoding=table.encoding,
        delimiter=table.delimiter,
        table=table,
        known_machines=known,
    )
    return _build(proposal)


def with_roles(proposal: Proposal, roles: dict[str, str], *, prefix: str | None = None) -> Proposal:
    """The proposal again with a person's corrections: `{column: role}` (a role of ROLES).

    Unknown columns or roles raise ValueError naming them; the other columns are guessed again
    around the corrections (a column given "start" makes the file intervals, and so on).
    """
    if proposal.table is None:
        raise ValueError("with_roles needs a proposal made by guess_mapping")
    header = set(proposal.table.header)
    bad = [c for c in roles if c not in header]
    if bad:
        raise ValueError(
            guess_text("unknown_column", column=bad[0], columns=", ".join(h for h in header if h))
        )
    wrong = [r for r in roles.values() if r not in ROLES]
    if wrong:
        raise ValueError(guess_text("unknown_role", role=wrong[0], roles=", ".join(ROLES)))
    merged = {**proposal.roles, **roles}
    fresh = replace(proposal, roles=merged, prefix=_check_prefix(prefix or proposal.prefix))
    return _build(fresh)


def _check_prefix(prefix: str) -> str:
    parts = prefix.strip("/").split("/")
    if len(parts) != 2:
        raise ValueError(guess_text("bad_prefix", prefix=prefix))
    parse_machine_path("/".join([*parts, "a", "l", "m"]))
    return "/".join(parts)


def slug(name: str) -> str:
    """A path level from a name in the file: no spaces or / + #, ASCII in lower case."""
    s = SLUG_BAD.sub("-", str(name).strip()).strip("-")
    return (s.lower() if s.isascii() else s) or "x"


class _Builder:
    """Roles -> mapping, notes and TOML comments for one proposal."""

    def __init__(self, proposal: Proposal):
        self.p = proposal
        self.t: Table = proposal.table  # type: ignore[assignment]
        self.zone = ZoneInfo(proposal.timezone)
        self.notes: list[str] = []
        self.comments: dict[str, list[str]] = {}  # mapping key -> comment lines (bilingual)
        self.profiles: list[Profile] = []
        for i, name in enumerate(self.t.header):
            cells = [r[i] if i < len(r) else None for r in self.t.rows]
            self.profiles.append(profile_column(name, i, cells, self.zone))
        self.roles: dict[str, str] = {}
        self.why: dict[str, str] = {}
        self.detail: dict[str, dict] = {}
        self._counts: Counter | None = None
        self._wide: list[str] = []

    def note(self, key: str, where: str | None = None, **values: Any) -> None:
        text = guess_text(key, **values)
        if text not in self.notes:
            self.notes.append(text)
        if where is not None:
            self.comments.setdefault(where, []).append(text)

    # -- roles --------------------------------------------------------------------------------
    def assign(self) -> None:
        fixed = self.p.roles
        for p in self.profiles:
            if not p.name:
                continue
            if p.name in fixed:
                self.roles[p.name] = fixed[p.name]
                self.why[p.name] = guess_text("why_person")
                continue
            role, why = self._role(p)
            self.roles[p.name] = role
            self.why[p.name] = why
        self._one_each(fixed)

    def _role(self, p: Profile) -> tuple[str, str]:
        if p.filled == 0:
            return "ignore", guess_text("why_empty")
        if p.kind == "text" and sum(bool(TIME_RANGE.match(v)) for v in p.distinct) >= 0.8 * len(p.distinct):
            self.note("note_time_range", column=p.name, sample=p.distinct[0])
            return "ignore", guess_text("why_time_range")
        by_name = [(s, "signal" if r == "signal_value" else r) for s, r in _name_roles(p.name)]
        unit = _unit_seconds(p.name)
        named = {r for _s, r in by_name}
        if unit and p.kind in ("num", "hmm") and (named & {*TIME_ROLES, "duration"} or not named):
            return "duration", guess_text("why_duration_unit")
        for _score, role in by_name[:3]:
            ok = self._fits(p, role)
            if ok:
                return role, guess_text("why_name_ignored" if role == "ignore" else "why_name", role=role)
        # from the values only
        if p.kind in ("ts", "serial_ts"):
            return "time", guess_text("why_values_ts")
        if p.kind in ("date", "serial_date"):
            return "date", guess_text("why_values_date")
        if p.kind == "tod":
            return "time", guess_text("why_values_tod")
        if _stateness(p) >= 0.6 and p.kind == "text":
            return "state", guess_text("why_values_state")
        if p.kind == "text" and p.n_distinct and all(MACHINE_LIKE.match(v) for v in p.distinct[:20]):
            return "machine?", guess_text("why_values_machine")
        if p.kind == "num" and p.share >= 0.9:
            if named & {"state"} and p.integers and p.n_distinct <= 12:
                self.note("note_state_numbers", column=p.name, codes=", ".join(p.distinct[:12]))
            return "signal", guess_text("why_values_number")
        if by_name and by_name[0][1] == "ignore":
            return "ignore", guess_text("why_name_ignored")
        return "ignore", guess_text("why_unknown")

    def _fits(self, p: Profile, role: str) -> bool:
        """Do the values agree with what the name says?"""
        k = p.kind
        if role in TIME_ROLES:
            if k in ("num", "hmm") and _unit_seconds(p.name):
                return False  # 시간(분): a duration
            if k == "num" and p.numbers is not None and ((p.numbers >= 0) & (p.numbers < 1)).all():
                if not p.integers:  # Excel times of day kept as fractions of a day (0.375 = 09:00)
                    p.kind = "tod"
                    return True
            if k == "num" and p.numbers is not None and len(p.numbers):
                x = p.numbers
                if ((x >= 1e8) & (x < 1e10)).all() or ((x >= 1e11) & (x < 1e13)).all():
                    p.kind = "ts"  # Unix seconds or milliseconds, read by size
                    self.note("note_unix_time", column=p.name)
                    return True
            # a column of dates only ("Start Date") is the date beside a time column, not a time
            return k in ("ts", "serial_ts", "tod") and p.share >= 0.9
        if role == "date":
            return k in ("date", "serial_date") or (k in ("ts", "serial_ts") and self._midnight(p))
        if role == "duration":
            return (
                k in ("num", "hmm", "tod") and p.share >= 0.9 and (p.numbers is None or p.numbers.min() >= 0)
            )
        if role in ("good", "scrap", "rework"):
            return k == "num" and p.share >= 0.9 and p.numbers is not None and p.numbers.min() >= 0
        if role == "state":
            return _stateness(p) >= 0.5
        if role in ("machine", "line", "area", "product", "order", "reason", "signal_name", "unit"):
            return k in ("text", "num") and p.share >= 0.5
        if role == "signal_value":
            return k == "num"
        if role in ("cycle_time", "rate", "display_name"):
            return True
        return role == "ignore"

    def _note_good_total(self, cols: list[str]) -> None:
        """A count named 생산량/output (not 양품/good) beside a scrap column: say it is read as good."""
        good = [c for c in cols if self.roles.get(c) == "good"]
        scrap = [c for c in cols if self.roles.get(c) == "scrap"]
        if good and scrap and norm(good[0]) not in GOOD_FIRST:
            self.note("note_good_not_total", column=good[0], scrap=scrap[0], where=f"columns.{good[0]}")

    def _midnight(self, p: Profile) -> bool:
        if p.ts is None:
            return False
        ok = p.ts[~np.isnat(p.ts)]
        if not len(ok):
            return False
        local = (ok.astype("datetime64[s]").astype(np.int64) + self._offset_s()) % 86_400
        return bool((local == 0).all())

    def _offset_s(self) -> int:
        now = datetime(2026, 1, 1, tzinfo=self.zone)
        off = now.utcoffset()
        return int(off.total_seconds()) if off else 0

    def _one_each(self, fixed: dict[str, str]) -> None:
        """Roles that one column can hold: keep the best, the others become 'ignore' (noted)."""
        single = ("date", "start", "end", "duration", "machine", "line", "area", "state", "reason")
        single += ("good", "scrap", "rework", "product", "order", "signal_name", "unit")
        cols = [p.name for p in self.profiles if p.name]
        # a machine column guessed from its values only when no column is named so
        guessed = [c for c in cols if self.roles.get(c) == "machine?"]
        for c in guessed:
            has = any(self.roles.get(o) == "machine" for o in cols)
            self.roles[c] = "ignore" if has else "machine"
            if not has:
                self.note("note_machine_from_values", column=c)
        if not any(self.roles.get(c) == "machine" for c in cols) and "machine" not in fixed.values():
            # no machine column: the most specific level there is (a line, a work center) is the
            # unit the rows are about
            level = next((c for r in ("line", "area") for c in cols if self.roles.get(c) == r), None)
            if level is not None and level not in fixed:
                self.roles[level] = "machine"
                self.note("note_machine_from_level", column=level)
        for role in single:
            holders = [c for c in cols if self.roles.get(c) == role]
            if len(holders) < 2:
                continue
            keep = next((c for c in holders if fixed.get(c) == role), None)
            if keep is None:
                keep = max(holders, key=lambda c: _name_roles(c)[0][0] if _name_roles(c) else 0)
                if role == "good":  # 양품 over 생산수량 when both
                    named = [c for c in holders if norm(c) in GOOD_FIRST]
                    keep = named[0] if named else keep
            for c in holders:
                if c != keep:
                    self.roles[c] = "ignore"
                    self.note("note_second_column", column=c, role=role, kept=keep)
        self._note_good_total(cols)
        # "time" columns: a time with start/end present is ignored; several times -> intervals
        times_ = [c for c in cols if self.roles.get(c) == "time"]
        has_start = any(self.roles.get(c) == "start" for c in cols)
        if has_start:
            for c in times_:
                if "end" not in self.roles.values() and not any(
                    self.roles.get(o) == "duration" for o in cols
                ):
                    self.roles[c] = "end"
                    self.note("note_time_as_end", column=c)
                else:
                    self.roles[c] = "ignore"
                    self.note("note_extra_time", column=c)
        elif len(times_) == 2 and not fixed:
            a, b = times_
            pa_, pb = self._profile_of(a), self._profile_of(b)
            if pa_.ts is not None and pb.ts is not None and len(pa_.ts) == len(pb.ts):
                ok = ~np.isnat(pa_.ts) & ~np.isnat(pb.ts)
                if ok.any() and (pb.ts[ok] >= pa_.ts[ok]).mean() > 0.95:
                    self.roles[a], self.roles[b] = "start", "end"
                    self.note("note_two_times", start=a, end=b)
        times_ = [c for c in cols if self.roles.get(c) == "time"]
        for c in times_[1:]:  # one time column for events: the first
            if c not in fixed:
                self.roles[c] = "ignore"
                self.note("note_extra_time", column=c)

    def _profile_of(self, name: str) -> Profile:
        return next(p for p in self.profiles if p.name == name)

    def cols(self, role: str) -> list[str]:
        return [c for c, r in self.roles.items() if r == role]

    def col(self, role: str) -> str | None:
        got = self.cols(role)
        return got[0] if got else None

    # -- mapping ----------------------------------------------------------------------------------
    def kind(self) -> str:
        has_time = any(self.cols(r) for r in ("time", "start", "end", "date"))
        if has_time:
            return "log"
        names = [_name_roles(p.name)[0][1] if _name_roles(p.name) else "" for p in self.profiles]
        if ("product" in names or self.col("product")) and ("cycle_time" in names or "rate" in names):
            return "products"
        if self.col("machine") or "machine" in names:
            return "machines"
        return "unknown"

    def build(self) -> dict:
        m: dict[str, Any] = {}
        start, end, tcol = self.col("start"), self.col("end"), self.col("time")
        duration, date_col = self.col("duration"), self.col("date")
        supports = FileMapping.model_fields
        if start and (end or duration):
            m["shape"] = "intervals"
            m["start"] = start
            if end:
                m["end"] = end
            if duration and not end:
                if "duration" in supports:
                    m["duration"] = duration
                    m["duration_unit"] = self._duration_unit(duration, start)
                else:
                    self.note("note_no_duration_support", column=duration)
            elif duration:
                self.roles[duration] = "ignore"
                self.note("note_duration_and_end", column=duration)
        elif start or tcol or end:
            tcol = tcol or start or end
            m["shape"] = "events"
            m["time"] = tcol
            for c in (start, end):
                if c and c != tcol:
                    self.roles[c] = "ignore"
            if duration:
                self.roles[duration] = "ignore"
                self.note("note_duration_without_start", column=duration)
        elif date_col:  # a log with only a date per row (a daily count sheet)
            m["shape"] = "events"
            m["time"] = date_col
            self.roles[date_col] = "time"
            date_col = None
            self.note("note_date_only", column=m["time"])
        else:
            return {}
        time_cols = [m.get(k) for k in ("time", "start", "end") if m.get(k)]
        kinds = {self._profile_of(c).kind for c in time_cols}
        if date_col:
            if kinds & {"tod", "hmm"}:
                if "date" in supports:
                    m["date"] = date_col
                    dp = self._profile_of(date_col)
                    if dp.kind == "serial_date":
                        m["date_format"] = "excel"
                    elif dp.date_format != "auto":
                        m["date_format"] = dp.date_format
                        self._day_month_note([date_col], dp.date_format, key="date_format")
                    self.note("note_date_time", date=date_col, times=", ".join(time_cols), where="date")
                    if m["shape"] == "intervals" and m.get("end"):
                        self._midnight_note(m["start"], m["end"])
                    self._shift_date_note(date_col, m.get("start") or m["time"])
                else:
                    self.note("note_no_date_support", column=date_col)
            else:
                self.roles[date_col] = "ignore"
                self.note("note_date_unused", column=date_col)
        elif kinds & {"tod"}:
            self.note("note_time_without_date", columns=", ".join(time_cols), where="shape")
        fmts = {self._profile_of(c).time_format for c in time_cols} - {"auto"}
        only_dates = [
            self._profile_of(c).date_format for c in time_cols if self._profile_of(c).kind == "date"
        ]
        if kinds <= {"serial_ts", "serial_date"}:
            m["time_format"] = "excel"
            self.note("note_excel_serial", columns=", ".join(time_cols), where="time_format")
        elif len(fmts) == 1:
            m["time_format"] = fmts.pop()
            self._day_month_note(time_cols, m["time_format"])
        elif only_dates and only_dates[0] != "auto":  # a date column as the time: 23/11/2026
            m["time_format"] = only_dates[0]
            self._day_month_note(time_cols, m["time_format"])
        m["timezone"] = self.p.timezone
        utc_named = [c for c in time_cols if re.search(r"\b(utc|gmt|zulu)\b", c.lower())]
        if utc_named:
            m["timezone"] = "UTC"
            self.note("note_utc", columns=", ".join(utc_named), where="timezone")
        if self.t.kind == "csv":
            m["encoding"] = self.t.encoding
            m["delimiter"] = self.t.delimiter
        else:
            m["sheet"] = self.t.sheet
        if self.t.header_row != 1:
            m["header_row"] = self.t.header_row
        self._machines(m)
        m["columns"] = self._columns(m)
        if m["shape"] == "intervals":
            self._interval_states(m)
        if m["shape"] != "intervals" and all(
            c.get("kind") == "signal" and c.get("field") in (None, "value") for c in m["columns"].values()
        ):
            m["shape"] = "wide" if m["columns"] else m["shape"]
        return m

    def _duration_unit(self, duration: str, start: str) -> str:
        """min unless the header names a unit or the gaps between starts say otherwise."""
        p = self._profile_of(duration)
        if p.kind in ("hmm", "tod"):
            self.note("note_duration_hmm", column=duration, where="duration_unit")
            return "min"
        named = _unit_seconds(duration)
        if named:
            unit = {1: "s", 60: "min", 3600: "h"}[int(named)]
            self.note("note_duration_unit_named", column=duration, unit=unit, where="duration_unit")
            return unit
        sp = self._profile_of(start)
        unit = "min"
        if sp.ts is not None and p.numbers is not None and len(sp.ts) > 2:
            gaps = np.diff(sp.ts.astype("datetime64[s]").astype(np.int64)).astype(float)
            durs = p.numbers[: len(gaps)]
            ok = (gaps > 0) & np.isfinite(durs) & (durs > 0)
            if ok.sum() >= 2:
                scores = {
                    u: float(np.median(np.abs(np.log(durs[ok] * f / gaps[ok]))))
                    for u, f in (("s", 1), ("min", 60), ("h", 3600))
                }
                unit = min(scores, key=lambda u: scores[u])
        self.note("note_duration_unit_guessed", column=duration, unit=unit, where="duration_unit")
        return unit

    def _midnight_note(self, start: str, end: str) -> None:
        a, b = self._profile_of(start), self._profile_of(end)
        if a.numbers is not None and b.numbers is not None and len(a.numbers) == len(b.numbers):
            if (b.numbers < a.numbers).any():
                self.note("note_past_midnight", start=start, end=end, where="date")

    def _shift_date_note(self, date_col: str, time_col: str) -> None:
        """Rows after midnight that keep the shift's date go back in time: say so (they would be
        read a day early) when a machine's rows, in file order, jump back by more than 6 hours."""
        di, ti = self.t.header.index(date_col), self.t.header.index(time_col)
        mcol = self.col("machine")
        mi = self.t.header.index(mcol) if mcol else None
        last: dict[Any, float] = {}
        back = 0
        for r in self.t.rows:
            d = r[di] if di < len(r) else None
            t = r[ti] if ti < len(r) else None
            if d is None or t is None:
                continue
            day = times([d], "auto", ZoneInfo("UTC")).ts[0]
            kind, secs = cell_kind(t)
            if np.isnat(day) or kind != "tod" or secs is None:
                continue
            at = day.astype("datetime64[s]").astype(np.int64) + secs
            who = r[mi] if mi is not None and mi < len(r) else None
            if who in last and at < last[who] - 6 * 3600:
                back += 1
            last[who] = at
        if back:
            self.note("note_shift_date", date=date_col, time=time_col, n=back, where="date")

    def _day_month_note(self, cols: list[str], fmt: str, key: str = "time_format") -> None:
        """Say so when the cells read as well with day and month the other way round."""
        swapped = fmt.replace("%d", "%_").replace("%m", "%d").replace("%_", "%m")
        if swapped == fmt:
            return
        cells = [
            r[self.t.header.index(c)] for c in cols for r in self.t.rows if self.t.header.index(c) < len(r)
        ]
        cells = [c for c in cells if c is not None]
        if key == "date_format":
            bad = dates(cells, swapped)[2]
        else:
            bad = times(cells, swapped, self.zone).bad
        if not bad.any():
            self.note("note_day_month", columns=", ".join(cols), fmt=fmt, option=key, where=key)

    def _machines(self, m: dict) -> None:
        mcol = self.col("machine")
        area_col, line_col = self.col("area"), self.col("line")
        if not mcol:
            titled = self._machine_in_title()
            name = titled or slug(re.sub(r"[^\w\-가-힣]+", "-", self.t.path.stem))[:40] or "machine-1"
            path = self.p.known_machines.get(titled or name) or "/".join(
                [
                    self.p.prefix,
                    slug(self._first(area_col) or "area-1"),
                    slug(self._first(line_col) or "line-1"),
                    slug(name),
                ]
            )
            m["machine"] = path
            if titled:
                self.note("note_machine_in_title", name=titled, where="machine")
            self.note("note_one_machine", path=path, where="machine")
            return
        m["machine_column"] = mcol
        names: dict[str, Counter] = {}
        for vals, n in self.counts([c for c in (mcol, area_col, line_col) if c]).items():
            if vals[0] is not None:
                names.setdefault(vals[0], Counter())[vals[1:]] += n
        table: dict[str, str] = {}
        used: dict[str, str] = {}
        kept: list[str] = []
        for name, where in names.items():
            try:
                parse_machine_path(name)
                continue  # already a path
            except ValueError:
                pass
            if name in self.p.known_machines:
                table[name] = self.p.known_machines[name]
                kept.append(name)
                continue
            place = where.most_common(1)[0][0]
            area = place[0] if area_col else None
            line = place[-1] if line_col else None
            leaf = slug(name)
            if name.isdigit():  # 호기 = 3: "3호기"; machine = 3: "machine-3"
                suffix = norm(mcol) in COUNTER_SUFFIX_HEADERS
                leaf = slug(f"{name}{mcol}" if suffix else f"{mcol}-{name}")
            base = "/".join([self.p.prefix, slug(area or "area-1"), slug(line or "line-1")])
            path = f"{base}/{leaf}"
            n = 2
            while path in used and used[path] != name:
                path = f"{base}/{leaf}-{n}"
                n += 1
            used[path] = name
            table[name] = path
        if table:
            m["machines"] = table
        shown = ", ".join(f"{k} → {v}" for k, v in list(table.items())[:3])
        self.note(
            "note_machine_paths",
            column=mcol,
            n=len(table),
            shown=shown,
            prefix=self.p.prefix,
            where="machines",
        )
        if kept:
            self.note("note_machines_known", names=", ".join(kept[:5]))
        if not area_col or not line_col:
            self.note("note_default_levels", where="machines")

    def counts(self, cols: list[str]) -> Counter:
        """value_counts of some columns; the file is read once for every column that needs the
        whole file (machine, area, line, state, reason)."""
        if self._counts is None:
            self._wide = [c for r in ("machine", "area", "line", "state", "reason") if (c := self.col(r))]
            self._counts = value_counts(self.t, [self.t.header.index(c) for c in self._wide])
        if any(c not in self._wide for c in cols):  # a role changed since: read those columns
            return value_counts(self.t, [self.t.header.index(c) for c in cols])
        pos = [self._wide.index(c) for c in cols]
        out: Counter = Counter()
        for key, n in self._counts.items():
            out[tuple(key[i] for i in pos)] += n
        return out

    def _machine_in_title(self) -> str | None:
        """A machine name in the title rows above the header ("1호기 작업일보", "CNC-03 log"),
        else an Excel sheet named like a machine (one sheet per machine)."""
        name = (self.t.sheet or "").strip()
        sheet = [name] if MACHINE_LIKE.match(name) and not DEFAULT_SHEET.match(name) else []
        for line in [*self.t.title, *sheet]:
            for word in re.split(r"\s{2,}|[,;:()\[\]]", line):
                for token in [word.strip(), *word.split()]:
                    if token and MACHINE_LIKE.match(token) and not token.isdigit():
                        return token
        return None

    def _first(self, col: str | None) -> str | None:
        if not col:
            return None
        p = self._profile_of(col)
        return p.distinct[0] if p.distinct else None

    def _columns(self, m: dict) -> dict:
        out: dict[str, dict] = {}
        shape = m["shape"]
        state = self.col("state")
        used = {m.get(k) for k in ("time", "start", "end", "date", "duration", "machine_column")}
        signal_names: set[str] = set()
        for p in self.profiles:
            c, role = p.name, self.roles.get(p.name, "ignore")
            if not c or c in used or role in ("ignore", "machine", "line", "area", "date", "time"):
                continue
            if role == "state":
                out[c] = self._state_column(c)
            elif role == "reason":
                if state or shape == "intervals":
                    out[c] = {"kind": "state", "field": "reason_code"}
                else:
                    self.roles[c] = "ignore"
                    self.note("note_reason_without_state", column=c)
            elif role in ("good", "scrap", "rework"):
                spec = {"kind": "count"}
                if role != "good":
                    spec["field"] = role
                if shape == "events" and self._running_total(p):
                    spec["counter"] = "total"
                    self.note("note_counter_total", column=c, where=f"columns.{c}")
                out[c] = spec
            elif role == "order":
                out[c] = {"kind": "order_id"}
            elif role == "product":
                if "product" in str(ColumnMapping.model_fields["kind"].annotation):
                    out[c] = {"kind": "product"}
                else:
                    self.roles[c] = "ignore"
                    self.note("note_no_product_support", column=c)
            elif role == "signal":
                if shape == "intervals":
                    self.roles[c] = "ignore"
                    self.note("note_signal_in_intervals", column=c)
                    continue
                if _is_current(c) and "current" not in signal_names:
                    signal_names.add("current")
                    out[c] = {"kind": "signal", "name": "current", "unit": "A"}
                    self.note("note_current", column=c, where=f"columns.{c}")
                    continue
                name = _signal_name(c, signal_names)
                spec = {"kind": "signal", "name": name}
                unit = bracket(c)
                scaled = re.fullmatch(r"(0?\.\d+)\s*(\S.*)", unit or "")
                if scaled:  # 온도(0.1℃): the cells count tenths of a degree
                    spec["scale"] = float(scaled.group(1))
                    unit = scaled.group(2)
                    self.note("note_scale", column=c, scale=scaled.group(1), unit=unit, where=f"columns.{c}")
                if unit:
                    spec["unit"] = unit
                out[c] = spec
            elif role == "signal_name":
                out[c] = {"kind": "signal", "field": "name"}
            elif role == "unit":
                out[c] = {"kind": "signal", "field": "unit"}
            elif role == "signal_value":
                out[c] = {"kind": "signal"}
            else:
                self.roles[c] = "ignore"
        if shape == "intervals" or not any(v.get("field") == "name" for v in out.values()):
            for c, spec in list(out.items()):
                if spec["kind"] == "signal" and spec.get("field") in ("name", "unit"):
                    del out[c]
                    self.roles[c] = "ignore"
                if spec["kind"] == "signal" and "name" not in spec and spec.get("field") is None:
                    spec["name"] = _signal_name(c, signal_names)
        else:  # a long signal log: the value column takes its name from the name column
            for spec in out.values():
                if spec["kind"] == "signal" and spec.get("field") is None:
                    spec.pop("name", None)
        return out

    def _running_total(self, p: Profile) -> bool:
        """A count column that only grows per machine (a counter reading, not parts per row)."""
        if p.numbers is None or len(p.numbers) < 5:
            return False
        mcol = self.col("machine")
        groups: dict[Any, list[float]] = {}
        names = (
            [
                r[self.t.header.index(mcol)] if self.t.header.index(mcol) < len(r) else None
                for r in self.t.rows
            ]
            if mcol
            else [None] * len(self.t.rows)
        )
        for r, who in zip(self.t.rows, names, strict=True):
            v = r[p.index] if p.index < len(r) else None
            k, x = cell_kind(v) if v is not None else ("", None)
            if x is not None:
                groups.setdefault(who, []).append(x)
        rising = total = 0
        big = False
        for vals in groups.values():
            d = np.diff(np.asarray(vals))
            rising += int((d >= 0).sum())
            total += len(d)
            if len(vals) > 2 and np.median(vals) > 5 * max(1.0, float(np.median(np.abs(d)))):
                big = True
        return total >= 4 and rising / total >= 0.95 and big

    def _state_column(self, c: str) -> dict:
        reason = self.col("reason")
        pairs = list(self.counts([c, reason] if reason else [c]))
        words = list(dict.fromkeys(v[0] for v in pairs if v[0] is not None))
        codes: dict[str, str] = {}
        unknown, plain = [], []
        flags = {norm(w) for w in words}
        if (
            flags
            and flags <= {*RUN_FLAGS, *STOP_FLAGS}
            and flags & set(RUN_FLAGS)
            and not flags <= set(STATE_WORDS)
        ):
            codes = {w: "running" if norm(w) in RUN_FLAGS else "unplanned_down" for w in words}
            self.note("note_run_flag", column=c, where=f"columns.{c}")
            self.detail[c] = {"state_codes": codes}
            return {"kind": "state", "state_codes": codes}
        ended = []
        for w in words:
            st, known = state_of(w)
            if st == "planned_stop" and _end_of(norm(w)) and norm(w) not in STATE_WORDS:
                ended.append(w)
            if st is None:
                codes[w] = "unplanned_down"
                (plain if known else unknown).append(w)
            else:
                codes[w] = st
        if plain:
            self.note("note_plain_stop", words=", ".join(plain), column=c, where=f"columns.{c}")
            if reason:
                self._reason_hints(pairs, set(plain), reason)
        if ended:
            self.note("note_run_end", words=", ".join(ended), column=c, where=f"columns.{c}")
        if unknown:
            self.note("note_unknown_state", words=", ".join(unknown[:10]), column=c, where=f"columns.{c}")
        self.detail[c] = {"state_codes": codes}
        return {"kind": "state", "state_codes": codes}

    def _reason_hints(self, pairs: list[list], plain: set[str], reason: str) -> None:
        planned, setup = [], []
        for st, why in ((p[0], p[1]) for p in pairs if len(p) > 1):
            if st in plain and why:
                n = norm(why)
                if any(w in n for w in PLANNED_REASON_WORDS) and why not in planned:
                    planned.append(why)
                elif any(w in n for w in SETUP_REASON_WORDS) and why not in setup:
                    setup.append(why)
        lines = [f'"unplanned_down:{w}" = "planned_downtime"' for w in planned[:8]]
        lines += [f'"unplanned_down:{w}" = "setup"' for w in setup[:8]]
        if lines:
            self.note(
                "note_reason_state_map", column=reason, lines="; ".join(lines), where=f"columns.{reason}"
            )

    def _interval_states(self, m: dict) -> None:
        cols = m["columns"]
        has_state = any(v["kind"] == "state" and v.get("field") is None for v in cols.values())
        if not has_state:
            reason = self.col("reason")
            if reason:  # a downtime log: every row is a stop
                m["state"] = "unplanned_down"
                if m.get("end") or m.get("duration"):
                    m["state_after"] = "running"
                self.note("note_downtime_log", column=reason, where="state")
                return
            m["state"] = "running"
            self.note("note_production_log", where="state")
        if not (m.get("end") or m.get("duration")):
            return
        codes = [v["state_codes"] for v in cols.values() if v["kind"] == "state" and v.get("state_codes")]
        if has_state and codes and "running" not in codes[0].values():
            m["state_after"] = "running"  # every row is a stop: between them the machine runs
            self.note("note_stops_only", where="state_after")
            return
        m["state_after"] = "planned_stop"
        self.note("note_state_after", where="state_after")

    def gap_note(self, mapping: dict) -> None:
        """Say how much time between the sampled rows (gaps under 4 hours inside a machine's
        log) state_after turns into planned stops: there the file says nothing."""
        try:
            fm = parse_mapping(mapping)
            conv = Converter(fm, self.t.header, strict_width=False)
            n = len(self.t.rows)
            out = conv.convert(Chunk(list(range(2, n + 2)), self.t.rows, list(range(2, n + 2)), 0))
        except (ValueError, KeyError, TypeError, IndexError):  # a hint only: never in the way
            return
        starts: dict[str, list[int]] = {}
        table = out.tables.get("state")
        if table is None:
            return
        us = table.column("ts").to_numpy().astype("datetime64[us]").astype(np.int64).tolist()
        for machine, t in zip(table.column("machine").to_pylist(), us, strict=True):
            starts.setdefault(machine, []).append(t)
        for v in starts.values():
            v.sort()
        gaps, total = 0, 0
        for machine, end_us, _state in out.after:
            later = [t for t in starts.get(machine, []) if t >= end_us]
            if later and 0 < later[0] - end_us < 4 * 3600 * 1_000_000:
                gaps += 1
                total += later[0] - end_us
        if gaps:
            self.note("note_gaps", n=gaps, minutes=round(total / 60e6), where="state_after")


def _is_current(column: str) -> bool:
    """`current_a`, `Current (A)`, `전류(A)`, `amps`: a clamp-on current sensor's column."""
    unit = (bracket(column) or "").strip().lower()
    base = re.sub(r"\s*[\(\[\{（［].*?[\)\]\}）］]\s*", "", column)
    key = re.sub(r"[\s_\-.]", "", base).lower()
    return key in CURRENT_HEADERS and unit in CURRENT_UNITS


def _signal_name(column: str, taken: set[str]) -> str:
    base = re.sub(r"\s*[\(\[\{（［].*?[\)\]\}）］]\s*", "", column).strip() or column
    name = slug(base)
    n, out = 2, name
    while out in taken:
        out = f"{name}-{n}"
        n += 1
    taken.add(out)
    return out


def _build(proposal: Proposal) -> Proposal:
    b = _Builder(proposal)
    t = b.t
    if t.kind == "csv":
        enc = {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "cp949": "CP949 (EUC-KR)"}.get(t.encoding or "")
        delim = {",": ",", ";": ";", "\t": "tab"}.get(t.delimiter or ",", t.delimiter)
        b.note("note_csv", encoding=enc or t.encoding, delimiter=delim)
    else:
        b.note("note_sheet", sheet=t.sheet)
        others = [s for s in t.sheets if s != t.sheet]
        if others:
            b.note("note_other_sheets", sheets=", ".join(others), where="sheet")
    if t.header_row != 1:
        b.note("note_header_row", row=t.header_row, title=" | ".join(t.title)[:80], where="header_row")
    b.assign()
    kind = b.kind()
    mapping: dict = {}
    if kind == "log":
        mapping = b.build()
        if not mapping:
            kind = "unknown"
    if kind == "products":
        b.note("note_products_file", file=t.path.name)
    elif kind == "machines":
        b.note("note_machines_file", file=t.path.name)
    elif kind == "unknown":
        b.note("note_no_time")
    columns = []
    for p in b.profiles:
        if not p.name:
            continue
        role = b.roles.get(p.name, "ignore")
        if role not in ROLES:
            role = "ignore"
        columns.append(ColumnGuess(p.name, role, p.samples, b.why.get(p.name, ""), b.detail.get(p.name, {})))
    if mapping.get("state_after") == "planned_stop":
        b.gap_note(mapping)
    toml = render_toml(mapping, b.comments, t.path.name, kind) if mapping else _master_toml(kind, t.path.name)
    if mapping:
        check = tomllib.loads(toml)
        assert check == mapping, "the TOML must say what the mapping says"
        try:
            parse_mapping(mapping, f"{t.path.name}.mapping.toml")
        except ValueError as e:
            b.note("note_incomplete", why=str(e))
    return replace(
        proposal,
        mapping=mapping,
        toml=toml,
        columns=columns,
        notes=b.notes,
        kind=kind,
        roles=proposal.roles,
    )


# -- TOML -----------------------------------------------------------------------------------
def _q(value: Any) -> str:
    """A TOML value: strings as basic strings (JSON escapes are TOML escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_q(k)} = {_q(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)


def _comment(lines: list[str]) -> str:
    return "".join(f"# {ln}\n" for text in lines for ln in text.splitlines())


def render_toml(mapping: dict, comments: dict[str, list[str]], file: str, kind: str = "log") -> str:
    """The mapping as a TOML file a person can edit, with the guesser's notes as comments."""
    out = [_comment([guess_text("toml_head", file=file), guess_text("toml_edit")])]
    order = (
        "shape", "time", "start", "end", "date", "date_format", "duration", "duration_unit", "time_format",
        "timezone", "encoding", "delimiter", "sheet", "header_row", "machine", "machine_column", "state",
        "state_after",
    )  # fmt: skip
    for key in order:
        if key in mapping:
            out.append(_comment(comments.get(key, [])) + f"{key} = {_q(mapping[key])}\n")
    for key in mapping:
        if key not in order and key not in ("machines", "columns"):
            out.append(f"{key} = {_q(mapping[key])}\n")
    if mapping.get("machines"):
        out.append("\n" + _comment(comments.get("machines", [])) + "[machines]\n")
        out += [f"{_q(k)} = {_q(v)}\n" for k, v in mapping["machines"].items()]
    if "columns" in mapping and not mapping["columns"]:
        out.append("\n[columns]\n")
    for col, spec in mapping.get("columns", {}).items():
        out.append("\n" + _comment(comments.get(f"columns.{col}", [])) + f"[columns.{_q(col)}]\n")
        out += [f"{k} = {_q(v)}\n" for k, v in spec.items()]
    return "".join(out)


def _master_toml(kind: str, file: str) -> str:
    if kind == "products":
        return _comment([guess_text("toml_products", file=file)])
    if kind == "machines":
        return _comment([guess_text("toml_machines", file=file)])
    return _comment([guess_text("toml_unknown", file=file)])
