"""A batch's pages as a stream (flows/stream.py): settling pages into chunks, loading chunk by
chunk with the feeds' state last, losing nothing when a pass stops between two chunks, and an
extraction process that dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

import flows.stream as stream
import warehouse.load
from extractors.article import FeedContext
from extractors.feeds import FeedEntry
from flows.fixture_site import FixtureSite
from flows.steps import PageJob, PageResult
from flows.stream import ExtractionPool, Settler
from tests.conftest import duckdb_caps, duckdb_setting, duckdb_threads, write_config
from tests.test_load import article as stored_article
from tests.test_resilience import HTML, RSS, article_html, feed_xml, read
from warehouse.load import LoadBatch, LoadResult

CONTEXT = FeedContext(name="news", source="News", timezone=ZoneInfo("Asia/Baghdad"))
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BODY = " ".join(["أكد المسؤولون اليوم أن العمل مستمر في المشروع وفق الخطة المعلنة."] * 8)


def job(n: int, **kwargs: object) -> PageJob:
    url = f"http://127.0.0.1:9/news/{n}.html"
    entry = FeedEntry(url=url, title=f"خبر رقم {n}", summary=f"موجز الخبر رقم {n} " + BODY)
    return PageJob(entry, url, CONTEXT, **kwargs)  # type: ignore[arg-type]


def failed(page_job: PageJob, error: str = "HTTP 503 Service Unavailable") -> PageResult:
    return PageResult(page_job, NOW, error=error)


def settler(chunks: list[LoadBatch], size: int = 2) -> Settler:
    return Settler("run", False, 3, chunks.append, chunk_articles=size)


# Settling pages: plain functions, no network ----------------------------------------------


def test_failed_pages_become_retries_then_the_feeds_text_and_chunks_fill_in_order() -> None:
    chunks: list[LoadBatch] = []
    s = settler(chunks)
    s.add(failed(job(1)), None)  # first failure: retried by a later pass
    s.add(failed(job(2, attempts=2)), None)  # third failure: the cap, kept from the feed
    s.add(PageResult(job(3), NOW, error="disallowed by robots.txt", final=True), None)
    assert [len(c.articles) for c in chunks] == [2]  # the chunk was handed over when full
    first = chunks[0]
    assert [a.url for a in first.articles] == [job(2).entry.url, job(3).entry.url]
    assert {a.extraction for a in first.articles} == {"feed"}
    assert [p.canonical_url for p in first.pending] == [job(1).canonical_url]
    assert first.pending[0].attempts == 1
    assert first.done_pending == [job(2).canonical_url]  # it was pending; not any more
    assert first.counters.pages_failed == 3 and len(first.errors) == 3
    assert s.page_errors == {"news": 3}
    assert s.last_chunk().articles == []  # nothing left over


def test_a_failed_refetch_of_an_updated_article_changes_nothing_and_is_not_retried() -> None:
    chunks: list[LoadBatch] = []
    s = settler(chunks)
    s.add(failed(job(7, update=True, attempts=5)), None)  # past any cap: still no fallback
    last = s.last_chunk()
    assert chunks == []
    assert last.articles == [] and last.updates == [] and last.pending == []
    assert last.done_pending == [] and [e.stage for e in last.errors] == ["page"]
    assert s.page_errors == {"news": 1}


def test_extracted_updates_keep_the_stored_identity() -> None:
    from extractors.workers import extract_one

    chunks: list[LoadBatch] = []
    s = settler(chunks, size=10)
    page_job = job(4, update=True)
    page = PageResult(page_job, NOW)
    html = article_html("خبر محدث").decode()
    outcome = extract_one(page_job.entry, CONTEXT, NOW, html, HTML, False)
    s.add(page, outcome)
    last = s.last_chunk()
    assert last.articles == [] and len(last.updates) == 1
    assert last.updates[0].canonical_url == page_job.canonical_url
    assert last.counters.pages_fetched == 1


def test_a_page_is_extracted_from_its_bytes_in_their_declared_encoding() -> None:
    """The main process hands the page over as fetched; the extraction process decodes it (here
    windows-1256, declared only by the HTTP header) to the same article as from its text."""
    from extractors.workers import extract_one

    page_job = job(6)
    text = article_html("خبر بترميز آخر").decode()
    encoded = text.replace('charset="utf-8"', "").encode("cp1256")
    from_text, _ = extract_one(page_job.entry, CONTEXT, NOW, text, HTML, True)
    from_bytes, error = extract_one(
        page_job.entry, CONTEXT, NOW, encoded, "text/html; charset=windows-1256", True
    )
    assert error is None and from_bytes is not None and from_text is not None
    assert from_bytes.extraction == "page" and from_bytes.body
    assert from_bytes.body == from_text.body


def extract_pages(pool: ExtractionPool, numbers: range) -> list:
    """Every page of `numbers` through the pool at once, as a pass's fetches hand them over."""

    async def extract_all() -> list:
        jobs = [job(n) for n in numbers]
        pages = [article_html(f"عنوان الصفحة {n} " + "كلمة " * (n % 50)) for n in numbers]
        return await asyncio.gather(
            *(
                pool.extract((j.entry, CONTEXT, NOW, page, HTML, False))
                for j, page in zip(jobs, pages, strict=True)
            )
        )

    return asyncio.run(extract_all())


