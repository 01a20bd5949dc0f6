"""Stores: one interface, an embedded DuckDB default, more backends behind the same calls."""

from .base import RetentionPolicy, RetentionReport, Store, WriteResult
from .duckdb import DuckDBStore, StoreLockedError
from .validate import BatchError, RowProblem


def open_store(target: str = "factory.duckdb", serve: bool = True, wait: float = 5.0) -> Store:
    """Open a store by path (DuckDB file), wherever another process already has it open.

    The first process to open a file owns it and, with `serve` (the default), serves it to
    other processes over Arrow Flight on 127.0.0.1 while it is open, announcing where in
    `<file>.owner.json`. A process that finds the file locked reads that announcement and
    gets a RemoteStore: the same interface, each call run by the owner. `wait` is how long
    to keep trying while an owner is still starting or just closing. ":memory:" gives a
    private in-memory store. A `postgresql://...` URL (optionally with `?schema=NAME`) opens
    a PostgresStore, which many processes can share directly. See docs/store.md ("One store,
    many processes") and docs/server.md.
    """
    if str(target).startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(str(target))
    if str(target).startswith(":memory:"):
        return DuckDBStore(target)
    from .remote import open_shared

    return open_shared(target, serve=serve, wait=wait)


__all__ = [
    "BatchError",
    "DuckDBStore",
    "RetentionPolicy",
    "RetentionReport",
    "RowProblem",
    "Store",
    "StoreLockedError",
    "WriteResult",
    "open_store",
]
