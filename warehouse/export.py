"""Exporting articles to files: Parquet partitioned by source and day, JSON Lines, CSV.

An export is a snapshot of the selection: it is written beside its target and then moved into
place, so a reader never sees half an export and a second export replaces the first whole.
Text is written as UTF-8 exactly as stored (Arabic included).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

Format = Literal["parquet", "jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "jsonl", "csv")
# The day an article belongs to: its publication day (UTC), else the day it was fetched.
DAY = "CAST(coalesce(published_at, fetched_at) AS DATE)"


class ExportError(Exception):
    """An export could not be written; the message names the path and the reason."""


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and how many articles it holds."""

    path: Path
    format: Format
    articles: int


def export_target(out_dir: Path, fmt: Format) -> Path:
    """The path an export of `fmt` writes in `out_dir`: the directory `articles/` for Parquet
    (`articles/source=<source>/day=<YYYY-MM-DD>/*.parquet`), else `articles.jsonl` or
    `articles.csv`."""
    return out_dir / ("articles" if fmt == "parquet" else f"articles.{fmt}")


def export_articles(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path | str,
    fmt: Format = "parquet",
    since: date | None = None,
) -> ExportResult:
    """Write every article (or those whose day is `since` or later) to `out_dir` in `fmt`,
    replacing an earlier export there. All columns of `articles` plus `day`; in CSV, `tags` is
    a JSON array. Raises ExportError when the directory cannot be written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    out_dir = Path(out_dir)
    target = export_target(out_dir, fmt)
    staging = target.with_name(f".{target.name}.partial")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove(staging)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot write the export there ({exc}).") from None
    where = f"WHERE {DAY} >= $since" if since else ""
    params = {"since": since} if since else {}
    columns = "* REPLACE (CAST(to_json(tags) AS VARCHAR) AS tags)" if fmt == "csv" else "*"
    select = (
        f"SELECT {columns}, {DAY} AS day FROM articles {where} "
        "ORDER BY source, day, published_at, article_id"
    )
    options = {
        "parquet": "FORMAT parquet, PARTITION_BY (source, day), COMPRESSION zstd",
        "jsonl": "FORMAT json",
        "csv": "FORMAT csv, HEADER true",
    }[fmt]
    try:
        count = con.execute(f"SELECT count(*) FROM articles {where}", params).fetchone()
        con.execute(f"COPY ({select}) TO '{_quoted(staging)}' ({options})", params)
    except duckdb.Error as exc:
        _remove(staging)
        raise ExportError(f"{target}: the export failed ({str(exc).splitlines()[0]}).") from None
    if fmt == "parquet" and not staging.exists():
        staging.mkdir()  # nothing selected: an empty export is still an export
    try:
        _replace(staging, target)
    except OSError as exc:
        raise ExportError(f"{target}: cannot move the export into place ({exc}).") from None
    return ExportResult(target, fmt, int(count[0]) if count else 0)


def _replace(new: Path, target: Path) -> None:
    """Move `new` over `target` (a file or directory): renamed aside first, then removed."""
    old = target.with_name(f".{target.name}.old")
    _remove(old)
    if target.exists():
        target.rename(old)
    new.rename(target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
