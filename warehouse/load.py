"""Loading a batch of a pass into the warehouse in one transaction.

A batch holds the articles of some feeds together with those feeds' new state, the pages still to
retry, the errors met and the run's counters. Either all of it is committed or none of it, so a
pass killed at any point is recovered by the next one: feed validators are never saved without
the articles they led to. Rows go in through Arrow tables, never one INSERT per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from extractors.records import Article
from warehouse.feeds import FeedUpdate, save_feed_updates


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


def known_urls(con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Of (url, canonical_url) pairs, the URLs the warehouse already knows: the link itself was
    seen before, or an article with that canonical URL exists."""
    pairs = list(pairs)
    if not pairs:
        return set()
    probe = pa.table({"url": [p[0] for p in pairs], "canonical_url": [p[1] for p in pairs]})
    con.register("probe_known", probe)
    try:
        rows = con.execute(
            """
            SELECT p.url FROM probe_known p
            WHERE EXISTS (SELECT 1 FROM article_urls u WHERE u.url = p.url)
               OR EXISTS (SELECT 1 FROM articles a WHERE a.canonical_url = p.canonical_url)
            """
        ).fetchall()
    finally:
        con.unregister("probe_known")
    return {row[0] for row in rows}


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
    """Write the whole batch in one transaction; see the module docstring."""
    con.execute("BEGIN TRANSACTION")
    try:
        articles = _new_articles(con, batch.articles)
        duplicates = _assign_clusters(con, articles)
        _insert_articles(con, articles)
        if batch.keep_raw_html:
            _insert_raw_pages(con, articles)
        seen = list(batch.seen_urls) + [
            SeenUrl(a.url, a.canonical_url, a.feed_name, a.fetched_at) for a in batch.articles
        ]
        _insert_seen_urls(con, seen)
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
                articles_duplicate = articles_duplicate + ?, pages_fetched = pages_fetched + ?,
                pages_failed = pages_failed + ?, errors = errors + ?
            WHERE run_id = ?
            """,
            [
                c.feeds_total, c.feeds_ok, c.feeds_not_modified, c.feeds_failed,
                c.entries_seen, len(articles), duplicates, c.pages_fetched, c.pages_failed,
                len(batch.errors), batch.run_id,
            ],
        )  # fmt: skip
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    by_feed: dict[str, int] = {}
    for article in articles:
        by_feed[article.feed_name] = by_feed.get(article.feed_name, 0) + 1
    return LoadResult(len(articles), duplicates, len(batch.errors), by_feed)


def _new_articles(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> list[Article]:
    """Drop articles whose canonical URL is already stored or repeated within the batch."""
    unique: dict[str, Article] = {}
    for article in articles:
        unique.setdefault(article.canonical_url, article)
    if not unique:
        return []
    probe = pa.table({"canonical_url": list(unique)})
    con.register("probe_new", probe)
    try:
        stored = {
            row[0]
            for row in con.execute(
                "SELECT a.canonical_url FROM articles a JOIN probe_new p USING (canonical_url)"
            ).fetchall()
        }
    finally:
        con.unregister("probe_new")
    return [a for url, a in unique.items() if url not in stored]


def _assign_clusters(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> int:
    """Give each new article a cluster: the cluster of the first stored article with the same
    content hash, else of an earlier article of this batch, else its own. A cluster's id is the
    article_id of its first-seen article, so duplicate_of is the cluster id for every later copy.
    Returns how many articles joined an existing cluster."""
    hashes = sorted({a.content_hash for a in articles if a.content_hash})
    clusters: dict[str, str] = {}
    if hashes:
        rows = con.execute(
            """
            SELECT content_hash, arg_min(cluster_id, fetched_at)
            FROM articles WHERE list_contains(?, content_hash) GROUP BY content_hash
            """,
            [hashes],
        ).fetchall()
        clusters = dict(rows)
    duplicates = 0
    for article in articles:
        cluster = clusters.get(article.content_hash) if article.content_hash else None
        if cluster is None:
            article.cluster_id, article.duplicate_of = article.article_id, None
            if article.content_hash:
                clusters[article.content_hash] = article.article_id
        else:
            article.cluster_id, article.duplicate_of = cluster, cluster
            duplicates += 1
    return duplicates


ARTICLE_COLUMNS = (
    "article_id", "url", "canonical_url", "feed_name", "source", "title", "body", "summary",
    "author", "published_at", "published_at_source", "fetched_at", "updated_at", "language",
    "dateline", "attribution", "is_breaking", "tags", "word_count", "content_hash", "cluster_id",
    "duplicate_of", "extraction", "entry_updated_at",
)  # fmt: skip
TIMESTAMP = pa.timestamp("us", tz="UTC")
TIMESTAMP_COLUMNS = ("published_at", "fetched_at", "updated_at", "entry_updated_at")


def _insert_articles(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> None:
    if not articles:
        return
    columns = {name: [getattr(a, name, None) for a in articles] for name in ARTICLE_COLUMNS}
    columns["updated_at"] = [a.fetched_at for a in articles]
    schema = pa.schema(
        [
            (name, TIMESTAMP if name in TIMESTAMP_COLUMNS
             else pa.bool_() if name == "is_breaking"
             else pa.int32() if name == "word_count"
             else pa.list_(pa.string()) if name == "tags"
             else pa.string())
            for name in ARTICLE_COLUMNS
        ]
    )  # fmt: skip
    columns["tags"] = [list(t) if t else None for t in columns["tags"]]
    table = pa.table(columns, schema=schema)
    con.register("article_batch", table)
    try:
        con.execute(
            f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) "
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM article_batch"
        )
    finally:
        con.unregister("article_batch")


def _insert_raw_pages(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> None:
    kept = [a for a in articles if a.raw_html]
    if not kept:
        return
    table = pa.table(
        {
            "article_id": [a.article_id for a in kept],
            "url": [a.url for a in kept],
            "fetched_at": pa.array([a.fetched_at for a in kept], TIMESTAMP),
            "content_type": [a.content_type for a in kept],
            "html": [a.raw_html for a in kept],
            "entry": [json.dumps(a.entry, ensure_ascii=False) if a.entry else None for a in kept],
        }
    )
    con.register("raw_batch", table)
    try:
        con.execute(
            "INSERT INTO raw_pages SELECT * FROM raw_batch ON CONFLICT (article_id) DO NOTHING"
        )
    finally:
        con.unregister("raw_batch")


def _insert_seen_urls(con: duckdb.DuckDBPyConnection, seen: Sequence[SeenUrl]) -> None:
    if not seen:
        return
    table = pa.table(
        {
            "url": [s.url for s in seen],
            "canonical_url": [s.canonical_url for s in seen],
            "feed_name": [s.feed_name for s in seen],
            "seen_at": pa.array([s.seen_at for s in seen], TIMESTAMP),
        }
    )
    con.register("seen_batch", table)
    try:
        con.execute(
            """
            INSERT INTO article_urls (url, article_id, feed_name, first_seen_at)
            SELECT s.url, a.article_id, s.feed_name, s.seen_at
            FROM seen_batch s JOIN articles a ON a.canonical_url = s.canonical_url
            QUALIFY row_number() OVER (PARTITION BY s.url ORDER BY s.seen_at) = 1
            ON CONFLICT (url) DO NOTHING
            """
        )
    finally:
        con.unregister("seen_batch")


def _save_pending(
    con: duckdb.DuckDBPyConnection, pending: Sequence[PendingPage], done: Sequence[str]
) -> None:
    if done:
        con.execute("DELETE FROM pending_pages WHERE list_contains(?, canonical_url)", [list(done)])
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
    for name, n in counts.items():
        con.execute(
            "UPDATE feeds SET articles_total = articles_total + ? WHERE name = ?", [n, name]
        )


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
    con.register("error_batch", table)
    try:
        con.execute("INSERT INTO fetch_errors SELECT * FROM error_batch")
    finally:
        con.unregister("error_batch")
