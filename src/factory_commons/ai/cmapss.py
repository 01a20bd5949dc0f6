"""Reader for NASA's C-MAPSS turbofan files (train_FD00x.txt, test_FD00x.txt, RUL_FD00x.txt).

Each data line is one operating cycle of one engine: 26 space-separated numbers (unit, cycle,
three operational settings, 21 sensors). Reading is strict: a line with another column
count, a value that is not a number, or cycles of a unit that do not count up 1, 2, 3, ... is
rejected with the file, the line number and the field named, because a silently misparsed
file would make every figure of the benchmark wrong.

Source of the format: Saxena et al. (2008) and the NASA readme, summarised in
../shared/data/cmapss/README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_COLUMNS = 26
N_OPS = 3
N_SENSORS = 21
COLUMNS = ("unit", "cycle", *(f"op_setting_{i}" for i in range(1, 4)), *(f"sensor_{i}" for i in range(1, 22)))


class CmapssFormatError(ValueError):
    """A C-MAPSS file does not have the expected format; the message names file, line and field."""


@dataclass(frozen=True)
class CmapssSplit:
    """One file's rows: unit and cycle per row, operational settings (n, 3) and sensors (n, 21)."""

    unit: np.ndarray
    cycle: np.ndarray
    ops: np.ndarray
    sensors: np.ndarray

    @property
    def units(self) -> np.ndarray:
        return np.unique(self.unit)

    def rul(self) -> np.ndarray:
        """Run-to-failure target of a training file: last cycle of the row's unit minus its cycle."""
        last = {u: c for u, c in zip(self.unit.tolist(), self.cycle.tolist(), strict=True)}
        return np.array([last[u] for u in self.unit.tolist()], dtype=np.float64) - self.cycle

    def matrix(self) -> np.ndarray:
        """Rows as the RUL models take them: unit, cycle, 3 settings, 21 sensors."""
        return np.column_stack([self.unit, self.cycle, self.ops, self.sensors]).astype(np.float64)

    def last_rows(self) -> np.ndarray:
        """Index of each unit's last row (in unit order), where the standard protocol predicts."""
        change = np.flatnonzero(np.diff(self.unit) != 0)
        return np.append(change, len(self.unit) - 1)


def read_split(path: str | Path) -> CmapssSplit:
    """Read a train_ or test_ file strictly (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii")
    except FileNotFoundError:
        raise CmapssFormatError(f"{p}: file not found") from None
    except UnicodeDecodeError as e:
        raise CmapssFormatError(
            f"{p}: not a C-MAPSS text file (non-ASCII byte at offset {e.start})"
        ) from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != N_COLUMNS:
            raise CmapssFormatError(
                f"{p}:{lineno}: expected {N_COLUMNS} columns (unit, cycle, 3 settings, 21 sensors), "
                f"got {len(fields)}"
            )
        values = []
        for j, f in enumerate(fields):
            try:
                v = float(f)
            except ValueError:
                raise CmapssFormatError(
                    f"{p}:{lineno}: field '{COLUMNS[j]}' is not a number: {f!r}"
                ) from None
            if not math.isfinite(v):
                raise CmapssFormatError(f"{p}:{lineno}: field '{COLUMNS[j]}' is not finite: {f!r}")
            values.append(v)
        rows.append(values)
    if not rows:
        raise CmapssFormatError(f"{p}: no data lines")
    a = np.array(rows, dtype=np.float64)
    unit, cycle = a[:, 0], a[:, 1]
    bad = np.flatnonzero((unit != np.round(unit)) | (cycle != np.round(cycle)) | (unit < 1) | (cycle < 1))
    if len(bad):
        raise CmapssFormatError(
            f"{p}: line {_line_of(text, bad[0])}: 'unit' and 'cycle' must be positive integers"
        )
    same = unit[1:] == unit[:-1]
    ok = np.where(same, cycle[1:] == cycle[:-1] + 1, (cycle[1:] == 1) & (unit[1:] > unit[:-1]))
    if cycle[0] != 1 or not ok.all():
        k = 0 if cycle[0] != 1 else int(np.flatnonzero(~ok)[0]) + 1
        raise CmapssFormatError(
            f"{p}: line {_line_of(text, k)}: field 'cycle' must count 1, 2, 3, ... within a unit and "
            f"units must come in increasing order (unit {int(unit[k])}, cycle {int(cycle[k])})"
        )
    return CmapssSplit(unit.astype(np.int64), cycle.astype(np.int64), a[:, 2:5], a[:, 5:])


def read_rul(path: str | Path, n_units: int | None = None) -> np.ndarray:
    """Read RUL_FD00x.txt: one non-negative integer per line, one per test unit in unit order."""
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii")
    except FileNotFoundError:
        raise CmapssFormatError(f"{p}: file not found") from None
    except UnicodeDecodeError as e:
        raise CmapssFormatError(
            f"{p}: not a C-MAPSS text file (non-ASCII byte at offset {e.start})"
        ) from None
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1:
            raise CmapssFormatError(f"{p}:{lineno}: expected 1 column (true RUL), got {len(fields)}")
        try:
            v = float(fields[0])
        except ValueError:
            raise CmapssFormatError(f"{p}:{lineno}: field 'rul' is not a number: {fields[0]!r}") from None
        if not math.isfinite(v) or v < 0:
            raise CmapssFormatError(
                f"{p}:{lineno}: field 'rul' must be a non-negative number, got {fields[0]!r}"
            )
        out.append(v)
    if n_units is not None and len(out) != n_units:
        raise CmapssFormatError(f"{p}: {len(out)} RUL values for {n_units} test units")
    return np.array(out, dtype=np.float64)


def _line_of(text: str, row: int) -> int:
    """1-based line number of the row-th non-empty line."""
    k = -1
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            k += 1
            if k == row:
                return lineno
    return row + 1
