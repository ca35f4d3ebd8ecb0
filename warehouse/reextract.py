"""Re-extraction in the warehouse: stored raw pages out, rebuilt articles in.

`marsad reextract` (flows/reextract.py) reads `raw_pages` in chunks ordered by article_id
(`next_raw_pages`), rebuilds each article from its HTML and feed entry, and hands the results to
`apply_reextracted`, which compares them with the stored rows and writes only what changed, in
one transaction per chunk. A chunk is read as two indexed lookups: the ids after the last one
seen (a scan of the id column only), then those rows by their ids, so each chunk costs the
same however large the archive and only one chunk of HTML is in memory.

Values go into statements as string literals in IN lists: the one form of a list for which
DuckDB reads the tables' ART indexes (see warehouse/rows.py).

A rebuilt article keeps its cluster, as a refetched one does (warehouse/updates.py): a new text
is indexed for dedupe as another row of the same article, under its stored cluster_id and at the
time its page was fetched, so that later copies of the new text join the cluster (copies of the
old text still do: its rows stay). Only texts fetched within EXACT_WINDOW before the run are
indexed: no later copy looks further back (warehouse/clusters.py), and rows of older times,
appended now in article_id order, would widen the indexed_at zone maps that keep each lookup
to its window.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from extractors.records import Article, decompress_html
from warehouse.clusters import EXACT_WINDOW, index_fingerprints
from warehouse.db import transaction
from warehouse.rows import TIMESTAMP, insert_table, select_in, where_in

# The columns re-extraction rebuilds; title and body are "the text" (a change keeps the old one
# in article_revisions and sets updated_at). canonical_url, article_id, cluster and fetch times
# are never touched.
REEXTRACTED_COLUMNS = (
    "title", "body", "summary", "author", "published_at", "published_at_source", "language",
    "dateline", "attribution", "is_breaking", "tags", "word_count", "content_hash", "extraction",
)  # fmt: skip
TEXT_COLUMNS = ("title", "body")
ROW_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        *(
            (name, TIMESTAMP if name == "published_at"
             else pa.bool_() if name == "is_breaking"
             else pa.int32() if name == "word_count"
             else pa.list_(pa.string()) if name == "tags"
             else pa.string())
            for name in REEXTRACTED_COLUMNS
        ),
        ("updated_at", TIMESTAMP),
    ]
)  # fmt: skip


@dataclass(frozen=True)
class StoredPage:
    """A raw page as stored, with what rebuilding its article needs."""

    article_id: str
    url: str
    page_fetched_at: datetime  # when this HTML was fetched (raw_pages.fetched_at)
    fetched_at: datetime  # the article's first fetch: dates in the text resolve against it
    content_type: str | None
    html: str
    entry: dict | None  # FeedEntry.to_json() of the entry that led to the page
    feed_name: str | None
    source: str | None
    feed_timezone: str | None  # the feed's timezone as last synced from the configuration


@dataclass(frozen=True)
class Rebuilt:
    """An article rebuilt from a stored page; article.article_id is the stored row's."""

    article: Article
    page_fetched_at: datetime


@dataclass(frozen=True)
class ApplyResult:
    changed: int  # rows updated (text or metadata)
    text_changed: int  # of those, rows whose title or body changed (a revision was kept)
    unchanged: int
    stale: int  # refetched by a pass since they were read (or deleted): left alone
    changed_articles: tuple[Article, ...] = ()  # the rebuilt articles whose text changed
    indexed: int = 0  # of those, texts indexed for dedupe (fetched within EXACT_WINDOW)


