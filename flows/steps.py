"""The steps of an ingest pass over one batch of feeds: plain functions, run inside the flow's
one task per batch (a task's return value stays in memory until the flow ends, so the heavy
pages and articles never leave these functions as task results). Each step turns failures into
records, never exceptions, so one bad feed, page or article never fails a pass."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from extractors.article import FeedContext
from extractors.feeds import FeedEntry, ParsedFeed, parse_feed, parse_feed_packed
from extractors.fetch import Fetcher, FetchPolicy, FetchResult
from extractors.polling import (
    PollBounds,
    PollHints,
    adaptive_interval,
    current_interval,
    next_poll_after_failure,
    next_poll_after_success,
)
from warehouse.feeds import FeedState, FeedUpdate

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")


@dataclass(frozen=True)
class FeedTarget:
    """A feed to poll in this pass, with what the warehouse knows of it."""

    name: str
    url: str
    context: FeedContext
    state: FeedState | None


@dataclass
class FeedPoll:
    """The outcome of polling one feed."""

    target: FeedTarget
    outcome: str  # ok | not_modified | failed
    entries: list[FeedEntry] = field(default_factory=list)
    update: FeedUpdate | None = None
    error: str | None = None
    moved_to: str | None = None
    hints: PollHints | None = None  # what the feed and server asked for (successful polls)


@dataclass(frozen=True)
class PageJob:
    entry: FeedEntry
    canonical_url: str
    feed: FeedContext
    attempts: int = 0  # earlier failed attempts
    first_seen_at: datetime | None = None
    update: bool = False  # a known article whose feed entry shows it was updated


@dataclass
class PageResult:
    job: PageJob
    fetched_at: datetime
    body: bytes | None = None  # the page as fetched; decoded where it is extracted
    content_type: str | None = None
    error: str | None = None
    final: bool = False  # the error cannot change on a later pass: keep the feed's text now


def poll_feeds(
    targets: Sequence[FeedTarget],
    policy: FetchPolicy,
    max_bytes: int,
    executor: Executor | None = None,
) -> list[FeedPoll]:
    """Poll a batch of feeds concurrently with conditional GET and parse what changed: on the
    extraction processes when `executor` is given (parsing is CPU-bound and the cores are
    otherwise idle while a batch's feeds are polled), else here."""
    return asyncio.run(_poll_all(targets, policy, max_bytes, executor))


async def _poll_all(
    targets: Sequence[FeedTarget],
    policy: FetchPolicy,
    max_bytes: int,
    executor: Executor | None = None,
) -> list[FeedPoll]:
    async with Fetcher(policy) as fetcher:

        async def poll(target: FeedTarget) -> FeedPoll:
            result = await fetcher.get(
                target.url,
                max_bytes=max_bytes,
                etag=target.state.etag if target.state else None,
                last_modified=target.state.last_modified if target.state else None,
                accept=FEED_ACCEPT,
            )
            now = datetime.now(UTC)
            settled = outcome_before_parsing(target, result, now)
            if settled is not None:
                return settled
            if executor is None:
                return outcome_of_parsed(target, result, now, _parse(target, result))
            args = (result.body or b"", result.final_url, result.content_type,
                    target.context.timezone)  # fmt: skip
            try:
                loop = asyncio.get_running_loop()
                parsed = await loop.run_in_executor(executor, parse_feed_packed, args)
            except Exception:  # a broken pool: parse here instead
                parsed = _parse(target, result)
            return outcome_of_parsed(target, result, now, parsed)

        return list(await asyncio.gather(*(poll(t) for t in targets)))


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def interpret_poll(target: FeedTarget, result: FetchResult, now: datetime) -> FeedPoll:
    """Turn a feed response into entries and the feed's new state (pure, so it is unit-tested):
    outcome_before_parsing, else the body parsed here and outcome_of_parsed."""
    settled = outcome_before_parsing(target, result, now)
    if settled is not None:
        return settled
    return outcome_of_parsed(target, result, now, _parse(target, result))


def _parse(target: FeedTarget, result: FetchResult) -> ParsedFeed:
    return parse_feed(
        result.body or b"",
        url=result.final_url,
        content_type=result.content_type,
        tz=target.context.timezone,
    )


def _hints(result: FetchResult) -> PollHints:
    return PollHints(
        cache_control=result.headers.get("cache-control"),
        expires=result.headers.get("expires"),
        retry_after=result.retry_after,
        date=result.headers.get("date"),
    )


def _success(
    target: FeedTarget,
    result: FetchResult,
    now: datetime,
    hints: PollHints,
    *,
    keep_validators: bool = False,
) -> FeedUpdate:
    """The state of a feed that answered: with the validators and body hash of its answer, or,
    with keep_validators (it was not modified), those it had."""
    new = not keep_validators
    return FeedUpdate(
        name=target.name,
        polled_at=now,
        status=result.status,
        error=None,
        consecutive_failures=0,
        next_poll_at=next_poll_after_success(now, hints),
        etag=result.etag if new else None,
        last_modified=result.last_modified if new else None,
        body_hash=_body_hash(result.body or b"") if new else None,
        url=result.permanent_redirect,
        keep_validators=keep_validators,
    )


def outcome_before_parsing(
    target: FeedTarget, result: FetchResult, now: datetime
) -> FeedPoll | None:
    """The poll's outcome when its body needs no parsing (the feed failed, was not modified, or
    sent the bytes it sent last time); None when the body is to be parsed."""
    state = target.state
    failures = state.consecutive_failures if state else 0
    hints = _hints(result)
    if result.error or result.status is None:
        failures += 1
        error = result.error or "no answer"
        gone = result.status == 410
        if gone:
            error = "HTTP 410 Gone: the feed was removed by its publisher; it is now disabled"
        return FeedPoll(
            target,
            "failed",
            error=error,
            update=FeedUpdate(
                name=target.name,
                polled_at=now,
                status=result.status,
                error=error,
                consecutive_failures=failures,
                next_poll_at=next_poll_after_failure(now, failures, result.retry_after),
                enabled=False if gone else None,
                keep_validators=True,
            ),
        )
    moved = result.permanent_redirect
    if result.not_modified or (
        state and result.etag and result.etag == state.etag and state.body_hash
    ):
        return FeedPoll(
            target,
            "not_modified",
            moved_to=moved,
            hints=hints,
            update=_success(target, result, now, hints, keep_validators=True),
        )
    base = _success(target, result, now, hints)
    if state and state.body_hash == base.body_hash:
        # The server ignored our validators but sent the same bytes: nothing to parse.
        return FeedPoll(target, "not_modified", update=base, moved_to=moved, hints=hints)
    return None


def outcome_of_parsed(
    target: FeedTarget, result: FetchResult, now: datetime, parsed: ParsedFeed
) -> FeedPoll:
    """The outcome of a poll whose body was parsed (`parsed`, by parse_feed)."""
    state = target.state
    failures = state.consecutive_failures if state else 0
    moved = result.permanent_redirect
    hints = _hints(result)
    base = _success(target, result, now, hints)
    hints = PollHints(
        ttl_minutes=parsed.ttl_minutes,
        cache_control=hints.cache_control,
        expires=hints.expires,
        date=hints.date,
    )
    if parsed.error and not parsed.entries:
        failures += 1
        return FeedPoll(
            target,
            "failed",
            error=parsed.error,
            moved_to=moved,
            update=FeedUpdate(
                name=target.name,
                polled_at=now,
                status=result.status,
                error=parsed.error,
                consecutive_failures=failures,
                next_poll_at=next_poll_after_failure(now, failures),
                url=moved,
                keep_validators=True,
            ),
        )
    update = FeedUpdate(
        **{
            **base.__dict__,
            "error": parsed.error,
            "next_poll_at": next_poll_after_success(now, hints),
        }
    )
    return FeedPoll(
        target,
        "ok",
        entries=list(parsed.entries),
        update=update,
        error=parsed.error,
        moved_to=moved,
        hints=hints,
    )


def settle_feed_update(
    poll: FeedPoll, new_entries: int, bounds: PollBounds, pass_started: datetime
) -> FeedUpdate:
    """The feed's update with its next poll time adapted to how busy it is, once the warehouse
    has said how many of the poll's entries were new (0 for a 304 or an unchanged body).

    The adaptive interval runs from the pass's start, so a feed polled late in a pass is still
    due at the pass that comes one interval later; what the feed or server asked for (ttl,
    max-age, Expires, Retry-After) still wins when it is later. Failed polls keep their backoff.
    """
    update = poll.update
    if update is None or poll.outcome == "failed":
        return update  # type: ignore[return-value]
    state = poll.target.state
    previous = (
        current_interval(
            state.last_polled_at, state.next_poll_at, state.consecutive_failures, bounds
        )
        if state
        else bounds.min_interval
    )
    interval = adaptive_interval(previous, new_entries, len(poll.entries), bounds)
    asked = next_poll_after_success(update.polled_at, poll.hints or PollHints(), bounds)
    next_poll_at = max(pass_started + interval, asked or pass_started)
    return replace(update, next_poll_at=min(next_poll_at, update.polled_at + bounds.max_interval))


def fetch_pages(jobs: Sequence[PageJob], policy: FetchPolicy, max_bytes: int) -> list[PageResult]:
    """Fetch the article pages of a batch concurrently (bounded overall and per host), honouring
    robots.txt when policy.respect_robots_txt. A page that no later pass could fetch either
    (disallowed by robots.txt, refused by the address guard, too large, not HTML) is `final`."""
    if not jobs:
        return []
    return asyncio.run(_fetch_all(jobs, policy, max_bytes))


async def _fetch_all(
    jobs: Sequence[PageJob], policy: FetchPolicy, max_bytes: int
) -> list[PageResult]:
    async with Fetcher(policy) as fetcher:
        results = await asyncio.gather(
            *(
                fetcher.get(
                    job.entry.url, max_bytes=max_bytes, accept=PAGE_ACCEPT, obey_robots=True
                )
                for job in jobs
            )
        )
    now = datetime.now(UTC)
    return [page_result(job, result, now) for job, result in zip(jobs, results, strict=True)]


def page_result(job: PageJob, result: FetchResult, now: datetime) -> PageResult:
    """A fetch's outcome as a page: its HTML, or the error (final when no later pass
    could do better: the page is not HTML, or the fetcher said so)."""
    page = PageResult(job, now, content_type=result.content_type)
    ctype = (result.content_type or "").split(";")[0].strip().lower()
    if not result.ok:
        page.error = result.error or f"HTTP {result.status}"
        page.final = result.final
    elif ctype not in HTML_TYPES:
        page.error = f"the page is {ctype}, not HTML"
        page.final = True
    else:
        page.body = result.body or b""
    return page
