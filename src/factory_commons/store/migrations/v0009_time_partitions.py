"""The fact tables partitioned by month on `ts` (native partitioning, a BRIN index on `ts`), the
rows kept; retention then drops whole partitions (store/partitions.py).

Every view of the schema is dropped and recreated from its own definition, since the views
point at the tables being rebuilt. DuckDB has no counterpart: the tables and columns stay the
same on both backends.
"""

from ..partitions import ENSURE_FUNCTION, PARTITIONED, convert


def apply(cur) -> None:
    cur.execute(ENSURE_FUNCTION)
    cur.execute(
        "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relkind = 'v' "
        "AND c.relnamespace = current_schema()::regnamespace ORDER BY c.oid"
    )
    views = cur.fetchall()
    for name, _ in reversed(views):
        cur.execute(f'DROP VIEW "{name}"')
    for table in PARTITIONED:
        convert(cur, table)
    for name, definition in views:
        cur.execute(f'CREATE VIEW "{name}" AS {definition}')
