"""The `latest_states` table: each machine's newest state change, kept on write.

Both backends call `newest_rows` on every validated state batch (inside the write's
transaction) and upsert its rows with "replace only when newer", so the table always holds,
per machine, the row of `states` with the greatest ts:

* a row newer than the stored one is new in `states` too (its ts is past every stored ts of
  the machine), so it is the machine's new newest change;
* a row at the stored ts is a replay of the stored key, which `states` keeps (first write
  wins), and so does `latest_states`;
* inside a batch, among rows of one machine at its greatest ts, the first one wins, as in
  `states`.

`set_state_reason` updates the copy as well, and retention deletes copies older than the
cutoff (then the machine has no states left either).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: Columns of latest_states, in table order.
COLUMNS = ("machine_id", "ts", "state", "reason_code", "order_id")


def newest_rows(batch: pa.Table, ids: np.ndarray, ts: np.ndarray) -> pa.Table:
    """Per machine id of a state batch, its first row at the batch's greatest ts for that id."""
    order = np.lexsort((np.arange(len(ids)), -ts, ids))  # by id, newest first, then batch order
    sorted_ids = ids[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    rows = batch.take(pa.array(order[first]))
    return pa.table({c: rows.column(c) for c in COLUMNS})


#: The upsert both dialects accept (DuckDB 1.x and PostgreSQL 15+), from a relation `_latest`.
UPSERT = (
    "INSERT INTO latest_states (machine_id, ts, state, reason_code, order_id) "
    "SELECT machine_id, ts, state, reason_code, order_id FROM _latest "
    "ON CONFLICT (machine_id) DO UPDATE SET ts = excluded.ts, state = excluded.state, "
    "reason_code = excluded.reason_code, order_id = excluded.order_id "
    "WHERE excluded.ts > latest_states.ts"
)
