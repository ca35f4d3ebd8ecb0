"""Known articles fetched again: their new text, the replaced one kept, the cluster unchanged.

A pass refetches a stored article whose feed entry shows a newer updated time and hands it to
`load_batch` as one of LoadBatch.updates; `apply_updates` runs inside that batch's transaction.
The row keeps its article_id, cluster_id and duplicate_of (an article is one story however often
it is corrected); a changed text replaces the stored one, the replaced title and body go to
article_revisions, and the new text is indexed for dedupe beside the old one
(warehouse.clusters.index_fingerprints), so copies of either version join the article's cluster.
`marsad reextract` (warehouse/reextract.py) does the same for a text rebuilt from stored HTML.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from extractors.records import Article
from warehouse.clusters import index_fingerprints
from warehouse.rows import TIMESTAMP, article_table, insert_table, select_in, where_in

REVISED_COLUMNS = (
    "title", "body", "summary", "author", "language", "dateline", "attribution", "is_breaking",
    "tags", "word_count", "content_hash", "extraction",
)  # fmt: skip


def apply_updates(con: duckdb.DuckDBPyConnection, updates: Sequence[Article]) -> list[Article]:
    """Apply refetched known articles (the latest fetch of each URL wins) and return those
    whose text changed. Each keeps its stored article_id, cluster_id and duplicate_of; a changed
    one (other content hash or title; an update without a body changes nothing) gets the new
    text columns and updated_at, its old title and body in article_revisions, and its new text
    indexed for dedupe. Every one records its entry's updated time, so it is not refetched.
    Every URL of `updates` must be stored (load_batch loads the others as new articles)."""
    latest: dict[str, Article] = {}
    for update in sorted(updates, key=lambda a: a.fetched_at):
        latest[update.canonical_url] = update
    stored = {
        row[0]: row[1:]
        for row in select_in(
            con,
            "SELECT canonical_url, article_id, title, body, content_hash, cluster_id, "
            "duplicate_of FROM articles",
            "canonical_url",
            latest,
        )
    }
    changed: list[Article] = []
    replaced: list[tuple[str | None, str | None]] = []
    for url, update in latest.items():
        article_id, title, body, content_hash, cluster_id, duplicate_of = stored[url]
        update.article_id, update.cluster_id, update.duplicate_of = (
            article_id, cluster_id, duplicate_of,
        )  # fmt: skip
        if update.body and (update.content_hash != content_hash or update.title != title):
            changed.append(update)
            replaced.append((title, body))
    update_articles(con, list(latest.values()), ("entry_updated_at",))
    if changed:
        revisions = pa.table(
            {
                "article_id": [a.article_id for a in changed],
                "revised_at": pa.array([a.fetched_at for a in changed], TIMESTAMP),
                "title": [title for title, _ in replaced],
                "body": [body for _, body in replaced],
            }
        )
        insert_table(con, "article_revisions", revisions)
        update_articles(con, changed, (*REVISED_COLUMNS, "updated_at"))
        index_fingerprints(con, changed)
    return changed


def update_articles(
    con: duckdb.DuckDBPyConnection, articles: Sequence[Article], columns: Sequence[str]
) -> None:
    """Set `columns` of the stored rows of `articles` from them (a missing entry time keeps the
    stored one)."""
    table = article_table(articles)
    assignments = ", ".join(
        f"{c} = coalesce(u.{c}, articles.{c})" if c == "entry_updated_at" else f"{c} = u.{c}"
        for c in columns
    )
    ids = [a.article_id for a in articles]
    con.register("update_batch", table)
    try:
        for clause, parameters in where_in("articles.article_id", ids):
            con.execute(
                f"UPDATE articles SET {assignments} FROM update_batch u "
                f"WHERE articles.article_id = u.article_id AND {clause}",
                parameters,
            )
    finally:
        con.unregister("update_batch")
