"""Housekeeping statements for the maintenance flow."""

from __future__ import annotations

import duckdb


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the WAL into the database file. Row groups that deletes emptied are dropped (in
    tables without an index: DuckDB keeps those of indexed tables either way); those
    only partly deleted stay as they are, since marsad's connections never merge row groups
    (warehouse.db._NO_MERGING). The search tail, which most deletes touch, is emptied whole by
    the full rebuild that follows."""
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
