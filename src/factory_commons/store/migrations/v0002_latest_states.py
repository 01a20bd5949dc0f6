"""Each machine's newest state change in `latest_states`, filled from `states`.

The plant overview reads it (one row per machine) instead of searching every state change;
the write path keeps it up to date in the same transaction as the states it writes (see
`store/latest.py`). Same table as store/schema.py's LATEST_STATES_DDL for DuckDB.
"""

SQL = """
CREATE TABLE latest_states (
    machine_id INTEGER PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    state TEXT COLLATE "C",
    reason_code TEXT COLLATE "C",
    order_id TEXT COLLATE "C"
);
INSERT INTO latest_states (machine_id, ts, state, reason_code, order_id)
SELECT DISTINCT ON (machine_id) machine_id, ts, state, reason_code, order_id
FROM states ORDER BY machine_id, ts DESC;
"""
