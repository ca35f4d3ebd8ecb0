"""A batch's pages as a stream: fetching, extraction and loading overlap.

    fetch (event loop) -> extract (a process per core) -> settle -> load (one thread), by chunks

Pages go to the extraction processes as they arrive, GROUP_PAGES at a time (fewer when a
process may run out of work, see ExtractionPool), while other pages are still being fetched,
and every CHUNK_ARTICLES settled articles are loaded by one loader thread while the rest goes
on. At most `in_flight` pages are held between the start of their fetch and the end of their
extraction, and at most MAX_QUEUED_CHUNKS chunks wait for the loader, so a batch's memory is
bounded by those numbers, not by how many pages it has.

Losing nothing: a chunk is loaded in one transaction with its pages' errors and retries. The
feeds' state (validators, next poll) and the poll's own records go in the batch's last chunk,
after all its articles: a pass killed between two chunks has stored whole chunks, which the next
pass knows and skips, and that pass polls the feeds again in full since their state was not
saved, so every entry that was not loaded is seen again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from extractors.fetch import Fetcher, FetchPolicy
from extractors.records import Article
from extractors.urls import article_id
from extractors.workers import SPAWN_WITHOUT_MAIN, extract_group, extract_one, warm_up
from flows.steps import PAGE_ACCEPT, PageJob, PageResult, page_result
from warehouse import db as warehouse_db
from warehouse import search_refresh
from warehouse.load import FetchErrorRecord, LoadBatch, LoadResult, PendingPage, load_batch
from warehouse.sql_server import opened_shared as opened

CHUNK_ARTICLES = 500  # articles per load: a transaction's fixed cost against memory held
MAX_QUEUED_CHUNKS = 2  # chunks waiting for the loader before extraction results wait instead
# Pages handed to an extraction process at once. Each hand-over through ProcessPoolExecutor (a
# future, its queues and threads, a wake-up on each side) cost about as much CPU as fetching the
# page; a group pays it once. A group goes when it is full, or at once while the processes hold
# fewer than GROUP_PAGES pages each (one of them may soon wait for work), or after GROUP_WAIT_S.
GROUP_PAGES = 8
GROUP_WAIT_S = 0.05
# Pages fetched ahead for each extraction process, so that groups fill while the processes work.
PAGES_PER_WORKER = 3 * GROUP_PAGES
# DuckDB's buffer pool for a pass's own connections. Its default (80% of the machine's memory)
# lets every load cache whatever it touched until the connection closes: +150-300 MB per chunk
# load on a 2,000-article warehouse. A pass reads and writes a few thousand rows at a time;
# larger work spills to DuckDB's temporary directory instead of growing the process.
PASS_MEMORY_LIMIT = "256MB"
# The search refresh at the end of a pass: its own lower cap, so that what it reads is not kept
# until the pass's cap is reached, and one thread (less CPU and memory, no slower); a full
# rebuild, which cannot spill all it holds, gets warehouse.search_refresh's REBUILD_ settings
# (bench/README.md, issue 8's fifth session).
SEARCH_REFRESH_MEMORY_LIMIT = "64MB"  # for each of its connections (the cap is DuckDB's, shared)
SEARCH_REFRESH_THREADS = 1
# ...but its slices go on two connections side by side (warehouse.search_refresh._index_tail):
# nothing else runs then, and one slice's statements keep about one core busy whatever DuckDB's
# threads. 5,000 new articles: 1.4-1.8 s against 2.6-3.0 s, for about the same CPU. Two slices
# at once need twice the memory: under 64 MB for both, a 20,000-article refresh ran out of it.
SEARCH_REFRESH_CONNECTIONS = min(2, os.cpu_count() or 1)
# DuckDB threads of a chunk's load (its commit and the checkpoint when it closes). A chunk is a
# few hundred rows: DuckDB's default of a thread per core won nothing there, and its threads ran
# beside the extraction processes, which need the cores. In a 5,000-article pass of the
# synthetic site the main process peaked 20-30 MB lower with one (3 runs each, same CPU).
LOAD_THREADS = 1
# How long the loader may keep the warehouse open from one chunk to the next, when HOLD_CHUNKS
# lets it. Each close checkpoints, and DuckDB rewrites the last, partly filled row group of
# every table it appended to (warehouse.db.APPEND_ROW_GROUP_ROWS), and each reopen reads back
# what the last load had cached: holding saved up to a quarter of the loader's CPU in the eighth
# session's measurement (bench/README.md), before FSST was left out of the loads' checkpoints
# (warehouse.db._APPEND_COMPRESSION) and halved them. Held, the file is still let go at least
# this often, and whenever no chunk comes this long.
HOLD_S = 5.0
# ...and after this many chunks. One: every chunk closes the file after it loads, so HOLD_S only
# matters when this is raised. A load's working set (its statements and the checkpoint) and
# what DuckDB's allocator keeps of it until the close grow with the rows a connection holds:
# two chunks a connection peaked 35-45 MB higher in the pass's main process (529-534 MB against
# 564-612 MB in four 5,000-article passes of the synthetic site, the same day) to save about
# 0.1 ms of CPU an article (bench/README.md, issue 8's ninth session).
HOLD_CHUNKS = 1
T = TypeVar("T")
Outcome = tuple[Article | None, str | None]  # an extraction's article and error sentence
Settle = Callable[[PageResult, Outcome | None], None]


class ExtractionPool:
    """Processes for extraction (CPU-bound), one per core, started on first use (the first feed
    to parse or page to extract), so that a pass whose feeds all answer 304 starts none and
    waits for no imports; none on a single-core machine (pages are then extracted in-process).
    A process that dies (a page that crashes lxml, the kernel's OOM killer) breaks the pool: it
    is started again and the page is kept with the feed's text, recorded as an error."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._group: list[tuple[tuple, asyncio.Future[Outcome]]] = []  # pages not handed over yet
        self._send_later: asyncio.TimerHandle | None = None
        self._handed_over = 0  # pages in the processes' hands, not settled yet

    def _start(self) -> None:
        # spawn: fork is unsafe beside Prefect's threads
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=SPAWN_WITHOUT_MAIN)
        for _ in range(self.workers):
            self._pool.submit(warm_up)

    @property
    def started(self) -> bool:
        return self._pool is not None

    @property
    def executor(self) -> ProcessPoolExecutor | None:
        """The processes, started now if they were not; None on a single-core machine."""
        if self._pool is None and self.workers >= 2:
            self._start()
        return self._pool

    @property
    def on_first_use(self) -> Executor | None:
        """An executor that starts the processes when it is first given work (None on a
        single-core machine): for feed parsing, which a pass of unchanged feeds never needs."""
        return _StartedOnFirstUse(self) if self.workers >= 2 else None

    async def extract(self, args: tuple) -> Outcome:
        """The page's outcome from an extraction process, handed over in a group of up to
        GROUP_PAGES (in-process when there is no pool)."""
        if self.executor is None:
            return extract_one(*args)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Outcome] = loop.create_future()
        self._group.append((args, outcome))
        if len(self._group) >= GROUP_PAGES or self._short_of_work():
            self._send_group()
        elif self._send_later is None:
            self._send_later = loop.call_later(GROUP_WAIT_S, self._send_group)
        return await outcome

    def _short_of_work(self) -> bool:
        """True while the processes hold fewer than GROUP_PAGES pages each: one of them may
        finish its group before the next is full, so a short group goes at once. While they are
        busier than that, pages wait for a full group, which costs a hand-over once."""
        return self._handed_over < self.workers * GROUP_PAGES

    def _send_group(self) -> None:
        if self._send_later is not None:
            self._send_later.cancel()
            self._send_later = None
        group, self._group = self._group, []
        pool = self._pool
        if not group or pool is None:
            return
        self._handed_over += len(group)
        try:
            done = asyncio.wrap_future(pool.submit(extract_group, [args for args, _ in group]))
        except BrokenProcessPool as exc:  # broken before this group could be handed over
            self._handed_over -= len(group)
            self._settle_group(pool, group, exc)
            return
        done.add_done_callback(lambda d: self._group_done(pool, group, d))

    def _group_done(self, pool: ProcessPoolExecutor, group: list, done: asyncio.Future) -> None:
        self._handed_over -= len(group)
        if done.cancelled():  # the pool was shut down to restart it, this group still queued
            self._settle_group(pool, group, BrokenProcessPool("restarted"))
        else:
            self._settle_group(pool, group, done.exception() or done.result())
        if self._group and self._short_of_work():
            self._send_group()  # the pages waiting for a full group: a process may be idle

    def _settle_group(
        self, pool: ProcessPoolExecutor, group: list, done: list[Outcome] | BaseException
    ) -> None:
        """Give each page of a group its outcome. A process that died takes every page it held
        (ProcessPoolExecutor fails all of them): the first group to notice restarts the pool,
        and each page keeps its feed's text, recorded as an error."""
        if isinstance(done, BaseException):
            if isinstance(done, BrokenProcessPool) and self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._start()
            why = (
                "the extraction process died on this page or one handed over with it"
                if isinstance(done, BrokenProcessPool)
                else f"the extraction process failed ({type(done).__name__}: {done})"
            )
            done = [(_feed_article(args), f"{why}; kept the feed's text") for args, _ in group]
        for (_, future), outcome in zip(group, done, strict=True):
            if not future.done():  # not cancelled meanwhile (a pass stopped)
                future.set_result(outcome)

    def forget_loop(self) -> None:
        """Forget what an ended event loop left: its timer, the pages it had not handed over
        (their tasks ended with it) and the count of pages in the processes' hands, whose
        results it will never take. A batch that stopped on an error leaves them; the next
        batch's loop, on the same pool, starts from nothing instead of waiting for them."""
        if self._send_later is not None:
            self._send_later.cancel()
            self._send_later = None
        self._group = []
        self._handed_over = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _StartedOnFirstUse(Executor):
    def __init__(self, pool: ExtractionPool) -> None:
        self._pool = pool

    def submit(self, fn: Callable, /, *args: object, **kwargs: object) -> Future:  # type: ignore[override]
        executor = self._pool.executor
        assert executor is not None  # made only for a pool of two processes or more
        return executor.submit(fn, *args, **kwargs)