def test_pages_handed_over_in_groups_each_get_their_own_outcome(tmp_path, monkeypatch) -> None:
    """The pool hands pages over singly while its processes hold fewer than GROUP_PAGES each,
    then in full groups (a hand-over, a future, queues and wake-ups on each side, cost more of
    the pass's own CPU than fetching the page when pages went one or two at a time), and a last
    short group when they run short of work again. Every page gets its own page's article."""
    from extractors.workers import CPU_LOG_VARIABLE

    groups = tmp_path / "groups.log"  # each process appends "<CPU s> <pages>" for each group
    monkeypatch.setenv(CPU_LOG_VARIABLE, str(groups))  # before the processes start
    pool = ExtractionPool(workers=2)
    enough = 2 * stream.GROUP_PAGES  # pages the two processes hold before groups must fill
    count = enough + 2 * stream.GROUP_PAGES + 3
    try:
        outcomes = extract_pages(pool, range(100, 100 + count))
    finally:
        pool.close()
    assert len(outcomes) == count
    for n, (article, error) in enumerate(outcomes):
        assert error is None and article is not None and article.extraction == "page"
        assert article.url == job(100 + n).entry.url
        assert article.body and article.body.count("كلمة") == (100 + n) % 50  # its own page
    sizes = sorted(int(line.split()[1]) for line in groups.read_text().splitlines())
    assert sizes == sorted([1] * enough + [stream.GROUP_PAGES] * 2 + [3])