def count_raw_pages(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> int:
    """How many raw pages are stored (fetched at or after `since`, when given)."""
    row = con.execute(
        "SELECT count(*) FROM raw_pages WHERE ? IS NULL OR fetched_at >= ?", [since, since]
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class RawChunk:
    pages: list[StoredPage]
    last_id: str | None  # where the next chunk starts; None when there is no page after `after`


def next_raw_pages(
    con: duckdb.DuckDBPyConnection,
    *,
    after: str | None,
    limit: int,
    since: datetime | None = None,
) -> RawChunk:
    """The next `limit` stored pages whose article_id sorts after `after` (from the first when
    None), fetched at or after `since` when given, in article_id order, each with its article's
    feed, source and first fetch time and its feed's stored timezone. A page whose article row
    is gone is left out (last_id still moves past it)."""
    ids = [
        row[0]
        for row in con.execute(
            """
            SELECT article_id FROM raw_pages
            WHERE (? IS NULL OR article_id > ?) AND (? IS NULL OR fetched_at >= ?)
            ORDER BY article_id LIMIT ?
            """,
            [after, after, since, since, limit],
        ).fetchall()
    ]
    if not ids:
        return RawChunk([], None)
    articles = {
        row[0]: row[1:]
        for row in select_in(
            con, "SELECT article_id, feed_name, source, fetched_at FROM articles", "article_id", ids
        )
    }
    zones = dict(con.execute("SELECT name, timezone FROM feeds").fetchall())
    raw = select_in(
        con,
        "SELECT article_id, url, fetched_at, content_type, html, html_zlib, entry FROM raw_pages",
        "article_id",
        ids,
    )
    pages = []
    for article_id, url, fetched_at, content_type, html, html_zlib, entry in sorted(raw):
        if article_id not in articles:
            continue
        feed_name, source, first_fetched = articles[article_id]
        pages.append(
            StoredPage(
                article_id=article_id,
                url=url,
                page_fetched_at=fetched_at,
                fetched_at=first_fetched,
                content_type=content_type,
                html=decompress_html(html_zlib) if html_zlib is not None else html,
                entry=json.loads(entry) if entry else None,
                feed_name=feed_name,
                source=source,
                feed_timezone=zones.get(feed_name),
            )
        )
    return RawChunk(pages, ids[-1])


def changed_columns(stored: Mapping[str, Any], article: Article) -> tuple[str, ...]:
    """The REEXTRACTED_COLUMNS whose value in `article` differs from the stored row's (an empty
    tag list and NULL are the same)."""
    changed = []
    for name in REEXTRACTED_COLUMNS:
        old, new = stored.get(name), getattr(article, name)
        if name == "tags":
            old, new = tuple(old or ()), tuple(new or ())
        if old != new:
            changed.append(name)
    return tuple(changed)


def apply_reextracted(
    con: duckdb.DuckDBPyConnection, rebuilt: Sequence[Rebuilt], now: datetime
) -> ApplyResult:
    """In one transaction, write the rebuilt articles whose columns changed. A changed title or
    body keeps the replaced ones in article_revisions (revised_at = now) and sets updated_at to
    `now`; a metadata-only change keeps updated_at. A changed text fetched within EXACT_WINDOW
    before `now` is indexed for dedupe under the article's cluster (see the module docstring).
    A page refetched since it was read (its raw_pages.fetched_at moved) is left alone: the pass
    that refetched it stored newer text."""
    ids = [r.article.article_id for r in rebuilt]
    with transaction(con):
        current = dict(
            select_in(con, "SELECT article_id, fetched_at FROM raw_pages", "article_id", ids)
        )
        names = ("article_id", *REEXTRACTED_COLUMNS, "cluster_id", "duplicate_of")
        stored: dict[str, dict[str, Any]] = {
            row[0]: dict(zip(names, row, strict=True))
            for row in select_in(con, f"SELECT {', '.join(names)} FROM articles", "article_id", ids)
        }
        rows: list[tuple[Article, bool]] = []
        revisions: list[tuple[str, str | None, str | None]] = []
        to_index: list[Article] = []
        stale = unchanged = 0
        for item in rebuilt:
            article = item.article
            old = stored.get(article.article_id)
            if old is None or current.get(article.article_id) != item.page_fetched_at:
                stale += 1
                continue
            changed = changed_columns(old, article)
            if not changed:
                unchanged += 1
                continue
            text = any(c in TEXT_COLUMNS for c in changed)
            rows.append((article, text))
            article.cluster_id, article.duplicate_of = old["cluster_id"], old["duplicate_of"]
            if text:
                revisions.append((article.article_id, old["title"], old["body"]))
                if item.page_fetched_at >= now - EXACT_WINDOW:
                    # indexed_at is the time of the page the text comes from, as for an update
                    to_index.append(dataclasses.replace(article, fetched_at=item.page_fetched_at))
        _update_rows(con, rows, now)
        _insert_revisions(con, revisions, now)
        index_fingerprints(con, sorted(to_index, key=lambda a: a.fetched_at))
    return ApplyResult(
        changed=len(rows),
        text_changed=len(revisions),
        unchanged=unchanged,
        stale=stale,
        changed_articles=tuple(a for a, text in rows if text),
        indexed=len(to_index),
    )


def _update_rows(
    con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Article, bool]], now: datetime
) -> None:
    if not rows:
        return
    columns = {
        name: [getattr(a, name) for a, _ in rows] for name in ("article_id", *REEXTRACTED_COLUMNS)
    }
    columns["tags"] = [list(t) if t else None for t in columns["tags"]]
    # updated_at is the time the stored text last changed: NULL here keeps the stored one.
    columns["updated_at"] = [now if text else None for _, text in rows]
    table = pa.table(columns, schema=ROW_SCHEMA)
    assignments = ", ".join(
        [f"{c} = u.{c}" for c in REEXTRACTED_COLUMNS]
        + ["updated_at = coalesce(u.updated_at, articles.updated_at)"]
    )
    con.register("reextracted_rows", table)
    try:
        for clause, parameters in where_in("articles.article_id", columns["article_id"]):
            con.execute(
                f"UPDATE articles SET {assignments} FROM reextracted_rows u "
                f"WHERE articles.article_id = u.article_id AND {clause}",
                parameters,
            )
    finally:
        con.unregister("reextracted_rows")


def _insert_revisions(
    con: duckdb.DuckDBPyConnection,
    revisions: Sequence[tuple[str, str | None, str | None]],
    now: datetime,
) -> None:
    if not revisions:
        return
    table = pa.table(
        {
            "article_id": [r[0] for r in revisions],
            "revised_at": pa.array([now] * len(revisions), TIMESTAMP),
            "title": [r[1] for r in revisions],
            "body": [r[2] for r in revisions],
        }
    )
    insert_table(con, "article_revisions", table)
