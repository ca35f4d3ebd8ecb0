"""The ingest flow: one pass over the feeds, from RSS to the warehouse.

    poll feeds -> parse entries -> keep new ones -> fetch pages -> extract, clean -> load

Feeds are handled in batches; each batch is loaded in one transaction together with its feeds'
state, so a pass killed at any point loses nothing: the next pass refetches what was not loaded.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.states import Failed, State

from extractors.article import FeedContext
from extractors.feeds import FeedEntry
from extractors.fetch import FetchPolicy
from extractors.guard import AllowList
from extractors.polling import PollBounds, is_due
from extractors.urls import InvalidURL, canonical_url
from flows import stream
from flows.config import Config, ConfigError, load_config
from flows.steps import FeedPoll, FeedTarget, PageJob, poll_feeds, settle_feed_update
from flows.stream import ExtractionPool, Loader, Settler, limit_memory, stream_pages
from flows.summary import describe_run
from warehouse.db import WarehouseError
from warehouse.feeds import FeedDefinition, FeedState, feed_states, sync_feeds
from warehouse.load import (
    FetchErrorRecord,
    LoadBatch,
    PendingPage,
    SeenUrl,
    finish_run,
    known_urls,
    pending_due,
    start_run,
    stored_entry_times,
)
from warehouse.publish import publish
from warehouse.sql_server import opened_shared as opened

FEEDS_PER_BATCH = 100


@dataclass
class FeedSummary:
    feed: str
    status: str  # ok | not modified | failed | skipped
    entries: int = 0
    new: int = 0
    page_errors: int = 0
    note: str = ""


@dataclass
class PassSummary:
    run_id: str
    status: str
    feeds: list[FeedSummary] = field(default_factory=list)
    totals: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        return [f.__dict__ for f in self.feeds]


def fetch_policy(config: Config) -> FetchPolicy:
    f = config.fetch
    return FetchPolicy(
        user_agent=f.user_agent,
        timeout_s=f.timeout_s,
        connect_timeout_s=min(10.0, f.timeout_s),
        max_redirects=f.max_redirects,
        retries=f.retries,
        concurrency=f.concurrency,
        per_host_concurrency=f.per_host_concurrency,
        min_host_delay_s=f.min_host_delay_s,
        allow_private=AllowList.parse(f.allow_private),
        respect_robots_txt=f.respect_robots_txt,
    )


def poll_bounds(config: Config) -> PollBounds:
    s = config.schedule
    return PollBounds(
        timedelta(seconds=s.min_feed_interval_s), timedelta(seconds=s.max_feed_interval_s)
    )


@flow(name="ingest", log_prints=False, validate_parameters=False)
def ingest(
    config_path: str | None = None,
    db_path: str | None = None,
    feeds: list[str] | None = None,
    due_only: bool = False,
) -> dict | State:
    """One ingest pass over all enabled feeds (or the named ones); returns the run record.

    When the pass cannot run at all (unusable configuration, warehouse locked past the retries)
    the flow run ends Failed with a one-sentence message and nothing is lost: feed state is only
    saved with the articles it led to, so the next pass fetches the same entries again."""
    logger = get_run_logger()
    try:
        config = load_config(config_path or os.environ.get("MARSAD_CONFIG") or "marsad.toml")
        db = Path(db_path or os.environ.get("MARSAD_DB") or config.warehouse.path)
        return run_pass(config, db, feeds, due_only)
    except (ConfigError, WarehouseError) as exc:
        logger.error("The pass could not run: %s", exc)
        return Failed(message=str(exc))


def run_pass(config: Config, db: Path, feeds: Sequence[str] | None, due_only: bool) -> dict:
    """The body of the ingest flow; see ingest()."""
    logger = get_run_logger()
    lock_timeout = config.warehouse.lock_timeout_s
    run_id = uuid.uuid4().hex[:16]
    started = datetime.now(UTC)
    flow_run = get_run_context().flow_run  # type: ignore[union-attr]
    # The extraction processes start with the first feed to parse (see ExtractionPool).
    with contextlib.ExitStack() as pool_open:
        pool = pool_open.enter_context(stream.extraction_pool())
        with opened(db, lock_timeout_s=lock_timeout) as con:
            sync_feeds(con, [_definition(f) for f in config.feeds])
            states = {s.name: s for s in feed_states(con)}
            start_run(con, run_id, str(flow_run.id) if flow_run else None, started)
        targets, skipped = select_feeds(config, states, feeds, due_only, started)
        summary = PassSummary(run_id, "running", feeds=skipped)
        logger.info("Pass %s: %d feeds to poll, %d skipped", run_id, len(targets), len(skipped))
        policy = fetch_policy(config)
        try:
            for start in range(0, len(targets), FEEDS_PER_BATCH):
                batch = targets[start : start + FEEDS_PER_BATCH]
                summary.feeds += ingest_batch(config, db, run_id, batch, policy, pool)
            pool_open.close()  # the processes end here, where an error still fails the run
        except BaseException:
            try:
                with opened(db, lock_timeout_s=min(5.0, lock_timeout)) as con:
                    finish_run(con, run_id, "failed", datetime.now(UTC))
            except WarehouseError:
                pass  # the run record stays 'running'; the error itself is what the user needs
            raise
    with opened(db, lock_timeout_s=lock_timeout) as con:
        record = finish_run(con, run_id, "completed", datetime.now(UTC))
    changed = record.get("articles_new", 0) + record.get("articles_updated", 0)
    if changed or config.warehouse.publish_path:
        after_pass(config, db, refresh_search=bool(changed))
    summary.status = "completed"
    summary.totals = record
    for f in summary.feeds:
        if f.status == "failed":
            logger.warning("Feed %s failed: %s", f.feed, f.note)
    create_table_artifact(
        key="ingest-summary",
        table=summary.table() or [{"feed": "-", "status": "no feeds polled"}],
        description=describe_run(record),
    )
    logger.info(describe_run(record))
    return {**record, "feeds": summary.table()}


def select_feeds(
    config: Config,
    states: dict[str, FeedState],
    names: Sequence[str] | None,
    due_only: bool,
    now: datetime,
) -> tuple[list[FeedTarget], list[FeedSummary]]:
    """The feeds this pass polls, and those it skips with the reason."""
    chosen = [config.feed(n) for n in names] if names else [f for f in config.feeds if f.enabled]
    targets: list[FeedTarget] = []
    skipped: list[FeedSummary] = []
    for feed in chosen:
        state = states.get(feed.name)
        context = FeedContext(name=feed.name, source=feed.source, timezone=feed.zone)
        if state is not None and not state.enabled:
            skipped.append(FeedSummary(feed.name, "skipped", note=state.last_error or "disabled"))
            continue
        held = state is not None and state.consecutive_failures > 0
        if state is not None and (due_only or held) and not is_due(state.next_poll_at, now):
            when = state.next_poll_at.isoformat(timespec="minutes") if state.next_poll_at else ""
            skipped.append(FeedSummary(feed.name, "skipped", note=f"next poll at {when}"))
            continue
        url = state.url if state is not None else feed.url
        targets.append(FeedTarget(feed.name, url, context, state))
    return targets, skipped


@task(name="ingest-batch", cache_policy=NO_CACHE)
def ingest_batch(
    config: Config,
    db: Path,
    run_id: str,
    targets: Sequence[FeedTarget],
    policy: FetchPolicy,
    pool: ExtractionPool,
) -> list[FeedSummary]:
    """Poll, fetch, extract and load one batch of feeds; returns only the feeds' summaries."""
    now = datetime.now(UTC)
    batch = LoadBatch(run_id=run_id, keep_raw_html=config.warehouse.keep_raw_html)
    polls = poll_feeds(targets, policy, config.fetch.max_feed_bytes, pool.on_first_use)
    summaries, candidates = record_polls(polls, batch, now)
    with opened(db, lock_timeout_s=config.warehouse.lock_timeout_s) as con:
        limit_memory(con)
        known = known_urls(con, [(e.url, canon) for _, e, canon in candidates])
        retries = pending_due(con, [t.name for t in targets], now)
        dated = [canon for _, e, canon in candidates if e.url in known and e.updated_at]
        entry_times = stored_entry_times(con, dated) if dated else {}
        contexts = {t.name: t.context for t in targets}
        jobs = plan_page_jobs(candidates, known, retries, contexts, batch, now)
        jobs += plan_update_jobs(candidates, known, entry_times, {j.canonical_url for j in jobs})
        # Busy feeds are polled more often, quiet ones less: from the share of new entries.
        new_entries = Counter(p.target.name for p, e, _ in candidates if e.url not in known)
        batch.feed_updates = [
            settle_feed_update(p, new_entries[p.target.name], poll_bounds(config), now)
            for p in polls
            if p.update is not None
        ]
    loader = Loader(db, config.warehouse.lock_timeout_s, get_run_logger())
    settler = Settler(run_id, batch.keep_raw_html, config.fetch.page_retry_passes, loader.submit)
    try:
        stream_pages(
            jobs, policy, config.fetch.max_page_bytes, pool, batch.keep_raw_html, settler.add
        )
        # The feeds' state goes last, with the batch's own records: see flows/stream.py.
        last = settler.last_chunk()
        for name in ("articles", "updates", "pending", "done_pending", "errors"):
            getattr(batch, name).extend(getattr(last, name))
        batch.counters.add(last.counters)
        loader.submit(batch)
    finally:
        new_by_feed = loader.finish()  # waits for the chunks already handed over
    for name, n in new_by_feed.items():
        if name in summaries:
            summaries[name].new = n
    for name, n in settler.page_errors.items():
        if name in summaries:
            summaries[name].page_errors = n
    return list(summaries.values())


