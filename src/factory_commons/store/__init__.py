"""Stores: one interface, an embedded DuckDB default, more backends behind the same calls."""

from .base import RetentionPolicy, RetentionReport, Store, WriteResult
from .duckdb import DuckDBStore, StoreLockedError
from .validate import BatchError, RowProblem


def open_store(target: str = "factory.duckdb") -> Store:
    """Open a store by path (DuckDB file)."""
    return DuckDBStore(target)


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