def _feed_article(args: tuple) -> Article | None:
    """The article from its feed entry alone, for a page whose extraction was lost."""
    entry, feed, fetched_at, _html, _content_type, _keep = args
    return extract_one(entry, feed, fetched_at, None, None, False)[0]


@contextmanager
def extraction_pool() -> Iterator[ExtractionPool]:
    pool = ExtractionPool()
    try:
        yield pool
    finally:
        pool.close()


def limit_memory(con: T, threads: int | None = None) -> T:
    """A pass's own connection with DuckDB's memory capped at PASS_MEMORY_LIMIT (and its
    threads at `threads`, when given)."""
    warehouse_db.limit_memory(con, PASS_MEMORY_LIMIT, threads)
    return con


def refresh_search(con: duckdb.DuckDBPyConnection) -> search_refresh.IndexRefresh:
    """The search refresh after a pass (or a re-extraction): incremental, its slices on
    SEARCH_REFRESH_CONNECTIONS connections under SEARCH_REFRESH_MEMORY_LIMIT each, on
    SEARCH_REFRESH_THREADS threads, or the full rebuild that rebuild_due asks for, under the
    rebuild's own caps (warehouse.search_refresh)."""
    cap = times(SEARCH_REFRESH_MEMORY_LIMIT, SEARCH_REFRESH_CONNECTIONS)
    warehouse_db.limit_memory(con, cap, SEARCH_REFRESH_THREADS)
    full = search_refresh.rebuild_due(con)
    if full:
        search_refresh.limit_rebuild(con)
    return search_refresh.refresh_search_index(
        con, full=full, connections=SEARCH_REFRESH_CONNECTIONS
    )