Candidate = tuple[FeedPoll, FeedEntry, str]  # the poll, one of its entries, its canonical URL


def record_polls(
    polls: Sequence[FeedPoll], batch: LoadBatch, now: datetime
) -> tuple[dict[str, FeedSummary], list[Candidate]]:
    """Put each poll's outcome into the batch (feed state, counters, errors) and return the
    per-feed summaries and every entry with its canonical URL."""
    logger = get_run_logger()
    c = batch.counters
    c.feeds_total += len(polls)
    summaries: dict[str, FeedSummary] = {}
    candidates: list[Candidate] = []
    for poll in polls:
        name = poll.target.name
        summaries[name] = FeedSummary(
            name, poll.outcome.replace("_", " "), entries=len(poll.entries), note=poll.error or ""
        )
        if poll.update is not None:
            batch.feed_updates.append(poll.update)
        if poll.moved_to:
            logger.warning(
                "Feed %s moved permanently to %s; stored URL updated", name, poll.moved_to
            )
        if poll.outcome == "failed":
            c.feeds_failed += 1
        elif poll.outcome == "not_modified":
            c.feeds_not_modified += 1
        else:
            c.feeds_ok += 1
        if poll.error:
            batch.errors.append(FetchErrorRecord(name, poll.target.url, "feed", poll.error, now))
        c.entries_seen += len(poll.entries)
        for entry in poll.entries:
            try:
                candidates.append((poll, entry, canonical_url(entry.url)))
            except InvalidURL as exc:
                batch.errors.append(FetchErrorRecord(name, entry.url, "feed", str(exc), now))
    return summaries, candidates


