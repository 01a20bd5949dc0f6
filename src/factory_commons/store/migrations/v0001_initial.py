"""Initial schema: hierarchy, series, orders, calendars, fact tables with their key indexes, v_* views.

The same tables and columns as store/schema.py declares for DuckDB, in PostgreSQL types.
Text columns use the "C" collation so that ORDER BY gives the byte order DuckDB gives,
whatever the database's locale. Each fact table has a unique index on its key (NULLS NOT
DISTINCT, PostgreSQL 15+): a NULL order_id, scrap_reason or sample_id is one key value, as in
DuckDB, and INSERT ... ON CONFLICT DO NOTHING keeps the first write of each key.
"""

SQL = """
CREATE TABLE machines (
    machine_id INTEGER PRIMARY KEY,
    path TEXT COLLATE "C" NOT NULL UNIQUE,
    enterprise TEXT COLLATE "C" NOT NULL,
    site TEXT COLLATE "C" NOT NULL,
    area TEXT COLLATE "C" NOT NULL,
    line TEXT COLLATE "C" NOT NULL,
    machine TEXT COLLATE "C" NOT NULL,
    display_name TEXT COLLATE "C",
    kind TEXT COLLATE "C",
    calendar TEXT COLLATE "C",
    default_ideal_cycle_time_s DOUBLE PRECISION
);
CREATE TABLE series (
    series_id INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    unit TEXT COLLATE "C",
    UNIQUE (machine_id, name)
);
CREATE TABLE orders (
    order_id TEXT COLLATE "C" PRIMARY KEY,
    product TEXT COLLATE "C" NOT NULL,
    quantity BIGINT NOT NULL,
    ideal_cycle_time_s DOUBLE PRECISION NOT NULL,
    machine_id INTEGER,
    planned_start TIMESTAMP,
    due TIMESTAMP
);
CREATE TABLE calendars (
    name TEXT COLLATE "C" PRIMARY KEY,
    definition TEXT COLLATE "C" NOT NULL
);
CREATE TABLE watermarks (
    tbl TEXT COLLATE "C" NOT NULL,
    id INTEGER NOT NULL,
    max_ts TIMESTAMP NOT NULL,
    PRIMARY KEY (tbl, id)
);
CREATE TABLE collect_events (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    logged_at TIMESTAMP NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    event TEXT COLLATE "C" NOT NULL,
    machine TEXT COLLATE "C",
    start_ts TIMESTAMP,
    end_ts TIMESTAMP,
    rows BIGINT,
    detail TEXT COLLATE "C"
);
CREATE TABLE signals_1m (
    series_id INTEGER NOT NULL,
    ts TIMESTAMP NOT NULL,
    n BIGINT NOT NULL,
    min DOUBLE PRECISION,
    max DOUBLE PRECISION,
    mean DOUBLE PRECISION,
    UNIQUE (series_id, ts)
);
CREATE TABLE signals (
    series_id INTEGER,
    ts TIMESTAMP,
    value DOUBLE PRECISION
);
CREATE UNIQUE INDEX signals_key ON signals (series_id, ts);
CREATE TABLE states (
    machine_id INTEGER,
    ts TIMESTAMP,
    state TEXT COLLATE "C",
    reason_code TEXT COLLATE "C",
    order_id TEXT COLLATE "C"
);
CREATE UNIQUE INDEX states_key ON states (machine_id, ts);
CREATE TABLE counts (
    machine_id INTEGER,
    ts TIMESTAMP,
    good BIGINT,
    scrap BIGINT,
    rework BIGINT,
    scrap_reason TEXT COLLATE "C",
    order_id TEXT COLLATE "C"
);
CREATE UNIQUE INDEX counts_key ON counts (machine_id, ts, order_id, scrap_reason) NULLS NOT DISTINCT;
CREATE TABLE alarms (
    machine_id INTEGER,
    ts TIMESTAMP,
    code TEXT COLLATE "C",
    severity TEXT COLLATE "C",
    message TEXT COLLATE "C",
    active BOOLEAN
);
CREATE UNIQUE INDEX alarms_key ON alarms (machine_id, ts, code, active) NULLS NOT DISTINCT;
CREATE TABLE quality (
    machine_id INTEGER,
    ts TIMESTAMP,
    characteristic TEXT COLLATE "C",
    value DOUBLE PRECISION,
    lsl DOUBLE PRECISION,
    usl DOUBLE PRECISION,
    target DOUBLE PRECISION,
    unit TEXT COLLATE "C",
    sample_id TEXT COLLATE "C",
    order_id TEXT COLLATE "C"
);
CREATE UNIQUE INDEX quality_key ON quality (machine_id, ts, characteristic, sample_id) NULLS NOT DISTINCT;
CREATE TABLE anomalies (
    machine_id INTEGER,
    ts TIMESTAMP,
    detector TEXT COLLATE "C",
    score DOUBLE PRECISION,
    threshold DOUBLE PRECISION,
    ts_end TIMESTAMP,
    evidence TEXT COLLATE "C",
    message TEXT COLLATE "C"
);
CREATE UNIQUE INDEX anomalies_key ON anomalies (machine_id, ts, detector);

CREATE VIEW v_signals AS
    SELECT m.path AS machine, s.name, x.ts, x.value, s.unit
    FROM signals x JOIN series s USING (series_id) JOIN machines m USING (machine_id);
CREATE VIEW v_signals_1m AS
    SELECT m.path AS machine, s.name, x.ts, x.n, x.min, x.max, x.mean, s.unit
    FROM signals_1m x JOIN series s USING (series_id) JOIN machines m USING (machine_id);
CREATE VIEW v_states AS
    SELECT m.path AS machine, x.ts, x.state, x.reason_code, x.order_id
    FROM states x JOIN machines m USING (machine_id);
CREATE VIEW v_counts AS
    SELECT m.path AS machine, x.ts, x.good, x.scrap, x.rework, x.scrap_reason, x.order_id
    FROM counts x JOIN machines m USING (machine_id);
CREATE VIEW v_alarms AS
    SELECT m.path AS machine, x.ts, x.code, x.severity, x.message, x.active
    FROM alarms x JOIN machines m USING (machine_id);
CREATE VIEW v_quality AS
    SELECT m.path AS machine, x.ts, x.characteristic, x.value, x.lsl, x.usl, x.target,
           x.unit, x.sample_id, x.order_id
    FROM quality x JOIN machines m USING (machine_id);
CREATE VIEW v_anomalies AS
    SELECT m.path AS machine, x.ts, x.detector, x.score, x.threshold, x.ts_end, x.evidence, x.message
    FROM anomalies x JOIN machines m USING (machine_id);
CREATE VIEW v_orders AS
    SELECT o.order_id, o.product, o.quantity, o.ideal_cycle_time_s, m.path AS machine,
           o.planned_start, o.due
    FROM orders o LEFT JOIN machines m USING (machine_id);
"""
