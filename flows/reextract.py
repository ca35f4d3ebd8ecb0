"""`marsad reextract`: rebuild stored articles from their raw HTML, without the network.

    raw pages (chunk) -> extract_page + build_article (every core) -> compare -> update

A better cleaner or extractor thus improves the whole archive without refetching. Each stored
page is rebuilt from its HTML and the feed entry kept with it, exactly as a pass builds a new
article (dates in the text resolve against the article's own fetch time, a time without a zone
is read in the feed's configured timezone), and its row is updated only where a column changed;
a changed title or body keeps the replaced text in article_revisions. The warehouse is opened
only to read a chunk and to write it back, so scheduled passes can run in between.

Not redone: canonical URLs and article ids (rows keep theirs) and story clusters: a rebuilt
article keeps its cluster, and a new text fetched within EXACT_WINDOW is indexed for dedupe
beside the old one, so that later copies of either join it (warehouse/reextract.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Extraction and the warehouse are imported where they are used: the CLI builds its parser from
# this module on every command, and trafilatura, DuckDB and Arrow take half a second to import.
if TYPE_CHECKING:
    from concurrent.futures import Executor

    from extractors.article import FeedContext
    from extractors.records import Article
    from flows.config import Config
    from warehouse.reextract import StoredPage

CHUNK_PAGES = 200  # raw pages read, extracted and written back at a time
INLINE_MAX = 6  # smaller chunks are extracted in this process: a pool costs more
SHOWN_ERRORS = 10


@dataclass
class ReextractSummary:
    """What a re-extraction did."""

    pages: int = 0  # raw pages read
    changed: int = 0  # articles updated
    text_changed: int = 0  # of those, with a new title or body (old one in article_revisions)
    indexed: int = 0  # of those, texts indexed for dedupe (fetched within EXACT_WINDOW)
    unchanged: int = 0
    no_entry: int = 0  # pages stored without their feed entry: cannot be rebuilt
    stale: int = 0  # refetched by a pass meanwhile: that pass stored newer text
    errors: list[tuple[str, str]] = field(default_factory=list)  # (url, sentence)


def rebuild_article(page: StoredPage, feed: FeedContext) -> tuple[Article | None, str | None]:
    """The article a pass would build from this stored page today, under the stored row's
    article_id; or None and a sentence saying why it could not be built."""
    from extractors.article import build_article, extract_page
    from extractors.feeds import FeedEntry

    if page.entry is None:
        return None, "no feed entry was stored with this page"
    try:
        entry = FeedEntry.from_json(page.entry)
        content = extract_page(page.html, url=entry.url, tz=feed.timezone)
        article = build_article(entry, feed, fetched_at=page.fetched_at, page=content)
    except Exception as exc:  # one bad page must not stop the run
        return None, f"extraction failed ({type(exc).__name__}: {exc})"
    article.article_id = page.article_id
    return article, None


def _rebuild_packed(job: tuple[StoredPage, FeedContext]) -> tuple[Article | None, str | None]:
    return rebuild_article(*job)


def feed_context(config: Config, page: StoredPage) -> FeedContext:
    """The feed as the configuration defines it now; for a feed no longer configured, its
    stored name, source and timezone (UTC when unknown)."""
    from extractors.article import FeedContext

    for feed in config.feeds:
        if feed.name == page.feed_name:
            return FeedContext(name=feed.name, source=feed.source, timezone=feed.zone)
    try:
        zone = ZoneInfo(page.feed_timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    name = page.feed_name or ""
    return FeedContext(name=name, source=page.source or name, timezone=zone)


def reextract(
    config: Config,
    db: Path,
    *,
    since: datetime | None = None,
    pool: Executor | None = None,
    chunk_pages: int = CHUNK_PAGES,
    on_chunk: Callable[[ReextractSummary], None] | None = None,
) -> ReextractSummary:
    """Rebuild every stored page's article (fetched at or after `since`, when given) and update
    the rows that changed; see the module docstring. Extraction runs on `pool` when given;
    `on_chunk` is called with the running totals after each chunk."""
    from warehouse.db import opened
    from warehouse.reextract import Rebuilt, apply_reextracted, next_raw_pages

    summary = ReextractSummary()
    lock_timeout = config.warehouse.lock_timeout_s
    after: str | None = None
    while True:
        with opened(db, lock_timeout_s=lock_timeout) as con:
            chunk = next_raw_pages(con, after=after, limit=chunk_pages, since=since)
        if chunk.last_id is None:
            return summary
        after = chunk.last_id
        summary.pages += len(chunk.pages)
        rebuilt = []
        jobs = [(page, feed_context(config, page)) for page in chunk.pages]
        for page, (article, error) in zip(chunk.pages, _run(jobs, pool), strict=True):
            if article is not None:
                rebuilt.append(Rebuilt(article, page.page_fetched_at))
            elif page.entry is None:
                summary.no_entry += 1
            else:
                summary.errors.append((page.url, error or "unknown error"))
        with opened(db, lock_timeout_s=lock_timeout) as con:
            result = apply_reextracted(con, rebuilt, datetime.now(UTC))
        summary.changed += result.changed
        summary.text_changed += result.text_changed
        summary.indexed += result.indexed
        summary.unchanged += result.unchanged
        summary.stale += result.stale
        if on_chunk is not None:
            on_chunk(summary)


def _run(
    jobs: Sequence[tuple[StoredPage, FeedContext]], pool: Executor | None
) -> list[tuple[Article | None, str | None]]:
    if pool is None or len(jobs) <= INLINE_MAX:
        return [rebuild_article(*job) for job in jobs]
    chunksize = max(1, len(jobs) // (4 * (os.cpu_count() or 1)))
    return list(pool.map(_rebuild_packed, jobs, chunksize=chunksize))


# -- command line --------------------------------------------------------------------------------


def add_reextract_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `marsad reextract [--since DATE]` to the CLI's subcommands."""
    parser = sub.add_parser(
        "reextract",
        parents=[common],
        help="rebuild bodies and metadata from stored raw HTML (no network)",
    )
    parser.add_argument(
        "--since",
        type=since_date,
        metavar="DATE",
        help="only pages fetched on or after DATE (YYYY-MM-DD or an ISO time; UTC unless given)",
    )
    parser.set_defaults(handler=cmd_reextract)


