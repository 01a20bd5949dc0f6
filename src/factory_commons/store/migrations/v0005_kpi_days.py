"""The daily level of the KPI rollup: `kpi_days` (a machine's 24 stored hours of a UTC day,
summed), with an index on (machine_id, day_ts), filled from the hours already stored.

Filled when the hours are saved and invalidated with them (store/rollup.py); the same table as
store/rollup.py's days_ddl("duckdb") for DuckDB.
"""

from ..rollup import BACKFILL_DAYS, days_ddl

SQL = days_ddl("postgresql") + BACKFILL_DAYS + ";"
