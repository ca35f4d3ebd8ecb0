"""Rows in and out of the warehouse: Arrow tables inserted whole, and lookups by a list of keys.

Loading (warehouse/load.py, warehouse/updates.py) and re-extraction (warehouse/reextract.py)
write rows as Arrow tables, never one INSERT per row, and look rows up by URL or article_id.
Those lookups read the ART indexes of the key columns only because the values are written into
the statement as string literals in IN lists: the one form of a list for which DuckDB reads an
index (bound parameters and joins with a probe table scan the whole column).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import duckdb
import pyarrow as pa

from extractors.records import Article

LOOKUP_CHUNK = 1000  # values per IN list: DuckDB reads an index for up to 2048 matching rows
TIMESTAMP = pa.timestamp("us", tz="UTC")

ARTICLE_COLUMNS = (
    "article_id", "url", "canonical_url", "feed_name", "source", "title", "body", "summary",
    "author", "published_at", "published_at_source", "fetched_at", "updated_at", "language",
    "dateline", "attribution", "is_breaking", "tags", "word_count", "content_hash", "cluster_id",
    "duplicate_of", "extraction", "entry_updated_at",
)  # fmt: skip
TIMESTAMP_COLUMNS = ("published_at", "fetched_at", "updated_at", "entry_updated_at")
ARTICLE_SCHEMA = pa.schema(
    [
        (name, TIMESTAMP if name in TIMESTAMP_COLUMNS
         else pa.bool_() if name == "is_breaking"
         else pa.int32() if name == "word_count"
         else pa.list_(pa.string()) if name == "tags"
         else pa.string())
        for name in ARTICLE_COLUMNS
    ]
)  # fmt: skip


def article_table(articles: Sequence[Article]) -> pa.Table:
    """The articles as rows of the articles table; updated_at is the time of this fetch."""
    columns = {name: [getattr(a, name, None) for a in articles] for name in ARTICLE_COLUMNS}
    columns["updated_at"] = [a.fetched_at for a in articles]
    columns["tags"] = [list(t) if t else None for t in columns["tags"]]
    return pa.table(columns, schema=ARTICLE_SCHEMA)


def insert_table(
    con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, conflict: str = ""
) -> None:
    """INSERT the Arrow table's rows into the table `name`, columns matched by name."""
    con.register("insert_rows", rows)
    try:
        columns = ", ".join(rows.column_names)
        con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM insert_rows {conflict}")
    finally:
        con.unregister("insert_rows")


def where_in(column: str, values: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """WHERE conditions, with their parameters, that together match the rows whose `column` is
    one of `values`: IN lists of string literals (quotes doubled; DuckDB reads no escapes in
    them), so that DuckDB reads the column's index. A value holding NUL, which a statement's
    text cannot carry, is matched alone with a bound parameter."""
    values = sorted(set(values))
    plain = [v for v in values if "\x00" not in v]
    for start in range(0, len(plain), LOOKUP_CHUNK):
        chunk = plain[start : start + LOOKUP_CHUNK]
        literals = ", ".join("'" + v.replace("'", "''") + "'" for v in chunk)
        yield f"{column} IN ({literals})", []
    for value in values:
        if "\x00" in value:
            yield f"{column} = ?", [value]


def select_in(
    con: duckdb.DuckDBPyConnection, select: str, column: str, values: Iterable[str]
) -> list[tuple]:
    """Rows of `select` (SELECT ... FROM a table) whose `column` is one of `values`."""
    rows: list[tuple] = []
    for clause, parameters in where_in(column, values):
        rows += con.execute(f"{select} WHERE {clause}", parameters).fetchall()
    return rows
