"""The published copy: a read-only snapshot of the warehouse for clients that hold files open.

After a pass, `publish` copies the whole database (tables, views, the search index) into a new
file beside the published path with `COPY FROM DATABASE`, then renames it over the published
path. The rename is atomic: a client that opens the path gets the old copy or the new one, never
half of one, and a client that already has the old copy open keeps reading it. The warehouse
itself is only read, and only for the time of the copy.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.db import connect

ALIAS = "marsad_published"


class PublishError(Exception):
    """The published copy could not be written; the message names the path and the reason."""


@dataclass(frozen=True)
class PublishResult:
    """The published file, its size and the seconds the copy took."""

    path: Path
    bytes: int
    seconds: float


def publish(
    source: duckdb.DuckDBPyConnection | Path | str, publish_path: Path | str
) -> PublishResult:
    """Copy the warehouse (an open connection to it, or its path, then opened read-only) to
    `publish_path`, atomically replacing the previous copy. Raises PublishError when the copy
    cannot be written, and the warehouse's own errors (WarehouseLocked, ...) when given a path
    it cannot open."""
    publish_path = Path(publish_path)
    if isinstance(source, str | Path):
        if Path(source).resolve() == publish_path.resolve():
            raise PublishError(f"{publish_path}: the published copy cannot be the warehouse.")
        con = connect(source, read_only=True)
        try:
            return publish(con, publish_path)
        finally:
            con.close()
    started = time.perf_counter()
    partial = publish_path.with_name(f".{publish_path.name}.{os.getpid()}.partial")
    try:
        publish_path.parent.mkdir(parents=True, exist_ok=True)
        _remove(partial)
    except OSError as exc:
        raise PublishError(f"{publish_path}: cannot write there ({exc}).") from None
    row = source.execute("SELECT current_database()").fetchone()
    database = row[0] if row else "memory"
    try:
        source.execute(f"ATTACH '{_quoted(partial)}' AS {ALIAS} (READ_WRITE)")
        try:
            source.execute(f'COPY FROM DATABASE "{database}" TO {ALIAS}')
        finally:
            source.execute(f"DETACH {ALIAS}")
        os.replace(partial, publish_path)
    except (duckdb.Error, OSError) as exc:
        _remove(partial)
        reason = str(exc).splitlines()[0]
        raise PublishError(f"{publish_path}: publishing the copy failed ({reason}).") from None
    return PublishResult(publish_path, publish_path.stat().st_size, time.perf_counter() - started)


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        if leftover.exists():
            leftover.unlink()


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
