"""Read-only queries for people: `marsad sql` and `marsad feeds list`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from warehouse.db import connect


class QueryError(Exception):
    """A query failed; the message is DuckDB's, which says why."""


def open_read_only(path: Path | str, lock_timeout_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only (it must exist and be up to date)."""
    return connect(path, read_only=True, lock_timeout_s=lock_timeout_s)


def query(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None
) -> tuple[list[str], list[tuple]]:
    """Run `sql` and return its column names and rows."""
    try:
        cursor = con.execute(sql, params or [])
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from None