def test_a_batch_stopped_by_an_error_leaves_the_pool_ready_for_the_next(
    sample_site, monkeypatch
) -> None:
    """A pass's batches share one pool. A batch stopped on an error (a failed load raises from
    settle) ends its event loop with pages waiting for a group and groups in the processes'
    hands, whose results that loop never takes: stream_pages makes the pool forget them, so
    the next batch does not wait for them."""
    from extractors.fetch import FetchPolicy
    from extractors.guard import AllowList
    from flows.stream import stream_pages

    def page(n: int) -> tuple:
        html = article_html(f"خبر {n} " + "كلمة " * n)
        return (job(n).entry, CONTEXT, NOW, html, HTML, False)

    forgotten: list[int] = []
    real_forget = ExtractionPool.forget_loop

    def spy(self: ExtractionPool) -> None:
        forgotten.append(self._handed_over)
        real_forget(self)

    monkeypatch.setattr(ExtractionPool, "forget_loop", spy)
    pool = ExtractionPool(workers=2)
    try:
        # through stream_pages: a settle that fails stops the batch, and the pool forgets
        sample_site.add_file("/n/1.html", article_html("خبر"), HTML)
        url = f"{sample_site.base_url}/n/1.html"
        jobs = [PageJob(FeedEntry(url=url, title="خبر"), url, CONTEXT)]
        policy = FetchPolicy(allow_private=AllowList.parse(["127.0.0.1"]), retries=0)

        def settle_fails(page: PageResult, outcome: object) -> None:
            raise RuntimeError("the warehouse is locked")

        with pytest.raises(RuntimeError, match="locked"):
            stream_pages(jobs, policy, 1 << 20, pool, False, settle_fails)
        assert len(forgotten) == 1

        # a loop that ends with groups in the processes' hands and a short group waiting
        count = 2 * stream.GROUP_PAGES + 3

        async def stopped() -> None:
            try:
                waiting = [asyncio.ensure_future(pool.extract(page(n))) for n in range(count)]
                await asyncio.sleep(0)
                assert not any(task.done() for task in waiting)  # every page handed to the pool
                raise RuntimeError("the batch stops")
            finally:
                pool.forget_loop()  # as stream_pages does

        with pytest.raises(RuntimeError, match="stops"):
            asyncio.run(stopped())
        assert forgotten[-1] == 2 * stream.GROUP_PAGES  # single pages; 3 waited for a group

        async def next_batch() -> list:
            pages = (pool.extract(page(100 + n)) for n in range(2))
            return await asyncio.wait_for(asyncio.gather(*pages), timeout=60)

        outcomes = asyncio.run(next_batch())  # waited forever for the lost groups before
    finally:
        pool.close()
    for n, (article, error) in enumerate(outcomes):
        assert error is None and article is not None
        assert article.body and article.body.count("كلمة") == 100 + n


# An extraction process that dies ----------------------------------------------------------


def test_a_dead_extraction_process_keeps_the_page_from_the_feed_and_the_pool_restarts() -> None:
    from extractors.workers import extract_one

    pool = ExtractionPool(workers=2)
    try:
        page_job = job(5)
        args = (page_job.entry, CONTEXT, NOW, article_html("خبر").decode(), HTML, False)
        broken = pool.executor
        assert broken is not None
        broken.submit(os._exit, 1).exception()  # a worker dies: the pool is broken
        article, error = asyncio.run(pool.extract(args))
        assert error and "died" in error
        assert article is not None and article.extraction == "feed"
        assert pool.executor is not broken
        again, error = asyncio.run(pool.extract(args))  # the new pool extracts the page
        assert error is None and again is not None and again.extraction == "page"
        assert again.body == extract_one(*args)[0].body  # type: ignore[union-attr]
    finally:
        pool.close()


# The real flow: chunks, feed state last, a pass that stops between chunks ------------------


def one_feed_site(site: FixtureSite, pages: int) -> list[str]:
    paths = [f"/news/{n}.html" for n in range(pages)]
    site.add_file("/feeds/a.xml", feed_xml(*(f"{{{{BASE}}}}{p}" for p in paths)), RSS)
    for n, path in enumerate(paths):
        site.add_file(path, article_html(f"خبر مختلف رقم {n} {'عن ' * n}الموضوع"), HTML)
    return paths


@pytest.mark.integration
def test_chunks_are_loaded_as_they_fill_and_the_feeds_state_goes_last(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path, monkeypatch
) -> None:
    from flows.ingest import ingest

    one_feed_site(sample_site, 5)
    monkeypatch.setattr(stream, "CHUNK_ARTICLES", 2)
    submitted: list[tuple[int, int]] = []
    real_submit = stream.Loader.submit

    def spy(self: stream.Loader, chunk: LoadBatch) -> None:
        submitted.append((len(chunk.articles), len(chunk.feed_updates)))
        real_submit(self, chunk)

    monkeypatch.setattr(stream.Loader, "submit", spy)
    db = tmp_path / "marsad.duckdb"
    feeds = [{"name": "a", "url": sample_site.url("/feeds/a.xml")}]
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=feeds)
    record = ingest(config_path=str(config), db_path=str(db))
    assert record["articles_new"] == 5 and record["pages_fetched"] == 5
    assert submitted == [(2, 0), (2, 0), (1, 1)]  # the feed's state only with the last chunk
    assert read(db, "SELECT count(DISTINCT canonical_url), count(*) FROM articles") == [(5, 5)]


