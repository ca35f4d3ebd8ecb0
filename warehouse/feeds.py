"""Feed state in the warehouse: which feeds exist, their validators, health and next poll."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb


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
    keep their rows (and articles) but are disabled."""
    con.execute("BEGIN TRANSACTION")
    try:
        for feed in feeds:
            con.execute(
                """
                INSERT INTO feeds (name, url, config_url, source, language, timezone, enabled)
                VALUES (?, ?, ?, ?, ?, ?, ?)
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
                """,
                [
                    feed.name,
                    feed.url,
                    feed.url,
                    feed.source,
                    feed.language,
                    feed.timezone,
                    feed.enabled,
                ],
            )
        names = [feed.name for feed in feeds]
        con.execute("UPDATE feeds SET enabled = false WHERE NOT list_contains(?, name)", [names])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


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
    """Write feed updates; the caller holds the transaction."""
    for u in updates:
        con.execute(
            """
            UPDATE feeds SET
                last_polled_at = ?, last_status = ?, last_error = ?,
                consecutive_failures = ?, next_poll_at = ?,
                failing_since = CASE WHEN ? = 0 THEN NULL
                                     ELSE coalesce(failing_since, ?) END,
                etag = CASE WHEN ? THEN etag ELSE ? END,
                last_modified = CASE WHEN ? THEN last_modified ELSE ? END,
                body_hash = CASE WHEN ? THEN body_hash ELSE ? END,
                url = coalesce(?, url),
                enabled = coalesce(?, enabled)
            WHERE name = ?
            """,
            [
                u.polled_at, u.status, u.error, u.consecutive_failures, u.next_poll_at,
                u.consecutive_failures, u.polled_at,
                u.keep_validators, u.etag,
                u.keep_validators, u.last_modified,
                u.keep_validators, u.body_hash,
                u.url, u.enabled, u.name,
            ],
        )  # fmt: skip


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
