"""Nobody exposed: cells of fewer than k firms are suppressed, with complementary suppression.

A published table has rows and columns over breakdown dimensions (district, industry, size)
and their totals (`ALL`). Each cell counts `n_firms` firms of one *population* (the opted-in
firms with an assessment, the respondents to one survey question, ...) and a cell is the same
*variable* wherever it appears: the district total of a district × industry table and of a
district × size table is one variable, so the tables are protected together.

* **Primary suppression**: a cell with 1 <= n_firms < k (default 5) is hidden.
* **Complementary suppression**: the counts of a population add up along every row and column
  of every table (a row total is the sum of its cells). An attacker who knows the published
  cells, these sums, and that a hidden cell holds at least one firm (empty cells are published)
  bounds each hidden cell by linear programming. A sensitive cell is protected when its
  smallest and largest feasible value differ by at least one firm. Until every sensitive cell
  is protected, the published cell with the fewest firms in a sum that holds an unprotected
  cell is hidden too (a cheap exact null-space test first, then the linear programme audit).
* A hidden variable hides every cell that has it, in every table and for every measure:
  `value`, `n_firms` and the interval become null, `suppressed` true.

This covers differencing within and across the tables published together (one call of
`protect`); it does not cover dominance (one big firm in a cell of many) or tables published
at other times over other groupings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import linprog

ALL = "_all"
DEFAULT_K = 5


@dataclass(frozen=True)
class Cell:
    """One published figure. `row`/`column` are a level of `row_dim`/`column_dim` or ALL."""

    table: str
    population: str
    row_dim: str
    row: str
    column_dim: str | None
    column: str
    measure: str
    value: float | None
    n_firms: int | None
    suppressed: bool = False
    ci_low: float | None = None
    ci_high: float | None = None
    note: str = ""
    dp_epsilon: float | None = None  # the budget this cell's noise spent (privacy.py), if any

    @property
    def key(self) -> tuple[str, frozenset]:
        """The variable this cell counts: its population and its dimension filters."""
        f = set()
        if self.row != ALL:
            f.add((self.row_dim, self.row))
        if self.column_dim is not None and self.column != ALL:
            f.add((self.column_dim, self.column))
        return self.population, frozenset(f)

    def as_dict(self) -> dict:
        return {
            "table": self.table,
            "population": self.population,
            "row_dim": self.row_dim,
            "row": self.row,
            "column_dim": self.column_dim,
            "column": self.column,
            "measure": self.measure,
            "value": self.value,
            "n_firms": self.n_firms,
            "suppressed": self.suppressed,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "dp_epsilon": self.dp_epsilon,
        }


def table_cells(
    units: Sequence,
    *,
    table: str,
    population: str,
    row_dim: str,
    column_dim: str | None,
    levels: dict[str, Sequence[str]],
    dim: Callable[[object, str], str],
    measures: dict[str, Callable[[object], float | None]],
) -> list[Cell]:
    """Every cell of a table (all level combinations and the totals) with the mean of each measure.

    `n_firms` counts the units in the cell; the value is the mean over those with a value
    (None when no unit has one)."""
    rows = [*levels[row_dim], ALL]
    cols = [*levels[column_dim], ALL] if column_dim else [ALL]
    groups: dict[tuple[str, str], list] = {(r, c): [] for r in rows for c in cols}
    for u in units:
        r = dim(u, row_dim)
        c = dim(u, column_dim) if column_dim else ALL
        for rr in (r, ALL):
            for cc in {c, ALL}:
                groups[(rr, cc)].append(u)
    out = []
    for (r, c), members in groups.items():
        for name, fn in measures.items():
            vals = [v for v in (fn(u) for u in members) if v is not None]
            out.append(
                Cell(
                    table=table,
                    population=population,
                    row_dim=row_dim,
                    row=r,
                    column_dim=column_dim,
                    column=c,
                    measure=name,
                    value=float(np.mean(vals)) if vals else None,
                    n_firms=len(members),
                )
            )
    return out


# -- the linear system of one population ------------------------------------------------------
def _constraints(
    cells: Iterable[Cell],
) -> dict[str, tuple[list[frozenset], list[list[tuple[frozenset, ...]]]]]:
    """population -> (variables, sums): each sum is (total, parts...) over variables."""
    by_pop: dict[str, dict] = {}
    tables: dict[tuple[str, str], Cell] = {}
    levels: dict[tuple[str, str], tuple[set, set]] = {}
    for c in cells:
        pop, key = c.key
        by_pop.setdefault(pop, {})[key] = True
        t = (pop, c.table)
        tables.setdefault(t, c)
        rs, cs = levels.setdefault(t, (set(), set()))
        if c.row != ALL:
            rs.add(c.row)
        if c.column != ALL:
            cs.add(c.column)
    out = {}
    for pop, keys in by_pop.items():
        sums: set[tuple[frozenset, tuple[frozenset, ...]]] = set()
        for (p, _name), c in tables.items():
            if p != pop:
                continue
            rs, cs = levels[(p, _name)]
            rd, cd = c.row_dim, c.column_dim
            sums.add((frozenset(), tuple(sorted((frozenset({(rd, r)}) for r in rs), key=sorted))))
            if cd is not None:
                sums.add((frozenset(), tuple(sorted((frozenset({(cd, x)}) for x in cs), key=sorted))))
                for r in rs:
                    parts = tuple(sorted((frozenset({(rd, r), (cd, x)}) for x in cs), key=sorted))
                    sums.add((frozenset({(rd, r)}), parts))
                for x in cs:
                    parts = tuple(sorted((frozenset({(rd, r), (cd, x)}) for r in rs), key=sorted))
                    sums.add((frozenset({(cd, x)}), parts))
        variables = sorted(keys, key=lambda k: (len(k), sorted(k)))
        out[pop] = (variables, [[total, *parts] for total, parts in sorted(sums, key=str)])
    return out


class _System:
    """The sums of one population as a matrix A with A·n = 0 (total minus its parts)."""

    def __init__(self, variables: list[frozenset], sums: list[list[frozenset]], n: dict[frozenset, int]):
        self.vars = variables
        self.index = {v: i for i, v in enumerate(variables)}
        self.n = np.array([n.get(v, 0) for v in variables], dtype=float)
        rows = []
        for total, *parts in sums:
            if total not in self.index or any(p not in self.index for p in parts):
                continue
            row = np.zeros(len(variables))
            row[self.index[total]] = 1.0
            for p in parts:
                row[self.index[p]] -= 1.0
            rows.append(row)
        self.A = np.array(rows) if rows else np.zeros((0, len(variables)))
        self.sums = [r for r in rows]

    def pinned_linear(self, hidden: list[int]) -> set[int]:
        """Hidden variables that the sums alone determine exactly (zero in every null vector)."""
        if not hidden:
            return set()
        sub = self.A[:, hidden]
        if sub.shape[0] == 0:
            return set()
        ns = null_space(sub)
        if ns.size == 0:
            return set(hidden)
        return {h for h, row in zip(hidden, ns, strict=True) if np.all(np.abs(row) < 1e-9)}

    def _part(self, hidden: list[int], target: int) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The sums linked to `target` through hidden variables: (variables, A, b) with A·x = b.

        Only these sums can bound the target, so each linear programme is solved on them."""
        is_hidden = np.zeros(len(self.vars), dtype=bool)
        is_hidden[hidden] = True
        rows_h = (np.abs(self.A) > 0) & is_hidden
        part_vars, part_rows, frontier = {target}, set(), [target]
        while frontier:
            v = frontier.pop()
            for r in np.flatnonzero(rows_h[:, v]):
                if int(r) in part_rows:
                    continue
                part_rows.add(int(r))
                for u in np.flatnonzero(rows_h[r]):
                    if int(u) not in part_vars:
                        part_vars.add(int(u))
                        frontier.append(int(u))
        cols, rows = sorted(part_vars), sorted(part_rows)
        A = self.A[np.ix_(rows, cols)]
        b = -(self.A[np.ix_(rows, np.flatnonzero(~is_hidden))] @ self.n[~is_hidden])
        return cols, A, b

    def bounds(self, hidden: list[int], target: int) -> tuple[float, float]:
        """Smallest and largest value of a hidden variable given the published ones (x >= 1)."""
        cols, A, b = self._part(hidden, target)
        if A.shape[0] == 0:
            return 1.0, np.inf
        c = np.zeros(len(cols))
        c[cols.index(target)] = 1.0
        out = []
        for sign in (1.0, -1.0):
            res = linprog(sign * c, A_eq=A, b_eq=b, bounds=[(1, None)] * len(cols), method="highs")
            if res.status == 3:  # unbounded
                out.append(np.inf if sign < 0 else 1.0)
            elif res.status != 0:  # cannot happen for the true counts; count it as pinned
                out.append(self.n[target])
            else:
                out.append(sign * res.fun)
        return out[0], out[1]

    def protected(self, hidden: list[int], target: int) -> bool:
        """Whether the target could hold another count than its own (at least one more or one
        fewer firm) with every sum kept: two feasibility checks at most, usually one."""
        cols, A, b = self._part(hidden, target)
        if A.shape[0] == 0:
            return True
        j = cols.index(target)
        n = self.n[target]
        for lo, hi in ((n + 1, None), (1, n - 1)):
            if hi is not None and hi < lo:
                continue
            bounds = [(1, None)] * len(cols)
            bounds[j] = (lo, hi)
            res = linprog(np.zeros(len(cols)), A_eq=A, b_eq=b, bounds=bounds, method="highs")
            if res.status == 0:
                return True
        return False


