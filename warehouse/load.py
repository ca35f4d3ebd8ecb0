"""Loading a batch of a pass into the warehouse in one transaction.

A batch holds the articles of some feeds together with those feeds' new state, the pages still to
retry, the errors met and the run's counters. Either all of it is committed or none of it, so a
pass killed at any point is recovered by the next one: feed validators are never saved without
the articles they led to. Rows go in through Arrow tables, never one INSERT per row.

Lookups by URL read the ART indexes of articles.canonical_url and article_urls.url, through the
IN lists of warehouse/rows.py. New articles join story clusters (warehouse/clusters.py). A known
canonical URL fetched again (LoadBatch.updates) keeps its row, article_id and cluster; when its
text changed, the row takes the new text and the replaced one is kept (warehouse/updates.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from extractors.records import Article, compress_html
from warehouse.clusters import assign_clusters, index_fingerprints
from warehouse.db import transaction
from warehouse.feeds import FeedUpdate, save_feed_updates

# LOOKUP_CHUNK stays importable from here for callers from before the split; IN lists are cut
# at warehouse.rows.LOOKUP_CHUNK, which is the one to change.
from warehouse.rows import LOOKUP_CHUNK as LOOKUP_CHUNK
from warehouse.rows import TIMESTAMP, article_table, insert_table, select_in, where_in
from warehouse.updates import apply_updates


@dataclass(frozen=True)
class SeenUrl:
    """A link a feed carried, mapped to the canonical URL of the article it leads to."""

    url: str
    canonical_url: str
    feed_name: str
    seen_at: datetime


@dataclass(frozen=True)
class PendingPage:
    """An entry whose page could not be fetched; retried on a later pass."""

    canonical_url: str
    feed_name: str
    entry: dict
    attempts: int
    error: str | None
    first_seen_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class FetchErrorRecord:
    feed_name: str | None
    url: str | None
    stage: str  # feed | page | extract | load
    error: str
    occurred_at: datetime


@dataclass
class RunCounters:
    feeds_total: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    entries_seen: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0

    def add(self, other: RunCounters) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class LoadBatch:
    run_id: str
    articles: list[Article] = field(default_factory=list)
    # Known canonical URLs fetched again (their feed entry shows a newer updated time); one whose
    # URL turns out not to be stored is loaded as a new article.
    updates: list[Article] = field(default_factory=list)
    seen_urls: list[SeenUrl] = field(default_factory=list)
    pending: list[PendingPage] = field(default_factory=list)
    done_pending: list[str] = field(default_factory=list)  # canonical URLs no longer pending
    feed_updates: list[FeedUpdate] = field(default_factory=list)
    errors: list[FetchErrorRecord] = field(default_factory=list)
    counters: RunCounters = field(default_factory=RunCounters)
    keep_raw_html: bool = True


@dataclass(frozen=True)
class LoadResult:
    articles_new: int
    articles_duplicate: int
    errors: int
    new_by_feed: dict[str, int] = field(default_factory=dict)
    articles_updated: int = 0  # updates whose text changed (a revision was kept)


def known_urls(con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Of (url, canonical_url) pairs, the URLs the warehouse already knows: the link itself was
    seen before, or an article with that canonical URL exists."""
    pairs = list(pairs)
    links = {
        r[0] for r in select_in(con, "SELECT url FROM article_urls", "url", [p[0] for p in pairs])
    }
    rest = [canonical for url, canonical in pairs if url not in links]
    stored = {
        r[0] for r in select_in(con, "SELECT canonical_url FROM articles", "canonical_url", rest)
    }
    return {url for url, canonical in pairs if url in links or canonical in stored}


def stored_entry_times(
    con: duckdb.DuckDBPyConnection, canonical_urls: Iterable[str]
) -> dict[str, datetime | None]:
    """For each of `canonical_urls` that is stored, the updated time its feed entry had when the
    article was last loaded (None when the entry gave none). A pass refetches a known article
    whose entry now shows a newer time and loads it as one of LoadBatch.updates."""
    rows = select_in(
        con, "SELECT canonical_url, entry_updated_at FROM articles", "canonical_url", canonical_urls
    )
    return dict(rows)


