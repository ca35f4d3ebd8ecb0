"""Extracting one fetched page into an Article: the unit of work of the extraction processes.

Kept apart from flows/ so worker processes import only extractors (no Prefect): they start
faster and use less memory.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from extractors.article import FeedContext, build_article, decode_html, extract_page
from extractors.dates import is_plausible
from extractors.feeds import FeedEntry
from extractors.records import Article, compress_html


def warm_up() -> None:
    """Run in each worker at pool start, so imports overlap with fetching."""
    import trafilatura  # noqa: F401


def extract_packed(job: tuple) -> tuple[Article | None, str | None]:
    return extract_one(*job)


# A file to which extract_group appends "<CPU seconds> <pages>" for each group, when the
# environment names one: bench/ingest.py reads from it how much of a pass's CPU went into
# extract_one itself (timed in the pass, so the machine's drift over minutes cancels out).
CPU_LOG_VARIABLE = "MARSAD_EXTRACT_CPU_LOG"


def extract_group(jobs: list[tuple]) -> list[tuple[Article | None, str | None]]:
    """extract_one for each job, in order: the unit of work a pass hands to an extraction
    process, so that the hand-over's cost is paid once for several pages."""
    log = os.environ.get(CPU_LOG_VARIABLE)
    if not log:
        return [extract_one(*job) for job in jobs]
    started = time.process_time()
    outcomes = [extract_one(*job) for job in jobs]
    with open(log, "a", encoding="utf-8") as out:  # one short line: appended whole
        out.write(f"{time.process_time() - started:.6f} {len(jobs)}\n")
    return outcomes


def extract_one(
    entry: FeedEntry,
    feed: FeedContext,
    fetched_at: datetime,
    html: str | bytes | None,
    content_type: str | None,
    keep_raw_html: bool,
) -> tuple[Article | None, str | None]:
    """Build one article; on any extraction failure fall back to the feed's text. Returns the
    article (None only if even the fallback failed) and an error sentence, if any. `html` may
    be the page as fetched: it is decoded here, on the extraction process, so the pass's main
    process neither decodes it nor pickles it as text (bytes cross the pipe as they are)."""
    error = None
    if html:
        try:
            if isinstance(html, bytes):
                html = decode_html(html, content_type)
            # What the feed gives wins in build_article: the page is not searched for it.
            feed_dated = is_plausible(entry.published_at, fetched_at=fetched_at, tz=feed.timezone)
            page = extract_page(
                html,
                url=entry.url,
                tz=feed.timezone,
                find_date_text=not feed_dated,
                find_author=not entry.author,
            )
            article = build_article(
                entry,
                feed,
                fetched_at=fetched_at,
                page=page,
                raw_html=html if keep_raw_html else None,
                content_type=content_type,
            )
            if article.raw_html is not None:  # handed over compressed: see Article
                article.raw_html_zlib, article.raw_html = compress_html(article.raw_html), None
            return article, None
        except Exception as exc:  # one bad page must not fail the pass
            error = f"extraction failed ({type(exc).__name__}: {exc}); kept the feed's text"
    try:
        return build_article(entry, feed, fetched_at=fetched_at), error
    except Exception as exc:
        return (
            None,
            f"could not build the article from the feed either ({type(exc).__name__}: {exc})",
        )