def _choose_complement(system: _System, hidden: set[int], target: int) -> int | None:
    """The published, non-empty variable with the fewest firms in a sum that holds `target`
    (else in any sum that holds a hidden variable); None when there is none left."""
    for rows in (
        [r for r in system.A if abs(r[target]) > 0],
        [r for r in system.A if any(abs(r[h]) > 0 for h in hidden)],
    ):
        best = None
        for row in rows:
            for i in np.flatnonzero(np.abs(row) > 0):
                i = int(i)
                if i in hidden or system.n[i] <= 0:
                    continue
                rank = (system.n[i], -len(system.vars[i]), sorted(system.vars[i]))
                if best is None or rank < best[0]:
                    best = (rank, i)
        if best is not None:
            return best[1]
    return None


def suppression(cells: Sequence[Cell], k: int = DEFAULT_K) -> dict[str, set[frozenset]]:
    """population -> the hidden variables (primary and complementary) for these cells."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n_of: dict[tuple[str, frozenset], int] = {}
    for c in cells:
        if c.n_firms is not None:
            n_of[c.key] = c.n_firms
    out: dict[str, set[frozenset]] = {}
    for pop, (variables, sums) in _constraints(cells).items():
        system = _System(variables, sums, {v: n_of.get((pop, v), 0) for v in variables})
        sensitive = [i for i, x in enumerate(system.n) if 1 <= x < k]
        hidden = set(sensitive)
        # hiding more only widens what an attacker can infer: a protected cell stays protected
        safe: set[int] = set()
        while True:
            while True:  # cheap pass: no sensitive cell is determined by the sums alone
                pinned = system.pinned_linear(sorted(hidden)) & set(sensitive)
                comp = _choose_complement(system, hidden, min(pinned)) if pinned else None
                if comp is None:
                    break
                hidden.add(comp)
            order = sorted(hidden)
            comp = None
            for s in sensitive:
                if s in safe:
                    continue
                if system.protected(order, s):
                    safe.add(s)
                    continue
                comp = _choose_complement(system, hidden, s)
                if comp is not None:
                    break  # one complement at a time: it may protect the others too
            if comp is None:  # every sensitive cell protected, or nothing left to hide
                break
            hidden.add(comp)
        out[pop] = {system.vars[i] for i in hidden}
    return out


def population_group(population: str) -> str:
    """Populations `<group>:<part>` (the questions of one survey, `survey:<survey>:<question>`) are
    nearly the same firms: they share their hidden filters, so one question's published count
    cannot tell another's hidden one."""
    return population.rsplit(":", 1)[0] if population.count(":") >= 2 else population