def pending_due(
    con: duckdb.DuckDBPyConnection, feed_names: Sequence[str], now: datetime
) -> list[PendingPage]:
    """Pages of the given feeds whose retry time has come."""
    rows = con.execute(
        """
        SELECT canonical_url, feed_name, entry, attempts, last_error, first_seen_at, next_attempt_at
        FROM pending_pages
        WHERE list_contains(?, feed_name) AND next_attempt_at <= ?
        ORDER BY first_seen_at
        """,
        [list(feed_names), now],
    ).fetchall()
    return [PendingPage(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, flow_run_id: str | None, started_at: datetime
) -> None:
    con.execute(
        "INSERT INTO ingest_runs (run_id, flow_run_id, started_at, status) VALUES (?, ?, ?, ?)",
        [run_id, flow_run_id, started_at, "running"],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, finished_at: datetime
) -> dict:
    """Close the run record and return it as a dict."""
    con.execute(
        "UPDATE ingest_runs SET status = ?, finished_at = ? WHERE run_id = ?",
        [status, finished_at, run_id],
    )
    return run_record(con, run_id)


def run_record(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    cursor = con.execute("SELECT * FROM ingest_runs WHERE run_id = ?", [run_id])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else {}


def record_errors(
    con: duckdb.DuckDBPyConnection, run_id: str, errors: Sequence[FetchErrorRecord]
) -> None:
    """Record errors outside a batch (e.g. a batch that failed to load)."""
    if not errors:
        return
    _insert_errors(con, run_id, errors)
    con.execute(
        "UPDATE ingest_runs SET errors = errors + ? WHERE run_id = ?", [len(errors), run_id]
    )


def load_batch(con: duckdb.DuckDBPyConnection, batch: LoadBatch) -> LoadResult:
    """Write the whole batch in one transaction; see the module docstring. New articles are
    clustered (warehouse.clusters) and indexed for dedupe; updates are applied after them, so an
    article and its update may arrive in one batch."""
    with transaction(con):
        articles = _new_articles(con, [*batch.articles, *batch.updates])
        duplicates = assign_clusters(con, articles)
        _insert_articles(con, articles)
        index_fingerprints(con, articles)
        new = {id(a) for a in articles}
        updated = apply_updates(con, [u for u in batch.updates if id(u) not in new])
        if batch.keep_raw_html:
            _save_raw_pages(con, [*articles, *updated])
        seen = list(batch.seen_urls) + [
            SeenUrl(a.url, a.canonical_url, a.feed_name, a.fetched_at)
            for a in [*batch.articles, *batch.updates]
        ]
        _insert_seen_urls(con, seen, {a.canonical_url: a.article_id for a in articles})
        _save_pending(con, batch.pending, batch.done_pending)
        save_feed_updates(con, batch.feed_updates)
        _count_feed_articles(con, articles)
        _insert_errors(con, batch.run_id, batch.errors)
        c = batch.counters
        con.execute(
            """
            UPDATE ingest_runs SET
                feeds_total = feeds_total + ?, feeds_ok = feeds_ok + ?,
                feeds_not_modified = feeds_not_modified + ?, feeds_failed = feeds_failed + ?,
                entries_seen = entries_seen + ?, articles_new = articles_new + ?,
                articles_duplicate = articles_duplicate + ?,
                articles_updated = articles_updated + ?, pages_fetched = pages_fetched + ?,
                pages_failed = pages_failed + ?, errors = errors + ?
            WHERE run_id = ?
            """,
            [
                c.feeds_total, c.feeds_ok, c.feeds_not_modified, c.feeds_failed,
                c.entries_seen, len(articles), duplicates, len(updated), c.pages_fetched,
                c.pages_failed, len(batch.errors), batch.run_id,
            ],
        )  # fmt: skip
    by_feed: dict[str, int] = {}
    for article in articles:
        by_feed[article.feed_name] = by_feed.get(article.feed_name, 0) + 1
    return LoadResult(len(articles), duplicates, len(batch.errors), by_feed, len(updated))


def _new_articles(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> list[Article]:
    """Drop articles whose canonical URL is already stored or repeated within the batch."""
    unique: dict[str, Article] = {}
    for article in articles:
        unique.setdefault(article.canonical_url, article)
    rows = select_in(con, "SELECT canonical_url FROM articles", "canonical_url", unique)
    stored = {row[0] for row in rows}
    return [a for url, a in unique.items() if url not in stored]


def _insert_articles(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> None:
    if articles:
        insert_table(con, "articles", article_table(articles))


def _save_raw_pages(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> None:
    """Keep each article's raw HTML, compressed (migration 004); a refetched article's replaces
    the stored one (the last of the batch's, when an article and its update arrive together)."""
    kept = list({a.article_id: a for a in articles if a.raw_html or a.raw_html_zlib}.values())
    if not kept:
        return
    table = pa.table(
        {
            "article_id": [a.article_id for a in kept],
            "url": [a.url for a in kept],
            "fetched_at": pa.array([a.fetched_at for a in kept], TIMESTAMP),
            "content_type": [a.content_type for a in kept],
            "html": pa.nulls(len(kept), pa.string()),
            "html_zlib": pa.array(
                [a.raw_html_zlib or compress_html(a.raw_html or "") for a in kept], pa.binary()
            ),
            "entry": [json.dumps(a.entry, ensure_ascii=False) if a.entry else None for a in kept],
        }
    )
    insert_table(
        con,
        "raw_pages",
        table,
        "ON CONFLICT (article_id) DO UPDATE SET url = excluded.url, "
        "fetched_at = excluded.fetched_at, content_type = excluded.content_type, "
        "html = excluded.html, html_zlib = excluded.html_zlib, entry = excluded.entry",
    )


def _insert_seen_urls(
    con: duckdb.DuckDBPyConnection, seen: Sequence[SeenUrl], article_ids: dict[str, str]
) -> None:
    """Record each link under the article of its canonical URL (`article_ids` holds those of
    this batch; the others are looked up); a link seen before keeps its first record."""
    ids = dict(article_ids)
    missing = {s.canonical_url for s in seen} - ids.keys()
    ids.update(
        select_in(con, "SELECT canonical_url, article_id FROM articles", "canonical_url", missing)
    )
    first: dict[str, SeenUrl] = {}
    for s in sorted(seen, key=lambda s: s.seen_at):
        if s.canonical_url in ids:
            first.setdefault(s.url, s)
    if not first:
        return
    rows = list(first.values())
    table = pa.table(
        {
            "url": [s.url for s in rows],
            "article_id": [ids[s.canonical_url] for s in rows],
            "feed_name": [s.feed_name for s in rows],
            "first_seen_at": pa.array([s.seen_at for s in rows], TIMESTAMP),
        }
    )
    insert_table(con, "article_urls", table, "ON CONFLICT (url) DO NOTHING")


def _save_pending(
    con: duckdb.DuckDBPyConnection, pending: Sequence[PendingPage], done: Sequence[str]
) -> None:
    for clause, parameters in where_in("canonical_url", done):
        con.execute(f"DELETE FROM pending_pages WHERE {clause}", parameters)
    for p in pending:
        con.execute(
            """
            INSERT INTO pending_pages VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (canonical_url) DO UPDATE SET
                attempts = excluded.attempts, last_error = excluded.last_error,
                next_attempt_at = excluded.next_attempt_at, entry = excluded.entry
            """,
            [
                p.canonical_url, p.feed_name, json.dumps(p.entry, ensure_ascii=False),
                p.attempts, p.error, p.first_seen_at, p.next_attempt_at,
            ],
        )  # fmt: skip


def _count_feed_articles(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> None:
    counts: dict[str, int] = {}
    for a in articles:
        counts[a.feed_name] = counts.get(a.feed_name, 0) + 1
    if not counts:
        return
    con.register("feed_counts", pa.table({"name": list(counts), "n": list(counts.values())}))
    try:
        con.execute(
            "UPDATE feeds SET articles_total = articles_total + c.n FROM feed_counts c "
            "WHERE feeds.name = c.name"
        )
    finally:
        con.unregister("feed_counts")


def _insert_errors(
    con: duckdb.DuckDBPyConnection, run_id: str, errors: Sequence[FetchErrorRecord]
) -> None:
    if not errors:
        return
    table = pa.table(
        {
            "run_id": [run_id] * len(errors),
            "feed_name": [e.feed_name for e in errors],
            "url": [e.url for e in errors],
            "stage": [e.stage for e in errors],
            "error": [e.error for e in errors],
            "occurred_at": pa.array([e.occurred_at for e in errors], TIMESTAMP),
        }
    )
    insert_table(con, "fetch_errors", table)
