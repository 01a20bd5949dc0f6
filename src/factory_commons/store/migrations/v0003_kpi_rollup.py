"""The hourly KPI rollup: `kpi_hours` (per machine and UTC hour) and `kpi_versions`, empty.

Filled lazily by kpi/rollup.py on read and invalidated by every write (store/rollup.py);
the same tables as store/rollup.py's ddl("duckdb") for DuckDB.
"""

from ..rollup import ddl

SQL = ddl("postgresql")