@pytest.mark.integration
def test_a_pass_stopped_between_chunks_keeps_them_and_the_next_fetches_only_the_rest(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path, monkeypatch
) -> None:
    from flows.ingest import ingest

    site = sample_site
    paths = one_feed_site(site, 6)
    monkeypatch.setattr(stream, "CHUNK_ARTICLES", 2)
    real_submit = stream.Loader.submit
    calls: list[int] = []

    def dies_after_one_chunk(self: stream.Loader, chunk: LoadBatch) -> None:
        calls.append(len(chunk.articles))
        if len(calls) > 1:
            raise RuntimeError("stopped")  # the pass stops here: no later chunk is loaded
        real_submit(self, chunk)

    monkeypatch.setattr(stream.Loader, "submit", dies_after_one_chunk)
    db = tmp_path / "marsad.duckdb"
    feeds = [{"name": "a", "url": site.url("/feeds/a.xml")}]
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=feeds)
    with pytest.raises(RuntimeError, match="stopped"):
        ingest(config_path=str(config), db_path=str(db))
    stored = {r[0] for r in read(db, "SELECT url FROM articles")}
    assert len(stored) == 2  # the one chunk handed over before the stop
    assert read(db, "SELECT etag, body_hash FROM feeds") == [(None, None)]

    monkeypatch.setattr(stream.Loader, "submit", real_submit)
    site.clear_log()
    record = ingest(config_path=str(config), db_path=str(db))
    assert record["articles_new"] == 4
    fetched = sorted(r.path for r in site.requests if r.path.startswith("/news/"))
    assert fetched == sorted(p for p in paths if site.url(p) not in stored)
    assert read(db, "SELECT count(DISTINCT url), count(*) FROM articles") == [(6, 6)]
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM feeds WHERE etag IS NOT NULL").fetchone() == (1,)
    finally:
        con.close()


def _state_after(target: object, update: object) -> object:
    """The feed's state as the warehouse would keep it after `update`: its validators."""
    from warehouse.feeds import FeedState

    return FeedState(
        name=target.name, url=target.url, source=None, etag=update.etag,  # type: ignore[attr-defined]
        last_modified=update.last_modified, body_hash=update.body_hash,  # type: ignore[attr-defined]
        last_polled_at=None, last_status=200, last_error=None, consecutive_failures=0,
        next_poll_at=None, enabled=True, articles_total=0,
    )  # fmt: skip


def test_feeds_parsed_on_the_extraction_processes_give_the_same_polls(
    sample_site: FixtureSite,
) -> None:
    from flows.steps import FeedTarget, poll_feeds
    from tests.conftest import sample_feeds
    from tests.test_resilience import POLICY

    targets = [
        FeedTarget(f["name"], f["url"], FeedContext(f["name"], f["name"], CONTEXT.timezone), None)
        for f in sample_feeds(sample_site)
    ]
    here = poll_feeds(targets, POLICY, 1_000_000)
    pool = ExtractionPool(workers=2)
    try:
        assert not pool.started  # processes start on first use
        there = poll_feeds(targets, POLICY, 1_000_000, pool.on_first_use)
        assert pool.started
    finally:
        pool.close()
    assert [p.outcome for p in there] == ["ok"] * len(targets)
    assert [p.entries for p in there] == [p.entries for p in here]
    assert all(p.entries for p in there)
    assert [p.update.body_hash for p in there] == [p.update.body_hash for p in here]  # type: ignore[union-attr]

    # Polled again with their validators, every feed answers 304: nothing to parse, and the
    # extraction processes are not started for nothing.
    again = [
        FeedTarget(t.name, t.url, t.context, _state_after(t, p.update))
        for t, p in zip(targets, there, strict=True)
    ]
    idle = ExtractionPool(workers=2)
    try:
        polls = poll_feeds(again, POLICY, 1_000_000, idle.on_first_use)
        assert [p.outcome for p in polls] == ["not_modified"] * len(targets)
        assert not idle.started
    finally:
        idle.close()


