"""The store's tables: one declaration used for DDL, columnar validation and Parquet export.

Fact tables hold machine (or series) ids, not paths; the `v_*` views give people and Grafana
the readable form. Types are portable between DuckDB and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from ..model.records import MachineState, Severity


@dataclass(frozen=True)
class Column:
    name: str
    arrow: pa.DataType
    sql: str
    required: bool = False
    choices: tuple[str, ...] | None = None
    min_value: float | None = None
    finite: bool = False


@dataclass(frozen=True)
class EventTable:
    """A time-stamped fact table, written idempotently on its key."""

    kind: str  # record kind, as in model.records.RECORD_TYPES
    table: str
    input_columns: tuple[Column, ...]  # what callers pass (machine path, not id)
    key: tuple[str, ...]  # identity of a row, after machine/series ids are resolved
    id_column: str = "machine_id"  # the column that watermarks are kept per
    extra_ddl: tuple[str, ...] = field(default_factory=tuple)

    @property
    def stored_columns(self) -> list[tuple[str, str]]:
        cols = [(self.id_column, "INTEGER")]
        for c in self.input_columns:
            if c.name in ("machine", "name", "unit") and self.kind == "signal":
                continue
            if c.name == "machine":
                continue
            cols.append((c.name, c.sql))
        return cols


TS = Column("ts", pa.timestamp("us"), "TIMESTAMP", required=True)
MACHINE = Column("machine", pa.string(), "VARCHAR", required=True)
ORDER = Column("order_id", pa.string(), "VARCHAR")
#: where a state change or count came from when it was not reported: "inferred" (the retrofit
#: inference from a current sensor, factory_commons.retrofit); NULL for reported data. Not in
#: the v_states / v_counts views (Store.read returns what it always did); query the tables.
SOURCE = Column("source", pa.string(), "VARCHAR")

EVENT_TABLES: dict[str, EventTable] = {
    "signal": EventTable(
        kind="signal",
        table="signals",
        input_columns=(
            MACHINE,
            Column("name", pa.string(), "VARCHAR", required=True),
            TS,
            Column("value", pa.float64(), "DOUBLE", required=True, finite=True),
            Column("unit", pa.string(), "VARCHAR"),
        ),
        key=("series_id", "ts"),
        id_column="series_id",
    ),
    "state": EventTable(
        kind="state",
        table="states",
        input_columns=(
            MACHINE,
            TS,
            Column(
                "state",
                pa.string(),
                "VARCHAR",
                required=True,
                choices=tuple(s.value for s in MachineState),
            ),
            Column("reason_code", pa.string(), "VARCHAR"),
            ORDER,
            SOURCE,
            Column("confidence", pa.float64(), "DOUBLE", finite=True, min_value=0),
        ),
        key=("machine_id", "ts"),
    ),
    "count": EventTable(
        kind="count",
        table="counts",
        input_columns=(
            MACHINE,
            TS,
            Column("good", pa.int64(), "BIGINT", required=True, min_value=0),
            Column("scrap", pa.int64(), "BIGINT", min_value=0),
            Column("rework", pa.int64(), "BIGINT", min_value=0),
            Column("scrap_reason", pa.string(), "VARCHAR"),
            ORDER,
            SOURCE,
        ),
        key=("machine_id", "ts", "order_id", "scrap_reason"),
    ),
    "alarm": EventTable(
        kind="alarm",
        table="alarms",
        input_columns=(
            MACHINE,
            TS,
            Column("code", pa.string(), "VARCHAR", required=True),
            Column(
                "severity",
                pa.string(),
                "VARCHAR",
                choices=tuple(s.value for s in Severity),
            ),
            Column("message", pa.string(), "VARCHAR"),
            Column("active", pa.bool_(), "BOOLEAN"),
        ),
        key=("machine_id", "ts", "code", "active"),
    ),
    "quality": EventTable(
        kind="quality",
        table="quality",
        input_columns=(
            MACHINE,
            TS,
            Column("characteristic", pa.string(), "VARCHAR", required=True),
            Column("value", pa.float64(), "DOUBLE", required=True, finite=True),
            Column("lsl", pa.float64(), "DOUBLE", finite=True),
            Column("usl", pa.float64(), "DOUBLE", finite=True),
            Column("target", pa.float64(), "DOUBLE", finite=True),
            Column("unit", pa.string(), "VARCHAR"),
            Column("sample_id", pa.string(), "VARCHAR"),
            ORDER,
        ),
        key=("machine_id", "ts", "characteristic", "sample_id"),
    ),
    "anomaly": EventTable(
        kind="anomaly",
        table="anomalies",
        input_columns=(
            MACHINE,
            TS,
            Column("detector", pa.string(), "VARCHAR", required=True),
            Column("score", pa.float64(), "DOUBLE", required=True, finite=True),
            Column("threshold", pa.float64(), "DOUBLE", required=True, finite=True),
            Column("ts_end", pa.timestamp("us"), "TIMESTAMP"),
            Column("evidence", pa.string(), "VARCHAR"),
            Column("message", pa.string(), "VARCHAR"),
        ),
        key=("machine_id", "ts", "detector"),
    ),
}

ORDER_COLUMNS = (
    Column("order_id", pa.string(), "VARCHAR", required=True),
    Column("product", pa.string(), "VARCHAR", required=True),
    # quantity and cycle time may be unknown (NULL): the cycle time then comes from the
    # product master (`products`) or the machine's default
    Column("quantity", pa.int64(), "BIGINT", min_value=1),
    Column("ideal_cycle_time_s", pa.float64(), "DOUBLE", finite=True),
    Column("machine", pa.string(), "VARCHAR"),
    Column("planned_start", pa.timestamp("us"), "TIMESTAMP"),
    Column("due", pa.timestamp("us"), "TIMESTAMP"),
)

# Default values for optional input columns when a caller leaves them out.
DEFAULTS = {
    ("count", "scrap"): 0,
    ("count", "rework"): 0,
    ("alarm", "severity"): "warning",
    ("alarm", "message"): "",
    ("alarm", "active"): True,
    ("anomaly", "evidence"): "{}",
    ("anomaly", "message"): "",
}

BASE_DDL = """
CREATE TABLE IF NOT EXISTS machines (
    machine_id INTEGER PRIMARY KEY,
    path VARCHAR NOT NULL UNIQUE,
    enterprise VARCHAR NOT NULL,
    site VARCHAR NOT NULL,
    area VARCHAR NOT NULL,
    line VARCHAR NOT NULL,
    machine VARCHAR NOT NULL,
    display_name VARCHAR,
    kind VARCHAR,
    calendar VARCHAR,
    default_ideal_cycle_time_s DOUBLE PRECISION,
    timezone VARCHAR
);
CREATE TABLE IF NOT EXISTS series (
    series_id INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    unit VARCHAR,
    UNIQUE (machine_id, name)
);
CREATE TABLE IF NOT EXISTS orders (
    order_id VARCHAR PRIMARY KEY,
    product VARCHAR NOT NULL,
    quantity BIGINT,
    ideal_cycle_time_s DOUBLE PRECISION,
    machine_id INTEGER,
    planned_start TIMESTAMP,
    due TIMESTAMP
);
CREATE TABLE IF NOT EXISTS calendars (
    name VARCHAR PRIMARY KEY,
    definition VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    product VARCHAR PRIMARY KEY,
    ideal_cycle_time_s DOUBLE PRECISION NOT NULL,
    display_name VARCHAR,
    unit VARCHAR
);
CREATE TABLE IF NOT EXISTS settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks (
    tbl VARCHAR NOT NULL,
    id INTEGER NOT NULL,
    max_ts TIMESTAMP NOT NULL,
    PRIMARY KEY (tbl, id)
);
CREATE TABLE IF NOT EXISTS collect_events (
    event_id VARCHAR PRIMARY KEY,
    logged_at TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    machine VARCHAR,
    start_ts TIMESTAMP,
    end_ts TIMESTAMP,
    rows BIGINT,
    detail VARCHAR
);
CREATE TABLE IF NOT EXISTS signals_1m (
    series_id INTEGER NOT NULL,
    ts TIMESTAMP NOT NULL,
    n BIGINT NOT NULL,
    min DOUBLE PRECISION,
    max DOUBLE PRECISION,
    mean DOUBLE PRECISION
);
"""

VIEWS_DDL = """
CREATE OR REPLACE VIEW v_signals AS
    SELECT m.path AS machine, s.name, x.ts, x.value, s.unit
    FROM signals x JOIN series s USING (series_id) JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_signals_1m AS
    SELECT m.path AS machine, s.name, x.ts, x.n, x.min, x.max, x.mean, s.unit
    FROM signals_1m x JOIN series s USING (series_id) JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_states AS
    SELECT m.path AS machine, x.ts, x.state, x.reason_code, x.order_id
    FROM states x JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_counts AS
    SELECT m.path AS machine, x.ts, x.good, x.scrap, x.rework, x.scrap_reason, x.order_id
    FROM counts x JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_alarms AS
    SELECT m.path AS machine, x.ts, x.code, x.severity, x.message, x.active
    FROM alarms x JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_quality AS
    SELECT m.path AS machine, x.ts, x.characteristic, x.value, x.lsl, x.usl, x.target,
           x.unit, x.sample_id, x.order_id
    FROM quality x JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_anomalies AS
    SELECT m.path AS machine, x.ts, x.detector, x.score, x.threshold, x.ts_end, x.evidence, x.message
    FROM anomalies x JOIN machines m USING (machine_id);
