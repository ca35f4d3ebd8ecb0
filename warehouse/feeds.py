"""Feed state in the warehouse: which feeds exist, their validators, health and next poll."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from warehouse.db import transaction


@dataclass(frozen=True)
class FeedDefinition:
    """A feed as the configuration defines it."""

    name: str
    url: str
    source: str
    language: str | None
    timezone: str | None
    enabled: bool


@dataclass(frozen=True)
class FeedState:
    """A feed as the warehouse knows it."""

    name: str
    url: str
    source: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_polled_at: datetime | None
    last_status: int | None
    last_error: str | None
    consecutive_failures: int
    next_poll_at: datetime | None
    enabled: bool
    articles_total: int


@dataclass(frozen=True)
class FeedUpdate:
    """The new state of a feed after a poll; saved in the same transaction as its articles."""

    name: str
    polled_at: datetime
    status: int | None
    error: str | None
    consecutive_failures: int
    next_poll_at: datetime | None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    url: str | None = None  # set when the feed moved permanently
    enabled: bool | None = None  # False when the feed is gone (410)
    keep_validators: bool = False  # True when nothing new was learned (304, failure)


_STATE_COLUMNS = (
    "name, url, source, etag, last_modified, body_hash, last_polled_at, last_status, last_error, "
    "consecutive_failures, next_poll_at, enabled, articles_total"
)


def sync_feeds(con: duckdb.DuckDBPyConnection, feeds: Sequence[FeedDefinition]) -> None:
    """Make the feeds table match the configuration: add new feeds, update names and flags, and
    reset the polled URL when the configured URL changed. Feeds removed from the configuration
    keep their rows (and articles) but are disabled. One statement each, whatever the count."""
    table = pa.table(
        {
            "name": pa.array([f.name for f in feeds], pa.string()),
            "url": pa.array([f.url for f in feeds], pa.string()),
            "source": pa.array([f.source for f in feeds], pa.string()),
            "language": pa.array([f.language for f in feeds], pa.string()),
            "timezone": pa.array([f.timezone for f in feeds], pa.string()),
            "enabled": pa.array([f.enabled for f in feeds], pa.bool_()),
        }
    )
    con.register("configured_feeds", table)
    try:
        with transaction(con):
            con.execute(
                """
                INSERT INTO feeds (name, url, config_url, source, language, timezone, enabled)
                SELECT name, url, url, source, language, timezone, enabled FROM configured_feeds
                ON CONFLICT (name) DO UPDATE SET
                    url = CASE WHEN feeds.config_url <> excluded.config_url
                               THEN excluded.url ELSE feeds.url END,
                    next_poll_at = CASE WHEN feeds.config_url <> excluded.config_url
                               THEN NULL ELSE feeds.next_poll_at END,
                    config_url = excluded.config_url,
                    source = excluded.source,
                    language = excluded.language,
                    timezone = excluded.timezone,
                    enabled = CASE
                        WHEN feeds.last_status = 410 AND feeds.config_url = excluded.config_url
                        THEN feeds.enabled ELSE excluded.enabled END
                """
            )
            con.execute(
                "UPDATE feeds SET enabled = false "
                "WHERE name NOT IN (SELECT name FROM configured_feeds) AND enabled"
            )
    finally:
        con.unregister("configured_feeds")


def feed_states(
    con: duckdb.DuckDBPyConnection, names: Iterable[str] | None = None
) -> list[FeedState]:
    """The stored state of the named feeds (all feeds when None), ordered by name."""
    sql = f"SELECT {_STATE_COLUMNS} FROM feeds"
    params: list[object] = []
    if names is not None:
        sql += " WHERE list_contains(?, name)"
        params.append(list(names))
    rows = con.execute(sql + " ORDER BY name", params).fetchall()
    return [FeedState(*row) for row in rows]


def save_feed_updates(con: duckdb.DuckDBPyConnection, updates: Sequence[FeedUpdate]) -> None:
    """Write feed updates in one statement; the caller holds the transaction."""
    if not updates:
        return
    ts = pa.timestamp("us", tz="UTC")
    table = pa.table(
        {
            "name": [u.name for u in updates],
            "polled_at": pa.array([u.polled_at for u in updates], ts),
            "status": pa.array([u.status for u in updates], pa.int32()),
            "error": [u.error for u in updates],
            "failures": pa.array([u.consecutive_failures for u in updates], pa.int32()),
            "next_poll_at": pa.array([u.next_poll_at for u in updates], ts),
            "keep": [u.keep_validators for u in updates],
            "etag": pa.array([u.etag for u in updates], pa.string()),
            "last_modified": pa.array([u.last_modified for u in updates], pa.string()),
            "body_hash": pa.array([u.body_hash for u in updates], pa.string()),
            "url": pa.array([u.url for u in updates], pa.string()),
            "enabled": pa.array([u.enabled for u in updates], pa.bool_()),
        }
    )
    con.register("feed_updates", table)
    try:
        con.execute(
            """
            UPDATE feeds SET
                last_polled_at = u.polled_at, last_status = u.status, last_error = u.error,
                consecutive_failures = u.failures, next_poll_at = u.next_poll_at,
                failing_since = CASE WHEN u.failures = 0 THEN NULL
                                     ELSE coalesce(feeds.failing_since, u.polled_at) END,
                etag = CASE WHEN u.keep THEN feeds.etag ELSE u.etag END,
                last_modified = CASE WHEN u.keep THEN feeds.last_modified ELSE u.last_modified END,
                body_hash = CASE WHEN u.keep THEN feeds.body_hash ELSE u.body_hash END,
                url = coalesce(u.url, feeds.url),
                enabled = coalesce(u.enabled, feeds.enabled)
            FROM feed_updates u
            WHERE feeds.name = u.name
            """
        )
    finally:
        con.unregister("feed_updates")


@dataclass(frozen=True)
class FailingFeed:
    name: str
    url: str
    failing_since: datetime
    consecutive_failures: int
    last_error: str | None


def failing_feeds(con: duckdb.DuckDBPyConnection, since_before: datetime) -> list[FailingFeed]:
    """Enabled feeds whose current run of failures started before `since_before`."""
    rows = con.execute(
        """
        SELECT name, url, failing_since, consecutive_failures, last_error FROM feeds
        WHERE enabled AND consecutive_failures > 0 AND failing_since < ?
        ORDER BY failing_since
        """,
        [since_before],
    ).fetchall()
    return [FailingFeed(*row) for row in rows]