def test_a_pass_connection_caps_duckdb_memory(tmp_path: Path) -> None:
    from flows.stream import PASS_MEMORY_LIMIT, limit_memory

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert limit_memory(con) is con
        after = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()
    cap = duckdb.connect()
    try:
        cap.execute(f"SET memory_limit = '{PASS_MEMORY_LIMIT}'")
        expected = cap.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        cap.close()
    assert after == expected and after != before


def test_a_pass_connection_caps_threads_only_when_asked(tmp_path: Path) -> None:
    from flows.stream import limit_memory

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        con.execute("SET threads = 2")
        limit_memory(con)
        untouched = con.execute("SELECT current_setting('threads')").fetchone()[0]
        limit_memory(con, 1)
        capped = con.execute("SELECT current_setting('threads')").fetchone()[0]
    finally:
        con.close()
    assert (untouched, capped) == (2, 1)


def test_a_chunk_loads_with_the_load_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader's own connection (its commit and its checkpoint on close) runs on
    LOAD_THREADS DuckDB threads."""
    seen: list[int] = []
    real_load_batch = stream.load_batch

    def spy(con: duckdb.DuckDBPyConnection, chunk: LoadBatch) -> LoadResult:
        seen.append(con.execute("SELECT current_setting('threads')").fetchone()[0])  # type: ignore[index]
        return real_load_batch(con, chunk)

    monkeypatch.setattr(stream, "load_batch", spy)
    monkeypatch.setattr(stream, "LOAD_THREADS", 3)  # not DuckDB's default on any machine here
    loader = stream.Loader(tmp_path / "w.duckdb", 10.0, None)
    loader.submit(LoadBatch(run_id="r"))
    loader.finish()
    assert seen == [3]


def chunk_of(n: int) -> LoadBatch:
    """A chunk of one article, `n` (stored as id000n)."""
    return LoadBatch(run_id="r", articles=[stored_article(n)])


def started_loader(db: Path, monkeypatch: pytest.MonkeyPatch, **hold: float) -> stream.Loader:
    """A loader of `db` with HOLD_S and HOLD_CHUNKS set as given."""
    for name, value in hold.items():
        monkeypatch.setattr(stream, name, value)
    return stream.Loader(db, 10.0, None)


def another_process_opens(db: Path) -> bool:
    """Whether another process can open `db` (read-only) right now."""
    code = (
        "import sys, duckdb\n"
        "try:\n    duckdb.connect(sys.argv[1], read_only=True).close()\n"
        "except duckdb.IOException:\n    sys.exit(3)\n"
    )
    code_rc = subprocess.run([sys.executable, "-c", code, str(db)], check=False).returncode
    assert code_rc in (0, 3)
    return code_rc == 0


def stored_articles(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT article_id FROM articles ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_the_loader_keeps_the_warehouse_open_from_one_chunk_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks within HOLD_S of each other load on one connection (one checkpoint for all of
    them), up to HOLD_CHUNKS; the file is held meanwhile, and let go when the batch ends."""
    db = tmp_path / "w.duckdb"
    loader = started_loader(db, monkeypatch, HOLD_S=600.0, HOLD_CHUNKS=3)
    try:
        loader.submit(chunk_of(1))
        loader.wait()
        assert not another_process_opens(db)
        loader.submit(chunk_of(2))
        loader.submit(chunk_of(3))
    finally:
        loader.finish()
    assert loader.connections_opened == 1
    assert another_process_opens(db)
    assert stored_articles(db) == ["id0001", "id0002", "id0003"]


def test_the_loader_lets_the_warehouse_go_when_no_chunk_comes_within_hold_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    loader = started_loader(db, monkeypatch, HOLD_S=0.2, HOLD_CHUNKS=3)
    try:
        loader.submit(chunk_of(1))
        loader.wait()
        deadline = time.monotonic() + 30
        while not another_process_opens(db):  # the loader is still there, waiting for chunks
            assert time.monotonic() < deadline, "the loader kept the warehouse"
            time.sleep(0.1)
        assert stored_articles(db) == ["id0001"]  # written into the file by the close
        loader.submit(chunk_of(2))
    finally:
        loader.finish()
    assert loader.connections_opened == 2
    assert stored_articles(db) == ["id0001", "id0002"]