def since_date(value: str) -> datetime:
    """--since: an ISO date or time, read in UTC when it has no zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date; write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_reextract(args: argparse.Namespace) -> int:
    from flows.cli import check_warehouse, resolve
    from flows.ingest import extraction_pool
    from warehouse.db import opened
    from warehouse.reextract import count_raw_pages

    config, db = resolve(args)
    check_warehouse(db, config.warehouse.lock_timeout_s)
    with opened(db, lock_timeout_s=config.warehouse.lock_timeout_s) as con:
        total = count_raw_pages(con, args.since)
    if total == 0:
        print(
            f"{db}: no stored raw HTML to re-extract"
            + (f" fetched since {args.since.isoformat()}" if args.since else "")
            + "; pages are kept when warehouse.keep_raw_html is true."
        )
        return 0
    print(f"Re-extracting {total} stored pages from {db} (no network)...", flush=True)

    def show_progress(so_far: ReextractSummary) -> None:
        if sys.stdout.isatty():
            print(f"  {so_far.pages}/{total} pages, {so_far.changed} changed", end="\r", flush=True)

    with extraction_pool() as pool:
        summary = reextract(config, db, since=args.since, pool=pool, on_chunk=show_progress)
    print_summary(summary)
    if summary.changed:
        refresh_search_and_copy(config, db)
    return 0


def refresh_search_and_copy(config: Config, db: Path) -> None:
    """As after a pass: changed texts enter full-text search (under the same DuckDB caps), and
    the published read-only copy (warehouse.publish_path) is refreshed."""
    from flows import stream
    from flows.cli import UserError
    from warehouse.db import opened
    from warehouse.publish import PublishError, publish

    with opened(db, lock_timeout_s=config.warehouse.lock_timeout_s) as con:
        refreshed = stream.refresh_search(con)
        print(f"search index        {refreshed.articles} articles indexed")
        if config.warehouse.publish_path:
            try:
                publish(stream.pass_caps(con), config.warehouse.publish_path)
            except PublishError as exc:
                raise UserError(str(exc)) from None
            print(f"published copy      {config.warehouse.publish_path}")


def print_summary(summary: ReextractSummary) -> None:
    print(f"pages read          {summary.pages}")
    print(
        f"articles changed    {summary.changed}"
        f"  (new title or body: {summary.text_changed}; the old text is in article_revisions)"
    )
    if summary.text_changed:
        from warehouse.clusters import EXACT_WINDOW

        print(
            f"dedupe index        {summary.indexed} new texts indexed  (those fetched within the"
            f" last {EXACT_WINDOW.days} days: later copies look no further back)"
        )
    print(f"unchanged           {summary.unchanged}")
    if summary.no_entry:
        print(f"skipped             {summary.no_entry}  (stored without their feed entry)")
    if summary.stale:
        print(f"skipped             {summary.stale}  (refetched by a pass meanwhile)")
    print(f"errors              {len(summary.errors)}")
    for url, error in summary.errors[:SHOWN_ERRORS]:
        print(f"  {url}: {error}", file=sys.stderr)
    if len(summary.errors) > SHOWN_ERRORS:
        print(f"  ... and {len(summary.errors) - SHOWN_ERRORS} more", file=sys.stderr)