CREATE OR REPLACE VIEW v_orders AS
    SELECT o.order_id, o.product, o.quantity, o.ideal_cycle_time_s, m.path AS machine,
           o.planned_start, o.due
    FROM orders o LEFT JOIN machines m USING (machine_id);
"""

#: Each machine's newest state change (a copy of its row in `states`), kept by the write path
#: in the same transaction so that the plant overview reads one row per machine instead of
#: searching a year of states. Derived data: not exported (an import rebuilds it by writing).
LATEST_STATES_DDL = """
CREATE TABLE IF NOT EXISTS latest_states (
    machine_id INTEGER PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    state VARCHAR,
    reason_code VARCHAR,
    order_id VARCHAR
);
"""

#: Fills `latest_states` from `states` (a store created before the table existed).
LATEST_STATES_BACKFILL = """
INSERT INTO latest_states (machine_id, ts, state, reason_code, order_id)
SELECT DISTINCT ON (machine_id) machine_id, ts, state, reason_code, order_id
FROM states ORDER BY machine_id, ts DESC
"""

#: Upgrades of a DuckDB file written by an older version (the PostgreSQL store has migration
#: v0006 for the same): machines get a time zone, an order's quantity and cycle time may be
#: unknown. Each statement is safe to run again.
DUCKDB_UPGRADES = (
    "ALTER TABLE machines ADD COLUMN IF NOT EXISTS timezone VARCHAR",
    "ALTER TABLE orders ALTER COLUMN quantity DROP NOT NULL",
    "ALTER TABLE orders ALTER COLUMN ideal_cycle_time_s DROP NOT NULL",
    # v0007: where an inferred state change or count came from, and the state's confidence
    "ALTER TABLE IF EXISTS states ADD COLUMN IF NOT EXISTS source VARCHAR",
    "ALTER TABLE IF EXISTS states ADD COLUMN IF NOT EXISTS confidence DOUBLE",
    "ALTER TABLE IF EXISTS counts ADD COLUMN IF NOT EXISTS source VARCHAR",
)

#: Tables derived from the others by the store itself; export skips them (kpi_hours, kpi_days
#: and kpi_versions: the KPI rollup of store/rollup.py, refilled on read).
DERIVED_TABLES = ("watermarks", "latest_states", "kpi_hours", "kpi_days", "kpi_versions")

# Every table that export/import moves, in an order that keeps ids consistent.
ALL_TABLES = (
    "machines",
    "series",
    "calendars",
    "products",
    "settings",
    "orders",
    "signals",
    "signals_1m",
    "states",
    "counts",
    "alarms",
    "quality",
    "anomalies",
    "watermarks",
    "collect_events",
    "latest_states",
    "kpi_hours",
    "kpi_days",
    "kpi_versions",
)

READ_VIEWS = {
    "signal": "v_signals",
    "signal_1m": "v_signals_1m",
    "state": "v_states",
    "count": "v_counts",
    "alarm": "v_alarms",
    "quality": "v_quality",
    "anomaly": "v_anomalies",
    "order": "v_orders",
}

#: The order `Store.read` returns each kind in: its key, so that equal data read equal.
READ_ORDER = {
    "signal": "machine, ts, name",
    "signal_1m": "machine, ts, name",
    "state": "machine, ts",
    "count": "machine, ts, order_id, scrap_reason",
    "alarm": "machine, ts, code, active",
    "quality": "machine, ts, characteristic, sample_id",
    "anomaly": "machine, ts, detector",
    "order": "order_id",
}


def event_ddl(spec: EventTable) -> str:
    cols = ",\n    ".join(f"{n} {t}" for n, t in spec.stored_columns)
    return f"CREATE TABLE IF NOT EXISTS {spec.table} (\n    {cols}\n);"