def protect(cells: Sequence[Cell], k: int = DEFAULT_K) -> list[Cell]:
    """The cells as published: hidden ones with value, n_firms and interval nulled.

    A filter hidden in one population of a group (`population_group`) is hidden in all of them
    (hiding more only widens what an attacker can infer)."""
    hidden = suppression(cells, k)
    by_group: dict[str, set[frozenset]] = {}
    for pop, keys in hidden.items():
        by_group.setdefault(population_group(pop), set()).update(keys)
    out = []
    for c in cells:
        pop, key = c.key
        if key in by_group.get(population_group(pop), set()):
            out.append(replace(c, value=None, n_firms=None, ci_low=None, ci_high=None, suppressed=True))
        else:
            out.append(c)
    return out


def exposed(published: Sequence[Cell], truth: Sequence[Cell], k: int = DEFAULT_K) -> list[Cell]:
    """Cells of fewer than k firms whose count an attacker can pin from the published cells.

    The attacker's view: the published counts, the sums of every table, hidden cells >= 1."""
    true_n = {c.key: c.n_firms for c in truth}
    bad = []
    for pop, (variables, sums) in _constraints(published).items():
        shown = {c.key[1]: c.n_firms for c in published if c.key[0] == pop and not c.suppressed}
        system = _System(variables, sums, {v: true_n.get((pop, v), 0) for v in variables})
        hidden = sorted(i for i, v in enumerate(variables) if v not in shown)
        for i, v in enumerate(variables):
            n = true_n.get((pop, v), 0) or 0
            if not 1 <= n < k:
                continue
            if v in shown or not system.protected(hidden, i):
                bad.append(next(c for c in truth if c.key == (pop, v)))
    return bad
