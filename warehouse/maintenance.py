"""Housekeeping statements for the maintenance flow."""

from __future__ import annotations

import duckdb


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the WAL into the database file and reclaim space from deleted rows."""
    con.execute("CHECKPOINT")


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of the main tables, for the maintenance report."""
    counts = {}
    for table in (
        "articles",
        "article_urls",
        "feeds",
        "fetch_errors",
        "pending_pages",
        "raw_pages",
    ):
        counts[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    return counts
