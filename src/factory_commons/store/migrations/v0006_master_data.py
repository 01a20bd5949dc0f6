"""Master data: `products` (product -> ideal cycle time), `settings` (the plant's time zone),
`machines.timezone`, and an order's quantity and ideal cycle time may be unknown (NULL).

The same tables and columns as store/schema.py declares for DuckDB (where DUCKDB_UPGRADES
brings an older file up to date).
"""

SQL = """
ALTER TABLE machines ADD COLUMN timezone TEXT COLLATE "C";
ALTER TABLE orders ALTER COLUMN quantity DROP NOT NULL;
ALTER TABLE orders ALTER COLUMN ideal_cycle_time_s DROP NOT NULL;
CREATE TABLE products (
    product TEXT COLLATE "C" PRIMARY KEY,
    ideal_cycle_time_s DOUBLE PRECISION NOT NULL,
    display_name TEXT COLLATE "C",
    unit TEXT COLLATE "C"
);
CREATE TABLE settings (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);
"""
