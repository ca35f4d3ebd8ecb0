"""Extracting one fetched page into an Article: the unit of work of the extraction processes.

Kept apart from flows/ so worker processes import only extractors (no Prefect): they start
faster and use less memory.
"""

from __future__ import annotations

import multiprocessing.context
import multiprocessing.spawn
import os
import time
from collections.abc import Callable
from datetime import datetime

from extractors.article import FeedContext, build_article, decode_page, extract_page
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
            utf8 = None  # the page's bytes, when they are exactly its text in UTF-8
            if isinstance(html, bytes):
                html, utf8 = decode_page(html, content_type)
            # What the feed gives wins in build_article: the page is not searched for it.
            feed_dated = is_plausible(entry.published_at, fetched_at=fetched_at, tz=feed.timezone)
            page = extract_page(
                html,
                url=entry.url,
                tz=feed.timezone,
                find_date_text=not feed_dated,
                find_author=not entry.author,
                utf8=utf8,
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
                same = article.raw_html is html  # then utf8 (when there) is its encoding
                zlib_html = compress_html(article.raw_html, utf8 if same else None)
                article.raw_html_zlib, article.raw_html = zlib_html, None
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


# A process started by "spawn" first imports the parent's main module (multiprocessing's
# "preparation data"), for functions pickled from __main__: under a Prefect process worker that
# is prefect.engine, all of Prefect (1.3 s of CPU and 65 MB more in each extraction process),
# for nothing: they only run functions of extractors.workers. Processes named with this prefix
# are prepared without it (see _without_main).
PROCESS_NAME = "marsad-extraction"


def _without_main(get_preparation_data: Callable[[str], dict]) -> Callable[[str], dict]:
    """multiprocessing.spawn.get_preparation_data, without the main module for the extraction
    processes (and as it is for any other process)."""
    if getattr(get_preparation_data, "marsad_without_main", False):
        return get_preparation_data

    def preparation_data(name: str) -> dict:
        data = get_preparation_data(name)
        if name.startswith(PROCESS_NAME):
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    preparation_data.marsad_without_main = True  # type: ignore[attr-defined]
    return preparation_data


class _ExtractionProcess(multiprocessing.context.SpawnProcess):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.name = f"{PROCESS_NAME}-{self.name}"

    @staticmethod
    def _Popen(process_obj: object) -> object:
        multiprocessing.spawn.get_preparation_data = _without_main(  # type: ignore[attr-defined]
            multiprocessing.spawn.get_preparation_data  # type: ignore[attr-defined]
        )
        return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _SpawnWithoutMain(multiprocessing.context.SpawnContext):
    Process = _ExtractionProcess


# The start method of the extraction processes. This class and _ExtractionProcess live here, in
# the module the processes import anyway: a process unpickles its own Process object first.
SPAWN_WITHOUT_MAIN = _SpawnWithoutMain()