def test_the_loader_lets_the_warehouse_go_after_hold_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    loader = started_loader(db, monkeypatch, HOLD_S=600.0, HOLD_CHUNKS=2)
    try:
        for n in (1, 2):
            loader.submit(chunk_of(n))
        loader.wait()
        assert another_process_opens(db)  # closed after its second chunk
        for n in (3, 4, 5):
            loader.submit(chunk_of(n))
    finally:
        loader.finish()
    assert loader.connections_opened == 3
    assert len(stored_articles(db)) == 5


@pytest.mark.parametrize(
    "hold", [{"HOLD_S": 0.0, "HOLD_CHUNKS": 3}, {}], ids=["no time", "as it comes"]
)
def test_without_a_hold_every_chunk_opens_the_warehouse_and_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold: dict[str, float]
) -> None:
    """With HOLD_S at 0, or as marsad comes (one chunk a connection: a held connection's memory
    costs more than its checkpoints save), the file is let go after every chunk."""
    db = tmp_path / "w.duckdb"
    loader = started_loader(db, monkeypatch, **hold)
    try:
        for n in (1, 2, 3):
            loader.submit(chunk_of(n))
            loader.wait()
            assert another_process_opens(db)
    finally:
        loader.finish()
    assert loader.connections_opened == 3


def test_a_failed_load_closes_the_held_connection_and_stops_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load that fails is rolled back and its connection closed, whatever the hold: the error
    reaches the batch, the chunks before it stay stored, and no chunk after it is loaded (the
    batch's last, with the feeds' state, must not be stored when an earlier one was lost)."""
    db = tmp_path / "w.duckdb"
    real_count = warehouse.load._count_feed_articles

    def fails_on_two(con: duckdb.DuckDBPyConnection, articles: list) -> None:
        real_count(con, articles)
        if articles and articles[0].article_id == "id0002":  # inside the load's transaction
            raise duckdb.IOException("disk full")

    monkeypatch.setattr(warehouse.load, "_count_feed_articles", fails_on_two)
    loader = started_loader(db, monkeypatch, HOLD_S=600.0, HOLD_CHUNKS=3)
    try:
        loader.submit(chunk_of(1))
        loader.submit(chunk_of(2))
        loader.submit(chunk_of(3))  # queued behind
        with pytest.raises(duckdb.IOException, match="disk full"):
            loader.wait()
        with pytest.raises(stream.LoadSkipped, match="disk full"):
            loader.submit(chunk_of(4))
    finally:
        loader.finish()  # chunk 3, skipped, raises nothing more
    assert loader.connections_opened == 1
    assert stored_articles(db) == ["id0001"]


def test_a_pass_killed_while_the_loader_holds_the_warehouse_keeps_what_it_loaded(
    tmp_path: Path,
) -> None:
    """Each chunk commits (DuckDB's write-ahead log) before the loader reports it loaded, so a
    process killed while it holds the file, before any checkpoint, loses none of them."""
    db = tmp_path / "w.duckdb"
    code = f"""
import os, signal
import flows.stream as stream
from tests.test_stream import chunk_of
stream.HOLD_S = 600.0
stream.HOLD_CHUNKS = 3
loader = stream.Loader({str(db)!r}, 10.0, None)
loader.submit(chunk_of(1))
loader.submit(chunk_of(2))
loader.wait()
os.kill(os.getpid(), signal.SIGKILL)
"""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, check=False)
    assert done.returncode == -signal.SIGKILL
    assert stored_articles(db) == ["id0001", "id0002"]


@pytest.mark.parametrize(
    ("limit", "n", "scaled"),
    [("64MB", 2, "128MB"), ("48MB", 3, "144MB"), ("1.5GB", 2, "3GB"), ("64MiB", 1, "64MiB"),
     ("unlimited", 2, "unlimited")],
)  # fmt: skip
def test_a_memory_limit_times_the_connections(limit: str, n: int, scaled: str) -> None:
    assert stream.times(limit, n) == scaled


def task_names(flow_run_id: str) -> list[str]:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs_of = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    with get_client(sync_client=True) as client:
        return sorted(
            r.name.rsplit("-", 1)[0] for r in client.read_task_runs(flow_run_filter=runs_of)
        )


@pytest.mark.integration
def test_a_pass_refreshes_search_under_its_own_cap_and_one_that_changed_nothing_skips_it(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh of a pass that loaded something runs under its own memory cap
    (SEARCH_REFRESH_MEMORY_LIMIT, below the loads') on SEARCH_REFRESH_THREADS threads, its slices
    on SEARCH_REFRESH_CONNECTIONS connections; a pass that changed nothing has no refresh and,
    run in the foreground, no heartbeats."""
    from prefect.settings import get_current_settings

    import warehouse.search_refresh
    from flows.ingest import in_the_foreground, ingest

    caps: list[tuple] = []
    real_refresh = warehouse.search_refresh.refresh_search_index

    def spy(con: duckdb.DuckDBPyConnection, **kwargs: int) -> object:
        caps.append((*duckdb_caps(con), kwargs.get("connections")))
        return real_refresh(con, **kwargs)

    monkeypatch.setattr(warehouse.search_refresh, "refresh_search_index", spy)
    monkeypatch.setattr(stream, "SEARCH_REFRESH_CONNECTIONS", 3)  # handed to the refresh
    monkeypatch.setattr(stream, "SEARCH_REFRESH_MEMORY_LIMIT", "48MB")  # no default anywhere
    threads = duckdb_threads() + 1  # not DuckDB's own count on this machine
    monkeypatch.setattr(stream, "SEARCH_REFRESH_THREADS", threads)

    one_feed_site(sample_site, 2)
    db = tmp_path / "marsad.duckdb"
    feeds = [{"name": "a", "url": sample_site.url("/feeds/a.xml")}]
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=feeds)
    with in_the_foreground():
        assert get_current_settings().flows.heartbeat_frequency is None
        first = ingest(config_path=str(config), db_path=str(db))
        again = ingest(config_path=str(config), db_path=str(db))
    assert get_current_settings().flows.heartbeat_frequency is not None  # only inside
    assert first["articles_new"] == 2 and again["articles_new"] == 0
    assert task_names(first["flow_run_id"]) == ["ingest-batch", "refresh-search-and-publish"]
    assert task_names(again["flow_run_id"]) == ["ingest-batch"]
    assert caps == [(duckdb_setting("memory_limit", "144MB"), threads, 3)]  # 48 MB each
    indexed = (
        "SELECT article_id FROM search_index_articles "
        "UNION SELECT article_id FROM search_tail_articles"
    )
    assert read(db, f"SELECT count(*) FROM ({indexed})") == [(2,)]


