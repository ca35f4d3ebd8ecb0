"""Opening the warehouse: one DuckDB file, upgraded by numbered migrations on open.

A pass holds its write connection only while it reads or loads, so other processes can open the
file between passes. When another process holds the file, opening retries with backoff and then
raises WarehouseLocked naming the holder's PID.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from warehouse.errors import NewerWarehouse as NewerWarehouse
from warehouse.errors import NotAWarehouse as NotAWarehouse
from warehouse.errors import WarehouseError as WarehouseError
from warehouse.errors import WarehouseLocked as WarehouseLocked

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
LOCK_HOLDER = re.compile(r"PID (\d+)")
# Row groups of this many rows for the rows a pass appends (see `connect`'s append_row_groups).
# DuckDB rewrites the whole last row group of a table with an index (articles, raw_pages, ...)
# at every checkpoint after an append, and its default row group holds 122,880 rows: with the
# default, closing the warehouse after loading 500 articles took 0.13 s and +160 MB at 2,500
# articles, 0.37 s and +240 MB at 10,000, 2.3 s and +350 MB at 60,000, and so on until the
# row group is full. At 4,096 rows the rewrite is bounded: 0.06 s at 60,000 articles. 2,048 is
# DuckDB's smallest (a multiple of its vector size): in a 5,000-article pass of the synthetic
# site the ten closes took 1.5 s of CPU instead of 2.0 s, and the pass peaked 20 MB lower.
APPEND_ROW_GROUP_ROWS = 2048
# The longest wait between two tries to open a file another process holds. A pass's loader lets
# the file go between two chunks (flows.stream.HOLD_CHUNKS), often for a second or two: tries
# this close together do not miss such a gap.
LOCK_RETRY_MAX_S = 0.5
# No merging of row groups at a checkpoint, on every read-write connection opened the plain way:
# merging the small row groups a pass appends cost +225 MB at the first close after a
# 10,000-article pass, growing with the pass (bench/README.md, issue 8's fifth session).
_NO_MERGING = "SET max_vacuum_tasks = 0"
# Compression DuckDB does not try on the rows a pass appends: at every checkpoint it analyses
# each new string segment for FSST, which took half the CPU of a chunk's close (the eleven
# closes of a 5,000-article pass, replayed: 0.95 s of CPU, 0.52 s without it) and won 0.5% of
# the file there. A body is stored uncompressed either way, and the raw page is zlib already;
# dictionary compression of the columns with few values (feeds, languages, ...) stays. (A file
# at DuckDB's storage version 1.3 or later would use DICT_FSST instead, which this leaves on;
# marsad's files keep the default storage version, and tests/test_warehouse.py would notice.)
_APPEND_COMPRESSION = "SET disabled_compression_methods = 'fsst'"
# Catalog names DuckDB keeps for itself: a file with such a stem is opened the plain way.
_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})


def migrations() -> list[tuple[int, str, str]]:
    """All migrations shipped with this marsad, as (version, file name, SQL), in order."""
    found = []
    for entry in resources.files("warehouse.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def schema_version() -> int:
    """The schema version this marsad writes."""
    return migrations()[-1][0]


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    lock_timeout_s: float = 30.0,
    migrate: bool = True,
    append_row_groups: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse at `path`, creating and upgrading it as needed.

    Retries with exponential backoff while another process holds the file, for up to
    `lock_timeout_s` seconds. Raises NotAWarehouse, NewerWarehouse or WarehouseLocked.

    With `append_row_groups` (a pass's loads), rows appended through this connection go into
    row groups of APPEND_ROW_GROUP_ROWS rows, so that the checkpoint on close rewrites a bounded
    amount whatever the size of the tables, and without trying FSST on their strings
    (_APPEND_COMPRESSION). The file is then attached under the catalog name a
    plain open gives it (its stem) and made the connection's default: queries read the same.
    Only for a connection used on its own (a cursor of it would start in the in-memory catalog).
    A read-write connection opened the plain way (any other, or a file whose stem DuckDB keeps
    for itself) never merges row groups (_NO_MERGING): the small row groups the loads append
    stay as they are, instead of being rewritten whole by whichever connection checkpoints next.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise NotAWarehouse(f"{path}: no warehouse there yet; run `marsad run` first.")
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        try:
            con = _open(path, read_only, append_row_groups)
            break
        except duckdb.IOException as exc:
            text = str(exc)
            if "not a valid DuckDB database file" in text or "not a DuckDB" in text:
                raise NotAWarehouse(
                    f"{path}: this file is not a DuckDB database; pass --db with a marsad "
                    "warehouse file, or a new path to create one."
                ) from None
            if "Could not set lock" not in text:
                raise WarehouseError(f"{path}: cannot open the warehouse ({text}).") from None
            if time.monotonic() >= deadline:
                holder = LOCK_HOLDER.search(text)
                pid = int(holder.group(1)) if holder else None
                raise WarehouseLocked(
                    f"{path}: the warehouse is locked by another process (PID {pid or '?'}); "
                    "close that program (or open it read-only) and retry; `marsad serve-sql` "
                    "lets SQL clients share the file with passes.",
                    pid,
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, LOCK_RETRY_MAX_S)
        except duckdb.Error as exc:
            raise WarehouseError(f"{path}: cannot open the warehouse ({exc}).") from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        if migrate:
            _migrate(con, path, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


def _open(path: Path, read_only: bool, append_row_groups: bool) -> duckdb.DuckDBPyConnection:
    catalog = path.stem
    if not append_row_groups or catalog.lower() in _RESERVED_CATALOGS or not catalog:
        con = duckdb.connect(str(path), read_only=read_only)
        if not read_only:
            try:  # a setting of the instance, shared by this process's connections to the file
                con.execute(_NO_MERGING)
            except BaseException:
                con.close()
                raise
        return con
    con = duckdb.connect()
    try:
        options = f"ROW_GROUP_SIZE {APPEND_ROW_GROUP_ROWS}" + (", READ_ONLY" if read_only else "")
        quoted_path = str(path).replace("'", "''")
        name = identifier(catalog)
        con.execute(f"ATTACH '{quoted_path}' AS {name} ({options})")
        con.execute(f"USE {name}")
        if not read_only:
            con.execute(_APPEND_COMPRESSION)
    except BaseException:
        con.close()
        raise
    return con


def identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (a catalog, a schema)."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def opened(path: Path | str, **kwargs: object) -> Iterator[duckdb.DuckDBPyConnection]:
    """connect() as a context manager that always closes the connection."""
    con = connect(path, **kwargs)  # type: ignore[arg-type]
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN, then COMMIT when the block ends, or ROLLBACK (and re-raise) when it raises,
    whatever it raises, a failing COMMIT included."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def limit_memory(con: object, limit: str, threads: int | None = None) -> None:
    """Cap DuckDB's memory (`SET memory_limit`, e.g. "256MB"), and its threads when given, for
    a connection of this process's own; a connection through `marsad serve-sql`
    (warehouse.sql_server) is the server's, and its settings are left alone."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        con.execute(f"SET memory_limit = '{limit}'")
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")


