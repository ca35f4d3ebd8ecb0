"""The daily maintenance flow: checkpoint the warehouse, refresh full-text search, and report the
feeds that have been failing for more than a day."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.config import load_config
from warehouse.feeds import failing_feeds
from warehouse.maintenance import checkpoint, table_counts
from warehouse.sql_server import opened_shared as opened

FAILING_FOR = timedelta(days=1)


@task(name="checkpoint", cache_policy=NO_CACHE)
def checkpoint_warehouse(db: Path) -> dict[str, int]:
    with opened(db) as con:
        checkpoint(con)
        return table_counts(con)


@task(name="refresh-search-index", cache_policy=NO_CACHE)
def refresh_search(db: Path) -> str:
    """Rebuild the search index whole, under a DuckDB cap of its own (uncapped, a rebuild over
    100,000 articles took about +3.4 GB; see warehouse.search_refresh.REBUILD_MEMORY_LIMIT)."""
    from warehouse.search import refresh_search_index
    from warehouse.search_refresh import limit_rebuild

    with opened(db) as con:
        return str(refresh_search_index(limit_rebuild(con), full=True))


@task(name="feed-health-report", cache_policy=NO_CACHE)
def feed_health_report(db: Path, now: datetime) -> list[dict]:
    logger = get_run_logger()
    with opened(db) as con:
        failing = failing_feeds(con, now - FAILING_FOR)
    rows = [
        {
            "feed": f.name,
            "url": f.url,
            "failing since": f.failing_since.isoformat(timespec="minutes"),
            "failures": f.consecutive_failures,
            "last error": f.last_error or "",
        }
        for f in failing
    ]
    for row in rows:
        logger.warning(
            "Feed %s has been failing since %s (%d failures): %s",
            row["feed"], row["failing since"], row["failures"], row["last error"],
        )  # fmt: skip
    lines = ["# Feeds failing for more than a day", ""]
    if rows:
        lines += ["| feed | failing since | failures | last error |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {r['feed']} | {r['failing since']} | {r['failures']} | {r['last error']} |"
            for r in rows
        ]
    else:
        lines.append("None: every enabled feed answered within the last day.")
    create_markdown_artifact(key="feed-health", markdown="\n".join(lines))
    return rows


@flow(name="maintenance", log_prints=False, validate_parameters=False)
def maintenance(config_path: str | None = None, db_path: str | None = None) -> dict:
    """Checkpoint, refresh the search index, and report long-failing feeds."""
    config = load_config(config_path or os.environ.get("MARSAD_CONFIG") or "marsad.toml")
    db = Path(db_path or os.environ.get("MARSAD_DB") or config.warehouse.path)
    counts = checkpoint_warehouse(db)
    index = refresh_search(db)
    failing = feed_health_report(db, datetime.now(UTC))
    return {"tables": counts, "search_index": index, "failing_feeds": failing}