@pytest.mark.integration
def test_a_pass_whose_tail_outgrew_the_index_rebuilds_it_under_the_rebuild_cap(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full rebuild cannot spill all it holds (building the fts index over 40,000 articles ran
    out of memory under SEARCH_REFRESH_MEMORY_LIMIT): it runs under REBUILD_MEMORY_LIMIT on
    REBUILD_THREADS. The published copy is then made under the pass's cap on DuckDB's own
    threads, not the refresh's."""
    import flows.ingest
    import warehouse.search_refresh
    from flows.ingest import in_the_foreground, ingest
    from warehouse.search import has_index

    seen: list[tuple] = []
    real_refresh = warehouse.search_refresh.refresh_search_index
    real_publish = flows.ingest.publish

    def spy(con: duckdb.DuckDBPyConnection, **kwargs: bool) -> object:
        cap = duckdb_caps(con)
        refreshed = real_refresh(con, **kwargs)
        seen.append(("refresh", *cap, refreshed.full))  # type: ignore[attr-defined]
        return refreshed

    def publish_spy(con: duckdb.DuckDBPyConnection, path: str) -> object:
        seen.append(("publish", *duckdb_caps(con)))
        return real_publish(con, path)

    monkeypatch.setattr(warehouse.search_refresh, "refresh_search_index", spy)
    monkeypatch.setattr(flows.ingest, "publish", publish_spy)
    own_threads = duckdb_threads()
    monkeypatch.setattr(warehouse.search_refresh, "REBUILD_THREADS", own_threads + 1)
    monkeypatch.setattr(stream, "SEARCH_REFRESH_THREADS", own_threads + 2)
    monkeypatch.setattr(stream, "PASS_MEMORY_LIMIT", "220MB")  # none is a default anywhere
    monkeypatch.setattr(stream, "SEARCH_REFRESH_MEMORY_LIMIT", "48MB")
    monkeypatch.setattr(warehouse.search_refresh, "REBUILD_MEMORY_LIMIT", "200MB")
    monkeypatch.setattr(warehouse.search_refresh, "TAIL_REBUILD_MIN", 1)  # 2 new > 1 and > 0
    one_feed_site(sample_site, 2)
    db = tmp_path / "marsad.duckdb"
    feeds = [{"name": "a", "url": sample_site.url("/feeds/a.xml")}]
    published = tmp_path / "published.duckdb"
    config = write_config(
        tmp_path / "marsad.toml", db=db, feeds=feeds, warehouse={"publish_path": str(published)}
    )
    with in_the_foreground():
        assert ingest(config_path=str(config), db_path=str(db))["articles_new"] == 2
    rebuild_cap, pass_cap = (duckdb_setting("memory_limit", m) for m in ("200MB", "220MB"))
    assert seen == [
        ("refresh", rebuild_cap, own_threads + 1, True),
        ("publish", pass_cap, own_threads),
    ]
    assert published.exists()
    with duckdb.connect(str(db), read_only=True) as con:
        assert has_index(con)
        assert con.execute("SELECT count(*) FROM search_index_articles").fetchone() == (2,)


def test_the_pass_process_does_not_load_trafilatura() -> None:
    """The main process builds articles from feed text only; trafilatura (about 45 MB) stays in
    the extraction processes."""
    import subprocess
    import sys

    code = (
        "import sys, flows.ingest, flows.stream\n"
        "from tests.test_stream import job, CONTEXT, NOW\n"
        "from extractors.workers import extract_one\n"
        "a, e = extract_one(job(1).entry, CONTEXT, NOW, None, None, False)\n"
        "assert a is not None and a.extraction == 'feed', (a, e)\n"
        "print('trafilatura' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# A main module that loads DuckDB, then hands a job to an extraction process and prints which of
# DuckDB and Arrow that process has loaded. Run as a script, it is the `marsad` console script as
# pip writes it; run with -m, a main module such as a Prefect process worker's prefect.engine.
HEAVY_MAIN = """
import os
import sys
import duckdb
from flows.cli import main
if __name__ == "__main__":
    from flows.stream import ExtractionPool
    pool = ExtractionPool(workers=2)
    try:
        pid = pool.executor.submit(os.getpid).result(timeout=120)
        with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
            print(sorted({name for name in ("_duckdb", "pyarrow") if name in maps.read()}))
    finally:
        pool.close()
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize("run_as", ["script", "module"])
def test_an_extraction_process_does_not_import_the_main_module(tmp_path: Path, run_as: str) -> None:
    """A process started by spawn imports the parent's main module first; an extraction process
    must not (under a Prefect process worker that is all of Prefect)."""
    import subprocess
    import sys

    (tmp_path / "heavy_main.py").write_text(HEAVY_MAIN, encoding="utf-8")
    repo = Path(__file__).resolve().parents[1]
    paths = os.pathsep.join([str(repo), str(tmp_path)])
    env = {**os.environ, "PYTHONPATH": paths, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    main = [str(tmp_path / "heavy_main.py")] if run_as == "script" else ["-m", "heavy_main"]
    done = subprocess.run(
        [sys.executable, *main], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
