"""When to poll a feed next, from what the feed and the server asked for and how it has fared.

Pure functions: the flow gives them the poll's outcome and the feed's history and stores what
they return. A failing feed backs off exponentially so a dead feed costs almost nothing per pass.
A healthy feed adapts: the share of its entries that were new sets how much sooner or later it is
polled next time (ADAPTIVE_STEPS), within PollBounds; what the server asked for still wins when it
is later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=24)  # whatever a server asks, a feed is polled at least daily
FAILURE_BASE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=24)
MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\d+)", re.IGNORECASE)
# When some entries were new: (share of the entries that were new, at least; factor for the next
# interval), first match wins. All new: items may have been missed, so poll as often as allowed
# (factor 0). Half or more new: halve. Some new: a little sooner.
ADAPTIVE_STEPS: tuple[tuple[float, float], ...] = ((1.0, 0.0), (0.5, 0.5), (0.0, 0.75))
NOTHING_NEW_FACTOR = 1.5  # nothing new (or a 304): wait half as long again


@dataclass(frozen=True)
class PollBounds:
    """The shortest and longest time between two polls of a healthy feed, whatever the feed,
    the server or the adaptation asks (proposed config: schedule.min_feed_interval_s and
    schedule.max_feed_interval_s)."""

    min_interval: timedelta = MIN_INTERVAL
    max_interval: timedelta = MAX_INTERVAL

    def clamp(self, interval: timedelta) -> timedelta:
        return max(self.min_interval, min(interval, self.max_interval))


@dataclass(frozen=True)
class PollHints:
    """What a feed or its server asked for about the next poll."""

    ttl_minutes: int | None = None  # RSS <ttl>, sy:updatePeriod
    cache_control: str | None = None
    expires: str | None = None
    retry_after: datetime | None = None
    date: str | None = None  # the response's Date header, to read Expires against


def next_poll_after_success(
    now: datetime,
    hints: PollHints,
    bounds: PollBounds = PollBounds(),
    interval: timedelta | None = None,
) -> datetime | None:
    """The earliest time the feed should be polled again after a good answer; None means at the
    next scheduled pass. `interval` is the feed's own adaptive interval, if known: the latest of
    it and what the server asked for wins. Waits shorter than bounds.min_interval are ignored,
    longer ones than bounds.max_interval are capped."""
    asked: list[timedelta] = [interval] if interval is not None else []
    if hints.ttl_minutes:
        asked.append(timedelta(minutes=hints.ttl_minutes))
    if hints.cache_control:
        if "no-cache" in hints.cache_control.lower() or "no-store" in hints.cache_control.lower():
            pass
        else:
            match = MAX_AGE.search(hints.cache_control)
            if match:
                asked.append(timedelta(seconds=int(match.group(1))))
    if hints.expires and not any(a for a in asked):
        expires = _http_date(hints.expires)
        served = _http_date(hints.date) or now
        if expires:
            asked.append(expires - served)
    if hints.retry_after:
        asked.append(hints.retry_after - now)
    wait = max(asked, default=timedelta(0))
    if wait < bounds.min_interval:
        return None
    return now + min(wait, bounds.max_interval)


def next_poll_after_failure(
    now: datetime, consecutive_failures: int, retry_after: datetime | None = None
) -> datetime:
    """Exponential backoff from FAILURE_BASE (15, 30, 60 min ... up to a day), or Retry-After
    when the server asked for longer."""
    steps = max(0, consecutive_failures - 1)
    backoff = min(FAILURE_BASE * (2 ** min(steps, 16)), MAX_BACKOFF)
    when = now + backoff
    if retry_after is not None:
        when = max(when, min(retry_after, now + MAX_INTERVAL * 7))
    return when


def adaptive_interval(
    previous: timedelta,
    new_entries: int,
    total_entries: int,
    bounds: PollBounds = PollBounds(),
) -> timedelta:
    """The next polling interval of a healthy feed, from the previous one and how many of the
    entries it just carried were new (a 304 or an unchanged body is 0 of 0): busy feeds are polled
    sooner, quiet ones later (ADAPTIVE_STEPS, NOTHING_NEW_FACTOR), always within `bounds`."""
    if new_entries <= 0 or total_entries <= 0:
        return bounds.clamp(previous * NOTHING_NEW_FACTOR)
    share = min(1.0, new_entries / total_entries)
    factor = next(f for at_least, f in ADAPTIVE_STEPS if share >= at_least)
    return bounds.clamp(previous * factor)


def current_interval(
    last_polled_at: datetime | None,
    next_poll_at: datetime | None,
    consecutive_failures: int,
    bounds: PollBounds = PollBounds(),
) -> timedelta:
    """The interval a feed was last scheduled with (its next poll time minus its last poll
    time); bounds.min_interval for a new feed, one polled at every pass, or one recovering from
    failures (whose next poll time was a backoff, not a schedule)."""
    if consecutive_failures or last_polled_at is None or next_poll_at is None:
        return bounds.min_interval
    return bounds.clamp(next_poll_at - last_polled_at)


def is_due(
    next_poll_at: datetime | None, now: datetime, slack: timedelta = timedelta(minutes=1)
) -> bool:
    """A feed is due when it has no next poll time or that time is (nearly) here: a scheduled
    pass that starts a few seconds early still polls it."""
    return next_poll_at is None or next_poll_at <= now + slack


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
