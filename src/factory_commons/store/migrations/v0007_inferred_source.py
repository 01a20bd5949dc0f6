"""Inferred data: `states.source` and `states.confidence`, `counts.source` (NULL for reported
data; "inferred" for the state changes and cycle counts the retrofit inference derives from a
current sensor, with the state's confidence 0-1). The views stay as they were.

The same columns as store/schema.py declares for DuckDB (where DUCKDB_UPGRADES adds them to an
older file).
"""

SQL = """
ALTER TABLE states ADD COLUMN source TEXT COLLATE "C";
ALTER TABLE states ADD COLUMN confidence DOUBLE PRECISION;
ALTER TABLE counts ADD COLUMN source TEXT COLLATE "C";
"""