def times(limit: str, n: int) -> str:
    """A DuckDB memory limit such as "64MB" times n ("128MB"); one it cannot read, as it is."""
    amount = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", limit, re.IGNORECASE)
    return f"{float(amount[1]) * n:g}{amount[2]}" if amount else limit


def pass_caps(con: T) -> T:
    """A pass's connection back to PASS_MEMORY_LIMIT and DuckDB's own thread count."""
    warehouse_db.reset_threads(con)
    return limit_memory(con)


class LoadSkipped(Exception):
    """A chunk the loader did not load because an earlier chunk of the batch failed to."""


class Loader:
    """Loads chunks in order on one thread of its own, so loading overlaps with fetching and
    extraction. Each chunk loads in one transaction, and the connection closes after it (its
    checkpoint writes the chunk into the file), so SQL clients can open the file between chunks.
    With HOLD_CHUNKS raised, the connection stays open from one chunk to the next for up to
    HOLD_S seconds and HOLD_CHUNKS chunks, and closes when no chunk comes within that time, and
    when the batch ends. A failed load (the warehouse locked past `lock_timeout_s`, say) stops
    the batch at the next page, and the chunks loaded before it stay stored."""

    def __init__(self, db: Path, lock_timeout_s: float, logger: logging.Logger | None) -> None:
        self.db = db
        self.lock_timeout_s = lock_timeout_s
        self.logger = logger
        # New articles per feed over the batch, for its summary (the run record in the
        # warehouse sums the rest).
        self.new_by_feed: Counter[str] = Counter()
        self.connections_opened = 0
        # The first failed load: the chunks after it are not loaded (LoadSkipped), so that the
        # batch's last chunk, which saves the feeds' state, never follows a chunk that was lost.
        self.failed: BaseException | None = None
        self._inbox: queue.Queue[tuple[LoadBatch, Future[LoadResult]] | None] = queue.Queue()
        self._queued: list[Future[LoadResult]] = []
        self._thread = threading.Thread(target=self._run, name="marsad-load", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        held: contextlib.ExitStack | None = None  # the open connection's close
        con: object = None
        opened_at, loaded = 0.0, 0
        try:
            while True:
                wait = None if held is None else max(0.0, opened_at + HOLD_S - time.monotonic())
                try:
                    item = self._inbox.get(timeout=wait)
                except queue.Empty:  # held long enough with nothing to load: let others in
                    self._close(held)
                    held = None
                    continue
                if item is None:
                    return
                chunk, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                if self.failed is not None:  # the batch stops at a failed load: see the class
                    future.set_exception(self._skipped())
                    continue
                try:
                    if held is None:
                        held = contextlib.ExitStack()
                        con = held.enter_context(
                            opened(
                                self.db, lock_timeout_s=self.lock_timeout_s, append_row_groups=True
                            )
                        )
                        opened_at, loaded = time.monotonic(), 0
                        self.connections_opened += 1
                        limit_memory(con, LOAD_THREADS)
                    result = load_batch(con, chunk)  # type: ignore[arg-type]
                    loaded += 1
                    if loaded >= HOLD_CHUNKS or time.monotonic() - opened_at >= HOLD_S:
                        self._close(held, raising=True)  # closing twice is a no-op
                        held = None
                except BaseException as exc:
                    self._close(held)  # the load's own error is the one told
                    held = None
                    self.failed = exc
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                finally:
                    # The Arrow tables a load inserts from are freed, but Arrow's allocator
                    # (mimalloc) keeps their pages for reuse: ~30 MB held between chunks.
                    pa.default_memory_pool().release_unused()
        finally:
            self._close(held)

    def _close(self, held: contextlib.ExitStack | None, raising: bool = False) -> None:
        """Close the loader's connection (its checkpoint writes the loaded chunks into the file;
        they are safe in DuckDB's write-ahead log before that). A failed close after a load
        fails that load (`raising`); otherwise it is logged: what it failed to checkpoint, the
        next open replays from the log."""
        if held is None:
            return
        try:
            held.close()
        except Exception as exc:
            if raising:
                raise
            if self.logger is not None:
                self.logger.warning("Closing the warehouse after a load failed: %s", exc)

    def _skipped(self) -> LoadSkipped:
        return LoadSkipped(f"an earlier chunk failed: {self.failed}")

    def submit(self, chunk: LoadBatch) -> None:
        if self.failed is not None:
            raise self._skipped()
        self._collect(block=len(self._queued) >= MAX_QUEUED_CHUNKS)
        future: Future[LoadResult] = Future()
        self._queued.append(future)
        self._inbox.put((chunk, future))

    def wait(self) -> None:
        """Wait for the chunks handed over so far to load (raising a failed load's error)."""
        self._collect(block=True, everything=True)

    def finish(self) -> Counter[str]:
        """Wait for the chunks handed over (raising the first failed load's error), and for the
        connection to close."""
        try:
            self.wait()
        finally:
            for future in self._queued:  # after a failed load: the rest are not loaded
                future.cancel()
            self._inbox.put(None)
            self._thread.join()
        return self.new_by_feed

    def _collect(self, *, block: bool, everything: bool = False) -> None:
        while self._queued and (block or self._queued[0].done()):
            future = self._queued.pop(0)
            if isinstance(future.exception(), LoadSkipped):
                continue  # the consequence of a failure already raised (or about to be)
            result = future.result()  # raises the load's error
            self.new_by_feed.update(result.new_by_feed)
            if self.logger is not None:
                self.logger.info(
                    "Loaded %d new articles (%d copies of known stories, %d updated), %d errors",
                    result.articles_new,
                    result.articles_duplicate,
                    result.articles_updated,
                    result.errors,
                )
            block = everything


class Settler:
    """Sorts each fetched and extracted page into the current chunk: its article (new, or an
    update of a known one), its error, its retry. Failed pages under the retry cap stay pending
    for the next pass; past it, or when no pass could do better (`final`), the feed's text is
    kept. A failed fetch of a known article's update changes nothing stored: the next pass sees
    the entry's newer time again and retries."""

    def __init__(
        self,
        run_id: str,
        keep_raw_html: bool,
        retry_passes: int,
        flush: Callable[[LoadBatch], None],
        chunk_articles: int | None = None,
    ) -> None:
        self.run_id = run_id
        self.keep_raw_html = keep_raw_html
        self.retry_passes = retry_passes
        self.flush = flush
        self.chunk_articles = chunk_articles or CHUNK_ARTICLES
        self.page_errors: dict[str, int] = {}
        self.chunk = self._new_chunk()

    def _new_chunk(self) -> LoadBatch:
        return LoadBatch(run_id=self.run_id, keep_raw_html=self.keep_raw_html)

    def add(self, page: PageResult, outcome: Outcome | None) -> None:
        chunk, job, now = self.chunk, page.job, page.fetched_at
        if page.error is None:
            chunk.counters.pages_fetched += 1
            if job.attempts:
                chunk.done_pending.append(job.canonical_url)
            article, error = outcome if outcome is not None else (None, "not extracted")
            if error:
                self._error(job, "extract", error, now)
            self._keep(job, article)
        else:
            chunk.counters.pages_failed += 1
            self.page_errors[job.feed.name] = self.page_errors.get(job.feed.name, 0) + 1
            self._error(job, "page", page.error, now)
            attempts = job.attempts + 1
            if job.update:
                pass  # the stored text stays; the entry's newer time brings it back next pass
            elif page.final or attempts >= self.retry_passes:
                if job.attempts:
                    chunk.done_pending.append(job.canonical_url)
                article, error = extract_one(job.entry, job.feed, now, None, None, False)
                if error:
                    self._error(job, "extract", error, now)
                self._keep(job, article)
            else:
                chunk.pending.append(
                    PendingPage(
                        job.canonical_url,
                        job.feed.name,
                        job.entry.to_json(),
                        attempts,
                        page.error,
                        job.first_seen_at or now,
                        now,  # retried by the next pass that polls its feed
                    )
                )
        if len(chunk.articles) + len(chunk.updates) >= self.chunk_articles:
            self.flush(self.chunk)
            self.chunk = self._new_chunk()

    def _error(self, job: PageJob, stage: str, error: str, now: datetime) -> None:
        self.chunk.errors.append(FetchErrorRecord(job.feed.name, job.entry.url, stage, error, now))

    def _keep(self, job: PageJob, article: Article | None) -> None:
        if article is None:
            return
        if job.update:  # the same article again: keep its identity
            article.canonical_url = job.canonical_url
            article.article_id = article_id(job.canonical_url)
            self.chunk.updates.append(article)
        else:
            self.chunk.articles.append(article)

    def last_chunk(self) -> LoadBatch:
        """The chunk still open: the caller adds the batch's feed state to it and loads it."""
        chunk, self.chunk = self.chunk, self._new_chunk()
        return chunk


def stream_pages(
    jobs: Sequence[PageJob],
    policy: FetchPolicy,
    max_bytes: int,
    pool: ExtractionPool,
    keep_raw_html: bool,
    settle: Settle,
) -> None:
    """Fetch every job's page and extract it, calling `settle(page, outcome)` in the calling
    thread as each one finishes (outcome is None for a page that could not be fetched)."""
    if jobs:
        asyncio.run(_stream(jobs, policy, max_bytes, pool, keep_raw_html, settle))


async def _stream(
    jobs: Sequence[PageJob],
    policy: FetchPolicy,
    max_bytes: int,
    pool: ExtractionPool,
    keep_raw_html: bool,
    settle: Settle,
) -> None:
    in_flight = asyncio.Semaphore(policy.concurrency + PAGES_PER_WORKER * pool.workers)

    async def one(job: PageJob) -> None:
        async with in_flight:
            result = await fetcher.get(
                job.entry.url, max_bytes=max_bytes, accept=PAGE_ACCEPT, obey_robots=True
            )
            page = page_result(job, result, datetime.now(UTC))
            outcome = None
            if page.error is None:
                args = (job.entry, job.feed, page.fetched_at, page.body, page.content_type,
                        keep_raw_html)  # fmt: skip
                page.body = None  # the worker has its copy (and sends it back compressed)
                outcome = await pool.extract(args)
        settle(page, outcome)

    async with Fetcher(policy) as fetcher:
        tasks = [asyncio.ensure_future(one(job)) for job in jobs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            pool.forget_loop()