def reset_threads(con: object) -> None:
    """DuckDB's own thread count (one per core) again, for a connection of this process's own
    (see limit_memory)."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        con.execute("RESET threads")


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version stored in the file; 0 for an empty file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_version' AND table_schema = 'main'"
    ).fetchone()
    if not exists or not exists[0]:
        tables = con.execute("SELECT count(*) FROM information_schema.tables").fetchone()
        if tables and tables[0]:
            return -1  # a DuckDB file with other tables: not ours
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _migrate(con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> None:
    have = current_version(con)
    if have < 0:
        raise NotAWarehouse(
            f"{path}: this DuckDB file holds other tables, not a marsad warehouse; "
            "pass --db with a marsad warehouse file or a new path."
        )
    newest = schema_version()
    if have > newest:
        raise NewerWarehouse(
            f"{path}: written by a newer marsad (schema version {have}, this one knows up to "
            f"{newest}); upgrade marsad to use it."
        )
    if have == newest:
        return
    if read_only:
        raise WarehouseError(
            f"{path}: schema version {have} needs an upgrade to {newest}; run any marsad "
            "command that writes (e.g. `marsad run`) once."
        )
    for version, _name, sql in migrations():
        if version <= have:
            continue
        with transaction(con):
            if version == 1:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                )
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, datetime.now(UTC)])