def plan_page_jobs(
    candidates: Sequence[Candidate],
    known: set[str],
    retries: Sequence[PendingPage],
    contexts: dict[str, FeedContext],
    batch: LoadBatch,
    now: datetime,
) -> list[PageJob]:
    """The pages to fetch: entries the warehouse does not know (once per canonical URL) and the
    pending pages whose retry is due. A new link to a known article is only recorded."""
    jobs: list[PageJob] = []
    queued: set[str] = set()
    for poll, entry, canon in candidates:
        if entry.url in known or canon in queued:
            if entry.url not in known:
                batch.seen_urls.append(SeenUrl(entry.url, canon, poll.target.name, now))
            continue
        queued.add(canon)
        jobs.append(PageJob(entry, canon, poll.target.context, first_seen_at=now))
    for pending in retries:
        if pending.canonical_url in queued or pending.feed_name not in contexts:
            continue
        queued.add(pending.canonical_url)
        jobs.append(
            PageJob(
                FeedEntry.from_json(pending.entry),
                pending.canonical_url,
                contexts[pending.feed_name],
                attempts=pending.attempts,
                first_seen_at=pending.first_seen_at,
            )
        )
    return jobs


def plan_update_jobs(
    candidates: Sequence[Candidate],
    known: set[str],
    entry_times: dict[str, datetime | None],
    queued: set[str],
) -> list[PageJob]:
    """Known articles to fetch again: their feed entry's updated time is newer than the one
    stored when they were last loaded (an entry without an updated time never triggers this)."""
    jobs: list[PageJob] = []
    for poll, entry, canon in candidates:
        if entry.url not in known or canon in queued or canon not in entry_times:
            continue
        stored = entry_times[canon]
        if entry.updated_at and (stored is None or entry.updated_at > stored):
            queued.add(canon)
            jobs.append(PageJob(entry, canon, poll.target.context, update=True))
    return jobs


@task(name="refresh-search-and-publish", cache_policy=NO_CACHE)
def after_pass(config: Config, db: Path, refresh_search: bool = True) -> None:
    """Bring new articles into full-text search (the cheap incremental refresh, or a rebuild
    when the tail has outgrown the index; maintenance rebuilds it daily) and refresh the
    published read-only copy when one is configured. A pass that loaded and changed nothing
    skips the refresh: there is nothing new to index (search still sees any article a killed
    pass left unindexed, and the next refresh takes it)."""
    logger = get_run_logger()
    with opened(db, lock_timeout_s=config.warehouse.lock_timeout_s) as con:
        if refresh_search:
            refreshed = stream.refresh_search(con)
            logger.info("Search index: %s", refreshed)
        if config.warehouse.publish_path:
            published = publish(stream.pass_caps(con), config.warehouse.publish_path)
            logger.info("Published a read-only copy: %s", published)


@contextmanager
def extraction_pool() -> Iterator[Executor | None]:
    """Processes for bulk extraction outside a pass (`marsad reextract`): one per core, or None
    on a single-core machine."""
    with stream.extraction_pool() as pool:
        yield pool.executor


@contextmanager
def in_the_foreground() -> Iterator[None]:
    """Settings for a pass run in the foreground (`marsad run`, the benchmarks): no flow-run
    heartbeats unless PREFECT_FLOWS_HEARTBEAT_FREQUENCY asks for them. Heartbeats let a server
    mark a run whose process died as crashed; a foreground run's death is seen by whoever ran
    it, and Prefect's heartbeat thread (it sleeps in one-second steps) holds every flow run up
    to a second at its end: a third of a re-poll of unchanged feeds. `marsad serve` and the
    deployments set the frequency, so their runs keep heartbeats."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _definition(feed) -> FeedDefinition:  # type: ignore[no-untyped-def]
    return FeedDefinition(
        feed.name, feed.url, feed.source, feed.language, feed.timezone, feed.enabled
    )
